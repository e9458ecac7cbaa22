"""Acceptance rules for speculative decoding (``core/exact``, ``core/greedy-match``, ``core/typical-acceptance``, ``core/lantern``)."""
