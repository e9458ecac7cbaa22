"""speech/codec2: exact frame <-> id round trips, every id sequence decodes, bad audio is refused."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
import numpy as np
import pytest

import arkit
from arkit.testing import TokenizerContract
from arkit_speech import Audio, Codec2Tokenizer

CODEC = Codec2Tokenizer()
K, SIZE = CODEC.num_codebooks, CODEC.codebook_size

frames_st = st.integers(0, 12).flatmap(
    lambda t: st.lists(st.lists(st.integers(0, SIZE - 1), min_size=K, max_size=K), min_size=t, max_size=t))


def _clip(seconds: float, rate: int = 8000, seed: int = 0) -> Audio:
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(seed).normal(0, 0.01, t.size)
    return Audio((0.3 * np.sin(2 * np.pi * 180 * t) * np.sin(2 * np.pi * 3 * t) + noise).astype(np.float32), rate)


class TestCodec2Contract(TokenizerContract):
    """The contract, with one difference: codec2's synthesis draws the phases of unvoiced frames from a
    process-wide random generator in libcodec2, so two decodes of the same ids give the same length and
    re-encode to the same frames but not bit-identical samples. Decoded audio is compared by its frames."""

    component = "speech/codec2"
    items = st.sampled_from([_clip(0.2), _clip(0.5, seed=1), _clip(0.04, seed=2)])
    invalid_items = st.sampled_from(["one two", 3, None, np.zeros(320)])

    def assert_equivalent(self, original, loaded) -> None:  # noqa: ANN001
        assert loaded.config == original.config
        assert (loaded.vocab_size, loaded.lossless, dict(loaded.special_tokens)) == \
            (original.vocab_size, original.lossless, dict(original.special_tokens))
        ids = list(range(original.vocab_size))[:192]
        assert np.array_equal(loaded.ids_to_frames(ids), original.ids_to_frames(ids))
        assert len(loaded.decode(ids).samples) == len(original.decode(ids).samples)
        clip = _clip(0.3)
        assert loaded.encode(clip) == original.encode(clip)


class TestCodec2FieldsContract(TestCodec2Contract):
    """The same contract with the codebooks along codec2's parameters."""

    config = {"split": "fields"}


def test_mode_1200_is_six_byte_codebooks_at_25_frames_per_second() -> None:
    assert (CODEC.num_codebooks, CODEC.codebook_size, CODEC.samples_per_frame) == (6, 256, 320)
    assert CODEC.frames_per_second == 25.0
    assert CODEC.vocab_size == 6 * 256


@settings(max_examples=60, deadline=None)
@given(frames_st)
def test_frames_ids_round_trip_is_exact(frames: list[list[int]]) -> None:
    arr = np.array(frames, dtype=np.int64).reshape(-1, K)
    ids = CODEC.frames_to_ids(arr)
    assert len(ids) == arr.size
    assert all(j * SIZE <= i < (j + 1) * SIZE for n, i in enumerate(ids) for j in [n % K])
    assert np.array_equal(CODEC.ids_to_frames(ids), arr)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, SIZE - 1), min_size=K, max_size=K))
def test_frame_bits_round_trip_through_codec2_bytes(values: list[int]) -> None:
    (data,) = CODEC.frames_to_bytes(np.array([values]))
    assert len(data) == 6
    assert CODEC.bytes_to_frames([data]).tolist() == [values]
    assert list(data) == values  # split="bits" with 8-bit codebooks: codebook j is byte j


FIELDS = Codec2Tokenizer(split="fields")


