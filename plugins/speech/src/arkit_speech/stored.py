"""The evaluation's espeak-ng audio, spoken once and stored with the package, so that ``arkit speech eval`` repeats.

espeak-ng does not repeat itself: the samples it gives for a text depend on what the
process synthesised before, and for some voices (``en-us+f3``) even the first call of a
fresh process varies. Speaking the held-out set afresh on every run moved the eval's codec
floor WER between 0.39 and 0.45 over four runs of the same code. So
``plugins/speech/scripts/store_eval_audio.py`` speaks the evaluation's clips once and stores
them here, in :data:`FOLDER`:

- ``heldout.npz``: int16 samples at 8 kHz of three groups of clips, each group one
  concatenated array ``<group>_pcm`` plus ``<group>_lengths``: ``reference`` (the held-out
  rows), ``prompt_source`` (for each row, the other utterance of its voice that its voice
  prompt is cut from) and ``speaker`` (training utterances, the speaker classifier's centroids);
- ``heldout.json``: how they were made (``made``: seeds, sizes, the espeak-ng build), per clip
  its text, voice and word start times (seconds, espeak's word events of the same call), and
  the SHA-256 of ``heldout.npz``;
- ``speaker_codes.npz`` / ``.json``: more training utterances for the speaker classifier,
  stored as what the classifier hears, codec2-1200 frames (6 bytes per 40 ms; 800 clips in
  about 90 kB where their audio would take megabytes), with their texts and voices and the
  same kind of description and SHA-256 (:func:`load_speaker_codes`).

:func:`load_stored` reads and checks them; :func:`stored` caches that for the process;
:meth:`StoredAudio.find` returns a group's clips when they are exactly the ones asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
import functools
import hashlib
import json
from pathlib import Path
from typing import Any
import zipfile

import numpy as np

from arkit import ArkitError

from .audio import Audio

__all__ = ["FOLDER", "GROUPS", "RATE", "Clip", "CodedClip", "StoredAudio", "StoredAudioError", "load_speaker_codes",
           "load_stored", "save_speaker_codes", "save_stored", "speaker_codes", "stored"]

FOLDER = Path(__file__).parent / "eval_audio"
"""Where the stored evaluation audio lives (shipped as package data)."""

GROUPS = ("reference", "prompt_source", "speaker")
"""The stored groups of clips (see the module docstring)."""

RATE = 8000
"""The stored clips' sample rate (the codec's)."""

_NPZ, _JSON = "heldout.npz", "heldout.json"
_CODES_NPZ, _CODES_JSON = "speaker_codes.npz", "speaker_codes.json"
_SCRIPT = "plugins/speech/scripts/store_eval_audio.py"


class StoredAudioError(ArkitError, ValueError):
    """The stored evaluation audio is missing, corrupted, or does not match its description."""


@dataclass(frozen=True, eq=False)
class Clip:
    """One stored utterance: its text, voice, audio at :data:`RATE` and the time (s) at which each word starts."""

    text: str
    voice: str
    audio: Audio
    word_times: tuple[float, ...]


@dataclass(frozen=True, eq=False)
class CodedClip:
    """One stored utterance as codec2-1200 frames (``uint8[T, 6]``: codec2's packed bytes, ``Codec2Tokenizer()``'s
    codebook values)."""

    text: str
    voice: str
    frames: np.ndarray


@dataclass(frozen=True, eq=False)
class StoredAudio:
    """The stored groups of clips and how they were made (``made``: seeds, sizes, the espeak-ng build)."""

    groups: Mapping[str, list[Clip]]
    made: Mapping[str, Any]

    def find(self, group: str, wanted: Sequence[tuple[str, str]]) -> list[Clip] | None:
        """The clips of ``group`` if their ``(text, voice)`` pairs are exactly ``wanted``, in order; else ``None``."""
        clips = self.groups[group]
        return clips if [(c.text, c.voice) for c in clips] == list(wanted) else None


def save_stored(groups: Mapping[str, Sequence[Clip]], made: Mapping[str, Any], folder: str | Path = FOLDER) -> Path:
    """Write ``groups`` (every name in :data:`GROUPS`, clips at :data:`RATE`) and ``made`` to ``folder``: the npz
    first, then the JSON that names its SHA-256. Returns the npz's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if set(groups) != set(GROUPS):
        raise StoredAudioError(f"stored evaluation audio needs the groups {', '.join(GROUPS)}, got {sorted(groups)}")
    arrays: dict[str, np.ndarray] = {}
    for name in GROUPS:
        if any(c.audio.rate != RATE for c in groups[name]):
            raise StoredAudioError(f"every stored clip must be at {RATE} Hz (group {name!r} is not)")
        arrays[f"{name}_pcm"] = np.concatenate([c.audio.to_int16() for c in groups[name]])
        arrays[f"{name}_lengths"] = np.array([len(c.audio.samples) for c in groups[name]], np.int64)
    npz = folder / _NPZ
    np.savez_compressed(npz, **arrays)
    (folder / _JSON).write_text(_meta_json(groups, made, _sha256(npz)))
    return npz


