"""``arkit speech eval``: intelligibility, voice and speed of a trained pipeline, with the issue's targets.

One held-out set: digit strings of three words that no training utterance says (the
training texts are re-drawn from their seeds), spoken in
each training voice; each row is prompted with a voice prompt cut from a *different*
held-out utterance of that voice. espeak-ng does not repeat its audio from run to run, so the
default set's audio (and the speaker classifier's training clips) is spoken once and stored
with the package (:mod:`arkit_speech.stored`); another set is spoken afresh, and the report's
``references`` says which (``"stored"`` or ``"synthesised"``). Every WER goes through the same chain
(:func:`arkit_speech.asr.transcribe` on 8 kHz audio):

- floor: codec2's own resynthesis of the espeak reference;
- model: the pipeline's speech (flatten, and delay when a delay checkpoint is given: then the
  targets judge the delay checkpoint, the report's ``primary``);
- ceiling: the same speech with its frames shuffled in time, and an untrained model's speech.

Voice: :class:`~arkit_speech.speaker.SpeakerClassifier` fitted on codec2 resynthesis of
200 training utterances per voice (:data:`SPEAKER_CODES_PER_VOICE`, stored as codec2 frames),
scored on the generated speech against the prompted voice (and on the references, the same
classifier's ceiling).
Speed: real-time factor (generation seconds per second of audio, batch 1, one thread: ``rtf``
by the wall clock, ``rtf_cpu`` by the CPU time of this process, which the targets use: on a
machine shared by several jobs the wall clock also counts the time others held the cores)
and tokens per second, per pattern, through torch, with speculative decoding (an early-exit
draft from the same checkpoint, :mod:`arkit_speech.drafting`) and through onnxruntime (the
pipeline exported to a temporary folder; greedy tokens checked against torch); model calls
per second of audio, against each pattern's least count (:func:`arkit_speech.patterns.min_calls`).

Diagnosis: teacher-forced predictions of each flatten pipeline (:func:`teacher_forced`), and
the audio tokenizers' own reconstructions of the references (:func:`reconstruction`:
codec2 and ``speech/mel-rvq``, WER and log-mel distance).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import time
from typing import Any
import warnings

import numpy as np
import torch

import arkit
from arkit import ArkitWarning, ConfigError

from . import asr
from .audio import Audio
from .codec2 import Codec2Tokenizer
from .data import digit_texts, frame_starts, speech_words
from .espeak import VOICES
from .drafting import speculative
from .frames import FrameCodes
from .melrvq import MelRVQTokenizer, log_mel_distance
from .patterns import min_calls
from .presets import MAX_WORDS, PROMPT_FRAMES, TRAINING_PER_VOICE, TRAINING_SEED
from .speaker import SpeakerClassifier
from .stored import speaker_codes, stored
from .synth import speak, voice_prompt_of
from .tts import TTSTokenizer, Utterance

__all__ = ["HELD_OUT_PER_VOICE", "HELD_OUT_SEED", "SPEAKER_CODES_PER_VOICE", "SPEAKER_PER_VOICE", "TestSet", "evaluate",
           "held_out_rows", "held_out_texts",
           "reconstruction", "speaker_pairs", "speaker_training", "teacher_forced", "test_set", "targets",
           "training_texts"]

HELD_OUT_SEED = 9_000
"""The held-out set's default seed (voice ``i`` draws its texts with ``HELD_OUT_SEED + i``)."""
HELD_OUT_PER_VOICE = 10
"""The held-out set's default size per voice (``arkit speech eval --n-per-voice``); the stored audio has this size."""
SPEAKER_PER_VOICE = 25
"""Training utterances per voice stored as audio (the recogniser's front end was chosen on them)."""
SPEAKER_CODES_PER_VOICE = 200
"""Training utterances per voice the speaker classifier is fitted on (stored as codec2 frames). On 100 other corpus
utterances per voice its accuracy was 0.85 fitted on 25 per voice, 0.94 on 100, 0.95 on 200 and 400."""