def test_fields_split_is_codec2s_parameters() -> None:
    assert (FIELDS.num_codebooks, FIELDS.codebook_size, FIELDS.field_sizes) == (6, 512, (32, 256, 256, 512, 512, 512))
    assert FIELDS.vocab_size == 6 * 512 and FIELDS.config == {"mode": 1200, "codebook_bits": 8, "split": "fields"}
    # the same bits as the byte split, cut elsewhere: both give codec2's own packed frames back
    clip = _clip(0.6, seed=3)
    packed = CODEC.frames_to_bytes(CODEC.audio_to_frames(clip))
    frames = FIELDS.audio_to_frames(clip)
    assert FIELDS.frames_to_bytes(frames) == packed
    assert np.all(frames < np.array(FIELDS.field_sizes))
    assert np.all(frames[:, 0] % 2 == 0)  # the spare bit, last of the voicing field, is always 0
    # one field, counted from codec2's first packed bit: the first pitch-and-energy index is bits 2..9
    first = int.from_bytes(packed[0], "big") >> (48 - 10) & 0xFF
    assert frames[0, 1] == first


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(*(st.integers(0, n - 1) for n in FIELDS.field_sizes)), min_size=0, max_size=6))
def test_fields_round_trip_through_codec2_bytes(values: list[tuple[int, ...]]) -> None:
    frames = np.array(values, dtype=np.int64).reshape(-1, 6)
    data = FIELDS.frames_to_bytes(frames)
    assert all(len(d) == 6 for d in data)
    assert np.array_equal(FIELDS.bytes_to_frames(data), frames)
    # values past a field's size are read modulo it, so every id still decodes
    assert FIELDS.frames_to_bytes(frames + np.array(FIELDS.field_sizes)) == data


@settings(max_examples=15, deadline=None)
@given(frames_st)
def test_random_frames_decode_to_audio_of_the_expected_length(frames: list[list[int]]) -> None:
    audio = CODEC.frames_to_audio(np.array(frames, dtype=np.int64).reshape(-1, K))
    assert audio.rate == 8000
    assert len(audio.samples) == len(frames) * 320
    assert np.all(np.isfinite(audio.samples)) and np.abs(audio.samples).max(initial=0) <= 1.0


def test_encode_is_deterministic_and_decodes_to_whole_frames() -> None:
    clip = _clip(0.4)
    frames = CODEC.audio_to_frames(clip)
    assert frames.shape == (10, K)
    assert np.array_equal(CODEC.audio_to_frames(clip), frames)
    decoded = CODEC.frames_to_audio(frames)
    assert len(decoded.samples) == 10 * 320
    assert CODEC.audio_to_frames(decoded).shape == frames.shape


def test_partial_frames_are_dropped_and_out_of_range_ids_skipped() -> None:
    ids = CODEC.frames_to_ids(np.zeros((2, K), dtype=np.int64))
    assert len(CODEC.decode(ids + ids[:3]).samples) == 2 * 320
    assert len(CODEC.decode([-5, CODEC.vocab_size + 3]).samples) == 0


def test_other_sample_rates_are_resampled_with_a_note() -> None:
    clip = _clip(0.4, rate=22050)
    with pytest.warns(arkit.ArkitWarning, match="22050 Hz resampled to 8000 Hz"):
        frames = CODEC.audio_to_frames(clip)
    assert frames.shape == (10, K)


@pytest.mark.parametrize("audio, match", [
    (Audio(np.zeros((2, 100), np.float32), 8000), "mono"),
    (Audio(np.zeros(0, np.float32), 8000), "empty"),
    (Audio(np.full(400, np.nan, np.float32), 8000), "NaN"),
    (Audio(np.zeros(400, np.float32), 0), "sample rate"),
])
def test_bad_audio_is_refused(audio: Audio, match: str) -> None:
    with pytest.raises(arkit.InputError, match=match):
        CODEC.encode(audio)


def test_bad_configs_are_refused() -> None:
    with pytest.raises(arkit.ConfigError, match="mode 999"):
        Codec2Tokenizer(mode=999)
    with pytest.raises(arkit.ConfigError, match="codebook_bits=5"):
        Codec2Tokenizer(codebook_bits=5)
    with pytest.raises(arkit.ConfigError, match="split='bytes'"):
        Codec2Tokenizer(split="bytes")
    with pytest.raises(arkit.ConfigError, match="not 3200"):
        Codec2Tokenizer(mode=3200, split="fields")
    assert arkit.create("tokenizer", "speech/codec2", mode=3200).num_codebooks == 8
