"""Shared fixtures: a small docstring subset and a tiny retriever trained on it (built once per session)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis.errors import InvalidArgument
import pytest
import torch

from arkit_retrieval import Document, Retriever, build_pipeline, split_queries, stdlib_docs, training_pairs

torch.set_num_threads(1)
# Budgeted in examples, never in seconds: a slow shared machine must not fail a test. The repository's
# tests/conftest.py loads the same kind of profile ("arkit") when the whole suite runs; keep that one then.
try:
    settings.get_profile("arkit")
except InvalidArgument:
    settings.register_profile("arkit-retrieval", deadline=None, derandomize=True, max_examples=30,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("arkit-retrieval")


@pytest.fixture(scope="session")
def small_docs() -> list[Document]:
    """24 documents of the shipped snapshot (one every 140th: several modules)."""
    return stdlib_docs()[::140][:24]


@pytest.fixture(scope="session")
def tiny_retriever(small_docs: list[Document]) -> Retriever:
    """A 1-layer model indexed on ``small_docs`` for a bounded number of steps (memorises most of them)."""
    torch.manual_seed(0)
    indexed = list(split_queries(small_docs, seed=0).indexed)
    pipe = build_pipeline(training_pairs(indexed), text_vocab_size=256, max_text_tokens=32, d_model=64, n_layers=1,
                          n_heads=2, max_seq_len=128)
    retriever = Retriever(pipe, num_beams=4)
    retriever.index(indexed, steps=150, batch_size=8, seq_len=128, lr=5e-3, warmup_steps=10, seed=0)
    return retriever