@dataclass(frozen=True, eq=False)
class TestSet:
    """Held-out texts, voices, voice prompts (codec frames) and espeak references at 8 kHz, with the time (s) at
    which each reference's words start, and where the audio came from: ``"stored"`` or ``"synthesised"``."""

    texts: list[str]
    voices: list[str]
    prompts: list[np.ndarray]
    references: list[Audio]
    word_times: list[tuple[float, ...]]
    source: str
    codec: FrameCodes | None = None
    """The audio tokenizer ``prompts`` are frames of (``None``: the default codec2-1200 byte split)."""

    def prompts_for(self, tokenizer: TTSTokenizer) -> list[np.ndarray]:
        """The voice prompts in ``tokenizer``'s codebook layout: the same codec2 frames, cut another way if its
        codebooks differ (a pipeline over ``codec_split="fields"`` next to one over bytes)."""
        source = self.codec or Codec2Tokenizer()
        codec = tokenizer.codec
        if codec.config == source.config and type(codec) is type(source):
            return self.prompts
        if not (isinstance(codec, Codec2Tokenizer) and isinstance(source, Codec2Tokenizer)):
            raise ConfigError(f"the test set's voice prompts are {type(source).__name__} frames and cannot be given "
                              f"to a pipeline over {type(codec).__name__}: build the test set with its tokenizer")
        return [codec.frames_from(p, source) for p in self.prompts]


def training_texts() -> dict[str, list[str]]:
    """The reference corpus's texts per voice (:data:`~arkit_speech.presets.TRAINING_PER_VOICE`), re-drawn from their
    seeds as ``data.make_corpus`` draws them: the held-out set avoids them, and larger training corpora avoid it."""
    return {v: digit_texts(TRAINING_PER_VOICE, seed=TRAINING_SEED * 1000 + i, max_len=MAX_WORDS)
            for i, v in enumerate(VOICES)}


def held_out_rows(n_per_voice: int = HELD_OUT_PER_VOICE, *, exclude: set[str] | None = None,
                  voices: Sequence[str] = VOICES, seed: int = HELD_OUT_SEED) -> list[tuple[str, str, str]]:
    """The held-out set's rows ``(text, other, voice)``: ``n_per_voice`` distinct strings of :data:`MAX_WORDS`
    words per voice, none of ``exclude`` (default: the reference corpus's :func:`training_texts`), each with another
    such string of its voice that its voice prompt is cut from."""
    if exclude is None:
        exclude = {t for texts in training_texts().values() for t in texts}
    rows = []
    for v, voice in enumerate(voices):
        pool = [t for t in digit_texts(20 * n_per_voice, seed=seed + v, min_len=MAX_WORDS, max_len=MAX_WORDS)
                if t not in exclude]
        chosen = list(dict.fromkeys(pool))[: 2 * n_per_voice]
        rows += [(chosen[2 * i], chosen[2 * i + 1], voice) for i in range(n_per_voice)]
    return rows


def held_out_texts() -> set[str]:
    """Every string of the default held-out rows (what they say and what their voice prompts say), in any voice: no
    training utterance may say one. The reference corpus never draws them; larger corpora leave them out."""
    return {text for row in held_out_rows() for text in row[:2]}


