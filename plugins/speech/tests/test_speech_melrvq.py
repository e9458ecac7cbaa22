"""speech/mel-rvq: shapes, exact frame <-> id round trips, residual VQ behaviour, saving, the shipped codebooks."""

from __future__ import annotations

from pathlib import Path
import warnings

from hypothesis import given, settings
from hypothesis import strategies as st
import numpy as np
import pytest
import torch

import arkit
from arkit.testing import TokenizerContract
from arkit_speech import Audio, Codec2Tokenizer, MelRVQTokenizer, log_mel_distance, pretrained_mel_rvq
from arkit_speech.data import speech

SMALL = {"num_codebooks": 3, "codebook_size": 8, "fit_iters": 10}


def _clip(seconds: float, rate: int = 8000, seed: int = 0, pitch: float = 180.0) -> Audio:
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(seed).normal(0, 0.01, t.size)
    tone = 0.3 * np.sin(2 * np.pi * pitch * t) * np.sin(2 * np.pi * 3 * t)
    return Audio((tone + noise).astype(np.float32), rate)


CLIPS = [_clip(0.6, seed=s, pitch=p) for s, p in enumerate((120.0, 180.0, 240.0, 300.0))]


def _small() -> MelRVQTokenizer:
    tok = MelRVQTokenizer(**SMALL)
    tok.fit(CLIPS)
    return tok


FITTED = _small()


class TestMelRVQContract(TokenizerContract):
    """The contract over a small tokenizer fitted on four synthetic clips (make() fits it: an unfitted one refuses
    to encode)."""

    component = "speech/mel-rvq"
    config = SMALL
    max_examples = 15
    items = st.sampled_from([_clip(0.2, seed=7), _clip(0.5, seed=8), _clip(0.04, seed=9)])
    invalid_items = st.sampled_from(["one two", 3, None, np.zeros(320)])

    def make(self) -> MelRVQTokenizer:
        return _small()

    def assert_equivalent(self, original, loaded) -> None:  # noqa: ANN001
        super().assert_equivalent(original, loaded)
        assert loaded.fitted and original.fitted
        for key, value in original.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value), key
        clip = _clip(0.3, seed=5)
        ids = original.encode(clip)
        assert loaded.encode(clip) == ids
        assert loaded.decode(ids) == original.decode(ids)


def test_defaults_match_codec2_frame_rate() -> None:
    tok = MelRVQTokenizer()
    assert (tok.num_codebooks, tok.codebook_size, tok.samples_per_frame, tok.frames_per_second) == (6, 256, 320, 25.0)
    assert tok.vocab_size == Codec2Tokenizer().vocab_size == 6 * 256
    assert tok.dim == 4 * 32 and not tok.fitted


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10).flatmap(
    lambda t: st.lists(st.lists(st.integers(0, 7), min_size=3, max_size=3), min_size=t, max_size=t)))
