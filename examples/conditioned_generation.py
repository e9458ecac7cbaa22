"""A model conditioned on a vector per sequence (a speaker, a class, a property), trained, sampled and exported.

`core/transformer(cond_dim=n)` adds a projected conditioning vector at every
position. Training items carry their vector (`arkit.Conditioned`); generation
takes one vector per prompt (`extra_inputs`); the exported ONNX graph gets a
`conditioning` input, with no exporter code.

Run: python examples/conditioned_generation.py
"""

import tempfile

import torch

import arkit
from arkit.onnx import OrtPipeline, export

torch.set_num_threads(1)  # on small shared machines one thread is fastest
torch.manual_seed(0)

# Two "speakers" with their own way of writing: a one-hot vector says which one.
styles = {"shouty": "HELLO THERE! HOW ARE YOU? ", "quiet": "hello there... how are you... "}
vectors = {"shouty": [1.0, 0.0], "quiet": [0.0, 1.0]}
data = [arkit.Conditioned(text * 3, {"conditioning": vectors[who]}) for who, text in styles.items()] * 30

pipe = arkit.Pipeline.from_preset("core/tiny-byte", backbone={"cond_dim": 2},
                                  sampler=arkit.create("sampler", "core/greedy"))
result = pipe.fit(data, steps=80, seq_len=64, batch_size=8, lr=3e-3, warmup_steps=5, progress=False)
print(f"loss {result.losses[0]:.2f} -> {result.losses[-1]:.2f}")

prompts = ["h", "H"]  # the same kind of prompt, two speakers each
condition = torch.tensor([vectors["quiet"], vectors["shouty"]])
out = pipe.generate(prompts, max_new_tokens=24, extra_inputs={"conditioning": condition})
for prompt, text in zip(prompts, out.decoded):
    print(repr(prompt + text))
assert out.decoded[0].islower() and out.decoded[1].isupper(), "each row follows its own condition"

with tempfile.TemporaryDirectory() as tmp:
    report = export(pipe, f"{tmp}/conditioned-onnx")
    ort = OrtPipeline.from_pretrained(report.directory)
    print("graph inputs:", [e.name for e in ort.backbone.extra_inputs], f"(max |dlogit| {report.max_abs_logit_diff:.1e})")
    same = ort.generate(prompts, max_new_tokens=24, extra_inputs={"conditioning": condition})
    assert same.sequences == out.sequences, "onnxruntime generates the same tokens"
    print("onnxruntime: same tokens")
