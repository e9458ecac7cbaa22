"""A standing fuzz test: every input either works or raises an :class:`arkit.ArkitError`.

Hypothesis draws hostile and careless values (NaN, infinities, strings where ids go,
floats where integers go, huge integers, nested junk) for ``GenerationConfig``,
``generate``'s and ``stream``'s arguments, ``TrainConfig`` and short ``fit`` runs,
and the JSON of a saved ``pipeline.json``. Any other exception fails the test; so
does an input that runs for more than ``_HANG_S`` seconds (a hang, not slowness:
every input here takes milliseconds). Examples are budgeted by count
(``EXAMPLES``, derandomized), so the run is the same on every machine.

Sizes are bounded where a valid value is merely expensive (a million beams, a
config asking for some gigabytes): those are not bad inputs. Integers in saved
configs are small or far beyond any machine's memory, never in between.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import copy
import json
from pathlib import Path
import signal
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings, strategies as st
import pytest
import torch

import arkit
from arkit.testing import lossless
from tests.helpers import tiny_pipeline

#: Inputs tried per test (derandomized: the same inputs on every run).
EXAMPLES = {"generation_config": 300, "generate": 150, "train_config": 300, "fit": 20, "manifest": 100}
_HANG_S = 120



def _fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 40), st.sampled_from([2**31, 2**63, -(2**63) - 1, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True, width=64), st.sampled_from([1.5, 2.0, -0.0, 1e-300]),
    st.text(max_size=3), st.binary(max_size=2),
)
_junk = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                         max_size=3), max_leaves=6)


@contextlib.contextmanager
def _no_hang() -> Iterator[None]:
    """Fail an example that runs for ``_HANG_S`` seconds (SIGALRM; no limit where it does not exist)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def alarm(signum: int, frame: Any) -> None:
        raise TimeoutError(f"an input ran for {_HANG_S} s: a hang")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(_HANG_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _works_or_arkit_error(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with _no_hang():
        try:
            return fn(*args, **kwargs)
        except arkit.ArkitError:
            return None


# -- GenerationConfig -----------------------------------------------------------------------------------

_GENERATION_FIELDS = [f.name for f in attrs.fields(arkit.GenerationConfig)]


@_fuzz(EXAMPLES["generation_config"])
@given(fields=st.dictionaries(st.sampled_from(_GENERATION_FIELDS), _junk, max_size=4))
def test_generation_config_takes_any_values_or_says_which_is_wrong(fields: dict[str, Any]) -> None:
    _works_or_arkit_error(arkit.GenerationConfig, **fields)


# -- generate and stream --------------------------------------------------------------------------------

_PIPE = lossless.toy_target()
_SMALL_INTS = st.integers(-2, 6)
_ids = st.one_of(st.integers(-2, 7), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=2),
                 st.booleans(), st.none(), st.sampled_from([2**70, 1.0]))
_prompt_ids = st.one_of(
    st.lists(st.lists(_ids, max_size=4), max_size=3),
    st.lists(_ids, max_size=3),
    st.lists(st.lists(st.integers(0, 4), min_size=1, max_size=4), min_size=1, max_size=3),  # valid, mostly
    st.lists(st.lists(st.integers(0, 4), min_size=1, max_size=6), min_size=1, max_size=4),
    _junk,
)
_overrides = st.dictionaries(
    st.sampled_from(["max_new_tokens", "min_new_tokens", "max_length", "eos_token_ids", "stop_sequences", "seed",
                     "output_logprobs", "num_beams", "length_penalty", "early_stopping", "num_return_sequences",
                     "guidance_scale", "num_draft_tokens", "draft_schedule", "no_such_option"]),
    st.one_of(_SMALL_INTS, _scalars, st.lists(_SMALL_INTS, max_size=3), st.lists(st.lists(_SMALL_INTS, max_size=2),
                                                                                   max_size=2)),
    max_size=4,
)


@_fuzz(EXAMPLES["generate"])
@given(prompt_ids=_prompt_ids, overrides=_overrides, stream=st.booleans(),
       drafter=st.sampled_from([None, "core/prompt-lookup", "core/jacobi"]))
def test_generate_and_stream_take_any_arguments_or_raise_arkit_errors(prompt_ids: Any, overrides: dict[str, Any],
                                                                      stream: bool, drafter: str | None) -> None:
    pipe = _PIPE if drafter is None else _PIPE.replace(drafter=arkit.create("drafter", drafter))
    if stream:
        _works_or_arkit_error(lambda: list(pipe.stream(prompt_ids=prompt_ids, **overrides)))
    else:
        _works_or_arkit_error(pipe.generate, prompt_ids=prompt_ids, **overrides)


# -- TrainConfig and fit --------------------------------------------------------------------------------

_TRAIN_FIELDS = [f.name for f in attrs.fields(arkit.TrainConfig)]


@_fuzz(EXAMPLES["train_config"])
@given(fields=st.dictionaries(st.sampled_from(_TRAIN_FIELDS), _junk, max_size=4))
def test_train_config_takes_any_values_or_says_which_is_wrong(fields: dict[str, Any]) -> None:
    _works_or_arkit_error(arkit.TrainConfig, **fields)


_FIT_FIELDS = {  # one field per example, the others valid: each run fits or says what was wrong
    "lr": st.one_of(st.floats(1e-4, 0.1), st.floats(allow_nan=True, allow_infinity=True)),
    "batch_size": _SMALL_INTS, "seq_len": _SMALL_INTS, "warmup_steps": _SMALL_INTS,
    "grad_clip": st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    "eval_fraction": st.floats(allow_nan=True, allow_infinity=True),
    "overflow": st.sampled_from(["split", "truncate", "error", "x"]),
    "on_nonfinite": st.sampled_from(["raise", "skip", "x"]),
    "grad_accum_steps": _SMALL_INTS, "min_lr_ratio": st.floats(allow_nan=True, allow_infinity=True),
}


@_fuzz(EXAMPLES["fit"])
@given(field=st.sampled_from(sorted(_FIT_FIELDS)), data=st.data(),
       items=st.lists(st.lists(st.integers(0, 4), min_size=2, max_size=12), min_size=1, max_size=6))
def test_short_fits_work_or_raise_arkit_errors(field: str, data: st.DataObject, items: list[list[int]]) -> None:
    value = data.draw(_FIT_FIELDS[field], label=field)

    def run() -> Any:
        config = arkit.TrainConfig(**{"steps": 2, "progress": False, "seq_len": 8, "batch_size": 2, field: value})
        return copy.deepcopy(_PIPE).fit(items, config)

    _works_or_arkit_error(run)


# -- pipeline.json --------------------------------------------------------------------------------------

_SAVED: dict[str, Any] = {}  # the reference folder and its manifest, saved once


_config_values = st.one_of(st.integers(0, 64), st.sampled_from([2**40, 2**62, -1]), _scalars, _junk)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into a JSON value (the value itself is ``()``)."""
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


@pytest.fixture(scope="module")
def reference_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tiny_pipeline("core/multinomial").save_pretrained(tmp_path_factory.mktemp("fuzz") / "reference")
    _SAVED["manifest"] = json.loads((folder / "pipeline.json").read_text())
    return folder


@_fuzz(EXAMPLES["manifest"])
@given(data=st.data())
def test_any_pipeline_json_loads_or_raises_arkit_errors(reference_folder: Path, tmp_path_factory: pytest.TempPathFactory,
                                                        data: st.DataObject) -> None:
    manifest = copy.deepcopy(_SAVED["manifest"])
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        path = data.draw(st.sampled_from(_paths(manifest)), label="path")
        value = data.draw(_config_values, label="value")
        if not path:
            manifest = value
            break
        parent = manifest
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value
    folder = tmp_path_factory.mktemp("manifest")
    for role in ("tokenizer", "backbone", "head", "sampler", "cache"):
        source = reference_folder / role
        if source.is_dir():
            (folder / role).mkdir()
            for file in source.iterdir():
                (folder / role / file.name).write_bytes(file.read_bytes())
    try:
        text = json.dumps(manifest, allow_nan=True)
    except (TypeError, ValueError):  # bytes are not JSON: write their repr, still not a manifest
        text = repr(manifest)
    (folder / "pipeline.json").write_text(text)
    # whatever loads also generates (core/transformer refuses configs it could not run, or not hold in memory)
    pipe = _works_or_arkit_error(arkit.Pipeline.from_pretrained, folder)
    if pipe is not None:
        _works_or_arkit_error(pipe.generate, prompt_ids=[[1, 2]], max_new_tokens=2, seed=0)

