"""The intelligibility metric: jiwer WER on hand-made cases and pocketsphinx with the digit grammar."""

from __future__ import annotations

import numpy as np
import pytest

import arkit
from arkit_speech import Audio, asr
from arkit_speech.data import DIGITS, digit_texts, speech


@pytest.mark.parametrize("refs, hyps, expected", [
    (["one two three"], ["one two three"], 0.0),
    (["one two three"], ["one five three"], 1 / 3),      # a substitution
    (["one two three"], ["one three"], 1 / 3),           # a deletion
    (["one two three"], ["one two two three"], 1 / 3),   # an insertion
    (["one two"], [""], 1.0),                            # nothing heard
    (["one two", "three four five six"], ["one two", "three"], 3 / 6),  # corpus-level: edits over all words
    (["oh"], ["zero one two"], 3.0),                     # insertions can push WER above 1
])
def test_wer_on_hand_made_cases(refs: list[str], hyps: list[str], expected: float) -> None:
    assert asr.wer(refs, hyps) == pytest.approx(expected)


def test_wer_refuses_mismatched_or_empty_references() -> None:
    with pytest.raises(arkit.InputError, match="one per utterance"):
        asr.wer(["one"], ["one", "two"])
    with pytest.raises(arkit.InputError, match="at least one word"):
        asr.wer([""], ["one"])


def test_grammar_holds_exactly_the_digit_words() -> None:
    assert all(f" {w} " in asr.GRAMMAR for w in DIGITS)
    assert all(w in DIGITS for t in digit_texts(50, seed=1) for w in t.split())


def test_recogniser_hears_espeak_digits_and_only_digit_words() -> None:
    texts = ["four two seven", "one oh nine", "eight three"]
    heard = [asr.transcribe(speech(t, "en-us")) for t in texts]
    assert asr.wer(texts, heard) <= 0.5, heard
    assert all(w in DIGITS for h in heard for w in h.split())
    assert asr.transcribe(Audio(np.zeros(0, np.float32), 8000)) == ""
    with pytest.raises(arkit.InputError):
        asr.transcribe(np.zeros(100))  # type: ignore[arg-type]
