"""``arkit vision demo --steps N`` bounds every training loop, the VQ tokenizers' fits included.

The recipes are replaced by recorders (the demo's wiring is what is tested; the recipes
have their own tests), so this runs in milliseconds.
"""

from __future__ import annotations

import types
from typing import Any

import pytest

import arkit_vision.demo as demo


class _Stop(Exception):
    """Raised by the last recorder: the rest of the demo (sampling, grids) is not under test."""


@pytest.mark.parametrize("steps", [100, 5000])
def test_steps_bound_every_training_loop(monkeypatch: pytest.MonkeyPatch, steps: int) -> None:
    budgets: list[tuple[str, int]] = []

    def record(what: str, value: int, *, stop: bool = False, result: Any = (None, None)) -> Any:
        budgets.append((what, value))
        if stop:
            raise _Stop
        return result

    data = types.SimpleNamespace(train=[], valid=[], test=[])
    monkeypatch.setattr(demo, "load_digits", lambda **kwargs: data)
    monkeypatch.setattr(demo, "load_shapes", lambda **kwargs: data)
    monkeypatch.setattr(demo, "DigitJudge", lambda *args, **kwargs: None)
    monkeypatch.setattr(demo, "shapes_judge", lambda *args, **kwargs: None)
    monkeypatch.setattr(demo, "train_raster", lambda data, size, **kw: record("raster model", size.steps))
    monkeypatch.setattr(demo, "train_draft", lambda data, *, steps, **kw: record("draft model", steps, stop=True))
    monkeypatch.setattr(demo, "train_vq_raster", lambda data, tok, size, **kw: record("vq raster model", size.steps))

    def next_scale(data: Any, size: Any, *, tokenizer: Any = None, tokenizer_steps: int = 400, **kw: Any) -> Any:
        record("next-scale model", size.steps)
        if tokenizer is None:  # digits: the recipe fits the msvq tokenizer itself
            return record("digits msvq fit", tokenizer_steps)
        raise _Stop

    def shapes_tokenizer(data: Any, *, steps: int = 400, warmup_steps: int = 800, **kw: Any) -> Any:
        record("shapes vq fit", steps)
        return record("shapes autoencoder warm-up", warmup_steps, result=object())

    monkeypatch.setattr(demo, "train_next_scale", next_scale)
    monkeypatch.setattr(demo, "shapes_tokenizer", shapes_tokenizer)
    for dataset in ("digits", "shapes"):
        with pytest.raises(_Stop):
            demo.demo(steps=steps, datasets=(dataset,), progress=False)
    fits = {what for what, _ in budgets}
    assert {"digits msvq fit", "shapes vq fit", "shapes autoencoder warm-up", "draft model"} <= fits
    assert all(value <= steps for _, value in budgets), budgets
    if steps >= demo.WARMUP_STEPS:  # a large budget keeps the recipes' own defaults
        assert ("shapes autoencoder warm-up", demo.WARMUP_STEPS) in budgets
