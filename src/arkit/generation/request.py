"""A generation request, checked once: prompts, options, constraint, negative prompts, extra inputs.

:func:`build_request` turns what a user hands to :meth:`arkit.Pipeline.generate`
(items or token ids, a config or its fields as keywords, ...) into a
:class:`Request` whose every part has been checked against the pipeline. The
loops take a ``Request`` and check nothing again. Bad input raises an
:class:`arkit.InputError` or :class:`arkit.ConfigError` saying what to change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
import inspect
import numbers
from typing import TYPE_CHECKING, Any

import attrs
import torch

from ..errors import ArkitError, ConfigError, InputError
from ..types import ExtraInput, GenerationConfig

if TYPE_CHECKING:
    from ..pipeline import Pipeline
    from ..protocols import Constraint

__all__ = ["Request", "build_request", "check_prompts", "checked_config", "checked_extra_inputs", "negative_rows",
           "prompt_rows", "token_rows"]

Rows = tuple[tuple[int, ...], ...]


@attrs.frozen(kw_only=True)
class Request:
    """What to generate, checked against one pipeline. Build it with :func:`build_request`."""

    prompts: Rows
    """Token ids per row: each non-empty, inside the vocabulary, and within the context."""
    config: GenerationConfig
    """The options; ``stop_sequences`` are token ids."""
    constraint: Constraint | None = None
    negative_prompts: Rows | None = None
    """The unconditional prompt of each row when ``config.guidance_scale != 1``, else ``None``."""
    extra_inputs: Mapping[str, torch.Tensor] = attrs.field(factory=dict)
    """The backbone's extra inputs, one row per prompt, checked against its declaration and on its device."""
    eos: frozenset[int] = frozenset()
    """Ids that end a row: ``config.eos_token_ids``, or the tokenizer's ``eos``."""
    context: int = 0
    """Most prompt plus generated tokens per row: the backbone's ``max_seq_len``, or ``config.max_length``."""

    @property
    def batch(self) -> int:
        """Rows asked for (the prompts)."""
        return len(self.prompts)

    @property
    def guided(self) -> bool:
        """Classifier-free guidance: every row has an unconditional twin."""
        return self.config.guidance_scale != 1.0

    @property
    def rows(self) -> Rows:
        """The rows of every forward pass: the prompts, then (with guidance) their unconditional twins."""
        return self.prompts + self.negative_prompts if self.negative_prompts is not None else self.prompts


