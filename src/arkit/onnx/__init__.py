"""ONNX export and onnxruntime inference for composed pipelines.

- :func:`export` writes a self-contained folder: the step graph (backbone + head,
  KV cache as explicit inputs and outputs), the tokenizer, sampler and drafter
  configs, and ``onnx.json`` with the geometry and the parity measured at export.
- :class:`OrtPipeline` loads such a folder as an :class:`arkit.Pipeline` whose
  backbone runs in onnxruntime, so generation (samplers, constraints, beam
  search, streaming, speculative decoding) is the same code as in torch.
- :func:`export_genai` writes a folder onnxruntime-genai runs with its own
  ``Generator`` (validated against torch's greedy tokens); :func:`export_triton`
  a Triton model repository for the step graph (configs parsed with
  ``tritonclient``'s protobuf definitions).
- :class:`TokenizerGraph` lets a neural tokenizer (a VQ decoder, say) export its
  networks alongside; :func:`load_graph` runs one in onnxruntime.

Needs the ``onnx``, ``onnxscript`` and ``onnxruntime`` (or ``onnxruntime-gpu``)
packages. See ``docs/deployment.md``.
"""

from __future__ import annotations

from .export import ExportReport, export
from .genai import GenAIExportReport, export_genai
from .graphs import OrtGraph, TokenizerGraph, load_graph
from .runtime import OrtPipeline, default_providers
from .triton import TritonExportReport, export_triton

__all__ = ["ExportReport", "GenAIExportReport", "OrtGraph", "OrtPipeline", "TokenizerGraph", "TritonExportReport",
           "default_providers", "export", "export_genai", "export_triton", "load_graph"]
