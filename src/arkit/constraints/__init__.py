"""Constraints: which tokens each row may produce next, computed from a per-row state."""
