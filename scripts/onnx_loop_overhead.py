"""Where an OrtPipeline decode step goes, against onnxruntime-genai on the same weights; prints JSON.

    .venv/bin/python scripts/onnx_loop_overhead.py [--repeats 9] [--batches 1,8]

One seeded 4-layer, d_model 256 transformer (the small size of ``arkit bench onnx``,
over arkit's byte vocabulary) is exported twice: in arkit's format (the fused decode
graph) and with ``--format genai``. For each batch, 32-token prompts are continued by
128 greedy tokens, interleaved round by round, with medians of:

- ``ort``: ``OrtPipeline.generate`` (arkit's loop around the decode graph);
- ``decode-session``: the same decode graph's ``run_with_iobinding`` called 128 times in a
  bare loop with fixed inputs (a past of 100): the session alone, no loop;
- ``python-floor``: the least a Python loop can do around the same decode graph: the prefill
  through ``OrtPipeline``'s backbone, then per step one ``run_with_iobinding`` on a binding
  prepared once per step and kept between generations (onnxruntime prepares a binding again
  in the first run after anything in it is rebound), and ``argmax`` written into a preallocated
  table. No checks, samplers, stopping rules or events: no real loop can be leaner;
- ``genai``: onnxruntime-genai's ``Generator`` over the genai export (its loop, in C++).

``ort - decode-session`` is what arkit's loop and binding add to a step, and ``genai -
decode-session`` what onnxruntime-genai's add (both include their prompt's prefill,
spread over the 128 steps; ``decode-session`` has none). One intra-op thread throughout; torch and
onnxruntime never run at the same time. The greedy tokens of ``ort``, ``python-floor`` and
``genai`` are compared.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import statistics
import sys
import tempfile
import time

import onnxruntime
import torch

import arkit
from arkit.onnx import OrtPipeline, export, export_genai
from arkit.onnx.genai import genai_greedy, load_model, unused_token
from arkit.onnx.runtime import _binders


class _PythonFloor:
    """Greedy decoding through ``backbone``'s decode graph with the least Python per step (see the docstring)."""

    def __init__(self, ort: arkit.Pipeline, batch: int, prompt: int, new_tokens: int) -> None:
        self.ort, self.backbone, self.new_tokens = ort, ort.backbone, new_tokens
        total = prompt + new_tokens
        self.tokens = torch.empty(new_tokens, batch, 1, dtype=torch.long)  # step t's input is row t - 1
        self.positions = torch.arange(prompt, total).view(-1, 1, 1).expand(-1, batch, 1).contiguous()
        self.all_true = torch.ones(batch * total, dtype=torch.bool)
        self.logits = torch.empty(batch, 1, self.backbone.vocab_size)
        self.bindings: dict[int, object] = {}  # by step, over self.buffer
        self.buffer: torch.Tensor | None = None  # the cache's slot buffer the bindings point into (kept alive)
        self.run = self.backbone.decode_session._sess.run_with_iobinding
        self.options = onnxruntime.RunOptions()

    @torch.inference_mode()
    def __call__(self, ids: torch.Tensor) -> list[list[int]]:
        backbone, cache = self.backbone, self.ort.cache
        B, L = ids.shape
        cache.allocate(backbone.cache_spec(), batch_size=B, max_len=L + self.new_tokens, dtype=torch.float32,
                       device="cpu")
        slots = torch.arange(L)
        logits = backbone(ids, positions=slots.expand(B, L), cache=cache,
                          attention_mask=(slots[None, :] <= slots[:, None]).expand(B, L, L))
        buffer = cache._slot_buffers((B, backbone.n_kv_heads, L + 1, backbone.head_dim), backbone.n_layers,
                                     torch.float32, torch.device("cpu"))
        if self.buffer is not buffer:  # a new slot buffer: bindings to the old one would read freed memory
            self.bindings, self.buffer = {}, buffer
        torch.argmax(logits[:, -1], -1, keepdim=True, out=self.tokens[0])
        for t in range(1, self.new_tokens):
            binding = self.bindings.get(t)
            if binding is None:
                binding = self.bindings[t] = self._bind(t, buffer, B, L + t)
            self.run(binding, self.options)
            torch.argmax(self.logits[:, -1], -1, keepdim=True, out=self.tokens[t])
        return self.tokens[:, :, 0].T.tolist()

    def _bind(self, t: int, buffer: torch.Tensor, B: int, width: int) -> object:
        backbone = self.backbone
        binding = backbone.decode_session.io_binding()
        bind_input, bind_output = _binders(binding, torch.device("cpu"), "input_ids", "logits")
        inputs = [self.tokens[t - 1], self.positions[t - 1], self.all_true[: B * width].view(B, 1, width)]
        for name, tensor in zip(backbone._inputs, [*inputs, *buffer.unbind(0)]):
            bind_input(name, tensor)
        for name, tensor in zip(backbone._outputs, [self.logits, *buffer.unbind(0)]):
            bind_output(name, tensor)
        return binding._iobinding


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

            floor = _PythonFloor(ort, batch, 32, 128)
            floor_same = floor(torch.tensor(ids)) == want
            variants = {
                "ort": lambda: ort.generate(prompt_ids=ids, max_new_tokens=128, eos_token_ids=()),
                "decode-session": decode_session,
                "python-floor": lambda: floor(torch.tensor(ids)),
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
                "ms_per_step": ms, "identical_tokens_ort_genai": same, "identical_tokens_python_floor": floor_same,
                "ort_loop_ms_per_step": round(ms["ort"] - ms["decode-session"], 3),
                "genai_loop_ms_per_step": round(ms["genai"] - ms["decode-session"], 3),
                "ort_over_genai": round(ms["ort"] / ms["genai"], 3),
                "python_floor_over_genai": round(ms["python-floor"] / ms["genai"], 3),
            }
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
