"""The evaluation's stored espeak-ng audio: unchanged, read identically every time, and used by default."""

from __future__ import annotations

from collections.abc import Callable
import glob
import hashlib
import json
from pathlib import Path
import shutil
import tomllib

import pytest

from arkit_speech import TTSTokenizer
from arkit_speech import evaluation  # not its test_set by name: pytest would collect it
from arkit_speech.data import frame_starts
from arkit_speech.evaluation import held_out_rows, held_out_texts, speaker_pairs, speaker_training
from arkit_speech.stored import (FOLDER, GROUPS, CodedClip, StoredAudio, StoredAudioError, load_speaker_codes,
                                 load_stored, save_speaker_codes, speaker_codes, stored)

STORED_DIGEST = "77540f0c0c9d4ecd094cdc865855b6b53eadeac658e89600121f674d04518eab"
"""SHA-256 of the stored clips (texts, voices, word times, int16 samples). The eval's figures depend on these
exact samples: if you remake them with scripts/store_eval_audio.py on purpose, update this digest and say in the
changelog that the eval's figures moved."""


CODES_DIGEST = "ba15a75d0800daf6b6c924fd69282323f370fc0af6525c523909be788fffc7d3"
"""SHA-256 of the speaker classifier's stored clips (texts, voices, codec2 frames); the same rule as above."""


def _digest(store: StoredAudio) -> str:
    h = hashlib.sha256()
    for name in GROUPS:
        for clip in store.groups[name]:
            h.update(json.dumps([name, clip.text, clip.voice, list(clip.word_times)]).encode())
            h.update(clip.audio.to_int16().tobytes())
    return h.hexdigest()


def test_stored_audio_is_the_recorded_audio_and_reads_identically_twice() -> None:
    first, second = load_stored(), load_stored()
    assert _digest(first) == STORED_DIGEST
    for name in GROUPS:
        assert len(first.groups[name]) == len(second.groups[name]) > 0
        for a, b in zip(first.groups[name], second.groups[name]):
            assert a.audio.samples.tobytes() == b.audio.samples.tobytes()
            assert (a.text, a.voice, a.word_times) == (b.text, b.voice, b.word_times)


def test_default_test_set_and_speaker_clips_are_the_stored_audio() -> None:
    store = stored()
    data = evaluation.test_set(TTSTokenizer())
    assert data.source == "stored"
    assert [(t, v) for t, _, v in held_out_rows()] == [(c.text, c.voice) for c in store.groups["reference"]]
    assert list(zip(data.texts, data.voices)) == [(c.text, c.voice) for c in store.groups["reference"]]
    assert all(r.samples.tobytes() == c.audio.samples.tobytes() for r, c in zip(data.references,
                                                                                 store.groups["reference"]))
    assert data.word_times == [c.word_times for c in store.groups["reference"]]
    assert speaker_pairs() == [(c.text, c.voice) for c in store.groups["speaker"]]
    clips, voices, source = speaker_training(TTSTokenizer().codec)
    assert source == "stored" and len(clips) == len(voices) == 4 * evaluation.SPEAKER_CODES_PER_VOICE


def test_another_test_set_is_synthesised_and_says_so() -> None:
    data = evaluation.test_set(TTSTokenizer(), 2, voices=("en-us",))
    assert data.source == "synthesised"
    assert len(data.references) == len(data.word_times) == 2
    assert all(len(times) == len(text.split()) for times, text in zip(data.word_times, data.texts))


