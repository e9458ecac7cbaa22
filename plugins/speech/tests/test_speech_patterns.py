"""Token patterns (flatten / delay / parallel), the block schedules and the flatten constraint."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
import numpy as np
import pytest
import torch

import arkit
from arkit.testing import ConstraintContract
from arkit_speech import TTSTokenizer
from arkit_speech.constraint import CodebookConstraint
from arkit_speech.patterns import PATTERNS, calls_per_second, deinterleave, interleave, min_calls, num_steps
from arkit_speech.schedule import CodecSchedule

TOK = TTSTokenizer()
K, SIZE = TOK.num_codebooks, TOK.codebook_size


@st.composite
def frames(draw: st.DrawFn, max_frames: int = 12, max_k: int = 8) -> np.ndarray:
    t = draw(st.integers(0, max_frames))
    k = draw(st.integers(1, max_k))
    values = draw(st.lists(st.integers(0, 255), min_size=t * k, max_size=t * k))
    return np.array(values, dtype=np.int64).reshape(t, k)


@settings(max_examples=150, deadline=None)
@given(frames(), st.sampled_from(PATTERNS))
def test_interleave_then_deinterleave_is_exact(clip: np.ndarray, pattern: str) -> None:
    steps = interleave(clip, pattern)
    T, k = clip.shape
    assert len(steps) == num_steps(pattern, T, k)
    assert all(len(s) == (1 if pattern == "flatten" else k) for s in steps)
    assert np.array_equal(deinterleave(steps, pattern, k), clip)


@settings(max_examples=60, deadline=None)
@given(frames(max_frames=10, max_k=4).filter(lambda f: len(f) > 0))
def test_delay_shifts_codebook_k_by_k_steps(clip: np.ndarray) -> None:
    steps = np.array(interleave(clip, "delay", fill=-1))
    for k in range(clip.shape[1]):
        assert np.array_equal(steps[k:k + len(clip), k], clip[:, k])
        assert (steps[:k, k] == -1).all() and (steps[k + len(clip):, k] == -1).all()


def test_calls_per_second_of_each_pattern() -> None:
    # 25 frames (one second of codec2-1200), K = 6. flatten: the prefill predicts the first token, 149 more
    # calls the rest, one the eos; delay: prefill + T + K - 1 blocks (block 0 is fed K pads, the all-eos block
    # after the last code is not run); parallel: prefill + T blocks + the eos block
    assert calls_per_second("flatten", 25, 6, 25.0) == 150 + 1
    assert calls_per_second("delay", 25, 6, 25.0) == 1 + 30
    assert calls_per_second("parallel", 25, 6, 25.0) == 1 + 25 + 1
    # delay / flatten -> 1 / K only as utterances grow: the K - 1 tail steps are a fixed cost per utterance
    assert min_calls("delay", 25, 6) / min_calls("flatten", 25, 6) > 1 / 6
    assert min_calls("delay", 25_000, 6) / min_calls("flatten", 25_000, 6) == pytest.approx(1 / 6, rel=1e-3)
    with pytest.raises(arkit.InputError, match="at least one frame"):
        min_calls("delay", 0, 6)
    with pytest.raises(arkit.ConfigError, match="unknown token pattern"):
        interleave(np.zeros((2, 2)), "zigzag")  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 10), st.sampled_from(["delay", "parallel"]), st.integers(0, 2**31))
def test_schedule_blocks_round_trip_and_obey_their_own_masks(T: int, pattern: str, seed: int) -> None:
    schedule = CodecSchedule(TOK, pattern)
    clip = np.random.default_rng(seed).integers(0, SIZE, (T, K))
    blocks = schedule.blocks(clip)
    # generation runs every block: delay's all-eos block after T + K - 2 is determined, so it is neither run nor a target
    run = T + K - 1 if pattern == "delay" else T + 1
    assert len(blocks) == run
    assert np.array_equal(schedule.frames(blocks), clip)
    for k, block in enumerate(blocks[:run]):
        assert schedule.block_inputs(k, [1], blocks[:k]) is not None
        mask = schedule.allowed(k, [1], blocks[:k], K)
        assert mask.shape == (K, TOK.vocab_size) and mask.any(-1).all()
        assert all(bool(mask[j, t]) for j, t in enumerate(block)), f"block {k} breaks its mask"
    assert schedule.block_inputs(run, [1], blocks[:run]) is None
    assert 1 + run == min_calls(pattern, T, K)  # the prefill and one call per block run
    # and the blocks are a valid training example, one target per block input
    inputs, targets, _ = schedule.training_example([1], blocks)
    assert len(inputs) == len(targets) == 1 + K * run


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["delay", "parallel"]), st.integers(0, 2**31))
def test_any_blocks_the_masks_allow_decode_to_whole_frames(pattern: str, seed: int) -> None:
    """A random walk through the schedule's masks (what a sampler could draw) always decodes."""
    schedule = CodecSchedule(TOK, pattern, max_frames=12)
    rng = np.random.default_rng(seed)
    blocks: list[list[int]] = []
    for k in range(40):
        if schedule.block_inputs(k, [1], blocks) is None:
            break
        mask = schedule.allowed(k, [1], blocks, K)
        blocks.append([int(rng.choice(np.flatnonzero(mask[j].numpy()))) for j in range(K)])
    else:
        pytest.fail("the schedule never ended")
    clip = schedule.frames(blocks)
    assert clip.shape[1] == K and clip.shape[0] <= 12
    assert len(TOK.codec.frames_to_audio(clip).samples) == 320 * len(clip)


