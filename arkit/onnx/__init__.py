"""ONNX export and onnxruntime inference for composed pipelines.

- :func:`export` writes a self-contained folder: the step graph (backbone + head,
  KV cache as explicit inputs and outputs), the tokenizer, sampler and drafter
  configs, and ``onnx.json`` with the geometry and the parity measured at export.
- :class:`OrtPipeline` loads such a folder as an :class:`arkit.Pipeline` whose
  backbone runs in onnxruntime, so generation (samplers, constraints, beam
  search, streaming, speculative decoding) is the same code as in torch.

Needs the ``onnx``, ``onnxscript`` and ``onnxruntime`` (or ``onnxruntime-gpu``)
packages. See ``docs/deployment.md``.
"""

from __future__ import annotations

from .export import ExportReport, export
from .runtime import OrtPipeline, default_providers

__all__ = ["ExportReport", "OrtPipeline", "default_providers", "export"]
