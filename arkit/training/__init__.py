"""Training: the fit loop (``fit.py``), data packing (``data.py``), the objective
(``objective.py``), checkpoints (``checkpoint.py``) and data parallelism (``distributed.py``)."""
