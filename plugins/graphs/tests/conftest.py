"""One BLAS thread and one torch thread for every graphs test (a shared 2-core machine)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread() -> Iterator[None]:
    with threadpool_limits(limits=1):
        yield
