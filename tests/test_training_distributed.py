"""Data parallelism: two gloo processes train exactly like one process with the same global batch."""

from __future__ import annotations

import json
import os
from pathlib import Path
import socket

import pytest
import torch
import torch.multiprocessing as mp

import arkit
import arkit.training.checkpoint
from tests.helpers import tiny_pipeline

CORPUS = ["the cat sat on the mat. " * 4, "the dog sat on the log. " * 4, "a cat and a dog. " * 4] * 4
COMMON = dict(steps=6, seq_len=32, warmup_steps=2, seed=7, progress=False, eval_fraction=0.25, eval_every=3)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    pipe = tiny_pipeline()
    start = torch.load(Path(out) / "start.pt")  # the parent's weights (from_preset's init order is not fixed across processes)
    pipe.backbone.load_state_dict(start["backbone"])
    pipe.head.load_state_dict(start["head"])
    if rank == 1:  # a different start on rank 1: DDP must broadcast rank 0's weights
        torch.nn.init.normal_(pipe.head.proj.weight)
    result = pipe.fit(CORPUS, batch_size=2, grad_accum_steps=2, out_dir=Path(out) / "run", checkpoint_every=3, **COMMON)
    torch.save({k: v.clone() for k, v in pipe.backbone.state_dict().items()}, Path(out) / f"weights{rank}.pt")
    (Path(out) / f"result{rank}.json").write_text(json.dumps(
        {"losses": result.losses, "eval": result.eval_losses, "tokens": result.tokens}))


def test_two_gloo_processes_match_one_process(tmp_path: Path) -> None:
    single = tiny_pipeline()
    torch.save({"backbone": single.backbone.state_dict(), "head": single.head.state_dict()}, tmp_path / "start.pt")
    mp.start_processes(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True, start_method="spawn")
    expected = single.fit(CORPUS, batch_size=8, **COMMON)  # global batch 2 rows x 2 micro-batches x 2 ranks
    for rank in (0, 1):
        got = json.loads((tmp_path / f"result{rank}.json").read_text())
        assert got["tokens"] == expected.tokens
        assert got["losses"] == pytest.approx(expected.losses, abs=1e-5)
        assert [v for _, v in got["eval"]] == pytest.approx([v for _, v in expected.eval_losses], abs=1e-5)
        weights = torch.load(tmp_path / f"weights{rank}.pt")
        for name, value in single.backbone.state_dict().items():
            torch.testing.assert_close(weights[name], value, atol=1e-5, rtol=1e-4)
    # rank 0 alone wrote the metrics, the checkpoints and the final pipeline
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 6 + 2
    assert [p.name for p in arkit.training.checkpoint.list_checkpoints(tmp_path / "run" / "checkpoints")] == [
        "checkpoint-00000003", "checkpoint-00000006"]
    assert (tmp_path / "run" / "pipeline" / "pipeline.json").is_file()
