"""Test-wide settings: one torch thread (spin-waiting threads fight on 2 shared cores)
and a deterministic hypothesis profile budgeted in examples, never in seconds."""

from __future__ import annotations

import os

import torch
from hypothesis import HealthCheck, settings

torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")

settings.register_profile(
    "arkit",
    deadline=None,  # never fail because the machine was slow
    derandomize=True,
    max_examples=30,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", parent=settings.get_profile("arkit"), max_examples=300, derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "arkit"))
