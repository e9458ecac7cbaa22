"""Checks and buffers shared by the sampling loop and beam search."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import torch

from ..errors import InputError
from ..types import GenerationConfig

if TYPE_CHECKING:
    from ..pipeline import Pipeline


@attrs.define
class Prepared:
    """Left-padded prompts in a buffer with room for every new token."""

    history: torch.Tensor  # [B, total] token ids; -1 before each row's start and after it finishes
    lengths: list[int]  # prompt length per row
    prompt_width: int  # L: the longest prompt
    total: int  # L + new tokens: slots the cache and buffer need
    context: int  # max prompt + generated tokens per row
    eos: frozenset[int]
    device: torch.device
    dtype: torch.dtype


def prepare(pipe: Pipeline, prompts: Sequence[Sequence[int]], config: GenerationConfig, *, extra: int = 0) -> Prepared:
    """Validate prompts against the model and lay them out, right-aligned, in a ``[B, total]`` buffer.

    ``extra`` reserves slots beyond ``max_new_tokens`` (speculative drafts need them).
    """
    backbone = pipe.backbone
    parameter = next(iter(backbone.parameters()), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None else torch.float32
    if not prompts:
        raise InputError("no prompts given: pass at least one")
    lengths = [len(p) for p in prompts]
    for row, length in enumerate(lengths):
        if length == 0:
            raise InputError(f"prompt {row} is empty: give at least one token (a tokenizer with 'bos' adds one)")
    context = min(backbone.max_seq_len, config.max_length or backbone.max_seq_len)
    for row, length in enumerate(lengths):
        if length > context:
            raise InputError(
                f"prompt {row} has {length} tokens but the context is {context} "
                f"(model max_seq_len {backbone.max_seq_len}, max_length {config.max_length}): shorten it"
            )
    L = max(lengths)
    total = L + min(config.max_new_tokens, context - min(lengths)) + extra
    history = torch.full((len(prompts), total), -1, dtype=torch.long)
    for row, prompt in enumerate(prompts):
        try:
            ids = torch.as_tensor(list(prompt), dtype=torch.long)
        except (TypeError, ValueError, RuntimeError):
            raise InputError(f"prompt {row} must be a sequence of integer token ids") from None
        if int(ids.min()) < 0 or int(ids.max()) >= backbone.vocab_size:
            bad = int(ids.min()) if int(ids.min()) < 0 else int(ids.max())
            raise InputError(f"prompt {row} holds token id {bad}, outside the vocabulary [0, {backbone.vocab_size})")
        history[row, L - len(prompt) : L] = ids
    eos_ids: Any = config.eos_token_ids
    if eos_ids is None:
        eos_ids = [t for name, t in pipe.tokenizer.special_tokens.items() if name == "eos"]
    return Prepared(history.to(device), lengths, L, total, context, frozenset(eos_ids), device, dtype)


def token_rows(rows: Any, what: str = "prompt_ids") -> list[list[int]]:
    """``rows`` as lists of ints: one sequence of integer token ids per row (lists, numpy or torch integers).

    Raises :class:`arkit.InputError` for anything else: strings, floats (``1.5`` is not read as 1),
    bools, nested lists, a flat list of ids.
    """
    import numbers

    if isinstance(rows, torch.Tensor):
        if rows.dim() != 2 or rows.is_floating_point() or rows.is_complex() or rows.dtype == torch.bool:
            raise InputError(f"{what} as a tensor must be a 2-d integer tensor [rows, tokens], got "
                             f"{rows.dtype} of shape {list(rows.shape)}")
        return rows.tolist()
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence) and not hasattr(rows, "__array__"):
        raise InputError(f"{what} must be a list of token-id lists (one per row), got {type(rows).__name__}")
    out = []
    for r, row in enumerate(rows):
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


def make_generator(seed: int | None, device: torch.device) -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else int(torch.randint(0, 2**62, (1,)).item()))
    return generator


def prefill_inputs(history: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Ids, positions and mask for the first forward pass over the left-padded prompts.

    Positions count real tokens only, so padding does not shift them; a token
    attends to real tokens at or before its slot. The mask is ``None`` when no row is padded.
    """
    prompt = history[:, :width]
    real = prompt >= 0
    positions = (real.long().cumsum(-1) - 1).clamp(min=0)
    mask = None
    if not bool(real.all()):
        causal = torch.ones(width, width, dtype=torch.bool, device=history.device).tril()
        mask = causal[None] & real[:, None, :]
    return prompt.clamp(min=0), positions, mask


def extra_inputs(pipe: Pipeline, given: Mapping[str, Any] | None, rows: int) -> dict[str, torch.Tensor]:
    """Check ``generate``'s ``extra_inputs`` against what the backbone declares; one tensor per name, ``rows`` first.

    The declaration is the backbone's ``extra_inputs`` attribute (an exported graph's
    inputs) or its export spec (``arkit_register_export_specs``).
    """
    from ..registry import _extra_inputs

    backbone = pipe.backbone
    declared = getattr(backbone, "extra_inputs", None)
    declared = tuple(declared) if declared is not None else _extra_inputs(backbone)
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


def _undeclared(backbone: Any, name: str, value: Any, rows: int) -> Any:
    """An ExtraInput describing a tensor given for a backbone without an export spec (its forward must take it)."""
    import inspect

    from ..types import ExtraInput

    try:
        parameters = inspect.signature(backbone.forward).parameters
    except (TypeError, ValueError):
        parameters = {}
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
