"""The shipped checkpoints: load, speak in every pattern, refuse bad input; the CLI's say command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
import warnings

import numpy as np
import pytest

import arkit
from arkit_speech import Audio, pretrained, speak
from arkit_speech.cli import load
from arkit_speech.presets import CHECKPOINTS, PROMPT_FRAMES
from arkit_speech.synth import voice_prompt_of
from arkit_speech.data import speech
from arkit_speech.drafting import speculative

NAMES = [p.name for p in sorted(CHECKPOINTS.glob("tts-digits*")) if (p / "pipeline.json").is_file()]


@pytest.fixture(scope="module")
def prompt() -> np.ndarray:
    """A voice prompt in codec2's packed bytes split as ``tts-digits`` splits them; :func:`_in` recuts it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", arkit.ArkitWarning)
        return voice_prompt_of(speech("one two three four five", "en-us+f3"), pretrained("tts-digits").tokenizer,
                               PROMPT_FRAMES)


def _in(pipe: arkit.Pipeline, prompt: np.ndarray) -> np.ndarray:
    """``prompt`` in ``pipe``'s codebook layout (the shipped checkpoints split codec2's frames two ways)."""
    return pipe.tokenizer.codec.frames_from(prompt, pretrained("tts-digits").tokenizer.codec)


def test_checkpoints_ship_small_float16_weights_with_their_training_log() -> None:
    assert {"tts-digits", "tts-digits-words", "tts-digits-delay"} <= set(NAMES)
    for name in NAMES:
        folder = CHECKPOINTS / name
        weights = list(folder.rglob("*.safetensors"))
        assert weights and sum(w.stat().st_size for w in weights) < 10 * 2**20
        from safetensors import safe_open

        for w in weights:
            with safe_open(str(w), "pt") as f:
                assert {str(f.get_slice(k).get_dtype()) for k in f.keys()} == {"F16"}
        record = json.loads((folder / "TRAINING.json").read_text())
        assert record["pattern"] == ("delay" if name.endswith("delay") else "flatten")
        assert record["by_word"] == name.endswith("words")
        lines = (folder / "metrics.jsonl").read_text().splitlines()
        assert json.loads(lines[-1])["step"] >= 300


