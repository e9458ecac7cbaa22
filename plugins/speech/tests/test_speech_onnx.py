"""ONNX: an exported speech pipeline generates the same tokens through onnxruntime as through torch (greedy),
for the flatten pattern (next-token, constrained) and the delay pattern (blocks of K positions per call)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import arkit
from arkit_speech import TTSTokenizer, Utterance
from arkit_speech.constraint import CodebookConstraint
from arkit_speech.schedule import CodecSchedule

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


@pytest.fixture(scope="module")
def pipes(tmp_path_factory: pytest.TempPathFactory) -> tuple[arkit.Pipeline, arkit.Pipeline]:
    from arkit.onnx import OrtPipeline, export

    torch.manual_seed(0)
    tok = TTSTokenizer()
    pipe = arkit.Pipeline(
        tokenizer=tok,
        backbone=arkit.create("backbone", "core/transformer", vocab_size=tok.vocab_size, d_model=32, n_layers=2,
                              n_heads=2, max_seq_len=192),
        head=arkit.create("head", "core/categorical", d_model=32, vocab_size=tok.vocab_size),
        sampler=arkit.create("sampler", "core/greedy"),
    )
    out = tmp_path_factory.mktemp("speech-onnx")
    report = export(pipe, out, decode_graph=False)
    assert report.max_abs_logit_diff < 1e-4
    return pipe, OrtPipeline.from_pretrained(out, threads=1)


def _prompts(tok: TTSTokenizer) -> list[list[int]]:
    rng = np.random.default_rng(1)
    bos = tok.special_tokens["bos"]
    return [[bos, *tok.encode(Utterance(text=t, voice_prompt=rng.integers(0, 256, (4, tok.num_codebooks))))]
            for t in ("four two seven", "oh")]


def test_flatten_tokens_match_torch(pipes: tuple[arkit.Pipeline, arkit.Pipeline]) -> None:
    torch_pipe, ort_pipe = pipes
    tok = torch_pipe.tokenizer
    constraint = CodebookConstraint.for_tokenizer(tok, max_frames=4)
    kw = dict(prompt_ids=_prompts(tok), constraint=constraint, max_new_tokens=4 * tok.num_codebooks + 1)
    expected, got = torch_pipe.generate(**kw), ort_pipe.generate(**kw)
    assert got.sequences == expected.sequences
    assert all(len(tok.target_ids(s)) % tok.num_codebooks == 0 for s in got.sequences)


def test_delay_blocks_match_torch(pipes: tuple[arkit.Pipeline, arkit.Pipeline]) -> None:
    torch_pipe, ort_pipe = pipes
    tok = torch_pipe.tokenizer
    schedule = CodecSchedule(tok, "delay", max_frames=4)
    expected = arkit.generate_blocks(torch_pipe, schedule, prompt_ids=_prompts(tok), max_blocks=12)
    got = arkit.generate_blocks(ort_pipe, schedule, prompt_ids=_prompts(tok), max_blocks=12)
    assert got.blocks == expected.blocks and got.calls == expected.calls
    assert all(schedule.frames(rows).shape[1] == tok.num_codebooks for rows in got.blocks)
