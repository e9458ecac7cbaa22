"""``speech/mel-rvq``: a learned audio tokenizer: log-mel frames quantised by a residual VQ, decoded by Griffin-Lim.

Audio at 8 kHz becomes a log-magnitude mel spectrogram (librosa: ``n_mels`` bands, an
``n_fft``-point STFT every ``hop_length`` samples). ``stack`` consecutive mel frames form one
token frame, a vector of ``stack * n_mels`` values (defaults: 4 x 10 ms = 40 ms, 25 frames per
second like codec2-1200). A residual VQ of ``num_codebooks`` k-means codebooks
(scikit-learn's ``KMeans``, fitted stage by stage on the previous stages' residuals) turns each
vector into ``K`` ids; codebook ``j`` owns ids ``[j * codebook_size, (j + 1) * codebook_size)``,
frame-major, the same layout as :class:`~arkit_speech.codec2.Codec2Tokenizer`, so either can
feed :mod:`arkit_speech.patterns`.

Decoding sums the chosen codebook entries, undoes the log, inverts the mel filterbank
(non-negative least squares, ``librosa.feature.inverse.mel_to_stft``) and estimates the phase
with ``griffin_lim_iters`` Griffin-Lim iterations (``librosa.griffinlim``, seeded, so the same ids
always give the same samples). ``T`` frames decode to ``T * samples_per_frame`` samples.

The codebooks, the feature mean and the ``fitted`` flag are tensors (buffers of this
``nn.Module``), so the tokenizer saves and loads with a pipeline as safetensors.
:meth:`MelRVQTokenizer.fit` learns them (:meth:`arkit.Pipeline.fit` calls it while
``fitted`` is false); :func:`pretrained_mel_rvq` loads the codebooks fitted on the plugin's
espeak-ng data by ``plugins/speech/scripts/fit_mel_rvq.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
import json
from pathlib import Path
import shutil
import tempfile
from typing import Any

import numpy as np
import torch
from torch import nn

from arkit import ConfigError, InputError, WeightsError

from .audio import Audio, as_audio
from .frames import FrameCodes

__all__ = ["MelFit", "MelRVQTokenizer", "log_mel_distance", "pretrained_mel_rvq"]

_FLOOR = 1e-5
"""Magnitudes are floored here before the log (-100 dB), so silence has a finite log-mel."""
_DB = 20.0 / np.log(10.0)
"""Natural-log magnitude to decibels."""
_WEIGHTS = "codebooks.safetensors"
_CONFIG = "config.json"
SHIPPED = Path(__file__).parent / "checkpoints" / "mel-rvq"
"""Where :func:`pretrained_mel_rvq` reads the shipped codebooks."""


@dataclass(frozen=True)
class MelFit:
    """What :meth:`MelRVQTokenizer.fit` reached: frames it saw and the log-mel error after each stage."""

    frames: int
    rmse_db: tuple[float, ...]
    """Root mean square error of the quantised log-mel vectors (dB), after 1, 2, ... K codebooks."""
    usage: tuple[float, ...]
    """Share of each codebook's entries used by the fitted frames."""


def _int(name: str, value: Any, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"speech/mel-rvq {name} must be an integer >= {minimum}, got {value!r}")
    return value


