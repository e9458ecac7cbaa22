"""Jacobi decoding and Speculative Jacobi decoding (SJD, Teng et al. 2024). Registered as ``core/jacobi``.

Self-speculative and training-free: the target drafts for itself. Each row keeps
a *window* of guesses for the tokens after its pending token. A verification
pass feeds ``[pending, guess_1 .. guess_k]``; besides checking the guesses, the
target predicts a token at every window position. After the pass the row has
kept ``a`` guesses and a new pending token, and the predictions the target made
*after* that point (positions ``a + 1 .. k`` of the pass, which predict the
tokens after the new pending one) become the next window. Slots no prediction
reaches (all of them on the first pass, and after passes without a draft) are filled
from the row's own context (``init="context"``, the default: what followed the most
recent earlier occurrence of the last known token, as lookahead decoding seeds its
iteration from n-grams), by repeating the last known token (``init="repeat"``), or
left out (``init="none"``). Iterating refines the window towards the target's own
output (a Jacobi fixed-point iteration), several tokens at a time where the
continuation is predictable.

- ``probabilistic=False`` (Jacobi): the guesses are the target's argmax. A
  deterministic draft: exact acceptance keeps a guess with the target's
  probability of it, greedy decoding keeps it when it equals the argmax.
- ``probabilistic=True`` (SJD): each guess is *sampled* from the target's
  distribution at that position in the previous pass (softmax of its logits
  divided by ``temperature``), and that distribution is the draft's ``probs``.
  With ``core/exact`` this is SJD's probabilistic acceptance, keep with
  ``min(1, p_now(x) / p_before(x))`` and resample from the residual at a
  rejection, so sampling stays lossless: **SJD = ``core/jacobi``
  (``probabilistic=True``) + ``core/exact``** (no separate rule is needed).

SJD's guesses are random draws, so they must come from the generation's own
generator (the ``generator`` the loop passes to :meth:`start`, derived from
``generate(seed=...)``): that is what lets ``core/exact`` treat them as draws
from ``probs``. With ``seed=None`` (the default) they do. A fixed ``seed`` gives
the drafter a generator of its own, seeded once when it is built; its guesses
are then not the generation's draws, so the loop hands them to the acceptance
rule without ``probs`` (as fixed guesses: still lossless, accepted less often).
Reseeding per generation from a fixed seed made the guesses a fixed function of
the context, which exact acceptance cannot correct for (a biased output).

Per-row state lives between :meth:`start` and the end of a generation; a fresh
drafter (nothing observed) proposes every slot the way ``init`` fills slots no
prediction reaches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from ..errors import ConfigError
from ..types import Draft, Verification

if TYPE_CHECKING:
    from ..pipeline import Pipeline

__all__ = ["JacobiDrafter"]


class JacobiDrafter:
    """Draft the target's own predictions from the previous pass (Jacobi iteration; SJD when probabilistic)."""

    def __init__(self, *, probabilistic: bool = False, temperature: float = 1.0, init: str = "context",
                 seed: int | None = None) -> None:
        if not isinstance(probabilistic, bool):
            raise ConfigError(f"jacobi probabilistic must be true or false, got {probabilistic!r}")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ConfigError(f"jacobi temperature must be a positive number, got {temperature!r}")
        if init not in ("context", "repeat", "none"):
            raise ConfigError(f"jacobi init must be 'context', 'repeat' or 'none', got {init!r}")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ConfigError(f"jacobi seed must be an integer or None, got {seed!r}")
        self.probabilistic, self.temperature, self.init, self.seed = probabilistic, float(temperature), init, seed
        self._guesses: torch.Tensor | None = None  # [B, w]: the window after each row's pending token
        self._probs: torch.Tensor | None = None  # [B, w, V]: what each guess was drawn from (probabilistic)
        self._filled: torch.Tensor | None = None  # [B]: how many window slots hold a prediction
        # a fixed seed: a stream of its own, seeded once (never per generation); else the generation's
        self._generator: torch.Generator | None = torch.Generator().manual_seed(seed) if seed is not None else None

    @property
    def config(self) -> Mapping[str, Any]:
        return {"probabilistic": self.probabilistic, "temperature": self.temperature, "init": self.init,
                "seed": self.seed}

    @property
    def uses_generator(self) -> bool:
        """Whether the guesses are drawn from the generator :meth:`start` receives (``seed`` is ``None``)."""
        return self.seed is None

    def start(self, pipe: Pipeline, batch_size: int, *, generator: torch.Generator | None = None) -> None:
        """Forget the previous generation's window; draw SJD guesses from ``generator`` (the generation's)."""
        self._guesses = self._probs = self._filled = None
        if self.seed is None:
            self._generator = generator

    def observe(self, verification: Verification) -> None:
        logits, accepted = verification.logits, verification.accepted.to(verification.logits.device)
        B, n, V = logits.shape
        # pass position a + j (j >= 1) predicts the token j places after the new pending token
        offsets = accepted[:, None] + 1 + torch.arange(max(n - 1, 0), device=logits.device)  # [B, n - 1]
        filled = (n - 1 - accepted).clamp(min=0)
        window = logits.float().gather(1, offsets.clamp(max=n - 1)[..., None].expand(B, n - 1, V))
        if self.probabilistic:
            probs = (window / self.temperature).softmax(-1)
            guesses = offsets.new_zeros(B, n - 1)
            if n > 1:
                flat = probs.reshape(-1, V)
                generator = self._generator
                if generator is not None and generator.device != flat.device:
                    flat = flat.to(generator.device)  # draw where the stream lives, never reseed one
                guesses = torch.multinomial(flat, 1, generator=generator).reshape(B, n - 1).to(logits.device)
            self._probs = probs
        else:
            guesses = window.argmax(-1)
        self._guesses, self._filled = guesses, filled

    def propose(self, tokens: torch.Tensor, k: int) -> Draft:
        B = tokens.shape[0]
        device = tokens.device
        last = tokens[:, -1:].clamp(min=0)  # the pending token
        slots = torch.arange(k, device=device)
        if self._guesses is None or self._guesses.shape[0] != B:
            guesses, filled = last.expand(B, k).clone(), torch.zeros(B, dtype=torch.long, device=device)
        else:
            w = min(k, self._guesses.shape[1])
            guesses = torch.cat([self._guesses[:, :w].to(device), last.expand(B, k - w)], 1)
            filled = self._filled.to(device).clamp(max=w)
        # slots past the predictions: the last known token's continuation in the context, or that token repeated
        known = torch.where(filled[:, None] > 0, guesses.gather(1, (filled - 1).clamp(min=0)[:, None]), last)
        tail = _continuation(tokens, known, k) if self.init == "context" else known.expand(B, k)
        tail = tail.gather(1, (slots[None, :] - filled[:, None]).clamp(min=0))  # slot j takes its (j - filled)-th
        guesses = torch.where(slots < filled[:, None], guesses, tail)
        lengths = filled if self.init == "none" else torch.full((B,), k, dtype=torch.long, device=device)
        probs = None
        if self.probabilistic:
            V = self._probs.shape[-1] if self._probs is not None else None
            if V is not None and self._guesses is not None and self._guesses.shape[0] == B:
                w = min(k, self._probs.shape[1])
                probs = torch.cat([self._probs[:, :w].to(device), self._probs.new_zeros(B, k - w, V).to(device)], 1)
                onehot = torch.nn.functional.one_hot(guesses, V).to(probs.dtype)  # filled-in slots are deterministic
                probs = torch.where((slots < filled[:, None])[..., None], probs, onehot)
        return Draft(tokens=guesses, probs=probs, lengths=lengths)


def _continuation(tokens: torch.Tensor, known: torch.Tensor, k: int) -> torch.Tensor:
    """``[B, k]``: per row, the ``k`` tokens after the most recent occurrence of ``known`` (``[B, 1]``) in the
    row's context (``tokens`` without its last, pending, position), ``known`` repeated where there is none or
    the context ends (negative ids, padding, are never copied)."""
    T = tokens.shape[1]
    context = tokens[:, :-1]
    where = torch.arange(T - 1, device=tokens.device).expand_as(context)
    at = torch.where(context == known, where, -1).amax(1, keepdim=True) if T > 1 else known.new_full(known.shape, -1)
    index = at + 1 + torch.arange(k, device=tokens.device)  # [B, k]
    taken = tokens.gather(1, index.clamp(max=T - 1))
    usable = (at >= 0) & (index < T) & (taken >= 0)
    return torch.where(usable, taken, known)
