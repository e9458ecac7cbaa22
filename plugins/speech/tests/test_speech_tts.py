"""The text front end (espeak-ng), the speech/tts tokenizer and bad input."""

from __future__ import annotations

from hypothesis import strategies as st
import numpy as np
import pytest
import torch

import arkit
from arkit.testing import TokenizerContract
from arkit_speech import Audio, MelRVQTokenizer, TTSTokenizer, Utterance
from arkit_speech.constraint import CodebookConstraint
from arkit_speech.espeak import SAMPLE_RATE, VOICES, phonemize, synthesize

TOK = TTSTokenizer()
K = TOK.num_codebooks
_RNG = np.random.default_rng(0)
_FRAMES = [_RNG.integers(0, 256, (t, K)) for t in (1, 3, 7)]


class TestTTSContract(TokenizerContract):
    """The contract, comparing decoded audio by its codec frames (libcodec2's synthesis draws unvoiced phases from
    a process-wide random generator: see test_speech_codec)."""

    component = "speech/tts"
    items = st.sampled_from([Utterance(text="one two", audio=_FRAMES[0]),
                             Utterance(phonemes="", voice_prompt=_FRAMES[1], audio=_FRAMES[2]),
                             Utterance(text="seven", voice_prompt=_FRAMES[0])])
    invalid_items = st.sampled_from([Utterance(text=""), Utterance(text="1 + 1 = ☃"), 42,
                                     Utterance(text="one", voice_prompt=np.zeros((30, K), np.int64)),
                                     Utterance(text="one", audio=np.zeros((3, 4), np.int64)),
                                     Utterance(text="one", audio=np.full((2, K), 999))])

    def test_decode_skips_special_tokens(self) -> None:
        tok = self.make()
        ids = tok.encode(Utterance(text="one", audio=_FRAMES[2]))
        noisy = [tok.special_tokens["bos"], *ids[:5], tok.special_tokens["audio"], *ids[5:], tok.special_tokens["eos"]]
        assert tok.target_ids(noisy) == tok.target_ids(ids)
        assert len(tok.decode(noisy).samples) == len(tok.decode(ids).samples) == 7 * 320

    def assert_equivalent(self, original, loaded) -> None:  # noqa: ANN001
        assert loaded.config == original.config and loaded.vocab_size == original.vocab_size
        item = Utterance(text="four two", voice_prompt=_FRAMES[1], audio=_FRAMES[2])
        assert loaded.encode(item) == original.encode(item)


class TestTTSMelRVQContract(TestTTSContract):
    """The same contract with ``speech/mel-rvq`` as the audio codec: its codebooks are the tokenizer's tensors, so
    they are saved (perturbed first, as training would) and read back."""

    config = {"codec": "mel-rvq"}
    max_examples = 10

    def assert_equivalent(self, original, loaded) -> None:  # noqa: ANN001
        super().assert_equivalent(original, loaded)
        assert isinstance(loaded.codec, MelRVQTokenizer) and loaded.codec.fitted
        assert torch.equal(loaded.codec.codebooks, original.codec.codebooks)


def test_the_audio_codec_is_swappable() -> None:
    mel = TTSTokenizer(codec="mel-rvq")
    assert isinstance(mel.codec, MelRVQTokenizer) and mel.config["codec"] == "mel-rvq"
    assert "codec" not in TOK.config and not TOK.state_dict()  # codec2: nothing to save, old checkpoints load
    assert (mel.vocab_size, mel.num_codebooks, mel.codebook_size) == (TOK.vocab_size, K, 256)
    clip = Audio(np.sin(np.arange(4000) / 8000 * 2 * np.pi * 200).astype(np.float32) * 0.3, 8000)
    ids = mel.encode(Utterance(text="one", audio=clip))
    assert len(mel.target_ids(ids)) == 13 * K  # 0.5 s: 12.5 frames, rounded up
    assert len(mel.decode(ids).samples) == 13 * 320
    with pytest.raises(arkit.ConfigError, match="unknown audio codec"):
        TTSTokenizer(codec="mp3")


def test_codec2_fields_split_widens_the_codebooks() -> None:
    fields = TTSTokenizer(codec_split="fields")
    assert "codec_split" not in TOK.config and fields.config["codec_split"] == "fields"
    assert (fields.num_codebooks, fields.codebook_size) == (K, 512)
    assert fields.vocab_size == fields.audio_offset + 6 * 512
    loaded = arkit.create("tokenizer", "speech/tts", **fields.config)
    item = Utterance(text="four two", voice_prompt=_FRAMES[1] % 32, audio=_FRAMES[2] % 32)
    assert loaded.encode(item) == fields.encode(item)


def test_espeak_speaks_every_voice_at_22050_hz() -> None:
    for voice in VOICES:
        pcm = synthesize("four two seven", voice)
        assert pcm.dtype == np.int16 and 0.6 * SAMPLE_RATE < len(pcm) < 2.0 * SAMPLE_RATE
        assert np.abs(pcm).max() > 3000
    assert phonemize("four two seven") == "fˈɔːɹ tˈuː sˈɛvən"