class MelRVQTokenizer(FrameCodes, nn.Module):
    """Audio <-> log-mel frames as ``K`` residual-VQ ids each (see the module docstring)."""

    name = "speech/mel-rvq"
    lossless = False
    rate = 8000

    def __init__(self, n_mels: int = 32, n_fft: int = 256, hop_length: int = 80, stack: int = 4,
                 num_codebooks: int = 6, codebook_size: int = 256, griffin_lim_iters: int = 32, fit_iters: int = 30,
                 seed: int = 0) -> None:
        super().__init__()
        self.n_mels = _int("n_mels", n_mels, 4)
        self.n_fft = _int("n_fft", n_fft, 16)
        self.hop_length = _int("hop_length", hop_length, 1)
        self.stack = _int("stack", stack, 1)
        self.num_codebooks = _int("num_codebooks", num_codebooks, 1)
        self.codebook_size = _int("codebook_size", codebook_size, 2)
        self.griffin_lim_iters = _int("griffin_lim_iters", griffin_lim_iters, 1)
        self.fit_iters = _int("fit_iters", fit_iters, 1)
        self.seed = int(seed)
        if self.hop_length > self.n_fft:
            raise ConfigError(f"speech/mel-rvq hop_length {hop_length} exceeds n_fft {n_fft}: frames would skip audio")
        if self.n_mels > self.n_fft // 2 + 1:
            raise ConfigError(f"speech/mel-rvq n_mels {n_mels} exceeds the {n_fft // 2 + 1} bins of a "
                              f"{n_fft}-point STFT")
        self.dim = self.stack * self.n_mels
        self.samples_per_frame = self.hop_length * self.stack
        self.frames_per_second = self.rate / self.samples_per_frame
        self.vocab_size = self.num_codebooks * self.codebook_size
        self.special_tokens: Mapping[str, int] = {}
        self.register_buffer("codebooks", torch.zeros(self.num_codebooks, self.codebook_size, self.dim))
        self.register_buffer("mean", torch.zeros(self.dim))
        self.register_buffer("fitted_flag", torch.zeros((), dtype=torch.bool))

    @property
    def config(self) -> dict[str, Any]:
        return {"n_mels": self.n_mels, "n_fft": self.n_fft, "hop_length": self.hop_length, "stack": self.stack,
                "num_codebooks": self.num_codebooks, "codebook_size": self.codebook_size,
                "griffin_lim_iters": self.griffin_lim_iters, "fit_iters": self.fit_iters, "seed": self.seed}

    @property
    def fitted(self) -> bool:
        """Whether the codebooks were learned (:meth:`fit`) or loaded; saved with them."""
        return bool(self.fitted_flag)

    # -- audio <-> log-mel vectors -----------------------------------------------------
    def log_mel(self, audio: Audio) -> np.ndarray:
        """Log-magnitude mel frames ``float32[T * stack, n_mels]`` of ``audio`` (resampled to 8 kHz with a warning),
        zero-padded to whole token frames: ``T = ceil(samples / samples_per_frame)``."""
        import librosa

        samples = as_audio(audio, self.rate).samples
        pad = (-len(samples)) % self.samples_per_frame
        samples = np.concatenate([samples, np.zeros(pad, np.float32)])
        mel = librosa.feature.melspectrogram(y=samples, sr=self.rate, n_fft=self.n_fft, hop_length=self.hop_length,
                                             n_mels=self.n_mels, power=1.0)
        mel = mel[:, : len(samples) // self.hop_length]  # centred frames: drop the one past the end
        return np.log(np.maximum(mel, _FLOOR)).T.astype(np.float32)

    def vectors(self, audio: Audio) -> np.ndarray:
        """Token-frame vectors ``float32[T, stack * n_mels]`` (``stack`` mel frames each, time-major)."""
        return self.log_mel(audio).reshape(-1, self.dim)

    def vectors_to_audio(self, vectors: np.ndarray) -> Audio:
        """Log-mel vectors ``[T, stack * n_mels]`` to 8 kHz audio of ``T * samples_per_frame`` samples (Griffin-Lim)."""
        import librosa

        vectors = np.asarray(vectors, dtype=np.float64).reshape(-1, self.dim)
        length = len(vectors) * self.samples_per_frame
        if not length:
            return Audio(np.zeros(0, np.float32), self.rate)
        mel = np.exp(np.clip(vectors.reshape(-1, self.n_mels), np.log(_FLOOR), 5.0)).T
        stft = librosa.feature.inverse.mel_to_stft(mel, sr=self.rate, n_fft=self.n_fft, power=1.0)
        stft = np.concatenate([stft, stft[:, -1:]], axis=1)  # centred STFT of `length` samples: one frame more
        samples = librosa.griffinlim(stft, n_iter=self.griffin_lim_iters, hop_length=self.hop_length,
                                     n_fft=self.n_fft, length=length, random_state=self.seed)
        return Audio(np.clip(samples, -1.0, 1.0).astype(np.float32), self.rate)

    def vocode(self, audio: Audio) -> Audio:
        """``audio`` through the mel front end and Griffin-Lim without quantisation: the ceiling any codebooks reach."""
        return self.vectors_to_audio(self.vectors(audio))

    # -- the residual VQ ---------------------------------------------------------------
    def _quantise(self, x: torch.Tensor) -> torch.Tensor:
        """Vectors ``[N, D]`` -> ids ``[N, K]``: each stage picks the entry nearest to what the earlier left."""
        residual = x - self.mean
        ids = []
        for book in self.codebooks:
            idx = torch.cdist(residual, book).argmin(dim=1)
            ids.append(idx)
            residual = residual - book[idx]
        return torch.stack(ids, dim=1) if ids else torch.zeros(len(x), 0, dtype=torch.long)

    def _dequantise(self, frames: np.ndarray) -> np.ndarray:
        idx = torch.as_tensor(frames, dtype=torch.long)
        out = self.mean.expand(len(idx), self.dim).clone()
        for j, book in enumerate(self.codebooks):
            out = out + book[idx[:, j]]
        return out.numpy()

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise ConfigError("speech/mel-rvq has no codebooks yet: call fit(clips) on training audio, or use "
                              "arkit_speech.pretrained_mel_rvq() for the ones fitted on the plugin's espeak-ng data")

    @torch.no_grad()
    def fit(self, items: Iterable[Any]) -> MelFit:
        """Learn the mean and the ``K`` codebooks from audio clips (or utterances whose ``audio`` is a clip):
        k-means (scikit-learn, one thread, seeded) on the log-mel vectors, then on each stage's residuals."""
        from sklearn.cluster import KMeans
        from threadpoolctl import threadpool_limits

        clips = [getattr(item, "audio", item) for item in items]
        if not clips or not all(isinstance(c, Audio) for c in clips):
            raise InputError("speech/mel-rvq fits on arkit_speech.Audio clips (or utterances whose audio is a clip); "
                             "give at least one")
        x = np.concatenate([self.vectors(c) for c in clips]).astype(np.float64)
        if len(x) < self.codebook_size:
            raise InputError(f"speech/mel-rvq needs at least codebook_size = {self.codebook_size} frames to fit, "
                             f"got {len(x)} ({len(x) / self.frames_per_second:.1f} s of audio): give more audio")
        mean = x.mean(axis=0)
        residual = x - mean
        books, rmse, usage = [], [], []
        with threadpool_limits(limits=1):
            for j in range(self.num_codebooks):
                km = KMeans(n_clusters=self.codebook_size, n_init=1, max_iter=self.fit_iters,
                            random_state=self.seed + j).fit(residual)
                centres = km.cluster_centers_
                residual = residual - centres[km.labels_]
                books.append(centres)
                rmse.append(float(np.sqrt(np.mean(residual**2)) * _DB))
                usage.append(float(len(np.unique(km.labels_)) / self.codebook_size))
        self.codebooks.copy_(torch.as_tensor(np.stack(books), dtype=torch.float32))
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.fitted_flag.fill_(True)
        return MelFit(frames=len(x), rmse_db=tuple(rmse), usage=tuple(usage))

    # -- frames <-> ids <-> audio ------------------------------------------------------
    @torch.no_grad()
    def audio_to_frames(self, audio: Audio) -> np.ndarray:
        """Encode audio to codebook values ``int64[T, K]`` (each in ``[0, codebook_size)``)."""
        self._require_fitted()
        vectors = torch.as_tensor(self.vectors(audio))
        return self._quantise(vectors).numpy().astype(np.int64)

    @torch.no_grad()
    def frames_to_audio(self, frames: np.ndarray) -> Audio:
        """Decode codebook values ``[T, K]`` (read modulo the codebook size) to ``T * samples_per_frame`` samples."""
        frames = np.asarray(frames, dtype=np.int64).reshape(-1, self.num_codebooks) % self.codebook_size
        return self.vectors_to_audio(self._dequantise(frames))

    # -- files -------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        """Write ``config.json`` and the codebooks (``codebooks.safetensors``, float16 unless ``float32``) to
        ``folder``, atomically (a temporary folder renamed into place)."""
        import safetensors.torch

        self._require_fitted()
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            (tmp / _CONFIG).write_text(json.dumps({"name": "speech/mel-rvq", "config": self.config}, indent=1) + "\n")
            state = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in self.state_dict().items()}
            safetensors.torch.save_file(state, str(tmp / _WEIGHTS))
            tmp.chmod(0o755)  # mkdtemp's folder is private; the saved one reads like any other
            for file in tmp.iterdir():
                file.chmod(0o644)
            if folder.exists():
                shutil.rmtree(folder)
            tmp.replace(folder)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)

    @classmethod
    def load(cls, folder: str | Path) -> MelRVQTokenizer:
        """Read a tokenizer written by :meth:`save`."""
        import safetensors.torch

        folder = Path(folder)
        if not (folder / _CONFIG).is_file() or not (folder / _WEIGHTS).is_file():
            raise WeightsError(f"{folder} holds no speech/mel-rvq codebooks ({_CONFIG} and {_WEIGHTS}); write them "
                               f"with MelRVQTokenizer.save or plugins/speech/scripts/fit_mel_rvq.py")
        entry = json.loads((folder / _CONFIG).read_text())
        tokenizer = cls(**entry["config"])
        state = safetensors.torch.load_file(str(folder / _WEIGHTS))
        try:
            tokenizer.load_state_dict({k: v.to(tokenizer.state_dict()[k].dtype) for k, v in state.items()})
        except (RuntimeError, KeyError) as exc:
            raise WeightsError(f"{folder / _WEIGHTS} does not fit its config ({str(exc).splitlines()[0]})") from None
        return tokenizer


def pretrained_mel_rvq() -> MelRVQTokenizer:
    """The codebooks fitted on the plugin's espeak-ng digit strings (``scripts/fit_mel_rvq.py``)."""
    return MelRVQTokenizer.load(SHIPPED)


def log_mel_distance(reference: Audio, other: Audio, tokenizer: MelRVQTokenizer | None = None,
                     max_lag_ms: float = 60.0) -> float:
    """Root mean square difference (dB) of two clips' log-mel spectrograms (the tokenizer's front end, default
    settings if none), at the best alignment of the two within ``max_lag_ms`` (a codec may delay its output:
    codec2-1200 by 20 ms), over the frames both have; frames where both are near silence (below -60 dB) are left
    out."""
    front = tokenizer or MelRVQTokenizer()
    a, b = front.log_mel(reference) * _DB, front.log_mel(other) * _DB
    if min(len(a), len(b)) == 0:
        raise InputError("log_mel_distance needs two clips of at least one frame each")
    hop_ms = 1000.0 * front.hop_length / front.rate
    best = float("inf")
    for lag in range(-int(max_lag_ms // hop_ms), int(max_lag_ms // hop_ms) + 1):
        x, y = (a[: len(a) - lag], b[lag:]) if lag >= 0 else (a[-lag:], b[: len(b) + lag])
        n = min(len(x), len(y))
        if n == 0:
            continue
        x, y = x[:n], y[:n]
        loud = np.maximum(x.max(axis=1), y.max(axis=1)) > -60.0
        if loud.any():
            best = min(best, float(np.sqrt(np.mean((x[loud] - y[loud]) ** 2))))
    return 0.0 if best == float("inf") else best