class TestCodebookConstraintContract(ConstraintContract):
    component = "speech/codebooks"
    config = {"num_codebooks": 3, "codebook_size": 4, "audio_offset": 5, "eos": 2, "vocab_size": 17,
              "min_frames": 1, "max_frames": 4}
    vocab_size = 17


def test_constraint_orders_codebooks_and_ends_only_between_frames() -> None:
    c = CodebookConstraint.for_tokenizer(TOK, max_frames=2)
    state = c.start()
    eos = TOK.special_tokens["eos"]
    for n in range(2 * K):
        allowed = torch.nonzero(c.allowed(state)).flatten().tolist()
        j = n % K
        codes = [t for t in allowed if t != eos]
        assert codes == list(range(TOK.audio_offset + j * SIZE, TOK.audio_offset + (j + 1) * SIZE))
        assert (eos in allowed) == (n == K)  # after the first whole frame, before the second
        state = c.advance(state, codes[0])
    assert torch.nonzero(c.allowed(state)).flatten().tolist() == [eos]  # max_frames reached
    assert c.complete(state) and c.complete(c.advance(state, eos))
    with pytest.raises(arkit.ConfigError):
        CodebookConstraint(num_codebooks=2, codebook_size=8, audio_offset=10, vocab_size=20)
    with pytest.raises(arkit.ConfigError, match="field_sizes"):
        CodebookConstraint(num_codebooks=2, codebook_size=8, audio_offset=1, vocab_size=20, field_sizes=[8, 9])


FIELDS = TTSTokenizer(codec_split="fields")


def test_codec2_fields_allow_only_the_ids_that_carry_a_value() -> None:
    """Under codec2's field split the voicing codebook holds 32 values and the pitch-and-energy ones 256 of their
    512 ids: the flatten constraint and the delay schedule allow only those."""
    size, offset, eos = FIELDS.codebook_size, FIELDS.audio_offset, FIELDS.special_tokens["eos"]
    c = CodebookConstraint.for_tokenizer(FIELDS)
    assert c.config["field_sizes"] == [32, 256, 256, 512, 512, 512]
    assert CodebookConstraint(**c.config).field_sizes == c.field_sizes  # the config rebuilds it
    assert "field_sizes" not in CodebookConstraint.for_tokenizer(TOK).config
    state = c.start()
    for j, width in enumerate(FIELDS.field_sizes):
        codes = [t for t in torch.nonzero(c.allowed(state)).flatten().tolist() if t != eos]
        assert codes == list(range(offset + j * size, offset + j * size + width))
        state = c.advance(state, codes[-1])
    schedule = CodecSchedule(FIELDS, "delay")
    blocks = [[FIELDS.special_tokens["pad"]] * 6 for _ in range(6)]
    mask = schedule.allowed(6, [1], blocks, 6)
    for j, width in enumerate(FIELDS.field_sizes):
        codes = [t for t in torch.nonzero(mask[j]).flatten().tolist() if t != eos]
        assert codes == list(range(offset + j * size, offset + j * size + width))
