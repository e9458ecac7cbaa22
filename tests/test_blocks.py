"""Block-wise generation (arkit.BlockSchedule): one model call per block, rows of different block sizes,
generation == the training layout's full forward, per-position allowed ids, and training on blocks."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st
import pytest
import torch

import arkit
from arkit.training.data import IGNORE, attention_mask
from tests.helpers import tiny_pipeline


class Growing(arkit.BlockSchedule):
    """Block 0 is one token at the prompt's end; block k >= 1 has ``sizes[k]`` inputs cycling through the
    previous block's tokens. Rows whose prompt has odd length get one block more."""

    def __init__(self, sizes: Sequence[int] = (1, 2, 3, 2)) -> None:
        self.sizes = tuple(sizes)

    def count(self, prompt: Sequence[int]) -> int:
        return len(self.sizes) + (len(prompt) % 2)

    def block_inputs(self, k: int, prompt: Sequence[int], blocks: Sequence[Sequence[int]]) -> list[int] | None:
        if k == 0:
            return []
        if k >= self.count(prompt):
            return None
        n = self.sizes[k] if k < len(self.sizes) else 4
        previous = blocks[-1]
        return [previous[i % len(previous)] for i in range(n)]


class Lowercase(Growing):
    """Growing, with every position of every block restricted to the ids of 'a'..'z' (97..122)."""

    def allowed(self, k: int, prompt: Sequence[int], blocks: Sequence[Sequence[int]], n: int) -> torch.Tensor:
        mask = torch.zeros(n, 259, dtype=torch.bool)
        mask[:, 97:123] = True
        return mask


def _full_forward_greedy(pipe: arkit.Pipeline, schedule: arkit.BlockSchedule, prompt: list[int],
                         blocks: Sequence[Sequence[int]]) -> list[list[int]]:
    """Each block's greedy tokens from ONE cache-free forward over the teacher-forced training layout."""
    inputs, targets, block_ids = schedule.training_example(prompt, blocks)
    ids = torch.tensor([inputs])
    mask = attention_mask(torch.ones_like(ids), torch.tensor([block_ids]))
    with torch.no_grad():
        logits = pipe.head(pipe.backbone(ids, positions=torch.arange(len(inputs))[None], attention_mask=mask))[0]
    best = logits.argmax(-1).tolist()
    out = [[best[len(prompt) - 1]]]
    position = len(prompt)
    for block in blocks[1:]:
        out.append(best[position: position + len(block)])
        position += len(block)
    assert [t for t in targets if t != IGNORE] == [t for b in blocks for t in b]
    return out


def test_every_block_is_one_call_and_equals_a_full_forward_over_the_training_layout() -> None:
    pipe = tiny_pipeline()
    schedule = Growing()
    prompts = [[256, 65, 66], [256, 67]]
    out = arkit.generate_blocks(pipe, schedule, prompt_ids=prompts, seed=0)
    assert [len(b) for b in out.blocks] == [5, 4] and out.finish_reasons == ("complete", "complete")
    assert out.calls == 1 + 4  # the prefill predicts block 0; blocks 1..4 take one call each
    assert [[len(b) for b in row] for row in out.blocks] == [[1, 2, 3, 2, 4], [1, 2, 3, 2]]
    for prompt, blocks in zip(prompts, out.blocks):
        assert _full_forward_greedy(pipe, schedule, prompt, blocks) == [list(b) for b in blocks]


@settings(max_examples=10)
@given(st.lists(st.lists(st.integers(0, 255), min_size=1, max_size=6), min_size=1, max_size=4))
def test_a_row_generates_the_same_blocks_alone_as_in_any_padded_batch(prompts: list[list[int]]) -> None:
    pipe = tiny_pipeline()
    schedule = Growing((1, 3, 1, 5))
    prompts = [[256, *p] for p in prompts]
    together = arkit.generate_blocks(pipe, schedule, prompt_ids=prompts, seed=0).blocks
    for prompt, blocks in zip(prompts, together):
        assert arkit.generate_blocks(pipe, schedule, prompt_ids=[prompt], seed=0).blocks[0] == blocks


def test_allowed_ids_hold_at_every_position_under_sampling() -> None:
    pipe = tiny_pipeline("core/multinomial")
    out = arkit.generate_blocks(pipe, Lowercase(), prompt_ids=[[256, 1], [256, 2, 3]] * 3, seed=1)
    tokens = [t for row in out.blocks for block in row for t in block]
    assert tokens and all(97 <= t <= 122 for t in tokens)