def build_request(
    pipe: Pipeline,
    prompts: Any = None,
    *,
    prompt_ids: Sequence[Sequence[int]] | None = None,
    config: GenerationConfig | None = None,
    constraint: Constraint | None = None,
    negative_prompts: Any = None,
    negative_prompt_ids: Sequence[Sequence[int]] | None = None,
    extra_inputs: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> Request:
    """Check everything :meth:`arkit.Pipeline.generate` was given, once; see its docstring for the arguments.

    ``constraint=None`` takes the pipeline's own constraint.
    """
    if pipe.head.vocab_size == 0:
        raise ConfigError("this pipeline predicts real vectors (its head has no vocabulary): sample it with "
                          "arkit.generate_continuous(pipe.backbone, pipe.head, context, steps)")
    ids = prompt_rows(pipe, prompts, prompt_ids)
    config = checked_config(pipe, config, overrides)
    extras = checked_extra_inputs(pipe, extra_inputs, len(ids))
    negative = negative_rows(pipe, config, len(ids), negative_prompts, negative_prompt_ids)
    context = min(pipe.backbone.max_seq_len, config.max_length or pipe.backbone.max_seq_len)
    check_prompts(pipe, ids + (negative or ()), context, config.max_length)
    eos: Any = config.eos_token_ids
    if eos is None:
        eos = [t for name, t in pipe.tokenizer.special_tokens.items() if name == "eos"]
    return Request(prompts=ids, config=config, constraint=constraint if constraint is not None else pipe.constraint,
                   negative_prompts=negative, extra_inputs=extras, eos=frozenset(eos), context=context)


def prompt_rows(pipe: Pipeline, prompts: Any, prompt_ids: Sequence[Sequence[int]] | None) -> Rows:
    """Token ids per row from ``prompts`` (items, encoded with ``bos`` first) or ``prompt_ids`` (exactly one of them)."""
    if (prompts is None) == (prompt_ids is None):
        raise InputError("pass either prompts (items to encode) or prompt_ids (token ids), not both or neither")
    if prompt_ids is not None:
        return tuple(tuple(row) for row in token_rows(prompt_ids))
    if isinstance(prompts, (str, bytes)):
        prompts = [prompts]
    if not isinstance(prompts, Sequence):
        raise InputError(f"prompts must be a list of items, got {type(prompts).__name__}")
    return tuple(tuple(pipe.encode(p)) for p in prompts)


def negative_rows(pipe: Pipeline, config: GenerationConfig, batch: int, negative_prompts: Any,
                  negative_prompt_ids: Sequence[Sequence[int]] | None) -> Rows | None:
    """One unconditional prompt per row under guidance (default: ``bos`` alone); ``None`` without guidance."""
    if config.guidance_scale == 1.0:
        return None
    if negative_prompts is None and negative_prompt_ids is None:
        bos = pipe.tokenizer.special_tokens.get("bos")
        if bos is None:
            raise InputError("guidance needs negative_prompts (the tokenizer has no bos to stand for 'no prompt')")
        return tuple((bos,) for _ in range(batch))
    negative = prompt_rows(pipe, negative_prompts, negative_prompt_ids)
    if len(negative) != batch:
        raise InputError(f"got {len(negative)} negative prompts for {batch} prompts: give one per prompt")
    return negative


def checked_config(pipe: Pipeline, config: GenerationConfig | None, overrides: Mapping[str, Any]) -> GenerationConfig:
    """``config`` with ``overrides`` (its fields as keywords) applied; stop sequences given as items are encoded."""
    if config is not None and not isinstance(config, GenerationConfig):
        raise ConfigError(f"config must be an arkit.GenerationConfig, got {type(config).__name__}")
    config = config or GenerationConfig()
    if overrides:
        fields = {f.name for f in attrs.fields(GenerationConfig)}
        unknown = set(overrides) - fields
        if unknown:
            raise ConfigError(f"unknown generation option(s) {sorted(unknown)}; options are {sorted(fields)}")
        if "stop_sequences" in overrides:
            stops = overrides["stop_sequences"]
            if isinstance(stops, (str, bytes)) or not isinstance(stops, Iterable):
                raise ConfigError(f"stop_sequences must be a list of items or token-id lists, got {stops!r}")
            overrides = {**overrides, "stop_sequences": [_stop_ids(pipe, s) for s in stops]}
        config = attrs.evolve(config, **overrides)
    return config


def _stop_ids(pipe: Pipeline, stop: Any) -> Any:
    if isinstance(stop, Sequence) and not isinstance(stop, (str, bytes)) and all(isinstance(t, int) for t in stop):
        return list(stop)
    try:
        return list(pipe.tokenizer.encode(stop))
    except ArkitError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's item met the tokenizer: say which item
        raise InputError(f"the stop sequence {stop!r} is neither a list of token ids nor an item the tokenizer "
                         f"can encode ({type(exc).__name__}: {exc})") from None


def check_prompts(pipe: Pipeline, rows: Sequence[Sequence[int]], context: int, max_length: int | None = None) -> None:
    """Every row non-empty, within ``context`` tokens and inside the backbone's vocabulary."""
    backbone = pipe.backbone
    if not rows:
        raise InputError("no prompts given: pass at least one")
    for row, prompt in enumerate(rows):
        if len(prompt) == 0:
            raise InputError(f"prompt {row} is empty: give at least one token (a tokenizer with 'bos' adds one)")
        if len(prompt) > context:
            raise InputError(
                f"prompt {row} has {len(prompt)} tokens but the context is {context} "
                f"(model max_seq_len {backbone.max_seq_len}, max_length {max_length}): shorten it"
            )
    for row, prompt in enumerate(rows):
        if all(type(t) is int for t in prompt):  # plain ints: no tensor needed
            low, high = min(prompt), max(prompt)
        else:
            try:
                ids = torch.as_tensor(list(prompt), dtype=torch.long)
            except (TypeError, ValueError, RuntimeError):
                raise InputError(f"prompt {row} must be a sequence of integer token ids") from None
            low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= backbone.vocab_size:
            bad = low if low < 0 else high
            raise InputError(f"prompt {row} holds token id {bad}, outside the vocabulary [0, {backbone.vocab_size})")


def token_rows(rows: Any, what: str = "prompt_ids") -> list[list[int]]:
    """``rows`` as lists of ints: one sequence of integer token ids per row (lists, numpy or torch integers).

    Raises :class:`arkit.InputError` for anything else: strings, floats (``1.5`` is not read as 1),
    bools, nested lists, a flat list of ids.
    """
    if isinstance(rows, torch.Tensor):
        if rows.dim() != 2 or rows.is_floating_point() or rows.is_complex() or rows.dtype == torch.bool:
            raise InputError(f"{what} as a tensor must be a 2-d integer tensor [rows, tokens], got "
                             f"{rows.dtype} of shape {list(rows.shape)}")
        return rows.tolist()
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence) and not hasattr(rows, "__array__"):
        raise InputError(f"{what} must be a list of token-id lists (one per row), got {type(rows).__name__}")
    out = []
    for r, row in enumerate(rows):
        if type(row) in (list, tuple) and all(type(t) is int for t in row):  # plain ints (bools are not): as given
            out.append(list(row))
            continue
        if isinstance(row, torch.Tensor) and row.dim() == 1 and not (row.is_floating_point() or row.is_complex()
                                                                     or row.dtype == torch.bool):
            out.append(row.tolist())
            continue
        if isinstance(row, (str, bytes)) or not (isinstance(row, Sequence) or hasattr(row, "__array__")):
            raise InputError(f"{what}[{r}] must be a list of integer token ids, got {type(row).__name__}: "
                             f"pass one list per row ([[1, 2, 3]], not [1, 2, 3])")
        ids = []
        for t in row:
            if isinstance(t, torch.Tensor) and t.dim() == 0 and not (t.is_floating_point() or t.is_complex()
                                                                      or t.dtype == torch.bool):
                t = int(t)
            if not isinstance(t, numbers.Integral) or isinstance(t, bool):
                raise InputError(f"{what}[{r}] holds {t!r} ({type(t).__name__}), not an integer token id: token ids "
                                 f"must be ints (encode text with the tokenizer, or pass prompts=)")
            ids.append(int(t))
        out.append(ids)
    return out


