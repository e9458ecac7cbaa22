from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits():
    from arkit_vision.datasets import load_digits

    return load_digits()