@pytest.mark.parametrize("text, match", [
    ("", "empty utterance"),
    ("   ", "empty utterance"),
    ("one 😀 two", "GRINNING FACE"),
    ("a\u0007b", "U\\+0007 control character"),
])
def test_text_the_phonemizer_cannot_read_is_named(text: str, match: str) -> None:
    with pytest.raises(arkit.InputError, match=match):
        TOK.encode(Utterance(text=text))


def test_unknown_voice_and_foreign_phonemes_are_refused() -> None:
    with pytest.raises(arkit.ConfigError, match="no voice"):
        synthesize("one", "xx-nowhere")
    with pytest.raises(arkit.InputError, match="outside this tokenizer's inventory"):
        TOK.encode(Utterance(phonemes="ʙʘ"))


def test_layout_voice_prompt_text_audio() -> None:
    s = TOK.special_tokens
    ids = TOK.encode(Utterance(text="oh", voice_prompt=_FRAMES[0], audio=_FRAMES[1]))
    prompt_codes = TOK.audio_ids(_FRAMES[0])
    assert ids[: 1 + K] == [s["voice"], *prompt_codes]
    assert ids[1 + K] == s["text"]
    audio_at = ids.index(s["audio"])
    assert ids[audio_at + 1:] == TOK.audio_ids(_FRAMES[1])
    assert len(ids[audio_at + 1:]) == 3 * K
    # the unconditional twin: no phonemes between [text] and [audio]
    twin = TOK.encode(Utterance(phonemes="", voice_prompt=_FRAMES[0]))
    assert twin[-2:] == [s["text"], s["audio"]]


def test_a_voice_prompt_longer_than_allowed_is_refused() -> None:
    with pytest.raises(arkit.InputError, match="voice prompt has 26 frames"):
        TOK.encode(Utterance(text="one", voice_prompt=np.zeros((26, K), np.int64)))


def test_audio_targets_at_another_rate_are_resampled() -> None:
    clip = Audio(np.zeros(22050 // 5, np.float32), 22050)
    with pytest.warns(arkit.ArkitWarning, match="resampled"):
        ids = TOK.encode(Utterance(text="one", audio=clip))
    assert len(TOK.target_ids(ids[ids.index(TOK.special_tokens["audio"]):])) == 5 * K


def test_every_sampled_sequence_decodes_to_audio_of_its_length() -> None:
    """An untrained model sampling under speech/codebooks: each row decodes to 320 samples per whole frame."""
    torch.manual_seed(0)
    pipe = arkit.Pipeline(
        tokenizer=TOK,
        backbone=arkit.create("backbone", "core/transformer", vocab_size=TOK.vocab_size, d_model=32, n_layers=1,
                              n_heads=2, max_seq_len=256),
        head=arkit.create("head", "core/categorical", d_model=32, vocab_size=TOK.vocab_size),
    )
    prompts = [pipe.encode(Utterance(text=t, voice_prompt=_FRAMES[1])) for t in ("one", "two three", "oh")]
    constraint = CodebookConstraint.for_tokenizer(TOK, max_frames=6)
    out = pipe.generate(prompt_ids=prompts, constraint=constraint, max_new_tokens=6 * K + 1, seed=3)
    for seq, audio in zip(out.sequences, out.decoded):
        codes = TOK.target_ids(seq)
        assert len(codes) % K == 0 and 1 <= len(codes) // K <= 6
        assert all(j * 256 <= c < (j + 1) * 256 for n, c in enumerate(codes) for j in [n % K])
        assert isinstance(audio, Audio) and len(audio.samples) == 320 * (len(codes) // K)


def test_by_word_layout_interleaves_each_word_with_its_audio() -> None:
    tok = TTSTokenizer(by_word=True)
    s = tok.special_tokens
    words = (_FRAMES[0], _FRAMES[1], _FRAMES[0])
    ids = tok.encode(Utterance(text="four two seven", voice_prompt=_FRAMES[0], audio_words=words))
    assert ids[0] == s["voice"] and ids.count(s["text"]) == 3 and ids.count(s["audio"]) == 3
    # each [audio] is followed by exactly that word's codes, then the next [text] (or the end)
    starts = [i for i, t in enumerate(ids) if t == s["audio"]]
    ends = [i for i, t in enumerate(ids) if t == s["text"]][1:] + [len(ids)]
    for start, end, frames in zip(starts, ends, words):
        assert ids[start + 1:end] == tok.audio_ids(frames)
    assert tok.text_ids(Utterance(text="four two seven"))[-1] == s["audio"]
    assert tok.text_ids(Utterance(text="four two seven")).count(s["text"]) == 1  # generation starts with word 1
    with pytest.raises(arkit.InputError, match="2 word audio segments for 3 words"):
        tok.encode(Utterance(text="four two seven", audio_words=words[:2]))
    assert arkit.create("tokenizer", "speech/tts", **tok.config).by_word