def checked_extra_inputs(pipe: Pipeline, given: Mapping[str, Any] | None, rows: int) -> dict[str, torch.Tensor]:
    """Check ``extra_inputs`` against what the backbone declares; one tensor per name, ``rows`` first, on its device.

    The declaration is the backbone's ``extra_inputs`` attribute (an exported graph's
    inputs) or its export spec (:func:`arkit.registry.declared_inputs`).
    """
    from ..registry import declared_inputs

    backbone = pipe.backbone
    declared = getattr(backbone, "extra_inputs", None)
    declared = tuple(declared) if declared is not None else declared_inputs(backbone)
    given = dict(given or {})
    if declared is None:  # no export spec: pass what the caller gives, one row per prompt, unchecked beyond that
        declared = tuple(_undeclared(backbone, name, value, rows) for name, value in given.items())
    names = {d.name for d in declared}
    missing = sorted(names - set(given))
    if missing:
        raise InputError(f"the backbone needs extra input(s) {missing}: pass generate(..., extra_inputs={{name: "
                         f"tensor with one row per prompt}}); it declares {[(d.name, d.shape) for d in declared]}")
    unknown = sorted(set(given) - names)
    if unknown:
        raise InputError(f"the backbone takes no extra input(s) {unknown}"
                         + (f"; it takes {sorted(names)}" if names else " (its export spec declares none)"))
    parameter = next(iter(backbone.parameters()), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    out = {}
    for spec in declared:
        value = given[spec.name]
        want = "float" if spec.dtype == "float32" else "integer"
        if (not isinstance(value, torch.Tensor) or value.is_floating_point() != (spec.dtype == "float32")
                or value.is_complex() or tuple(value.shape) != (rows, *spec.shape[1:])):
            raise InputError(f"extra input {spec.name!r} must be a {want} tensor of shape {[rows, *spec.shape[1:]]} "
                             f"(one row per prompt), got {getattr(value, 'dtype', type(value).__name__)} "
                             f"{list(getattr(value, 'shape', ()))}")
        out[spec.name] = value.to(device=device, dtype=torch.float32 if spec.dtype == "float32" else torch.long)
    return out


def _undeclared(backbone: Any, name: str, value: Any, rows: int) -> ExtraInput:
    """An ExtraInput describing a tensor given for a backbone without an export spec (its forward must take it)."""
    try:
        parameters = inspect.signature(backbone.forward).parameters
    except (TypeError, ValueError):
        parameters = {}  # type: ignore[assignment]
    if name not in parameters and not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        raise InputError(f"the backbone ({type(backbone).__name__}) takes no extra input {name!r}: its forward has "
                         f"no such keyword and no export spec declares one")
    if not isinstance(value, torch.Tensor) or value.dim() < 1 or value.shape[0] != rows:
        raise InputError(f"extra input {name!r} must be a tensor with one row per prompt ({rows}), got "
                         f"{getattr(value, 'dtype', type(value).__name__)} {list(getattr(value, 'shape', ()))}")
    if value.is_floating_point():
        return ExtraInput(name=name, shape=("batch", *value.shape[1:]))
    high = max(1, int(value.max()) + 1) if value.numel() else 1
    return ExtraInput(name=name, shape=("batch", *value.shape[1:]), dtype="int64", high=high)


MODES = {
    "sampling": "sampling (num_beams = 1, no drafter)",
    "beam search": "beam search (num_beams > 1)",
    "speculative decoding": "speculative decoding (a pipeline with a drafter)",
    "next-scale generation": "next-scale generation (arkit.generate_next_scale)",
    "block-wise generation": "block-wise generation (arkit.generate_blocks)",
    "continuous generation": "continuous generation (arkit.generate_continuous)",
}
"""The modes an option may not apply to, as :func:`refuse_options` names them."""

_WHERE = {
    "max_new_tokens": "sampling, beam search and speculative decoding",
    "min_new_tokens": "sampling, beam search and speculative decoding",
    "eos_token_ids": "sampling, beam search and speculative decoding",
    "stop_sequences": "sampling, beam search and speculative decoding",
    "output_logprobs": "sampling, beam search and speculative decoding",
    "num_beams": "Pipeline.generate",
    "length_penalty": "beam search (num_beams > 1)",
    "early_stopping": "beam search (num_beams > 1)",
    "num_return_sequences": "beam search (num_beams > 1)",
    "num_draft_tokens": "speculative decoding (a pipeline with a drafter) and sampling (where it drafts nothing)",
    "draft_schedule": "speculative decoding (a pipeline with a drafter) and sampling (where it drafts nothing)",
    "guidance_scale": "sampling, speculative decoding, next-scale and block-wise generation",
    "max_length": "every mode but continuous generation",
    "seed": "every mode",
}


def refuse_options(config: GenerationConfig, mode: str, applies: Iterable[str]) -> None:
    """Raise :class:`arkit.ConfigError` naming every option of ``config`` that is set (differs from its
    default) but has no effect in ``mode`` (a key of :data:`MODES`); ``applies`` lists the options that do."""
    default = GenerationConfig()
    keep = set(applies)
    wrong = [field.name for field in attrs.fields(GenerationConfig)
             if field.name not in keep and getattr(config, field.name) != getattr(default, field.name)]
    if wrong:
        said = "; ".join(f"{name}={getattr(config, name)!r} applies to {_WHERE[name]}" for name in wrong)
        raise ConfigError(f"GenerationConfig option(s) {wrong} have no effect in {MODES[mode]}: {said}. Leave "
                          f"{'it' if len(wrong) == 1 else 'them'} at the default")