@pytest.mark.parametrize("name", ["tts-digits", "tts-digits-words", "tts-digits-delay"])
def test_shipped_pipelines_speak_whole_frames(name: str, prompt: np.ndarray) -> None:
    pipe = pretrained(name)
    out = speak(pipe, ["four two seven", "oh"], [_in(pipe, prompt)] * 2, seed=0, max_frames=40)
    assert pipe.tokenizer.pattern == ("delay" if name.endswith("delay") else "flatten")
    for frames, audio in zip(out.frames, out.audio):
        assert frames.shape[1] == 6 and 1 <= len(frames) <= 40
        assert isinstance(audio, Audio) and len(audio.samples) == 320 * len(frames)
    # one model call per token (flatten; plus a prefill per word when by word) or per step of 6 tokens (delay)
    tokens = sum(f.size for f in out.frames) if pipe.tokenizer.by_word else max(f.size for f in out.frames)
    limit = {"tts-digits": tokens + 2, "tts-digits-words": tokens + 2 * 4, "tts-digits-delay": tokens // 6 + 6}
    assert out.calls <= limit[name]


def test_speculative_decoding_keeps_the_greedy_output_in_fewer_calls(prompt: np.ndarray) -> None:
    """The shipped checkpoints decode greedily; an early-exit draft (drafting greedily too) must give the same
    frames, and the verified drafts must save calls."""
    pipe = pretrained("tts-digits")
    assert pipe.sampler.deterministic
    plain = speak(pipe, ["four two seven"], [prompt], seed=0, max_frames=20)
    fast = speculative(pipe, 1)
    # The draft model declares its cost (arkit.CostedDrafter), and at this acceptance the adaptive schedule
    # declines to draft: the eval measured drafting slower than plain decoding. Same frames either way.
    declined = speak(fast, ["four two seven"], [prompt], seed=0, max_frames=20)
    assert np.array_equal(plain.frames[0], declined.frames[0]) and declined.calls <= plain.calls
    # The mechanism, with the cost left out (a drafter that does not declare one): drafts verified, calls saved
    drafted = speak(fast.replace(drafter=_Uncosted(fast.drafter)), ["four two seven"], [prompt], seed=0,
                    max_frames=20)
    assert np.array_equal(plain.frames[0], drafted.frames[0])
    assert drafted.speculative.accepted > 0 and drafted.calls < plain.calls


class _Uncosted:
    """A draft model without its ``draft_cost``: the schedule then takes drafting to be cheap."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.vocab_size, self.config = inner, inner.vocab_size, inner.config

    @property
    def uses_generator(self) -> bool:
        return self.inner.uses_generator

    def start(self, pipe: Any, batch_size: int, *, generator: Any = None) -> None:
        self.inner.start(pipe, batch_size, generator=generator)

    def propose(self, tokens: Any, k: int) -> Any:
        return self.inner.propose(tokens, k)


def test_a_prompt_longer_than_the_context_is_refused(prompt: np.ndarray) -> None:
    pipe = pretrained()
    prompt = _in(pipe, prompt)
    with pytest.raises(arkit.InputError, match="no room for audio"):
        speak(pipe, [" ".join(["seven"] * 80)], [prompt])
    with pytest.raises(arkit.InputError, match="one voice prompt"):
        speak(pipe, ["one", "two"], [prompt])
    with pytest.raises(arkit.InputError, match="must lie in"):  # values past tts-digits' 256-id codebooks
        speak(pretrained("tts-digits"), ["one"], [prompt % 256 + 256])


def test_say_writes_a_wav_and_refuses_bad_text(tmp_path: Path) -> None:
    from scipy.io import wavfile

    assert arkit_cli(["speech", "say", "shipped", "four two", "--out", str(tmp_path / "a.wav")]) == 0
    # the shipped delay checkpoint, all six codebooks per call
    assert arkit_cli(["speech", "say", "shipped", "four two", "--pattern", "delay", "--out",
                      str(tmp_path / "delay.wav")]) == 0
    assert (tmp_path / "delay.wav").stat().st_size > 44
    rate, pcm = wavfile.read(tmp_path / "a.wav")
    assert rate == 8000 and pcm.dtype == np.int16 and len(pcm) % 320 == 0 and len(pcm) > 0
    with pytest.raises(arkit.InputError, match="GRINNING FACE"):
        arkit_cli(["speech", "say", "shipped", "four 😀", "--out", str(tmp_path / "b.wav")])
    assert not (tmp_path / "b.wav").exists()
    with pytest.raises(arkit.ConfigError, match="not a saved pipeline"):
        load(str(tmp_path))


def test_say_resamples_a_prompt_wav_at_another_rate(tmp_path: Path) -> None:
    from scipy.io import wavfile

    clip = speech("one two three four", "en")
    up = np.interp(np.arange(len(clip.samples) * 2) / 2, np.arange(len(clip.samples)), clip.samples)
    wavfile.write(tmp_path / "voice.wav", 16000, (up * 32767).astype(np.int16))
    code = arkit_cli(["speech", "say", "shipped", "nine", "--prompt-wav", str(tmp_path / "voice.wav"),
                      "--out", str(tmp_path / "c.wav")])
    assert code == 0 and (tmp_path / "c.wav").is_file()


def arkit_cli(argv: list[str]) -> int:
    """Run ``arkit ARGV`` in this process (errors propagate as exceptions)."""
    import argparse

    from arkit_speech.cli import add_arguments, run

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd")
    add_arguments(sub.add_parser("speech"))
    return run(parser.parse_args(argv))
