"""Training: the fit loop (``fit.py``), data packing (``data.py``), the objective
(``objective.py``), checkpoints (``checkpoint.py``), data parallelism (``distributed.py``),
and drafter training: Medusa heads (``medusa.py``) and draft-model distillation (``distill.py``).

Public here: :func:`train_medusa` and :func:`distill_draft_model`; ``Pipeline.fit`` is the
entry point for everything else.
"""

from .distill import distill_draft_model
from .medusa import train_medusa

__all__ = ["distill_draft_model", "train_medusa"]
