from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def primitives():
    """Twenty shapes, five per class, from the training stream of seed 3."""
    from arkit_shapes import make_primitives

    return make_primitives(20, seed=3)
