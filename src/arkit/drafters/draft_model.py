"""A draft model: a smaller arkit model proposes, the target verifies. Registered as ``core/draft-model``.

The drafter is a backbone and a head (any arkit pipeline's, sharing the target's
tokenizer) run autoregressively for ``k`` tokens per pass, greedily
(``temperature=0``, the default) or by sampling (``temperature > 0``; the draft
then carries its distribution in ``Draft.probs``, which exact acceptance uses to
stay lossless).

The draft model keeps its own key/value cache across passes. Before each
proposal it compares, row by row, the tokens its cache holds with the row's new
context, keeps the longest common prefix and feeds only the rest: after a
verification that is the accepted drafts and the target's own token, one to
``k + 1`` positions, not the whole context. Rows keep different prefixes, so
the slots one row drops and another keeps become holes (``-1``), hidden by the
attention mask, as in :mod:`arkit.generation.speculative`. When holes fill the
cache's capacity it is rebuilt from the rows' tokens (one prefill).

Saved as a component of the target pipeline: ``config.json`` names the draft
backbone, head and tokenizer by registry name and config; ``model.safetensors``
holds their weights (``backbone.*``, ``head.*``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..errors import ConfigError, UnknownComponentError
from ..registry import component_info, create
from ..types import Draft
from ._pick import pick

if TYPE_CHECKING:
    from ..pipeline import Pipeline

__all__ = ["DraftModel"]

_CACHES = ("core/dynamic", "core/static")


def _describe(kind: str, obj: Any) -> dict[str, Any] | None:
    """``{"name", "config"}`` of a registered component; ``None`` when it is not registered."""
    try:
        name = component_info(kind, obj).name
    except UnknownComponentError:
        return None
    return {"name": name, "config": dict(obj.config)}


def _build(kind: str, spec: Any) -> Any:
    if isinstance(spec, Mapping):
        if not isinstance(spec.get("name"), str) or not isinstance(spec.get("config", {}), Mapping):
            raise ConfigError(f"draft model {kind} must be {{'name': str, 'config': {{...}}}}, got {dict(spec)!r}")
        return create(kind, spec["name"], **dict(spec.get("config", {})))  # type: ignore[arg-type]
    return spec


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    low, high = 0, n  # a[:low] == b[:low], a[:high] != b[:high]
    while high - low > 1:
        mid = (low + high) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid
    return low


class DraftModel(nn.Module):
    """Draft with a smaller model (backbone + head) over the target's vocabulary, keeping its own cache.

    Build it from a pipeline (``DraftModel(draft_pipe)`` or ``DraftModel.from_pipeline(draft_pipe)``)
    or from component specs (``backbone={"name": "core/transformer", "config": {...}}``, ``head=...``,
    ``tokenizer=...``), which is how a saved pipeline rebuilds it.

    - ``temperature``: 0 drafts greedily (no ``probs``); above 0 samples from the draft model's
      softmax at that temperature and gives ``probs`` (lossless under ``core/exact``).
    - ``cache``: ``"core/static"`` (default) or ``"core/dynamic"``, for the draft model's own cache.
    - ``seed``: seeds the draft model's own random generator; ``None`` draws from torch's global one.
    """

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        *,
        backbone: Any = None,
        head: Any = None,
        tokenizer: Any = None,
        temperature: float = 0.0,
        cache: str = "core/static",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if pipeline is not None:
            if backbone is not None or head is not None or tokenizer is not None:
                raise ConfigError("give the draft model a pipeline or its backbone/head/tokenizer, not both")
            backbone, head, tokenizer = pipeline.backbone, pipeline.head, pipeline.tokenizer
        if backbone is None or head is None:
            raise ConfigError("a draft model needs a pipeline (DraftModel(pipe)) or backbone and head specs "
                              "({'name': ..., 'config': {...}})")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature >= 0:
            raise ConfigError(f"draft model temperature must be a number >= 0, got {temperature!r}")
        if cache not in _CACHES:
            raise ConfigError(f"draft model cache must be one of {list(_CACHES)}, got {cache!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ConfigError(f"draft model seed must be an integer or None, got {seed!r}")
        self.backbone, self.head = _build("backbone", backbone), _build("head", head)
        self._tokenizer = _build("tokenizer", tokenizer) if tokenizer is not None else None
        if not isinstance(self.backbone, nn.Module) or not isinstance(self.head, nn.Module):
            raise ConfigError("a draft model's backbone and head must be torch modules")
        if self.backbone.config.get("input_dim") is not None:
            raise ConfigError("a draft model's backbone must take token ids, not continuous inputs")
        if self.head.d_model != self.backbone.d_model:
            raise ConfigError(f"draft head d_model ({self.head.d_model}) differs from the draft backbone's "
                              f"({self.backbone.d_model})")
        self.vocab_size = int(self.head.vocab_size)
        if self.backbone.vocab_size < self.vocab_size:
            raise ConfigError(f"draft backbone vocab_size ({self.backbone.vocab_size}) is smaller than the draft "
                              f"head's ({self.vocab_size})")
        if self._tokenizer is not None and self._tokenizer.vocab_size != self.vocab_size:
            raise ConfigError(f"the draft tokenizer's vocab_size ({self._tokenizer.vocab_size}) differs from the "
                              f"draft head's ({self.vocab_size})")
        self.temperature, self.cache_name, self.seed = float(temperature), cache, seed
        self._generator = torch.Generator().manual_seed(seed) if seed is not None else None
        self._cache = create("cache", cache)
        self.max_seq_len = int(self.backbone.max_seq_len)
        self._capacity = 2 * self.max_seq_len + 64  # slots, holes included, before a rebuild
        self._batch: int | None = None
        self._rows: list[list[int]] = []  # per row: the real tokens the cache holds, in order
        self._slots = torch.empty(0, 0, dtype=torch.long)  # [B, S]: token per cache slot, -1 for holes
        self._holes = False
        self.draft_passes = 0  # forward passes of the draft model (all rows together), for statistics

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline, **options: Any) -> DraftModel:
        """The draft model of ``pipeline`` (its backbone, head and tokenizer; the modules are shared)."""
        return cls(pipeline, **options)

    @property
    def config(self) -> Mapping[str, Any]:
        parts = {}
        for kind, obj in (("backbone", self.backbone), ("head", self.head), ("tokenizer", self._tokenizer)):
            spec = _describe(kind, obj) if obj is not None else None
            if spec is None and kind != "tokenizer":
                raise ConfigError(f"the draft model's {kind} ({type(obj).__name__}) is not a registered component, "
                                  f"so the draft model cannot describe itself for saving")
            parts[kind] = spec
        return {**parts, "temperature": self.temperature, "cache": self.cache_name, "seed": self.seed}

    # -- the loop's hooks -----------------------------------------------------------
    @property
    def uses_generator(self) -> bool:
        """Whether sampled drafts come from the generator :meth:`start` receives (no ``seed`` of its own)."""
        return self.seed is None

    def start(self, pipe: Pipeline, batch_size: int, *, generator: torch.Generator | None = None) -> None:
        """Check the target shares the draft model's tokenizer; forget the previous generation's cache.

        Without a ``seed`` of its own, the draft model samples from ``generator`` (derived from
        the generation's seed), so ``generate(seed=s)`` repeats exactly.
        """
        self.check_target(pipe)
        self._batch = None
        if self.seed is None:
            self._generator = generator

    def check_target(self, pipe: Pipeline) -> None:
        """Raise :class:`arkit.ConfigError` unless ``pipe`` has the draft model's vocabulary and tokenizer."""
        if pipe.head.vocab_size != self.vocab_size:
            raise ConfigError(f"the draft model's vocabulary ({self.vocab_size}) differs from the target's "
                              f"({pipe.head.vocab_size}): drafter and target must share a tokenizer")
        mine, theirs = self._tokenizer, pipe.tokenizer
        if mine is None or mine is theirs:
            return
        a, b = _describe("tokenizer", mine), _describe("tokenizer", theirs)
        same = a == b if a is not None and b is not None else type(mine) is type(theirs) and dict(mine.config) == dict(theirs.config)
        if not same:
            raise ConfigError(f"the draft model's tokenizer ({(a or {}).get('name', type(mine).__name__)}) differs from "
                              f"the target's ({(b or {}).get('name', type(theirs).__name__)}): a draft model must share "
                              f"the target's tokenizer")

    def draft_cost(self, target: Any, width: int) -> float:
        """A draft of ``width`` tokens: ``width`` sequential steps, each ``sqrt(draft / target parameters)``
        of a target step (:class:`arkit.CostedDrafter`).

        The square root is a fit on one CPU thread, where small models' steps cost more than their
        weights: a draft of 1/7 of the reference model's parameters (2 layers, d_model 128 against 4,
        256) takes 0.32 of its step at batch 1 and 0.24 at batch 8 (0.38 estimated); 1/40 takes 0.16
        and 0.10 (0.16). An over-estimate makes the schedule draft a little less, never slower than plain.
        """
        mine = sum(p.numel() for p in self.parameters())
        theirs = sum(p.numel() for p in target.parameters()) if isinstance(target, nn.Module) else 0
        return width * math.sqrt(mine / theirs) if theirs else float(width)

    # -- proposing ------------------------------------------------------------------
    @torch.inference_mode()
    def propose(self, tokens: torch.Tensor, k: int) -> Draft:
        return self._draft(tokens, k, None)

    @torch.inference_mode()
    def propose_assisted(self, tokens: torch.Tensor, k: int, inner: Any) -> Draft:
        """Like :meth:`propose`, but ``inner`` (another drafter) proposes for the draft model, which checks
        its guesses in one pass per round (``core/hierarchical``). Same drafts as :meth:`propose` when greedy;
        the same distribution when sampling."""
        return self._draft(tokens, k, inner)

    def _draft(self, tokens: torch.Tensor, k: int, inner: Any) -> Draft:
        B, device = tokens.shape[0], tokens.device
        param = next(self.backbone.parameters())
        # each row's real tokens, in order: -1 marks padding and holes wherever they sit
        context = [[t for t in row if t >= 0] for row in tokens.tolist()]
        counts = [len(row) for row in context]
        kk = min(k, self.max_seq_len - max(counts))
        if kk < 1 or min(counts) < 1:
            return Draft(tokens=torch.zeros(B, k, dtype=torch.long, device=device),
                         lengths=torch.zeros(B, dtype=torch.long, device=device))
        if self._batch != B or self._slots.device != param.device:
            self._reset(B, param)
        keep = [min(_common_prefix(self._rows[r], context[r]), len(context[r]) - 1) for r in range(B)]
        if not any(keep):
            self._reset(B, param)
        else:
            self._truncate(keep)
        hidden = self._feed([context[r][keep[r]:] for r in range(B)], param)[:, -1:]
        first, first_probs = pick(self.head(hidden)[:, 0], self.temperature, self._generator)
        if inner is None:
            out, probs = [first], [first_probs]
            for _ in range(kk - 1):
                hidden = self._feed_one(out[-1])
                token, prob = pick(self.head(hidden)[:, 0], self.temperature, self._generator)
                out.append(token)
                probs.append(prob)
            drafted = torch.stack(out, 1)
            q = torch.stack(probs, 1) if self.temperature > 0 else None
        else:
            drafted, q = self._assisted(context, first, first_probs, kk, inner, param)
        if kk < k:  # the rest is padding the target ignores
            drafted = torch.cat([drafted, drafted.new_zeros(B, k - kk)], 1)
            if q is not None:
                q = torch.cat([q, nn.functional.one_hot(drafted.new_zeros(B, k - kk), self.vocab_size).to(q.dtype)], 1)
        lengths = torch.full((B,), kk, dtype=torch.long, device=device) if kk < k else None
        return Draft(tokens=drafted.to(device), probs=None if q is None else q.to(device), lengths=lengths)

    def _assisted(
        self, context: list[list[int]], first: torch.Tensor, first_probs: torch.Tensor | None, kk: int, inner: Any,
        param: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Rounds of: inner drafter guesses, the draft model checks them in one pass and adds its own token."""
        B = len(context)
        drafted = [[t] for t in first.tolist()]
        probs: list[list[torch.Tensor]] = [[first_probs[r]] if first_probs is not None else [] for r in range(B)]
        while True:
            need = [kk - len(d) for d in drafted]
            if max(need) <= 0:
                break
            m = max(need) - 1
            guesses: list[list[int]] = [[] for _ in range(B)]
            if m >= 1:
                rows = [context[r] + drafted[r] for r in range(B)]
                width = max(map(len, rows))
                ids = torch.full((B, width), -1, dtype=torch.long)
                for r, row in enumerate(rows):
                    ids[r, width - len(row):] = torch.tensor(row)
                guess = inner.propose(ids, m)
                lengths = guess.lengths.tolist() if guess.lengths is not None else [m] * B
                tokens = guess.tokens.tolist()
                guesses = [tokens[r][: max(0, min(lengths[r], need[r] - 1))] for r in range(B)]
            feeds = [[drafted[r][-1]] + guesses[r] if need[r] > 0 else [] for r in range(B)]
            hidden = self._feed(feeds, param)
            T = hidden.shape[1]
            logits = self.head(hidden).float()  # [B, T, V]
            keep = []
            for r in range(B):
                if not feeds[r]:
                    keep.append(len(self._rows[r]))
                    continue
                base = T - len(feeds[r])
                for i in range(len(guesses[r]) + 1):
                    scores = logits[r, base + i]
                    guess_token = guesses[r][i] if i < len(guesses[r]) else None
                    if self.temperature == 0:
                        token = int(scores.argmax())
                        drafted[r].append(token)
                        if token != guess_token:
                            break
                        continue
                    q = (scores / self.temperature).softmax(-1)
                    probs[r].append(q)
                    if guess_token is not None:
                        u = torch.rand((), generator=self._generator, device=q.device) if self._generator is not None \
                            else torch.rand((), device=q.device)
                        if float(u) < float(q[guess_token]):
                            drafted[r].append(guess_token)
                            continue
                        rest = q.clone()
                        rest[guess_token] = 0
                        if float(rest.sum()) <= 0:  # q is one-hot on the guess: it was accepted surely
                            drafted[r].append(guess_token)
                            continue
                        drafted[r].append(int(torch.multinomial(rest / rest.sum(), 1, generator=self._generator)))
                        break
                    drafted[r].append(int(torch.multinomial(q, 1, generator=self._generator)))
                keep.append(len(context[r]) + len(drafted[r]) - 1)  # all but the newest token, not fed yet
            self._truncate(keep)
        tokens = torch.tensor([d[:kk] for d in drafted], dtype=torch.long)
        q = torch.stack([torch.stack(p[:kk]) for p in probs]) if self.temperature > 0 else None
        return tokens, q

    # -- the draft model's own cache -------------------------------------------------
    def _reset(self, B: int, param: torch.Tensor) -> None:
        self._cache.allocate(self.backbone.cache_spec(), batch_size=B, max_len=self._capacity, dtype=param.dtype,
                             device=param.device)
        self._batch, self._rows, self._holes = B, [[] for _ in range(B)], False
        self._slots = torch.empty(B, 0, dtype=torch.long, device=param.device)

    def _truncate(self, keep: Sequence[int]) -> None:
        """Keep each row's first ``keep[r]`` real tokens; the slots after them become holes, the tail is cropped."""
        if all(keep[r] == len(self._rows[r]) for r in range(len(keep))):
            return
        real = self._slots >= 0
        kept = real & (real.long().cumsum(1) <= torch.tensor(keep, device=real.device)[:, None])
        slot = torch.arange(1, kept.shape[1] + 1, device=real.device)
        n = int((kept.long() * slot).max()) if kept.numel() else 0
        self._slots = torch.where(kept, self._slots, -1)[:, :n]
        self._cache.crop(n)
        self._rows = [row[:k] for row, k in zip(self._rows, keep)]
        self._holes = bool((self._slots < 0).any())

    def _feed(self, feeds: list[list[int]], param: torch.Tensor) -> torch.Tensor:
        """Run the draft backbone over each row's new tokens (right-aligned); ``[B, T, D]`` hidden states."""
        T = max(map(len, feeds))
        if self._slots.shape[1] + T > self._capacity:  # too many holes: rebuild the cache from the rows' tokens
            rows = self._rows
            self._reset(len(feeds), param)
            feeds = [rows[r] + feeds[r] for r in range(len(feeds))]
            T = max(map(len, feeds))
        B, device = len(feeds), param.device
        sizes = torch.tensor([len(f) for f in feeds], device=device)
        past = torch.tensor([len(row) for row in self._rows], device=device)
        ids = torch.tensor([[0] * (T - len(f)) + f for f in feeds], dtype=torch.long, device=device)
        column = torch.arange(T, device=device)
        new = column[None, :] >= (T - sizes)[:, None]
        positions = torch.where(new, past[:, None] + column[None, :] - (T - sizes)[:, None], 0)
        padded = not bool(new.all())
        mask = None
        if self._holes or padded:
            S = self._slots.shape[1]
            causal = torch.ones(T, T, dtype=torch.bool, device=device).tril()
            mask = torch.cat([(self._slots >= 0)[:, None, :].expand(B, T, S), causal[None] & new[:, None, :]], -1)
        hidden = self.backbone(ids, positions=positions, cache=self._cache, attention_mask=mask)
        self.draft_passes += 1
        self._slots = torch.cat([self._slots, torch.where(new, ids, -1)], 1)
        for r, feed in enumerate(feeds):
            self._rows[r].extend(feed)
        self._holes = self._holes or padded
        return hidden

    def _feed_one(self, tokens: torch.Tensor) -> torch.Tensor:
        """One new token per row (the drafting loop's step): ``[B, 1, D]``."""
        if self._slots.shape[1] + 1 > self._capacity:
            return self._feed([[t] for t in tokens.tolist()], next(self.backbone.parameters()))[:, -1:]
        B, device = tokens.shape[0], tokens.device
        positions = torch.tensor([len(row) for row in self._rows], device=device)[:, None]
        mask = None
        if self._holes:
            mask = torch.cat([self._slots >= 0, torch.ones(B, 1, dtype=torch.bool, device=device)], 1)[:, None, :]
        hidden = self.backbone(tokens[:, None], positions=positions, cache=self._cache, attention_mask=mask)
        self.draft_passes += 1
        self._slots = torch.cat([self._slots, tokens[:, None]], 1)
        for row, token in zip(self._rows, tokens.tolist()):
            row.append(token)
        return hidden
