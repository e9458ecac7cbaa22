"""Forecast throughput, torch against ONNX Runtime, measured in one interleaved run.

The shipped ``chronos-mini`` is exported with ``arkit.onnx.export`` into a
temporary folder and loaded with ``arkit.onnx.OrtPipeline.from_pretrained``;
then the same batched forecast (``series`` bundled histories x ``num_samples``
paths x ``horizon`` steps) alternates between the two for ``rounds`` rounds.
Reported: series * samples * steps per second for each (the median round),
and whether greedy forecasts agree exactly.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from typing import Any

import numpy as np

__all__ = ["bench"]


def bench(*, series: int = 8, num_samples: int = 20, horizon: int = 24, context: int = 200, rounds: int = 3,
          seed: int = 0) -> dict[str, Any]:
    """Interleaved torch / onnxruntime forecasting throughput of the shipped model (one thread each)."""
    import arkit
    from arkit.onnx import OrtPipeline, export

    from .forecast import forecast
    from .presets import pretrained
    from .splits import splits

    pipe = pretrained()
    histories = [s.history for s in splits()][:series]
    with tempfile.TemporaryDirectory(prefix="arkit-timeseries-onnx-") as tmp:
        export(pipe, tmp)
        ort = OrtPipeline.from_pretrained(tmp, threads=1)
        times: dict[str, list[float]] = {"torch": [], "onnxruntime": []}
        for _ in range(rounds):
            for name, p in (("torch", pipe), ("onnxruntime", ort)):
                start = time.perf_counter()
                forecast(p, histories, horizon, num_samples=num_samples, context_length=context, seed=seed)
                times[name].append(time.perf_counter() - start)
        greedy = arkit.create("sampler", "core/greedy")
        same = np.array_equal(
            forecast(pipe.replace(sampler=greedy), histories, horizon, num_samples=1, context_length=context).samples,
            forecast(ort.replace(sampler=greedy), histories, horizon, num_samples=1, context_length=context).samples)
    work = len(histories) * num_samples * horizon
    out: dict[str, Any] = {"series": len(histories), "samples": num_samples, "horizon": horizon, "context": context,
                           "rounds": rounds, "greedy_identical": bool(same)}
    for name, ts in times.items():
        out[name] = {"seconds": statistics.median(ts), "values_per_s": work / statistics.median(ts)}
    out["onnxruntime_speedup"] = out["onnxruntime"]["values_per_s"] / out["torch"]["values_per_s"]
    return out
