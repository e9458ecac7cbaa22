"""The sampling loop's lean decode step: prechecked backbone inputs, block calls without hook bookkeeping,
and every row's positions within the context.

The fast paths must not change what a user sees: a backbone called directly still checks its
inputs, hooks on blocks still run, a third-party backbone gets the same word through the
public protocol, and batching rows never changes a row's greedy tokens.
"""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import given, settings, strategies as st
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import arkit
from arkit.backbones.transformer import TransformerBackbone
from arkit.generation.batch import decode_positions, layout
from arkit.generation.request import build_request
from arkit.protocols import PrecheckedBackbone
from arkit.tokenizers.ids import IdTokenizer

V = 48


def _pipeline(max_seq_len: int = 64, backbone: Any = None, seed: int = 0) -> arkit.Pipeline:
    torch.manual_seed(seed)
    backbone = backbone or arkit.create("backbone", "core/transformer", vocab_size=V, d_model=32, n_layers=2,
                                        n_heads=2, max_seq_len=max_seq_len)
    head = arkit.create("head", "core/categorical", d_model=32, vocab_size=V)
    return arkit.Pipeline(tokenizer=IdTokenizer(V), backbone=backbone, head=head)


class _OpCounter(TorchDispatchMode):
    """Counts the aten ops dispatched, by name."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: dict[str, int] = {}

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = func.overloadpacket.__name__
        self.ops[name] = self.ops.get(name, 0) + 1
        return func(*args, **(kwargs or {}))


# --- the backbone, called directly ---------------------------------------------------------------------


@pytest.mark.parametrize(("ids", "positions", "message"), [
    ([[1, V]], [[0, 1]], f"token id {V} is outside the vocabulary"),
    ([[-1, 2]], [[0, 1]], "token id -1 is outside the vocabulary"),
    ([[1, 2]], [[0, 64]], "position 64 is outside the model's context"),
    ([[1, 2]], [[-3, 0]], "position -3 is outside the model's context"),
])
def test_a_direct_call_with_bad_values_raises_an_input_error(ids: list, positions: list, message: str) -> None:
    backbone = _pipeline().backbone
    with pytest.raises(arkit.InputError, match=message):
        backbone(torch.tensor(ids), positions=torch.tensor(positions))


def test_the_transformer_is_a_prechecked_backbone() -> None:
    backbone = _pipeline().backbone
    assert isinstance(backbone, PrecheckedBackbone) and backbone.accepts_prechecked is True


def test_prechecked_skips_the_value_checks_and_keeps_the_shape_checks() -> None:
    backbone = _pipeline().backbone.eval()
    ids, positions = torch.tensor([[3, 4, 5]]), torch.tensor([[0, 1, 2]])
    with torch.inference_mode():
        with _OpCounter() as checked:
            reference = backbone(ids, positions=positions)
        with _OpCounter() as trusted:
            out = backbone(ids, positions=positions, prechecked=True)
        assert torch.equal(out, reference)
        assert checked.ops.get("aminmax", 0) == 2 and "aminmax" not in trusted.ops
        with pytest.raises(arkit.InputError, match="input_ids must be a LongTensor"):
            backbone(ids.float(), positions=positions, prechecked=True)
        with pytest.raises(arkit.InputError, match="positions must be a tensor shaped like"):
            backbone(ids, positions=positions[:, :2], prechecked=True)


def test_prechecked_skips_the_conditioning_finiteness_check_only() -> None:
    backbone = arkit.create("backbone", "core/transformer", vocab_size=V, d_model=32, n_layers=1, n_heads=2,
                            cond_dim=3).eval()
    ids, positions = torch.tensor([[3, 4]]), torch.tensor([[0, 1]])
    bad = torch.tensor([[0.0, float("nan"), 1.0]])
    with torch.inference_mode():
        with pytest.raises(arkit.InputError, match="conditioning must be finite"):
            backbone(ids, positions=positions, conditioning=bad)
        backbone(ids, positions=positions, conditioning=bad, prechecked=True)  # the caller's word is taken
        with pytest.raises(arkit.InputError, match="conditioning must be a float tensor"):
            backbone(ids, positions=positions, conditioning=torch.zeros(1, 2), prechecked=True)


# --- hooks on blocks --------------------------------------------------------------------------------------


def test_hooks_on_a_block_run_at_every_step_and_change_nothing() -> None:
    pipe = _pipeline()
    prompts = [[1, 2, 3], [4, 5]]
    reference = pipe.generate(prompt_ids=prompts, max_new_tokens=6, eos_token_ids=())
    block = pipe.backbone.layers[1]
    calls = {"pre": 0, "post": 0}

    def pre(module: Any, args: Any) -> None:
        calls["pre"] += 1

    def post(module: Any, args: Any, output: torch.Tensor) -> None:
        calls["post"] += 1

    handles = [block.register_forward_pre_hook(pre), block.register_forward_hook(post)]
    try:
        out = pipe.generate(prompt_ids=prompts, max_new_tokens=6, eos_token_ids=())
    finally:
        for handle in handles:
            handle.remove()
    assert calls == {"pre": out.num_steps, "post": out.num_steps} and out.num_steps == 6
    assert out.sequences == reference.sequences


def test_a_hook_that_replaces_a_block_output_is_obeyed() -> None:
    pipe = _pipeline()
    prompts = [[1, 2, 3]]
    reference = pipe.generate(prompt_ids=prompts, max_new_tokens=8, eos_token_ids=())
    # the last block's output replaced by zeros: the final norm gives zeros, every logit is 0, greedy picks id 0
    handle = pipe.backbone.layers[-1].register_forward_hook(lambda module, args, output: torch.zeros_like(output))
    try:
        out = pipe.generate(prompt_ids=prompts, max_new_tokens=8, eos_token_ids=())
    finally:
        handle.remove()
    assert out.sequences == ((0,) * 8,) != reference.sequences


def test_global_module_hooks_see_every_block_call() -> None:
    pipe = _pipeline()
    blocks = set(map(id, pipe.backbone.layers))
    seen = [0]

    def hook(module: Any, args: Any, output: Any) -> None:
        if id(module) in blocks:
            seen[0] += 1

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        out = pipe.generate(prompt_ids=[[1, 2, 3]], max_new_tokens=5, eos_token_ids=())
    finally:
        handle.remove()
    assert seen[0] == out.num_steps * len(blocks)


# --- a third-party backbone and the protocol ----------------------------------------------------------------


class _Recording(torch.nn.Module):
    """A plugin's backbone (not the built-in class): wraps a transformer and records each call's ``prechecked``."""

    def __init__(self, inner: TransformerBackbone, accepts: bool | None) -> None:
        super().__init__()
        self.inner = inner
        self.vocab_size, self.d_model, self.max_seq_len = inner.vocab_size, inner.d_model, inner.max_seq_len
        if accepts is not None:
            self.accepts_prechecked = accepts
        self.seen: list[bool | None] = []

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.inner.config)

    def cache_spec(self) -> Any:
        return self.inner.cache_spec()

    def forward(self, input_ids: torch.Tensor, *, positions: torch.Tensor, cache: Any = None,
                attention_mask: torch.Tensor | None = None, **options: Any) -> torch.Tensor:
        self.seen.append(options.get("prechecked"))
        return self.inner(input_ids, positions=positions, cache=cache, attention_mask=attention_mask, **options)


@pytest.mark.parametrize("accepts", [True, False, None])
def test_the_loop_vouches_for_its_steps_only_through_the_protocol(accepts: bool | None) -> None:
    inner = _pipeline().backbone
    backbone = _Recording(inner, accepts)
    pipe = _pipeline(backbone=backbone)
    out = pipe.generate(prompt_ids=[[1, 2, 3], [4]], max_new_tokens=5, eos_token_ids=())
    assert isinstance(backbone, PrecheckedBackbone) == (accepts is not None)
    # the prefill is always checked; the one-token steps get the word only from a backbone that takes it
    assert backbone.seen == [None] + [True if accepts else None] * (out.num_steps - 1)
    assert out.sequences == _pipeline(backbone=inner).generate(prompt_ids=[[1, 2, 3], [4]], max_new_tokens=5,
                                                               eos_token_ids=()).sequences


@pytest.mark.parametrize("accepts", [True, None])
def test_speculative_passes_are_prechecked_only_through_the_protocol(accepts: bool | None) -> None:
    """Speculative decoding vouches for its passes the same way: drafts are checked against the vocabulary."""
    inner = _pipeline().backbone
    backbone = _Recording(inner, accepts)
    lookup = arkit.create("drafter", "core/prompt-lookup")
    options = dict(prompt_ids=[[1, 2, 3, 1, 2], [4]], max_new_tokens=6, eos_token_ids=())
    out = _pipeline(backbone=backbone).replace(drafter=lookup).generate(num_draft_tokens=3, **options)
    assert backbone.seen == [None] + [True if accepts else None] * out.speculative.target_calls
    assert out.sequences == _pipeline(backbone=inner).generate(**options).sequences


def test_steps_are_not_prechecked_when_a_twin_would_step_past_the_context() -> None:
    # a negative prompt longer than its prompt: the unconditional twin's positions run ahead of the row's
    backbone = _Recording(_pipeline(max_seq_len=12).backbone, True)
    pipe = _pipeline(backbone=backbone)
    with pytest.raises(arkit.InputError, match="outside the model's context of 12"):
        pipe.generate(prompt_ids=[[1, 2]], negative_prompt_ids=[[3] * 10], guidance_scale=2.0, max_new_tokens=20,
                      eos_token_ids=())
    assert True not in backbone.seen


# --- positions -----------------------------------------------------------------------------------------------


def test_a_row_stopped_by_the_context_does_not_stop_the_others() -> None:
    # row 0 fills the 20-token context after 10 tokens; row 1 goes on for 5 more steps
    pipe = _pipeline(max_seq_len=20)
    out = pipe.generate(prompt_ids=[[1] * 10, [2] * 5], max_new_tokens=100, eos_token_ids=())
    assert [len(s) for s in out.sequences] == [10, 15]
    assert out.finish_reasons == ("max_length", "max_length")
    alone = pipe.generate(prompt_ids=[[2] * 5], max_new_tokens=100, eos_token_ids=())
    assert out.sequences[1] == alone.sequences[0]


def test_a_beam_row_stopped_by_the_context_does_not_stop_the_others() -> None:
    pipe = _pipeline(max_seq_len=20)
    out = pipe.generate(prompt_ids=[[1] * 10, [2] * 5], max_new_tokens=100, num_beams=2, eos_token_ids=())
    assert [len(s) for s in out.sequences] == [10, 15]
    alone = pipe.generate(prompt_ids=[[2] * 5], max_new_tokens=100, num_beams=2, eos_token_ids=())
    assert out.sequences[1] == alone.sequences[0]


@settings(max_examples=12)
@given(lengths=st.lists(st.integers(1, 9), min_size=1, max_size=3), new=st.integers(1, 12),
       max_length=st.one_of(st.none(), st.integers(10, 16)), static=st.booleans())
def test_batching_rows_never_changes_their_greedy_tokens(lengths: list[int], new: int, max_length: int | None,
                                                         static: bool) -> None:
    pipe = _pipeline(max_seq_len=16, seed=1)
    if static:
        pipe = pipe.replace(cache=arkit.create("cache", "core/static"))
    prompts = [[(7 * row + i) % (V - 1) + 1 for i in range(n)] for row, n in enumerate(lengths)]
    together = pipe.generate(prompt_ids=prompts, max_new_tokens=new, max_length=max_length, eos_token_ids=())
    for row, prompt in enumerate(prompts):
        alone = pipe.generate(prompt_ids=[prompt], max_new_tokens=new, max_length=max_length, eos_token_ids=())
        assert together.sequences[row] == alone.sequences[0]
        assert together.finish_reasons[row] == alone.finish_reasons[0]


@attrs.define
class _Rows:
    lengths: list[int]
    negative: list[int] | None
    new: int
    context: int


@st.composite
def _rows(draw: Any) -> _Rows:
    context = draw(st.integers(2, 24))
    lengths = draw(st.lists(st.integers(1, context), min_size=1, max_size=4))
    negative = draw(st.one_of(st.none(), st.lists(st.integers(1, context), min_size=len(lengths),
                                                   max_size=len(lengths))))
    return _Rows(lengths, negative, draw(st.integers(1, 30)), context)


@settings(max_examples=60)
@given(rows=_rows())
def test_decode_positions_count_on_while_a_row_goes_and_then_stay(rows: _Rows) -> None:
    pipe = _pipeline(max_seq_len=rows.context)
    request = build_request(pipe, prompt_ids=[[1] * n for n in rows.lengths], max_new_tokens=rows.new,
                            eos_token_ids=(), guidance_scale=1.0 if rows.negative is None else 2.0,
                            negative_prompt_ids=None if rows.negative is None else [[1] * n for n in rows.negative])
    batch = layout(pipe, request)
    positions, furthest = decode_positions(batch, request)
    B = request.batch
    assert positions.shape == (batch.total - batch.width, len(batch.lengths), 1)
    for row, n in enumerate(batch.lengths):
        limit = min(rows.new, rows.context - batch.lengths[row % B])  # tokens the row (or its twin's row) may emit
        column = positions[:, row, 0].tolist()
        going = column[: max(0, limit - 1)]  # steps fed while the row goes: after its 1st .. (limit-1)-th token
        assert going == list(range(n, n + len(going)))
        assert all(p == (going[-1] if going else n - 1) for p in column[len(going):])
        assert max(column, default=0) <= furthest
        if row < B:
            assert max(column, default=0) < rows.context
    assert furthest == max(max(n - 1, n + min(rows.new, rows.context - batch.lengths[r % B]) - 2)
                           for r, n in enumerate(batch.lengths))
