"""The speaker classifier of the eval's voice check, on the stored training clips."""

from __future__ import annotations

import pytest

import arkit
from arkit_speech import Codec2Tokenizer
from arkit_speech.evaluation import speaker_training
from arkit_speech.speaker import SpeakerClassifier, voice_features


@pytest.fixture(scope="module")
def clips() -> tuple[list, list[str]]:
    audio, voices, source = speaker_training(Codec2Tokenizer())
    assert source == "stored" and len(audio) == 800
    return audio, voices


def test_held_out_clips_of_each_voice_are_recognised(clips: tuple[list, list[str]]) -> None:
    audio, voices = clips
    train = [i for i in range(len(audio)) if i % 5]  # 160 per voice; every fifth clip held out
    test = [i for i in range(len(audio)) if not i % 5]
    clf = SpeakerClassifier().fit([audio[i] for i in train], [voices[i] for i in train])
    predicted = clf.predict([audio[i] for i in test])
    right = [p == voices[i] for p, i in zip(predicted, test)]
    # 160 clips, 40 per voice: chance is 0.25, 0.95 here; 0.85 leaves about five standard errors
    assert sum(right) / len(right) >= 0.85
    # the voices that differ in timbre are almost never confused (0 or 1 of their 80 clips: en-us+m3 taken for en,
    # depending on codec2's process-wide phase state); en and en-us differ in accent only
    timbre = [ok for ok, i in zip(right, test) if voices[i] in ("en-us+f3", "en-us+m3")]
    assert sum(timbre) / len(timbre) >= 0.95
    assert clf._projection.shape == (voice_features(audio[0]).shape[0], len(set(voices)) - 1)


def test_bad_use_is_an_input_error(clips: tuple[list, list[str]]) -> None:
    audio, voices = clips
    with pytest.raises(arkit.InputError, match="before fit"):
        SpeakerClassifier().predict(audio[:1])
    with pytest.raises(arkit.InputError, match="one voice label per clip"):
        SpeakerClassifier().fit(audio[:3], voices[:2])
    with pytest.raises(arkit.InputError, match="at least two voices"):
        SpeakerClassifier().fit(audio[:3], ["en"] * 3)