def _corrupted_then_missing(npz: Path, load: Callable[[Path], object]) -> None:
    """Flip a byte of ``npz``, then delete it: ``load`` of its folder must name each."""
    raw = bytearray(npz.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    npz.write_bytes(bytes(raw))
    with pytest.raises(StoredAudioError, match="corrupted"):
        load(npz.parent)
    npz.unlink()
    with pytest.raises(StoredAudioError, match="missing"):
        load(npz.parent)


def test_a_corrupted_or_missing_stored_file_is_named(tmp_path: Path) -> None:
    shutil.copytree(FOLDER, tmp_path, dirs_exist_ok=True)
    _corrupted_then_missing(tmp_path / "heldout.npz", load_stored)


def test_speaker_codes_are_the_recorded_frames_of_the_classifiers_texts(tmp_path: Path) -> None:
    import numpy as np

    coded = load_speaker_codes()
    h = hashlib.sha256()
    for c in coded:
        h.update(json.dumps([c.text, c.voice]).encode())
        h.update(c.frames.astype("uint8").tobytes())
    assert h.hexdigest() == CODES_DIGEST
    assert [(c.text, c.voice) for c in coded] == speaker_pairs(evaluation.SPEAKER_CODES_PER_VOICE)
    assert speaker_codes() is speaker_codes()  # cached, not re-read
    # written and read back exactly; a flipped byte or a missing file is named
    npz = save_speaker_codes(coded[:3], {"test": True}, tmp_path)
    back = load_speaker_codes(tmp_path)
    assert [(c.text, c.voice) for c in back] == [(c.text, c.voice) for c in coded[:3]]
    assert all(np.array_equal(a.frames, b.frames) for a, b in zip(back, coded))
    _corrupted_then_missing(npz, load_speaker_codes)
    with pytest.raises(StoredAudioError, match=r"\[T, 6\]"):
        save_speaker_codes([CodedClip("one", "en", np.zeros((3, 8), np.int64))], {}, tmp_path)


def test_package_data_ships_the_stored_audio() -> None:
    """A wheel carries the stored files, not only an editable install."""
    project = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    package = project / "src" / "arkit_speech"
    shipped = {Path(f) for p in patterns["arkit_speech"] for f in glob.glob(p, root_dir=package)}
    files = {p.relative_to(package) for p in FOLDER.iterdir() if p.is_file()}
    assert files and files <= shipped, sorted(files - shipped)


def test_stored_word_times_split_each_reference_into_its_words() -> None:
    """``teacher_forced`` cuts a by-word layout at these times instead of asking espeak-ng again."""
    codec = TTSTokenizer().codec
    for clip in stored().groups["reference"][::5]:
        frames = len(codec.audio_to_frames(clip.audio))
        starts = frame_starts(clip.word_times, len(clip.text.split()), frames, codec.frames_per_second)
        assert len(clip.word_times) == len(starts) == len(clip.text.split())
        assert starts[0] == 0 and list(starts) == sorted(set(starts)) and starts[-1] < frames


def test_a_training_corpus_leaves_the_held_out_strings_out() -> None:
    """The 600-per-voice corpus never draws a held-out string; a larger one would, and make_corpus leaves them out."""
    from arkit_speech.data import digit_texts, make_corpus
    from arkit_speech.espeak import VOICES
    from arkit_speech.presets import MAX_WORDS, TRAINING_PER_VOICE, TRAINING_SEED

    held = held_out_texts()
    drawn = lambda n: [t for v in range(len(VOICES)) for t in digit_texts(n, seed=TRAINING_SEED * 1000 + v,  # noqa: E731
                                                                            max_len=MAX_WORDS)]
    assert not held & set(drawn(TRAINING_PER_VOICE))
    assert held & set(drawn(3000))  # why the exclusion is needed
    first = digit_texts(4, seed=0, max_len=MAX_WORDS)
    samples = make_corpus(4, seed=0, voices=VOICES[:1], max_len=MAX_WORDS, exclude={first[1]})
    assert [s.text for s in samples] == [t for t in first if t != first[1]]


def test_a_longer_training_string_never_says_a_held_out_one() -> None:
    """Strings of more words than the held-out ones are left out when a held-out string is a run of their words."""
    from arkit_speech.data import digit_texts, make_corpus, says_any
    from arkit_speech.espeak import VOICES

    assert says_any("one two three four", {"two three"}) and says_any("one", {"one"})
    assert not says_any("one two three", {"tw", "one three", "three one"})
    first = digit_texts(3, seed=0, min_len=4, max_len=4)
    inner = " ".join(first[1].split()[1:3])  # two words in the middle of the second string
    samples = make_corpus(3, seed=0, voices=VOICES[:1], min_len=4, max_len=4, exclude={inner})
    assert [s.text for s in samples] == [t for t in first if not says_any(t, {inner})]
    assert first[1] not in [s.text for s in samples]