def test_set(tokenizer: TTSTokenizer, n_per_voice: int = HELD_OUT_PER_VOICE, *,
             exclude: set[str] | None = None, voices: Sequence[str] = VOICES, seed: int = HELD_OUT_SEED) -> TestSet:
    """The :func:`held_out_rows` with their espeak references and voice prompts (``tokenizer``'s codec frames).

    The audio is the stored audio (:mod:`arkit_speech.stored`) when the rows are the stored ones (the defaults),
    else espeak-ng speaks it now, which does not repeat exactly from run to run.
    """
    rows = held_out_rows(n_per_voice, exclude=exclude, voices=voices, seed=seed)
    audio, source = _stored_rows(rows), "stored"
    if audio is None:
        audio, source = _spoken_rows(rows), "synthesised"
    references, word_times, sources = audio
    return TestSet(texts=[text for text, _, _ in rows], voices=[voice for _, _, voice in rows],
                   prompts=[voice_prompt_of(a, tokenizer, PROMPT_FRAMES) for a in sources],
                   references=references, word_times=word_times, source=source, codec=tokenizer.codec)


_RowAudio = tuple[list[Audio], list[tuple[float, ...]], list[Audio]]
"""Per row: the reference, the time (s) at which its words start, and the audio its voice prompt is cut from."""


def _stored_rows(rows: Sequence[tuple[str, str, str]]) -> _RowAudio | None:
    """The stored audio of ``rows`` (``(text, other, voice)``), or ``None`` if they are not the stored rows."""
    store = stored()
    refs = store.find("reference", [(text, voice) for text, _, voice in rows])
    sources = store.find("prompt_source", [(other, voice) for _, other, voice in rows])
    if refs is None or sources is None:
        return None
    return [c.audio for c in refs], [c.word_times for c in refs], [c.audio for c in sources]


def _spoken_rows(rows: Sequence[tuple[str, str, str]]) -> _RowAudio:
    """The audio of ``rows`` (``(text, other, voice)``) spoken by espeak-ng now."""
    references, word_times, sources = [], [], []
    for text, other, voice in rows:  # the reference, then the prompt's source: the order the stored set was spoken in
        audio, times = speech_words(text, voice)
        references.append(audio)
        word_times.append(times)
        sources.append(speech_words(other, voice)[0])
    return references, word_times, sources


def speaker_pairs(n_per_voice: int = SPEAKER_PER_VOICE) -> list[tuple[str, str]]:
    """``(text, voice)`` of the first ``n_per_voice`` training texts of each voice: the stored speaker clips (audio for
    :data:`SPEAKER_PER_VOICE`, codec2 frames for :data:`SPEAKER_CODES_PER_VOICE`)."""
    return [(t, v) for v, texts in training_texts().items() for t in texts[:n_per_voice]]


def speaker_training(codec: FrameCodes) -> tuple[list[Audio], list[str], str]:
    """The speaker classifier's training clips (:data:`SPEAKER_CODES_PER_VOICE` per voice) through ``codec`` (like
    every clip it judges), their voices, and where they came from: ``"stored"`` (codec2-1200 frames stored with the
    package), or ``"synthesised"`` (spoken now by espeak-ng) if the stored ones are not these."""
    pairs = speaker_pairs(SPEAKER_CODES_PER_VOICE)
    coded = speaker_codes()
    voices = [v for _, v in pairs]
    if [(c.text, c.voice) for c in coded] != pairs:
        audio = [speech_words(t, v)[0] for t, v in pairs]
        return [codec.frames_to_audio(codec.audio_to_frames(a)) for a in audio], voices, "synthesised"
    codec2 = Codec2Tokenizer()
    clips = [codec2.frames_to_audio(c.frames) for c in coded]  # codec2's resynthesis, as the floor's
    if not (isinstance(codec, Codec2Tokenizer) and codec.mode == codec2.mode):
        clips = [codec.frames_to_audio(codec.audio_to_frames(a)) for a in clips]
    return clips, voices, "stored"


def _wer(references: Sequence[str], clips: Sequence[Audio]) -> float:
    return asr.wer(references, [asr.transcribe(c) for c in clips])


def _shuffled(frames: Sequence[np.ndarray], tokenizer: TTSTokenizer, seed: int) -> list[Audio]:
    rng = np.random.default_rng(seed)
    return [tokenizer.codec.frames_to_audio(f[rng.permutation(len(f))]) for f in frames]


