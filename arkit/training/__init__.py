"""Training: the fit loop."""
