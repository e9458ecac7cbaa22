"""The text front end: espeak-ng through ``espeakng-loader`` (the library and its data ship in the wheel).

Two things come from it, both through ctypes on the bundled ``libespeak-ng``:

- :func:`phonemize`: IPA phonemes of a text (``espeak_TextToPhonemes`` in IPA mode);
- :func:`synthesize`: int16 speech at 22,050 Hz in a voice such as ``en-us`` or ``en-us+f3``
  (``espeak_Synth`` with a synchronous callback that collects the samples).

espeak-ng keeps global state (one current voice), so every call holds a module lock.
Text is checked first: characters espeak cannot read are named in an :class:`arkit.InputError`.
"""

from __future__ import annotations

import ctypes
import threading
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

from arkit import ConfigError, InputError

__all__ = ["SAMPLE_RATE", "VOICES", "check_text", "phonemize", "synthesize", "synthesize_words"]

SAMPLE_RATE = 22_050
"""espeak-ng's output rate in Hz."""

VOICES = ("en-us", "en", "en-us+f3", "en-us+m3")
"""The voices the demo data uses (a language plus an optional ``+variant``; ``en`` is British English)."""

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_PHONEMES_IPA = 0x02
_RATE = 1
_LOCK = threading.Lock()
_LIB: Any = None
_EVENT_WORD = 1


class _Event(ctypes.Structure):
    """``espeak_EVENT`` (speak_lib.h): what happened and where in the audio (ms)."""

    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_CALLBACK_TYPE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                  ctypes.POINTER(_Event))
_SAMPLES: list[np.ndarray] = []
_WORDS: list[int] = []  # audio position (ms) of each word's start


def _collect(wav: Any, n: int, events: Any) -> int:
    if n > 0 and wav:
        _SAMPLES.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
    i = 0
    while events and events[i].type != 0:  # espeakEVENT_LIST_TERMINATED
        if events[i].type == _EVENT_WORD:
            _WORDS.append(int(events[i].audio_position))
        i += 1
    return 0


_CALLBACK = _CALLBACK_TYPE(_collect)


def _lib() -> Any:
    """Load and initialise the bundled libespeak-ng once."""
    global _LIB
    if _LIB is None:
        try:
            import espeakng_loader
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise ConfigError("arkit-speech needs espeakng-loader: pip install espeakng-loader") from exc
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        data_parent = str(Path(espeakng_loader.get_data_path()).parent).encode()
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_parent, 0)
        if rate != SAMPLE_RATE:
            raise ConfigError(f"libespeak-ng initialised at {rate} Hz, expected {SAMPLE_RATE}; "
                              "reinstall espeakng-loader==0.2.4")
        lib.espeak_SetSynthCallback(_CALLBACK)
        _LIB = lib
    return _LIB


def check_text(text: str) -> str:
    """Return ``text`` stripped; raise :class:`InputError` if it is empty or holds characters espeak cannot read.

    Letters, digits, spaces and common punctuation pass; control characters and symbols
    (emoji, maths, private-use) are refused and named.
    """
    if not isinstance(text, str):
        raise InputError(f"text must be a str, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise InputError("empty utterance: give some text to speak, e.g. 'four two seven'")
    bad = sorted({ch for ch in stripped if not (ch.isalnum() or ch.isspace() or ch in ".,;:!?'\"-()")
                  or unicodedata.category(ch) in ("Co", "Cn", "Cs")})
    if bad:
        named = ", ".join(f"{ch!r} (U+{ord(ch):04X} {unicodedata.name(ch, 'control character')})" for ch in bad)
        raise InputError(f"the phonemizer cannot read {named} in {text!r}: remove or spell them out")
    return stripped


def phonemize(text: str, voice: str = "en-us") -> str:
    """IPA phonemes of ``text`` in ``voice``'s language, words separated by spaces (stress marks kept)."""
    text = check_text(text)
    with _LOCK:
        lib = _lib()
        _set_voice(lib, voice)
        buf = ctypes.create_string_buffer(text.encode("utf-8"))
        ptr = ctypes.c_void_p(ctypes.addressof(buf))
        parts = []
        while ptr.value:
            out = lib.espeak_TextToPhonemes(ctypes.byref(ptr), _CHARS_UTF8, _PHONEMES_IPA)
            if out:
                parts.append(out.decode("utf-8").strip())
    return " ".join(p for p in parts if p)


def synthesize(text: str, voice: str = "en-us", *, rate: int = 175) -> np.ndarray:
    """Speak ``text`` in ``voice`` at ``rate`` words per minute: int16 samples at :data:`SAMPLE_RATE`."""
    return synthesize_words(text, voice, rate=rate)[0]


def synthesize_words(text: str, voice: str = "en-us", *, rate: int = 175) -> tuple[np.ndarray, list[float]]:
    """Like :func:`synthesize`, plus the time (seconds) at which each word starts, from espeak's word events."""
    text = check_text(text)
    with _LOCK:
        lib = _lib()
        _set_voice(lib, voice)
        lib.espeak_SetParameter(_RATE, int(rate), 0)
        _SAMPLES.clear()
        _WORDS.clear()
        data = text.encode("utf-8") + b"\0"
        status = lib.espeak_Synth(data, len(data), 0, 0, 0, _CHARS_UTF8, None, None)
        if status != 0:
            raise InputError(f"espeak-ng could not synthesise {text!r} (status {status})")
        out = np.concatenate(_SAMPLES) if _SAMPLES else np.zeros(0, np.int16)
        starts = [ms / 1000.0 for ms in _WORDS]
        _SAMPLES.clear()
        _WORDS.clear()
    return out.astype(np.int16), starts


def _set_voice(lib: Any, voice: str) -> None:
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise ConfigError(f"espeak-ng has no voice {voice!r}; try one of {', '.join(VOICES)}")