def reconstruction(data: TestSet, floor_audio: Sequence[Audio], mel: MelRVQTokenizer) -> dict[str, dict[str, Any]]:
    """Each audio tokenizer's own resynthesis of the held-out references, through the same recogniser: WER and
    log-mel distance (dB) to the reference, with the espeak reference itself and Griffin-Lim alone (mel-rvq's
    front end and decoder without quantisation) for scale. ``floor_audio``: codec2's resynthesis."""
    codec = Codec2Tokenizer()
    rows: dict[str, tuple[list[Audio], float | None]] = {
        "espeak": (list(data.references), None),
        "codec2": (list(floor_audio), codec.bits * codec.frames_per_second),
        "mel-rvq": ([mel.decode(mel.encode(r)) for r in data.references],
                    mel.num_codebooks * np.log2(mel.codebook_size) * mel.frames_per_second),
        "mel-griffin-lim": ([mel.vocode(r) for r in data.references], None),
    }
    out = {}
    for name, (clips, bits) in rows.items():
        out[name] = {"wer": _wer(data.texts, clips),
                     "mel_db": float(np.mean([log_mel_distance(r, c, mel) for r, c in zip(data.references, clips)])),
                     "bits_per_s": bits}
    return out


@torch.no_grad()
def teacher_forced(pipe: arkit.Pipeline, data: TestSet, text: str = "right") -> dict[str, Any]:
    """A flatten pipeline's next-code predictions given the *true* codes so far (teacher forcing on codec2's frames
    of each reference): the share it predicts right (greedy within the right codebook; overall and per codebook)
    and the WER of the audio those predictions decode to. Against free-running WER it separates what the model learned per step from
    what compounds when it feeds on its own output. ``text``: ``"right"`` (each row's own), ``"none"`` (no
    phonemes) or ``"other"`` (the next row's text): how much the predictions use the text."""
    if text not in ("right", "none", "other"):
        raise ConfigError(f"teacher_forced text must be 'right', 'none' or 'other', got {text!r}")
    tok = pipe.tokenizer
    said = list(data.texts) if text != "other" else [*data.texts[1:], data.texts[0]]
    codec, size, offset = tok.codec, tok.codebook_size, tok.audio_offset
    clips = []
    correct, total = np.zeros(tok.num_codebooks), np.zeros(tok.num_codebooks)
    phonemes = "" if text == "none" else None
    for spoken, given, times, prompt, reference in zip(data.texts, said, data.word_times, data.prompts_for(tok),
                                                       data.references):
        frames = codec.audio_to_frames(reference)
        if tok.by_word:
            starts = frame_starts(times, len(spoken.split()), len(frames), codec.frames_per_second)
            bounds = [*starts[1:], len(frames)]
            item = Utterance(text=given, phonemes=phonemes, voice_prompt=prompt,
                             audio_words=tuple(frames[a:b] for a, b in zip(starts, bounds)))
        else:
            item = Utterance(text=given, phonemes=phonemes, voice_prompt=prompt, audio=frames)
        ids = pipe.encode(item)[: pipe.backbone.max_seq_len]
        x = torch.tensor([ids])
        hidden = pipe.backbone(x, positions=torch.arange(len(ids))[None])
        logits = pipe.head(hidden)[0].float()
        first = ids.index(tok.special_tokens["text"])
        predicted = []
        for p in range(first + 1, len(ids)):
            code = ids[p] - offset
            if not 0 <= code < codec.vocab_size:
                continue
            lo = offset + (code // size) * size
            guess = lo + int(logits[p - 1, lo:lo + size].argmax())
            predicted.append(guess - offset)
            correct[code // size] += int(guess == ids[p])
            total[code // size] += 1
        clips.append(codec.decode(predicted))
    return {"wer": _wer(data.texts, clips), "token_accuracy": float(correct.sum() / max(total.sum(), 1)),
            "codebook_accuracy": (correct / np.maximum(total, 1)).tolist()}


def _speed(pipe: arkit.Pipeline, data: TestSet, pattern: str, n: int, guidance_scale: float) -> dict[str, Any]:
    """Batch-1 generation of ``n`` rows: real-time factor, tokens per second, calls per second of audio."""
    elapsed = cpu = seconds = 0.0
    calls = tokens = drafted = accepted = frames = least = 0
    K = pipe.tokenizer.num_codebooks
    prompts = data.prompts_for(pipe.tokenizer)
    for i in range(n):
        out = speak(pipe, [data.texts[i]], [prompts[i]], pattern=pattern, guidance_scale=guidance_scale, seed=i)
        elapsed += out.elapsed_s
        cpu += out.cpu_s
        seconds += out.seconds
        calls += out.calls
        tokens += sum(f.size for f in out.frames)
        frames += len(out.frames[0])
        least += min_calls(pattern, max(len(out.frames[0]), 1), K)  # type: ignore[arg-type]
        if out.speculative is not None:
            drafted += out.speculative.drafted
            accepted += out.speculative.accepted
    seconds = max(seconds, 1e-9)
    report: dict[str, Any] = {"rtf": elapsed / seconds, "rtf_cpu": cpu / seconds,
                              "tokens_per_s": tokens / max(elapsed, 1e-9),
                              "calls_per_audio_s": calls / seconds, "audio_s": seconds, "rows": n, "frames": frames,
                              "calls": calls, "min_calls": least}
    if drafted:
        report["acceptance"] = accepted / drafted
    return report


def _ort_speed(pipe: arkit.Pipeline, data: TestSet, pattern: str, n: int) -> dict[str, Any]:
    """Export ``pipe`` to ONNX (a temporary folder), then time batch-1 generation through onnxruntime (1 thread);
    also check that greedy tokens match torch's on two rows."""
    import tempfile

    from arkit.onnx import OrtPipeline, export

    greedy = arkit.create("sampler", "core/greedy")
    with tempfile.TemporaryDirectory() as tmp:
        report = export(pipe, tmp)
        ort = OrtPipeline.from_pretrained(tmp, threads=1)
        speed = _speed(ort, data, pattern, n, 1.0)
        rows = (data.texts[:2], data.prompts_for(pipe.tokenizer)[:2])
        same = speak(pipe.replace(sampler=greedy), *rows, pattern=pattern, max_frames=20).frames
        got = speak(ort.replace(sampler=greedy), *rows, pattern=pattern, max_frames=20).frames
    speed["greedy_tokens_match_torch"] = all(np.array_equal(a, b) for a, b in zip(same, got))
    speed["max_abs_logit_diff"] = float(report.max_abs_logit_diff)
    return speed


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets as ``{"name", "value", "target", "met"}`` entries."""
    w, spk, speed = report["wer"], report["speaker"], report["speed"]
    out = []
    primary = report.get("primary", "flatten")  # the delay checkpoint when one is evaluated
    model = w[primary]
    out.append({"name": f"digit WER of generated speech ({primary}) <= 0.4", "value": model, "target": 0.4,
                "met": bool(model <= 0.4)})
    out.append({"name": f"digit WER ({primary}) within 2x of the codec2 floor", "value": model / max(w["floor"], 1e-9),
                "target": 2.0, "met": bool(model <= 2.0 * w["floor"])})
    ceiling = min(w["shuffled"], w["untrained"])
    out.append({"name": "shuffled and untrained output near 1.0 (>= 0.8)", "value": ceiling, "target": 0.8,
                "met": bool(ceiling >= 0.8)})
    voice = spk["generated"] if primary == "flatten" else spk[primary]
    out.append({"name": f"speaker accuracy with a training voice prompted ({primary})", "value": voice,
                "target": 0.9, "met": bool(voice >= 0.9)})
    for key, label in (("flatten", "torch, flatten"), ("flatten_speculative", "torch, flatten + speculative"),
                       ("delay", "torch, delay"), ("ort_flatten", "onnxruntime, flatten"),
                       ("ort_delay", "onnxruntime, delay")):
        if key in speed:
            rtf = speed[key]["rtf_cpu"]
            out.append({"name": f"real-time factor < 1 ({label}; CPU seconds of 1 thread per audio second, batch 1)",
                        "value": rtf, "target": 1.0, "met": bool(rtf < 1.0)})
    if "delay" in w:
        K = report["codebooks"]
        d, f = speed["delay"], speed["flatten"]
        ratio = d["calls_per_audio_s"] / f["calls_per_audio_s"]
        # 1/K holds only as utterances grow: per utterance of T frames delay needs T + K calls and flatten T*K + 1
        # (patterns.min_calls); the target is the ratio of those least counts over the utterances timed here
        bound = (d["min_calls"] / d["audio_s"]) / (f["min_calls"] / f["audio_s"])
        out.append({"name": f"delay pattern: model calls per audio second / flatten's <= the patterns' least ratio "
                            f"on these utterances, sum(T+K)/sum(T*K+1) per second (1/K = {1.0 / K:.3f} only as T "
                            f"grows; K={K})",
                    "value": ratio, "target": bound, "met": bool(ratio <= bound * (1 + 1e-9))})
        noise = report["wer_noise"]
        worse = w["delay"] - w["flatten"]  # the same WER or better: one-sided
        out.append({"name": "delay pattern WER no worse than flatten's beyond noise (delay - flatten <= 2 standard "
                            "errors of the difference)",
                    "value": worse, "target": noise, "met": bool(worse <= noise)})
    return out


def evaluate(pipe: arkit.Pipeline, *, delay: arkit.Pipeline | None = None,
             n_per_voice: int = HELD_OUT_PER_VOICE, speed_rows: int = 4, guidance_scale: float = 1.0,
             exclude: set[str] | None = None, train_clips: tuple[list[Audio], list[str]] | None = None, seed: int = 0,
             ort: bool = True, others: dict[str, arkit.Pipeline] | None = None,
             mel_rvq: MelRVQTokenizer | None = None) -> dict[str, Any]:
    """Everything ``arkit speech eval --json`` prints (see the module docstring); one torch thread. ``exclude``:
    texts the held-out set must not say (default: the reference corpus's :func:`training_texts`)."""
    torch.set_num_threads(1)
    tok = pipe.tokenizer
    if tok.pattern != "flatten" or (delay is not None and delay.tokenizer.pattern != "delay"):
        raise ConfigError(f"evaluate takes a flatten-pattern pipeline and, as delay=, a delay-pattern one; got "
                          f"{tok.pattern!r} and {None if delay is None else delay.tokenizer.pattern!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ArkitWarning)
        data = test_set(tok, n_per_voice, exclude=exclude)
    floor_audio = [tok.codec.frames_to_audio(tok.codec.audio_to_frames(r)) for r in data.references]
    report: dict[str, Any] = {"utterances": len(data.texts), "voices": list(dict.fromkeys(data.voices)),
                              "references": data.source, "speaker_training": "given",
                              "codebooks": tok.num_codebooks, "guidance_scale": guidance_scale, "wer": {},
                              "speed": {}, "examples": []}
    w = report["wer"]
    w["floor"] = _wer(data.texts, floor_audio)
    start = time.perf_counter()
    flat = speak(pipe, data.texts, data.prompts, pattern="flatten", guidance_scale=guidance_scale, seed=seed)
    w["flatten"] = _wer(data.texts, flat.audio)
    w["shuffled"] = _wer(data.texts, _shuffled(flat.frames, tok, seed))
    torch.manual_seed(seed)
    untrained = arkit.Pipeline.from_preset("speech/tts-small", tokenizer=tok, backbone={"vocab_size": tok.vocab_size},
                                           head={"vocab_size": tok.vocab_size})  # the same ids, random weights
    junk = speak(untrained, data.texts, data.prompts, pattern="flatten", seed=seed, max_frames=40)
    w["untrained"] = _wer(data.texts, junk.audio)
    n_words = sum(len(t.split()) for t in data.texts)
    generated = {"flatten": flat}
    if delay is not None:
        d = speak(delay, data.texts, data.prompts_for(delay.tokenizer), pattern="delay",
                  guidance_scale=guidance_scale, seed=seed)
        w["delay"] = _wer(data.texts, d.audio)
        generated["delay"] = d
    report["primary"] = "delay" if delay is not None else "flatten"
    # two standard errors of the difference of two WERs over n_words words each (binomial approximation at the
    # models' mean rate, clipped to [0.05, 0.95])
    p = min(max(float(np.mean([w[k] for k in generated])), 0.05), 0.95)
    report["wer_noise"] = float(2.0 * np.sqrt(2.0 * p * (1.0 - p) / n_words))
    for name, other in (others or {}).items():  # more checkpoints, WER and voice only
        generated[name] = speak(other, data.texts, data.prompts_for(other.tokenizer), guidance_scale=guidance_scale,
                                seed=seed)
        w[name] = _wer(data.texts, generated[name].audio)
    report["batch_generation_s"] = time.perf_counter() - start
    # why generated speech is (not) understood: per-step predictions given the true codes so far
    report["teacher_forced"] = {name: teacher_forced(p, data)
                                for name, p in {"flatten": pipe, **(others or {})}.items()
                                if p.tokenizer.pattern == "flatten"}
    if mel_rvq is not None:  # the audio tokenizers' own reconstructions, through the same recogniser
        report["tokenizers"] = reconstruction(data, floor_audio, mel_rvq)
    # voice
    if train_clips is None:  # 200 training utterances per voice, through the codec like the rest. Decoded after the
        # WERs: codec2's phase generator is process-wide, so what is decoded first changes the later audio
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ArkitWarning)
            clips, labels, speaker_source = speaker_training(tok.codec)
        train_clips = (clips, labels)
        report["speaker_training"] = speaker_source
    clf = SpeakerClassifier().fit(*train_clips)
    report["speaker"] = {"generated": _accuracy(clf.predict(flat.audio), data.voices),
                         "floor": _accuracy(clf.predict(floor_audio), data.voices)}
    for name, out in generated.items():
        if name != "flatten":
            report["speaker"][name] = _accuracy(clf.predict(out.audio), data.voices)
    # speed, batch 1, one thread: torch, speculative decoding (early-exit draft), onnxruntime
    speed = report["speed"]
    speed["flatten"] = _speed(pipe, data, "flatten", speed_rows, guidance_scale)
    speed["flatten_speculative"] = _speed(speculative(pipe, 1), data, "flatten", speed_rows, guidance_scale)
    if delay is not None:
        speed["delay"] = _speed(delay, data, "delay", speed_rows, guidance_scale)
    if ort:
        speed["ort_flatten"] = _ort_speed(pipe, data, "flatten", speed_rows)
        if delay is not None:
            speed["ort_delay"] = _ort_speed(delay, data, "delay", speed_rows)
    report["examples"] = [{"text": t, "voice": v, "heard": asr.transcribe(a)}  # the primary checkpoint's speech
                          for t, v, a in zip(data.texts[:: n_per_voice], data.voices[:: n_per_voice],
                                             generated[report["primary"]].audio[:: n_per_voice])]
    report["targets"] = [{**t, "value": float(t["value"]), "target": float(t["target"])} for t in targets(report)]
    return report


def _accuracy(predicted: Sequence[str], truth: Sequence[str]) -> float:
    return float(np.mean([p == t for p, t in zip(predicted, truth)]))