def test_frames_ids_round_trip_is_exact(frames: list[list[int]]) -> None:
    arr = np.array(frames, dtype=np.int64).reshape(-1, 3)
    ids = FITTED.frames_to_ids(arr)
    assert all(j * 8 <= i < (j + 1) * 8 for n, i in enumerate(ids) for j in [n % 3])
    assert np.array_equal(FITTED.ids_to_frames(ids), arr)
    assert np.array_equal(FITTED.ids_to_frames(ids + [0]), arr)  # a trailing partial frame is dropped


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 2400))
def test_encode_and_decode_shapes(samples: int) -> None:
    audio = Audio(np.random.default_rng(samples).normal(0, 0.1, samples).astype(np.float32), 8000)
    frames = FITTED.audio_to_frames(audio)
    T = -(-samples // 320)
    assert frames.shape == (T, 3) and frames.dtype == np.int64
    assert ((frames >= 0) & (frames < 8)).all()
    out = FITTED.frames_to_audio(frames)
    assert out.rate == 8000 and len(out.samples) == 320 * T
    assert np.isfinite(out.samples).all() and np.abs(out.samples).max() <= 1.0


def test_decoding_is_deterministic_and_empty_ids_give_empty_audio() -> None:
    ids = FITTED.encode(CLIPS[1])
    assert FITTED.decode(ids) == FITTED.decode(ids)
    assert len(FITTED.decode([]).samples) == 0


def test_each_stage_lowers_the_error_and_quantises_to_the_nearest_entry() -> None:
    tok = MelRVQTokenizer(num_codebooks=4, codebook_size=16, fit_iters=20)
    fit = tok.fit(CLIPS)
    assert fit.frames == sum(len(tok.vectors(c)) for c in CLIPS)
    assert all(a > b for a, b in zip(fit.rmse_db, fit.rmse_db[1:])), fit.rmse_db
    x = torch.as_tensor(tok.vectors(CLIPS[2]))
    ids = tok._quantise(x)
    first = torch.cdist(x - tok.mean, tok.codebooks[0]).argmin(1)
    assert torch.equal(ids[:, 0], first)
    partial = tok.mean.expand_as(x).clone()  # the first k stages' reconstruction, k = 0 .. K
    errors = [float(((x - partial) ** 2).mean())]
    for j in range(4):
        partial = partial + tok.codebooks[j][ids[:, j]]
        errors.append(float(((x - partial) ** 2).mean()))
    assert all(a >= b for a, b in zip(errors, errors[1:])), errors
    assert np.allclose(partial.numpy(), tok._dequantise(ids.numpy()), atol=1e-5)


def test_bad_input_and_config_are_refused() -> None:
    with pytest.raises(arkit.ConfigError, match="no codebooks yet"):
        MelRVQTokenizer().encode(CLIPS[0])
    with pytest.raises(arkit.InputError, match="at least codebook_size"):
        MelRVQTokenizer(codebook_size=512).fit(CLIPS[:1])
    with pytest.raises(arkit.InputError, match="fits on"):
        MelRVQTokenizer().fit(["not audio"])
    with pytest.raises(arkit.InputError, match="encodes arkit_speech.Audio"):
        FITTED.encode(np.zeros(320))
    with pytest.raises(arkit.InputError, match="empty"):
        FITTED.encode(Audio(np.zeros(0, np.float32), 8000))
    with pytest.raises(arkit.ConfigError, match="hop_length"):
        MelRVQTokenizer(n_fft=64, hop_length=80)
    with pytest.raises(arkit.ConfigError, match="codebook_size"):
        MelRVQTokenizer(codebook_size=1)
    with pytest.warns(arkit.ArkitWarning, match="resampled"):
        frames = FITTED.audio_to_frames(_clip(0.3, rate=16000))
    assert frames.shape == (8, 3)  # 0.3 s at 8 kHz: 2400 samples, 7.5 frames rounded up


def test_save_and_load_keep_the_codebooks(tmp_path: Path) -> None:
    FITTED.save(tmp_path / "rvq")
    loaded = MelRVQTokenizer.load(tmp_path / "rvq")
    assert loaded.config == FITTED.config and loaded.fitted
    assert torch.allclose(loaded.codebooks, FITTED.codebooks, atol=1e-2)  # float16 on disk
    assert loaded.encode(CLIPS[3]) == FITTED.encode(CLIPS[3])
    with pytest.raises(arkit.WeightsError, match="no speech/mel-rvq codebooks"):
        MelRVQTokenizer.load(tmp_path / "nothing")
    with pytest.raises(arkit.ConfigError, match="no codebooks yet"):
        MelRVQTokenizer().save(tmp_path / "unfitted")
    assert not (tmp_path / "unfitted").exists()


def test_pipeline_fit_learns_the_codebooks_and_saves_them(tmp_path: Path) -> None:
    """An audio-continuation pipeline: Pipeline.fit fits the tokenizer on the clips first, save_pretrained writes its
    codebooks as safetensors, from_pretrained reads them back."""
    tok = MelRVQTokenizer(**SMALL)
    backbone = arkit.create("backbone", "core/transformer", vocab_size=tok.vocab_size, d_model=16, n_layers=1,
                            n_heads=2, max_seq_len=64)
    head = arkit.create("head", "core/categorical", d_model=16, vocab_size=tok.vocab_size)
    pipe = arkit.Pipeline(tokenizer=tok, backbone=backbone, head=head)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(CLIPS, steps=2, batch_size=2, seq_len=32, progress=False)
    assert tok.fitted
    folder = pipe.save_pretrained(tmp_path / "pipe")
    assert (folder / "tokenizer" / "model.safetensors").is_file()
    loaded = arkit.Pipeline.from_pretrained(folder)
    assert isinstance(loaded.tokenizer, MelRVQTokenizer) and loaded.tokenizer.fitted
    assert torch.equal(loaded.tokenizer.codebooks, tok.codebooks)
    assert loaded.tokenizer.encode(CLIPS[0]) == tok.encode(CLIPS[0])


def test_shipped_codebooks_reconstruct_held_out_speech_closer_than_codec2() -> None:
    """The shipped tokenizer (fitted on training digit strings) on an utterance it never saw: its log-mel distance to
    the espeak reference is well below codec2-1200's, and quantisation adds little to Griffin-Lim's own loss."""
    tok = pretrained_mel_rvq()
    assert tok.fitted and tok.config == MelRVQTokenizer().config
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", arkit.ArkitWarning)
        reference = speech("seven oh nine four", "en-us+f3")
    codec = Codec2Tokenizer()
    rvq = log_mel_distance(reference, tok.decode(tok.encode(reference)))
    vocoded = log_mel_distance(reference, tok.vocode(reference))
    codec2 = log_mel_distance(reference, codec.frames_to_audio(codec.audio_to_frames(reference)))
    assert vocoded < rvq < 0.75 * codec2, (vocoded, rvq, codec2)
    assert log_mel_distance(reference, reference) == 0.0


def test_log_mel_distance_finds_the_alignment() -> None:
    """Speech delayed by 20 ms (codec2's own delay) is close once aligned (what differs: the edges, the STFT's
    phase within a hop), and far when the alignment search is off (max_lag_ms=0)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", arkit.ArkitWarning)
        clip = speech("seven oh nine", "en-us")
    delayed = Audio(np.concatenate([np.zeros(160, np.float32), clip.samples[:-160]]), 8000)
    assert log_mel_distance(clip, delayed) < 2.0
    assert log_mel_distance(clip, delayed, max_lag_ms=0) > 5.0
