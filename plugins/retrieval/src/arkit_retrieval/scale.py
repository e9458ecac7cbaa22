"""Constraint cost at scale: the 138k-name Unicode trie during batched constrained decoding.

A ``core/transformer`` of the shipped model's size (random weights: the cost of a
step does not depend on them) decodes 8 rows at once under the trie of every
Unicode character name, spelled in characters. The constraint's own calls
(``allowed``, ``advance``, ``complete``) are timed through a wrapper and
reported as a share of the decode time (prefill excluded).
"""

from __future__ import annotations

import time
from typing import Any

import torch

import arkit

from .corpus import unicode_names
from .ids import TitleIdTokenizer
from .training import MODEL
from .trie import IdTrieConstraint

__all__ = ["constraint_cost"]


class _Timed:
    """Forward every constraint call, adding up the time spent in it."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.seconds, self.calls = inner, 0.0, 0

    def _time(self, name: str, *args: Any) -> Any:
        t = time.perf_counter()
        out = getattr(self.inner, name)(*args)
        self.seconds += time.perf_counter() - t
        self.calls += 1
        return out

    def start(self) -> Any:
        return self._time("start")

    def allowed(self, state: Any) -> Any:
        return self._time("allowed", state)

    def advance(self, state: Any, token: int) -> Any:
        return self._time("advance", state, token)

    def complete(self, state: Any) -> bool:
        return self._time("complete", state)


def constraint_cost(*, batch_size: int = 8, num_beams: int = 1, rounds: int = 3, seed: int = 0) -> dict[str, Any]:
    """Build the Unicode-name trie and time it inside ``batch_size``-row constrained decoding."""
    names = unicode_names()
    t = time.perf_counter()
    tok = TitleIdTokenizer(ids=names, unit="char", max_text_tokens=32)
    trie = IdTrieConstraint.from_tokenizer(tok)
    build_s = time.perf_counter() - t
    torch.manual_seed(seed)
    backbone = arkit.create("backbone", "core/transformer", vocab_size=tok.vocab_size, **MODEL)
    head = arkit.create("head", "core/categorical", d_model=MODEL["d_model"], vocab_size=tok.vocab_size)
    pipe = arkit.Pipeline(tokenizer=tok, backbone=backbone, head=head)
    g = torch.Generator().manual_seed(seed)
    queries = [names[int(i)].lower() for i in torch.randint(len(names), (batch_size,), generator=g)]
    longest = max(len(n) for n in names) + 1
    timed = _Timed(trie)
    decode_s, steps, valid, total = 0.0, 0, 0, 0
    for _ in range(rounds):
        out = pipe.generate(queries, constraint=timed, max_new_tokens=longest, num_beams=num_beams)
        decode_s += out.elapsed_s - out.prefill_s
        steps += out.num_steps
        valid += sum(trie.contains(s) for s in out.sequences)
        total += len(out.sequences)
    return {"ids": len(names), "trie_nodes": trie.num_nodes, "trie_build_s": round(build_s, 3),
            "batch_size": batch_size, "num_beams": num_beams, "decode_steps": steps,
            "decode_s": round(decode_s, 4), "constraint_s": round(timed.seconds, 4),
            "constraint_share": round(timed.seconds / decode_s, 4) if decode_s > 0 else None,
            "valid_rate": valid / total}
