"""Files people open: WAV files of speech and a PNG of spectrograms side by side."""

from __future__ import annotations

from collections.abc import Sequence
import os
from pathlib import Path

import numpy as np

from .audio import Audio

__all__ = ["save_spectrograms", "write_wav"]


def write_wav(audio: Audio, path: str | os.PathLike[str]) -> Path:
    """Write 16-bit PCM WAV (scipy), through a temporary file so a failure leaves no half-written file."""
    from scipy.io import wavfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    wavfile.write(tmp, audio.rate, audio.to_int16())
    tmp.replace(path)
    return path


def save_spectrograms(rows: Sequence[tuple[str, Sequence[tuple[str, Audio]]]], path: str | os.PathLike[str]) -> Path:
    """One row per utterance (``(title, [(column label, audio), ...])``), log-magnitude spectrograms side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.signal import spectrogram

    ncols = max(len(cols) for _, cols in rows)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(3.2 * ncols, 2.2 * len(rows)), squeeze=False)
    for r, (title, cols) in enumerate(rows):
        for c in range(ncols):
            ax = axes[r][c]
            if c >= len(cols):
                ax.axis("off")
                continue
            label, audio = cols[c]
            if len(audio.samples) >= 256:
                f, t, s = spectrogram(audio.samples, fs=audio.rate, nperseg=256, noverlap=192)
                ax.pcolormesh(t, f, 10 * np.log10(s + 1e-10), shading="auto", cmap="magma", vmin=-110, vmax=-30)
            ax.set_title(f"{label}: {title}" if c == 0 else label, fontsize=8)
            ax.tick_params(labelsize=6)
            if c == 0:
                ax.set_ylabel("Hz", fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
    return path
