"""Speed up decoding with a drafter, then deploy the same pipeline with ONNX Runtime.

Run: python examples/speculative_and_onnx.py
"""

import tempfile

import torch

import arkit
from arkit.onnx import OrtPipeline, export

torch.set_num_threads(1)  # on small shared machines one thread is fastest
torch.manual_seed(0)

pipe = arkit.Pipeline.from_preset("core/tiny-byte", sampler=arkit.create("sampler", "core/greedy"))
pipe.fit(arkit.tiny_corpus(60_000), steps=150, seq_len=128, batch_size=8, progress=False)
prompts = ["The interpreter", "A function"]

# Speculative decoding: the drafter proposes, the model verifies every row's draft in one pass.
plain = pipe.generate(prompts, max_new_tokens=64)
fast = pipe.replace(drafter=arkit.create("drafter", "core/prompt-lookup")).generate(prompts, max_new_tokens=64)
assert fast.sequences == plain.sequences, "exact acceptance is lossless: greedy output is unchanged"
stats = fast.speculative
print(f"target passes: {plain.num_steps} plain, {fast.num_steps} with prompt lookup "
      f"({stats.mean_accepted_per_call:.2f} tokens per pass and row)")

# ONNX: one step graph, validated against torch at export, run by the same generation loop.
with tempfile.TemporaryDirectory() as tmp:
    report = export(pipe, f"{tmp}/tiny-onnx")
    print(f"exported in {report.export_s:.1f} s, max |logit difference| vs torch {report.max_abs_logit_diff:.1e}")
    ort = OrtPipeline.from_pretrained(f"{tmp}/tiny-onnx")  # CUDA with IO binding when usable, else CPU
    served = ort.generate(prompts, max_new_tokens=64)
    assert served.sequences == plain.sequences, "onnxruntime and torch agree on greedy tokens"
    print(repr(prompts[0] + served.decoded[0]))
