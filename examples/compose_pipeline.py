"""Compose a pipeline from registry names, train it briefly, generate, save and reload.

Run: python examples/compose_pipeline.py
"""

import tempfile

import torch

import arkit

torch.set_num_threads(1)  # on small shared machines one thread is fastest

pipe = arkit.Pipeline(
    tokenizer=arkit.create("tokenizer", "core/byte"),
    backbone=arkit.create("backbone", "core/transformer", vocab_size=259, d_model=128, n_layers=2),
    head=arkit.create("head", "core/categorical", d_model=128, vocab_size=259),
    sampler=arkit.create("sampler", "core/multinomial", temperature=0.8, top_k=40),
)
result = pipe.fit(["the cat sat on the mat. " * 20], steps=50, seq_len=64, progress=False)
print(f"loss {result.losses[0]:.2f} -> {result.losses[-1]:.2f} in {result.steps} steps")

out = pipe.generate(["the cat"], max_new_tokens=20, seed=0)
print(repr(out.decoded[0]))

with tempfile.TemporaryDirectory() as tmp:
    pipe.save_pretrained(f"{tmp}/my-pipeline")
    same = arkit.Pipeline.from_pretrained(f"{tmp}/my-pipeline")
    again = same.generate(["the cat"], max_new_tokens=20, seed=0)
    assert again.sequences == out.sequences, "a reloaded pipeline generates the same tokens"
    print("reloaded: same tokens")
