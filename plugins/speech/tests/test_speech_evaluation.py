"""The eval's pure parts: the targets it reports from a report, and voice prompts in each pipeline's layout."""

from __future__ import annotations

import numpy as np
import pytest

import arkit
from arkit_speech import Codec2Tokenizer, TTSTokenizer
from arkit_speech import evaluation
from arkit_speech.evaluation import targets


def _report(delay_wer: float | None, flatten_wer: float = 0.7) -> dict:
    speed = {key: {"rtf_cpu": 0.2, "calls_per_audio_s": calls, "audio_s": 4.0, "min_calls": calls * 4.0}
             for key, calls in (("flatten", 150.0), ("delay", 30.0))}
    report = {"wer": {"floor": 0.3, "flatten": flatten_wer, "shuffled": 1.2, "untrained": 1.0},
              "speaker": {"generated": 0.8}, "speed": speed, "codebooks": 6, "wer_noise": 0.1,
              "primary": "flatten"}
    if delay_wer is not None:
        report["wer"]["delay"] = delay_wer
        report["speaker"]["delay"] = 0.925
        report["primary"] = "delay"
    else:
        del speed["delay"]
    return report


def test_targets_judge_the_primary_checkpoint() -> None:
    got = targets(_report(delay_wer=0.55))
    wer = next(t for t in got if t["name"].startswith("digit WER of generated speech"))
    assert "(delay)" in wer["name"] and wer["value"] == 0.55 and not wer["met"]
    floor = next(t for t in got if "floor" in t["name"])
    assert floor["value"] == pytest.approx(0.55 / 0.3) and floor["met"]
    voice = next(t for t in got if t["name"].startswith("speaker accuracy"))
    assert voice["value"] == 0.925 and voice["met"]
    flat = targets(_report(delay_wer=None))
    assert next(t for t in flat if t["name"].startswith("digit WER of"))["value"] == 0.7
    assert next(t for t in flat if t["name"].startswith("speaker accuracy"))["value"] == 0.8
    assert all(set(t) == {"name", "value", "target", "met"} for t in got + flat)


@pytest.mark.parametrize("delay_wer, met", [(0.55, True), (0.79, True), (0.81, False)])
def test_delay_wer_target_is_one_sided(delay_wer: float, met: bool) -> None:
    """Better than flatten by any margin meets it; worse by more than the noise (0.1 here) does not."""
    entry = next(t for t in targets(_report(delay_wer)) if t["name"].startswith("delay pattern WER"))
    assert entry["met"] is met and entry["value"] == pytest.approx(delay_wer - 0.7)


def test_voice_prompts_follow_each_pipelines_codebook_layout() -> None:
    bits, fields = TTSTokenizer(), TTSTokenizer(codec_split="fields")
    frames = np.random.default_rng(0).integers(0, 256, (8, 6))
    data = evaluation.TestSet(texts=["one"], voices=["en-us"], prompts=[frames], references=[], word_times=[], source="stored",
                   codec=bits.codec)
    assert data.prompts_for(bits)[0] is frames
    converted = data.prompts_for(fields)[0]
    assert converted.shape == (8, 6) and np.all(converted < np.array(fields.codec.field_sizes))
    assert fields.codec.frames_to_bytes(converted) == bits.codec.frames_to_bytes(frames)
    with pytest.raises(arkit.ConfigError, match="mode 3200"):
        Codec2Tokenizer().frames_from(frames, Codec2Tokenizer(mode=3200))