def load_stored(folder: str | Path = FOLDER) -> StoredAudio:
    """Read the stored evaluation audio from ``folder``; :class:`StoredAudioError` if a file is missing, the npz's
    bytes are not the ones its JSON names (corrupted or replaced) or its arrays do not fit the JSON."""
    folder = Path(folder)
    meta = _read_meta(folder)
    npz = folder / _NPZ
    if _sha256(npz) != meta["sha256"]:
        raise StoredAudioError(f"{npz} is corrupted or was replaced: its SHA-256 is not the one {_JSON} names; "
                               f"restore it from the repository or remake both files with {_SCRIPT}")
    try:
        with np.load(npz) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise StoredAudioError(f"cannot read {npz}: {exc}") from None
    groups = {name: _clips(arrays, meta["clips"].get(name, []), name, npz) for name in GROUPS}
    return StoredAudio(groups=groups, made=meta["made"])


@functools.cache
def stored() -> StoredAudio:
    """The shipped stored evaluation audio (:func:`load_stored` of :data:`FOLDER`), read once per process."""
    return load_stored(FOLDER)


def save_speaker_codes(clips: Sequence[CodedClip], made: Mapping[str, Any], folder: str | Path = FOLDER) -> Path:
    """Write ``clips`` (codec2-1200 frames) and ``made`` to ``folder``: the npz first, then the JSON that names its
    SHA-256 and each clip's text and voice. Returns the npz's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not clips or any(c.frames.ndim != 2 or c.frames.shape[1] != 6 for c in clips):
        raise StoredAudioError("speaker codes are codec2-1200 frames of shape [T, 6], at least one clip")
    npz = folder / _CODES_NPZ
    np.savez_compressed(npz, frames=np.concatenate([c.frames for c in clips]).astype(np.uint8),
                        lengths=np.array([len(c.frames) for c in clips], np.int64))
    lines = ["  " + json.dumps({"text": c.text, "voice": c.voice}) for c in clips]
    head = json.dumps({"made": dict(made), "codec": "codec2-1200, 6 byte codebooks", "sha256": _sha256(npz)},
                      indent=1)
    (folder / _CODES_JSON).write_text(head[:-2] + ',\n "clips": [\n' + ",\n".join(lines) + "\n ]\n}\n")
    return npz


def load_speaker_codes(folder: str | Path = FOLDER) -> list[CodedClip]:
    """Read the stored speaker-classifier clips; :class:`StoredAudioError` if a file is missing, corrupted or does
    not fit its description."""
    folder = Path(folder)
    path, npz = folder / _CODES_JSON, folder / _CODES_NPZ
    if not path.is_file() or not npz.is_file():
        raise StoredAudioError(f"the stored speaker clips are missing from {folder} (need {_CODES_NPZ} and "
                               f"{_CODES_JSON}): reinstall arkit-speech, or make them with {_SCRIPT}")
    try:
        meta = json.loads(path.read_text())
        described = [(d["text"], d["voice"]) for d in meta["clips"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StoredAudioError(f"cannot read {path}: {exc}; remake it with {_SCRIPT}") from None
    if _sha256(npz) != meta.get("sha256"):
        raise StoredAudioError(f"{npz} is corrupted or was replaced: its SHA-256 is not the one {_CODES_JSON} "
                               f"names; restore it from the repository or remake both files with {_SCRIPT}")
    try:
        with np.load(npz) as z:
            frames, lengths = z["frames"], z["lengths"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise StoredAudioError(f"cannot read {npz}: {exc}; remake both files with {_SCRIPT}") from None
    if len(lengths) != len(described) or int(lengths.sum()) != len(frames):
        raise StoredAudioError(f"{npz} does not hold the {len(described)} clips {_CODES_JSON} describes; remake "
                               f"both files with {_SCRIPT}")
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return [CodedClip(t, v, frames[a:b].astype(np.int64)) for (t, v), a, b in zip(described, bounds[:-1], bounds[1:])]


@functools.cache
def speaker_codes() -> tuple[CodedClip, ...]:
    """The shipped speaker-classifier clips (:func:`load_speaker_codes` of :data:`FOLDER`), read once per process."""
    return tuple(load_speaker_codes(FOLDER))


def _read_meta(folder: Path) -> dict[str, Any]:
    path = folder / _JSON
    if not path.is_file() or not (folder / _NPZ).is_file():
        raise StoredAudioError(f"the stored evaluation audio is missing from {folder} (need {_NPZ} and {_JSON}): "
                               f"reinstall arkit-speech, or make it with {_SCRIPT}")
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StoredAudioError(f"cannot read {path}: {exc}") from None
    missing = [k for k in ("made", "rate", "sha256", "clips") if k not in meta]
    if missing or meta.get("rate") != RATE:
        raise StoredAudioError(f"{path} is not stored evaluation audio at {RATE} Hz (missing {missing or 'nothing'}, "
                               f"rate {meta.get('rate')!r}); remake it with {_SCRIPT}")
    return meta


def _meta_json(groups: Mapping[str, Sequence[Clip]], made: Mapping[str, Any], sha256: str) -> str:
    """The JSON that describes the npz, one line per clip (so that a remade file diffs clip by clip)."""
    head = json.dumps({"made": dict(made), "rate": RATE, "sha256": sha256}, indent=1)
    blocks = []
    for name in GROUPS:
        lines = ["   " + json.dumps({"text": c.text, "voice": c.voice, "word_times": list(c.word_times)})
                 for c in groups[name]]
        blocks.append(f"  {json.dumps(name)}: [\n" + ",\n".join(lines) + "\n  ]")
    return head[:-2] + ',\n "clips": {\n' + ",\n".join(blocks) + "\n }\n}\n"


def _clips(arrays: Mapping[str, np.ndarray], described: list[dict[str, Any]], name: str, npz: Path) -> list[Clip]:
    """Split group ``name``'s concatenated samples into the clips its JSON entries describe."""
    pcm, lengths = arrays.get(f"{name}_pcm"), arrays.get(f"{name}_lengths")
    if pcm is None or lengths is None or pcm.dtype != np.int16 or len(lengths) != len(described) \
            or int(lengths.sum()) != len(pcm):
        raise StoredAudioError(f"{npz} does not hold the {len(described)} int16 clips of group {name!r} that "
                               f"{_JSON} describes; remake both files with {_SCRIPT}")
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return [Clip(d["text"], d["voice"], Audio.from_int16(pcm[a:b], RATE), tuple(float(t) for t in d["word_times"]))
            for d, a, b in zip(described, bounds[:-1], bounds[1:])]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