def test_max_blocks_and_the_static_cache() -> None:
    pipe = tiny_pipeline().replace(cache=arkit.create("cache", "core/static"))
    out = arkit.generate_blocks(pipe, Growing(), prompt_ids=[[256, 65]], seed=0, max_blocks=2)
    assert len(out.blocks[0]) == 2 and out.finish_reasons == ("max_blocks",) and out.calls == 2


def test_guidance_against_the_same_prompt_changes_nothing() -> None:
    pipe = tiny_pipeline()
    prompts = [[256, 70, 71], [256, 72]]
    plain = arkit.generate_blocks(pipe, Growing(), prompt_ids=prompts, seed=0)
    guided = arkit.generate_blocks(pipe, Growing(), prompt_ids=prompts, negative_prompt_ids=prompts,
                                   guidance_scale=3.0, seed=0)
    assert guided.blocks == plain.blocks


class Doubling(arkit.BlockSchedule):
    """A deterministic language over ids 1..8: block 0 is the prompt's class id; block k's inputs are the
    previous block twice over, and its targets are each input plus one (mod 8, in 1..8). Three blocks."""

    def block_inputs(self, k: int, prompt: Sequence[int], blocks: Sequence[Sequence[int]]) -> list[int] | None:
        if k == 0:
            return []
        return None if k >= 3 else [t for t in blocks[-1] for _ in range(2)]

    @staticmethod
    def example(c: int) -> list[list[int]]:
        blocks = [[c]]
        for _ in range(2):
            blocks.append([t % 8 + 1 for t in blocks[-1] for _ in range(2)])
        return blocks


def test_fit_learns_a_block_language_that_generate_blocks_reproduces() -> None:
    torch.manual_seed(0)
    pipe = arkit.Pipeline.from_preset(
        "core/tiny-byte", backbone={"d_model": 64, "n_layers": 2, "n_heads": 4, "max_seq_len": 32},
        head={"d_model": 64}, sampler=arkit.create("sampler", "core/greedy"))
    # the prompt is one byte ('bos' + c), and block 0 is c itself, predicted by the prefill
    items = [(chr(c), Doubling.example(c)) for c in range(1, 9)] * 8
    pipe.fit(items, schedule=Doubling(), steps=150, batch_size=16, seq_len=16, lr=3e-3, progress=False)
    prompts = [pipe.encode(chr(c)) for c in range(1, 9)]
    out = arkit.generate_blocks(pipe, Doubling(), prompt_ids=prompts, seed=0)
    assert out.calls == 3
    assert [[list(b) for b in row] for row in out.blocks] == [Doubling.example(c) for c in range(1, 9)]


class EmptyLater(Growing):
    def block_inputs(self, k: int, prompt: Sequence[int], blocks: Sequence[Sequence[int]]) -> list[int] | None:
        return [] if k == 1 else super().block_inputs(k, prompt, blocks)


class NoFirst(Growing):
    def block_inputs(self, k: int, prompt: Sequence[int], blocks: Sequence[Sequence[int]]) -> list[int] | None:
        return None


class OutOfVocab(Growing):
    def block_inputs(self, k: int, prompt: Sequence[int], blocks: Sequence[Sequence[int]]) -> list[int] | None:
        return [] if k == 0 else [9999]


@pytest.mark.parametrize(("schedule", "words"), [
    (EmptyLater(), "return None to end the row"),
    (NoFirst(), "block 0 always exists"),
    (OutOfVocab(), "outside the vocabulary"),
    (object(), "must be an arkit.BlockSchedule"),
])
def test_schedule_mistakes_are_config_errors(schedule: object, words: str) -> None:
    with pytest.raises(arkit.ConfigError, match=words):
        arkit.generate_blocks(tiny_pipeline(), schedule, prompt_ids=[[256, 1]], seed=0)  # type: ignore[arg-type]


def test_an_evicting_cache_and_a_bad_training_item_are_refused() -> None:
    pipe = tiny_pipeline().replace(cache=arkit.create("cache", "core/sliding", window=8))
    with pytest.raises(arkit.ConfigError, match="keeps every position"):
        arkit.generate_blocks(pipe, Growing(), prompt_ids=[[256, 1]], seed=0)
    with pytest.raises(arkit.InputError, match="must match one for one"):
        tiny_pipeline().fit([("a", [[1], [2, 3, 4]])], schedule=Growing(), steps=1, progress=False)
