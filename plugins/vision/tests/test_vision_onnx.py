"""ONNX: the AR step graph and the VQ decoder export, and OrtPipeline generates the same images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import arkit
from arkit_vision import MultiScaleVQTokenizer, VQTokenizer, sample_raster

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("arkit.onnx")


def _pipe(tokenizer, d_model: int = 32) -> arkit.Pipeline:
    torch.manual_seed(0)
    return arkit.Pipeline(
        tokenizer=tokenizer,
        backbone=arkit.create("backbone", "core/transformer", vocab_size=tokenizer.vocab_size, d_model=d_model,
                              n_layers=1, n_heads=2, max_seq_len=96),
        head=arkit.create("head", "core/categorical", vocab_size=tokenizer.vocab_size, d_model=d_model),
    )


def test_step_graph_and_vq_decoder_parity(digits, tmp_path):
    tok = VQTokenizer(codebook_size=16, hidden=8)
    tok.fit(digits.train[:200], steps=20, batch_size=32)
    pipe = _pipe(tok)
    report = onnx.export(pipe, tmp_path / "onnx")
    assert (tmp_path / "onnx" / "tokenizer.decode.onnx").is_file()
    ort_pipe = onnx.OrtPipeline.from_pretrained(tmp_path / "onnx", threads=1)
    assert isinstance(ort_pipe, arkit.Pipeline) and ort_pipe.tokenizer.fitted
    # the same images from torch and onnxruntime (greedy: no sampling noise to hide a difference)
    labels = [0, 5, None]
    torch_images = sample_raster(pipe, labels, temperature=0.0).images
    ort_images = sample_raster(ort_pipe, labels, temperature=0.0).images
    assert torch_images == ort_images
    # the decoder graph: codes [B, 8, 8] -> images [B, 1, 8, 8], as torch decodes them
    graph = onnx.load_graph(tmp_path / "onnx", "decode")
    codes = torch.randint(0, 16, (3, 8, 8), generator=torch.Generator().manual_seed(1))
    images = graph(codes=codes.numpy())["images"]
    expected = tok._pixels_float(codes.flatten(1)).detach().numpy()
    assert images.shape == (3, 1, 8, 8)
    np.testing.assert_allclose(images, expected, atol=1e-3)
    assert report is not None


@pytest.mark.slow
def test_msvq_decoder_graph(tmp_path):
    tok = MultiScaleVQTokenizer(codebook_size=8, hidden=8)
    onnx.export(_pipe(tok), tmp_path / "onnx")
    graph = onnx.load_graph(tmp_path / "onnx", "decode")
    codes = torch.randint(0, 8, (2, 85), generator=torch.Generator().manual_seed(2))
    np.testing.assert_allclose(graph(codes=codes.numpy())["images"], tok._pixels_float(codes).detach().numpy(), atol=1e-3)
