"""Where an OrtPipeline decode step goes, against onnxruntime-genai on the same weights; prints JSON.

    .venv/bin/python scripts/onnx_loop_overhead.py [--repeats 9] [--batches 1,8]

One seeded 4-layer, d_model 256 transformer (the small size of ``arkit bench onnx``,
over arkit's byte vocabulary) is exported twice: in arkit's format (the fused decode
graph) and with ``--format genai``. For each batch, 32-token prompts are continued by
128 greedy tokens, interleaved round by round, with medians of:

- ``ort``: ``OrtPipeline.generate`` (arkit's loop around the decode graph);
- ``decode-session``: the same decode graph's ``run_with_iobinding`` called 128 times in a
  bare loop with fixed inputs (a past of 100): the session alone, no loop;
- ``genai``: onnxruntime-genai's ``Generator`` over the genai export (its loop, in C++).

``ort - decode-session`` is what arkit's loop and binding add to a step, and ``genai -
decode-session`` what onnxruntime-genai's add (both include their prompt's prefill,
spread over the 128 steps; ``decode-session`` has none). One intra-op thread throughout; torch and
onnxruntime never run at the same time. The greedy tokens of ``ort`` and ``genai`` are
compared.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import statistics
import sys
import tempfile
import time

import torch

import arkit
from arkit.onnx import OrtPipeline, export, export_genai
from arkit.onnx.genai import genai_greedy, load_model, unused_token


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--batches", default="1,8")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    pipe = arkit.Pipeline(
        tokenizer=arkit.create("tokenizer", "core/byte"),
        backbone=arkit.create("backbone", "core/transformer", vocab_size=259, d_model=256, n_layers=4, n_heads=4,
                              max_seq_len=512),
        head=arkit.create("head", "core/categorical", d_model=256, vocab_size=259),
    )
    report: dict = {"script": "onnx_loop_overhead", "threads": 1, "prompt_tokens": 32, "new_tokens": 128,
                    "repeats": args.repeats, "results": {}}
    with tempfile.TemporaryDirectory(prefix="arkit-loop-overhead-") as work:
        export(pipe, Path(work) / "arkit")
        export_genai(pipe, Path(work) / "genai", validate=False)  # compared on tokens below
        ort = OrtPipeline.from_pretrained(Path(work) / "arkit", providers=["CPUExecutionProvider"], threads=1)
        backbone = ort.backbone
        for batch in (int(b) for b in args.batches.split(",")):
            ids = torch.randint(1, 256, (batch, 32), generator=torch.Generator().manual_seed(batch)).tolist()
            want = [list(s) for s in ort.generate(prompt_ids=ids, max_new_tokens=128, eos_token_ids=()).sequences]
            stop = unused_token(259, *ids, *want)
            model = load_model(Path(work) / "genai", overlay={"model": {"eos_token_id": 0 if stop is None else stop}})
            same = genai_greedy(model, ids, 128, pad=0) == want
            fixed = [torch.ones(batch, 1, dtype=torch.long), torch.full((batch, 1), 100, dtype=torch.long),
                     torch.ones(batch, 1, 101, dtype=torch.bool)]
            logits = torch.empty(batch, 1, 259)
            bind_input, bind_output = backbone._decode_binders
            session, binding = backbone.decode_session, backbone._decode_binding

            def decode_session() -> None:
                for name, tensor in zip(backbone._inputs, fixed):  # the slot buffers stay bound from generate
                    bind_input(name, tensor)
                bind_output("logits", logits)
                for _ in range(128):
                    session.run_with_iobinding(binding)

            variants = {
                "ort": lambda: ort.generate(prompt_ids=ids, max_new_tokens=128, eos_token_ids=()),
                "decode-session": decode_session,
                "genai": lambda: genai_greedy(model, ids, 128, pad=0),
            }
            times: dict[str, list[float]] = {name: [] for name in variants}
            for _ in range(args.repeats):
                for name, fn in variants.items():
                    start = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - start)
            ms = {name: round(statistics.median(t) / 128 * 1e3, 3) for name, t in times.items()}
            report["results"][f"batch {batch}"] = {
                "ms_per_step": ms, "identical_tokens_ort_genai": same,
                "ort_loop_ms_per_step": round(ms["ort"] - ms["decode-session"], 3),
                "genai_loop_ms_per_step": round(ms["genai"] - ms["decode-session"], 3),
                "ort_over_genai": round(ms["ort"] / ms["genai"], 3),
            }
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
