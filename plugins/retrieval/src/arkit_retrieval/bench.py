"""``arkit retrieval bench``: plain decoding vs ``retrieval/datastore`` drafting on a corpus-quoting workload.

Workload: a small byte-level ``core/transformer`` trained for a bounded number of
steps on a slice of the docstring corpus (it learns to quote it), asked to
continue the openings of those docstrings greedily. The datastore is a suffix
array over the same docstrings. Each prompt runs alone (batch 1) twice, plain and
with the drafter, interleaved; the report gives target calls (prefill excluded),
wall time, their ratios, and whether every output is identical (lossless).
"""

from __future__ import annotations

import time
from typing import Any

import torch

import arkit

from .corpus import stdlib_docs
from .datastore import DatastoreDrafter

__all__ = ["datastore_bench"]


def datastore_bench(*, docs: int = 24, steps: int = 300, prompt_chars: int = 24, new_tokens: int = 64,
                    num_draft_tokens: int = 8, seed: int = 0) -> dict[str, Any]:
    """Train the workload's model, then compare plain and datastore decoding; returns a JSON-ready dict."""
    torch.manual_seed(seed)
    texts = [" ".join(d.text.split())[:400] for d in stdlib_docs()[::97][:docs]]
    tok = arkit.create("tokenizer", "core/byte")
    backbone = arkit.create("backbone", "core/transformer", vocab_size=tok.vocab_size, d_model=128, n_layers=2,
                            n_heads=4, max_seq_len=512)
    head = arkit.create("head", "core/categorical", d_model=128, vocab_size=tok.vocab_size)
    pipe = arkit.Pipeline(tokenizer=tok, backbone=backbone, head=head)
    t = time.perf_counter()
    result = pipe.fit(texts, steps=steps, batch_size=8, seq_len=256, lr=3e-3, weight_decay=0.0, seed=seed,
                      progress=False, warmup_steps=20)
    train_s = time.perf_counter() - t
    drafter = DatastoreDrafter(documents=[tok.encode(x) for x in texts])
    fast = pipe.replace(drafter=drafter)
    plain_calls = spec_calls = 0
    plain_s = spec_s = 0.0
    same = True
    generated = 0
    for text in texts:
        prompt = text[:prompt_chars]
        a = pipe.generate([prompt], max_new_tokens=new_tokens, eos_token_ids=())
        b = fast.generate([prompt], max_new_tokens=new_tokens, eos_token_ids=(), num_draft_tokens=num_draft_tokens)
        same &= a.sequences == b.sequences
        plain_calls += a.num_steps - 1
        spec_calls += b.speculative.target_calls
        plain_s += a.elapsed_s
        spec_s += b.elapsed_s
        generated += len(a.sequences[0])
    return {
        "workload": {"docs": len(texts), "train_steps": steps, "final_loss": round(result.losses[-1], 4),
                     "train_s": round(train_s, 1), "prompt_chars": prompt_chars, "new_tokens": new_tokens,
                     "num_draft_tokens": num_draft_tokens, "generated": generated},
        "plain": {"target_calls": plain_calls, "wall_s": round(plain_s, 4)},
        "datastore": {"target_calls": spec_calls, "wall_s": round(spec_s, 4)},
        "target_call_ratio": round(plain_calls / max(spec_calls, 1), 3),
        "wall_ratio": round(plain_s / spec_s, 3) if spec_s > 0 else None,
        "lossless": bool(same),
    }
