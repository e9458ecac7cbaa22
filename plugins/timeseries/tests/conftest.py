"""One BLAS/OpenMP thread for numpy, scipy and statsmodels, like torch's one thread: on a shared
2-core machine oversubscribed BLAS threads made one small ARIMA fit vary from 1 s to 80 s."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread() -> Iterator[None]:
    with threadpool_limits(limits=1):
        yield
