"""EAGLE (Li et al. 2024, EAGLE-1): one layer that continues the target's features. Registered as ``core/eagle``.

Medusa heads read one hidden state and guess tokens 2, 3, ... places on; they cannot
see the context, so they cannot copy. EAGLE drafts at the level of the target's
features instead. Its input at position ``j`` pairs the target's final hidden state
``f_j`` with the embedding of the token that followed, ``x_{j+1}``; one transformer
layer (its own attention over every earlier pair, its own key/value cache) predicts
the next feature, and the *target's own head* turns that into a token::

    g_j = layer([f_1, e(x_1), e(x_2)], ..., [f_j, e(x_j), e(x_{j+1})])      # ~ f_{j+1}
    draft token = argmax head(g_j)

A chain of ``k`` drafts feeds each predicted feature back with its drafted token:
``[g_j, e(x_{j+1}), e(draft_1)]`` gives ``g_{j+1}`` and draft 2, and so on.

One change from the paper: each pair also carries the embedding of its own token
``x_j``. Copying needs an induction head: find where ``x_{j+1}`` occurred before and read
what followed. With ``x_j`` in every pair one layer can match tokens directly (the query's
``x_{j+1}`` against a key's ``x_i``, then read that pair's ``x_{i+1}``) instead of recovering
``x_i`` from ``f_i``. On ``core/ref-text`` (width 128, 1,000 fill-row steps) it kept 4.22 drafts
per pass on the copy test with ``x_j`` and 3.52 without; what makes copying form at all is
copy-heavy data first (400 steps of the text mix alone: 0.03 either way; see
``scripts/train_reference_drafters.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..errors import ConfigError
from ..registry import create
from ..types import Draft, Verification
from ._pick import pick

if TYPE_CHECKING:
    from ..pipeline import Pipeline

__all__ = ["EagleDrafter"]


class EagleDrafter(nn.Module):
    """One transformer layer over ``[target feature, token, next token]`` pairs, drafting with the target's head.

    - ``d_model`` and ``vocab_size``: the target's hidden size and vocabulary
      (:meth:`for_pipeline` reads them from a pipeline).
    - ``width`` (default ``d_model``): the layer's own hidden size. Narrower than the target, the
      layer costs less per drafted token (its output is projected back to ``d_model``); on a
      small target, where one layer is a large share of the model, that matters.
    - ``n_heads``, ``ffn_hidden`` (default about ``8/3 * width``) and ``max_seq_len``:
      the layer's attention heads, MLP width and context (at least the target's).
    - ``temperature``: 0 drafts greedily; above 0 samples and gives ``Draft.probs``.
    """

    def __init__(self, *, d_model: int = 256, vocab_size: int = 512, width: int | None = None, n_heads: int = 4,
                 ffn_hidden: int | None = None, max_seq_len: int = 1024, init_std: float = 0.02,
                 temperature: float = 0.0) -> None:
        super().__init__()
        width = d_model if width is None else width
        for key, value in (("d_model", d_model), ("vocab_size", vocab_size), ("width", width),
                           ("max_seq_len", max_seq_len)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"eagle {key} must be a positive integer, got {value!r}")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature >= 0:
            raise ConfigError(f"eagle temperature must be a number >= 0, got {temperature!r}")
        self.d_model, self.vocab_size, self.temperature = d_model, vocab_size, float(temperature)
        # the layer: a one-block core/transformer of its own width, whose inputs are the pairs (the feature and two
        # token embeddings) projected to that width; a narrower layer's output is projected back to d_model
        self.layer = create("backbone", "core/transformer", vocab_size=vocab_size, d_model=width, n_layers=1,
                            n_heads=n_heads, ffn_hidden=ffn_hidden, max_seq_len=max_seq_len, init_std=init_std,
                            input_dim=d_model + 2 * width)
        self.embed = nn.Embedding(vocab_size, width)
        nn.init.normal_(self.embed.weight, std=init_std)
        self.out = nn.Linear(width, d_model, bias=False) if width != d_model else None
        if self.out is not None:
            nn.init.normal_(self.out.weight, std=init_std)
        self._config = dict(d_model=d_model, vocab_size=vocab_size, width=width, n_heads=n_heads,
                            ffn_hidden=self.layer.config["ffn_hidden"], max_seq_len=max_seq_len,
                            init_std=float(init_std), temperature=self.temperature)
        self.max_seq_len = max_seq_len
        self._capacity = 2 * max_seq_len + 64  # cache slots, holes included, before a rebuild
        self._head: Any = None  # the target's head (not a submodule: never saved with the drafter)
        self._generator: torch.Generator | None = None
        self._reset_state()

    @classmethod
    def for_pipeline(cls, pipe: Pipeline, **options: Any) -> EagleDrafter:
        """A drafter sized for ``pipe`` (its hidden size, vocabulary and context), on its device."""
        options.setdefault("max_seq_len", int(pipe.backbone.max_seq_len))
        drafter = cls(d_model=int(pipe.backbone.d_model), vocab_size=int(pipe.head.vocab_size), **options)
        return drafter.to(next(pipe.backbone.parameters()).device)

    @property
    def config(self) -> Mapping[str, Any]:
        return dict(self._config)

    def forward(self, features: torch.Tensor, tokens: torch.Tensor, next_tokens: torch.Tensor, *,
                positions: torch.Tensor, cache: Any = None, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, T, D]`` predicted features: pair ``t`` is the feature at a token, that token and the next one
        (``features[:, t]``, ``tokens[:, t]``, ``next_tokens[:, t]``), predicting the feature at the next token.
        ``positions``, ``cache`` and ``attention_mask`` as a backbone takes them."""
        pairs = torch.cat([features, self.embed(tokens).to(features.dtype), self.embed(next_tokens).to(features.dtype)],
                          -1)
        out = self.layer(pairs, positions=positions, cache=cache, attention_mask=attention_mask, prechecked=True)
        return out if self.out is None else self.out(out)

    def draft_cost(self, target: Any, width: int) -> float:
        """A draft of ``width`` tokens: ``width`` steps of one layer and the target's head, each
        ``0.2 + 0.5 * layer / target parameters`` of a target step (:class:`arkit.CostedDrafter`).

        A CPU fit, one thread, batch 1, on ``core/ref-text`` (3.3M parameters): a layer of width 128
        (0.33M) took 0.26 of a target step per drafted token, one of width 256 (1.07M) 0.37; at batch 8,
        0.17 and 0.29. A small layer's step costs more than its weights (a fixed cost per step).
        """
        mine = sum(p.numel() for p in self.layer.parameters()) + (0 if self.out is None else self.out.weight.numel())
        theirs = sum(p.numel() for p in target.parameters()) if isinstance(target, nn.Module) else 0
        return width * (0.2 + 0.5 * mine / theirs) if theirs else float(width)

    # -- the loop's hooks ---------------------------------------------------------------
    @property
    def uses_generator(self) -> bool:
        """Sampled drafts (``temperature > 0``) come from the generator :meth:`start` receives."""
        return self.temperature > 0

    def start(self, pipe: Pipeline, batch_size: int, *, generator: torch.Generator | None = None) -> None:
        """Bind the target's head; forget the previous generation's features and cache."""
        if int(pipe.backbone.d_model) != self.d_model:
            raise ConfigError(f"the eagle layer reads {self.d_model}-wide features but the target's hidden states are "
                              f"{pipe.backbone.d_model} wide: build it with EagleDrafter.for_pipeline(pipe)")
        theirs = getattr(pipe.head, "vocab_size", None)
        if theirs != self.vocab_size:
            raise ConfigError(f"the eagle drafter's vocabulary ({self.vocab_size}) differs from the target head's "
                              f"({theirs}): build it with EagleDrafter.for_pipeline(pipe)")
        object.__setattr__(self, "_head", pipe.head)  # a plain reference: not a submodule, never saved or moved
        self._generator = generator
        self._reset_state()

    def observe(self, verification: Verification) -> None:
        """Store the features of the positions the target kept: every prompt slot after the prefill; the pending
        token and the kept drafts after a verification pass (rows no longer live store nothing)."""
        if verification.prompt_hidden is not None:
            prompt = self._checked_width(verification.prompt_hidden.detach())
            B, L, D = prompt.shape
            self._features = torch.zeros(B, L + 64, D, dtype=prompt.dtype, device=prompt.device)
            self._features[:, :L] = prompt
            self._prompt_slots, self._appended = L, [0] * B
            self._prompt_lengths = None
            return
        if self._features is None:
            return
        hidden = self._checked_width(verification.hidden.detach())
        kept = verification.accepted.tolist()
        live = [True] * len(kept) if verification.live is None else verification.live.tolist()
        need = self._prompt_slots + max(a + n + 1 for a, n in zip(self._appended, kept))
        if need > self._features.shape[1]:  # grow the store
            extra = self._features.new_zeros(self._features.shape[0], need + 64 - self._features.shape[1],
                                             self._features.shape[2])
            self._features = torch.cat([self._features, extra], 1)
        for row, (n, alive) in enumerate(zip(kept, live)):
            if alive:
                at = self._prompt_slots + self._appended[row]
                self._features[row, at : at + n + 1] = hidden[row, : n + 1].to(self._features.dtype)
                self._appended[row] += n + 1

    @torch.inference_mode()
    def propose(self, tokens: torch.Tensor, k: int) -> Draft:
        B, device = tokens.shape[0], tokens.device
        none = Draft(tokens=torch.zeros(B, k, dtype=torch.long, device=device),
                     lengths=torch.zeros(B, dtype=torch.long, device=device))
        if self._head is None or self._features is None or self._features.shape[0] != B:
            return none  # nothing observed yet
        context = [[t for t in row if t >= 0] for row in tokens.tolist()]  # each row's real tokens, pending last
        known = [len(row) - 1 for row in context]  # tokens whose target features are stored
        if self._prompt_lengths is None:  # the first proposal tells each row's prompt length
            self._prompt_lengths = [n - a for n, a in zip(known, self._appended)]
            if not all(1 <= n <= self._prompt_slots for n in self._prompt_lengths):
                return none  # the context does not match what was observed (a row that ended early)
        usable = [n == p + a for n, p, a in zip(known, self._prompt_lengths, self._appended)]
        kk = min(k, self.max_seq_len - max(known) - 1)
        if kk < 1 or not any(usable):
            return none
        param = self.embed.weight
        if self._batch != B or self._slots.device != param.device:
            self._reset_cache(B, param)
        # feed the pairs not in the cache yet: (f_j, x_j, x_{j+1}) for j = cached .. known - 1, per row (0-based);
        # the last one's prediction is the pending token's feature
        usable = [ok and known[row] > self._pairs[row] for row, ok in enumerate(usable)]
        if not any(usable):
            return none
        spans = [(self._pairs[row], known[row]) if ok else (0, 0) for row, ok in enumerate(usable)]
        hidden = self._feed(spans, context, param, room=kk - 1)[:, -1]
        drafted, probs = [], []
        S = self._slots.shape[1]
        previous = torch.tensor([row[-1] for row in context], device=param.device)  # the pending tokens
        for i in range(kk):
            token, q = pick(self._head(hidden.to(param.dtype)), self.temperature, self._generator)
            drafted.append(token)
            probs.append(q)
            if i + 1 < kk:  # the drafted pair: the predicted feature, its token and the drafted one
                positions = torch.tensor([known[row] + i for row in range(B)], device=param.device)[:, None]
                hidden = self._step(hidden, previous, token, positions)
                previous = token
        self._cache.crop(S)  # drop the drafted pairs: only the target's features stay
        self._slots = self._slots[:, :S]
        out = torch.stack(drafted, 1)
        q = torch.stack(probs, 1) if self.temperature > 0 else None
        if kk < k:
            out = torch.cat([out, out.new_zeros(B, k - kk)], 1)
            if q is not None:
                q = torch.cat([q, nn.functional.one_hot(out.new_zeros(B, k - kk), self.vocab_size).to(q.dtype)], 1)
        lengths = torch.tensor([kk if ok else 0 for ok in usable], dtype=torch.long, device=device)
        return Draft(tokens=out.to(device), probs=None if q is None else q.to(device), lengths=lengths)

    # -- internals ---------------------------------------------------------------------
    def _checked_width(self, hidden: torch.Tensor) -> torch.Tensor:
        if hidden.shape[-1] != self.d_model:
            raise ConfigError(f"the eagle drafter reads the target's {self.d_model}-wide hidden states, but this "
                              f"pipeline's passes give {hidden.shape[-1]}-wide outputs (an OrtPipeline's graph returns "
                              f"logits): use it with a torch pipeline")
        return hidden

    def _reset_state(self) -> None:
        self._features: torch.Tensor | None = None  # [B, slots, D]: prompt slots as laid out, then kept positions
        self._prompt_slots = 0
        self._prompt_lengths: list[int] | None = None
        self._appended: list[int] = []
        self._batch: int | None = None
        self._cache = create("cache", "core/static")
        self._pairs: list[int] = []  # per row: how many of its pairs the cache holds (its first ones)
        self._slots = torch.empty(0, 0, dtype=torch.bool)  # [B, S]: which cache slots hold a real pair
        self._holes = False

    def _reset_cache(self, B: int, param: torch.Tensor) -> None:
        self._cache.allocate(self.layer.cache_spec(), batch_size=B, max_len=self._capacity, dtype=param.dtype,
                             device=param.device)
        self._batch, self._pairs, self._holes = B, [0] * B, False
        self._slots = torch.empty(B, 0, dtype=torch.bool, device=param.device)

    def _feature(self, row: int, j: int) -> int:
        """The store's slot of row ``row``'s ``j``-th real token's feature (0-based)."""
        return self._prompt_slots - self._prompt_lengths[row] + j  # type: ignore[index]

    def _feed(self, spans: list[tuple[int, int]], context: list[list[int]], param: torch.Tensor,
              room: int) -> torch.Tensor:
        """Feed each row's pairs ``start .. end - 1`` (pair ``j``: the feature of token ``j``, that token and the
        next; 0-based), right-aligned: ``[B, T, D]``. A row with an empty span feeds padding. ``room``: slots the
        drafted pairs will take after these."""
        B = len(spans)
        if max(end - start for start, end in spans) + self._slots.shape[1] + room > self._capacity:
            self._reset_cache(B, param)  # too many holes: rebuild from the stored features
            spans = [(0, end) if end > start else (0, 0) for start, end in spans]
        T = max(end - start for start, end in spans)
        feats = torch.zeros(B, T, self.d_model, dtype=param.dtype, device=param.device)
        ids = torch.zeros(B, T, dtype=torch.long, device=param.device)
        own = torch.zeros(B, T, dtype=torch.long, device=param.device)
        positions = torch.zeros(B, T, dtype=torch.long, device=param.device)
        new = torch.zeros(B, T, dtype=torch.bool, device=param.device)
        for row, (start, end) in enumerate(spans):
            n = end - start
            if n <= 0:
                continue
            first = self._feature(row, start)
            feats[row, T - n:] = self._features[row, first : first + n].to(param.dtype)  # type: ignore[index]
            ids[row, T - n:] = torch.tensor(context[row][start + 1 : end + 1], device=param.device)
            own[row, T - n:] = torch.tensor(context[row][start:end], device=param.device)
            positions[row, T - n:] = torch.arange(start, end, device=param.device)
            new[row, T - n:] = True
            self._pairs[row] += n
        padded = not bool(new.all())
        mask = None
        if self._holes or padded:
            S = self._slots.shape[1]
            causal = torch.ones(T, T, dtype=torch.bool, device=param.device).tril()
            mask = torch.cat([self._slots[:, None, :].expand(B, T, S), causal[None] & new[:, None, :]], -1)
        hidden = self(feats, own, ids, positions=positions, cache=self._cache, attention_mask=mask)
        self._slots = torch.cat([self._slots, new], 1)
        self._holes = self._holes or padded
        return hidden

    def _step(self, hidden: torch.Tensor, previous: torch.Tensor, token: torch.Tensor,
              positions: torch.Tensor) -> torch.Tensor:
        """One drafted pair per row (the predicted feature, its token, the drafted token): ``[B, D]``."""
        B = hidden.shape[0]
        mask = None
        if self._holes:
            mask = torch.cat([self._slots, torch.ones(B, 1, dtype=torch.bool, device=self._slots.device)], 1)[:, None]
        out = self(hidden[:, None], previous[:, None].to(hidden.device), token[:, None].to(hidden.device),
                   positions=positions, cache=self._cache, attention_mask=mask)
        self._slots = torch.cat([self._slots, torch.ones(B, 1, dtype=torch.bool, device=self._slots.device)], 1)
        return out[:, -1]

