"""The protocols every arkit component satisfies.

A protocol is structural: a class conforms by having the members below, not by
inheriting from anything. The docstrings are the contract; the contract test
suite in :mod:`arkit.testing` checks it. Conformance is checked once, when a
component is registered or created, never inside the decode loop.

Shapes use ``B`` for batch rows, ``T`` for new positions in a call, ``S`` for
all key positions seen by attention (cached plus new), ``D`` for the model width
and ``V`` for the vocabulary size.

Every component also has ``config``: a JSON-serialisable mapping of keyword
arguments such that calling its registered factory with them rebuilds an
equivalent component (with fresh weights). Learned state that is not a tensor
(a tokenizer's alphabet) belongs in ``config`` too; tensors belong in
``state_dict()``, which arkit saves as safetensors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import torch

from .types import CacheSpec, Draft, Verification

__all__ = [
    "AcceptanceRule",
    "Backbone",
    "Cache",
    "Constraint",
    "CostedDrafter",
    "Drafter",
    "EvictingCache",
    "ExportableDraftHeads",
    "FusedAttentionBackbone",
    "Head",
    "ObservingDrafter",
    "PrecheckedBackbone",
    "Sampler",
    "SamplingDrafter",
    "StatefulDrafter",
    "Tokenizer",
    "TreeAcceptanceRule",
    "TreeDrafter",
]


@runtime_checkable
class Tokenizer(Protocol):
    """Turns domain items (text, series, molecules, images...) into token ids and back.

    - ``vocab_size``: ids produced by ``encode`` lie in ``[0, vocab_size)``. A
      continuous tokenizer (``core/vectors``) has ``vocab_size`` 0 and encodes
      items as lists of equal-length float vectors instead of ids.
    - ``special_tokens``: names to ids, conventionally ``"bos"``, ``"eos"`` and
      ``"pad"`` where the tokenizer has them. Generation stops on ``"eos"``.
    - ``lossless``: when true, ``decode(encode(x)) == x`` for every valid item x
      (the contract suite checks it with hypothesis).
    - ``encode(item)`` returns a list of ints; it raises :class:`arkit.InputError`
      for items it cannot represent. It does not add ``bos``/``eos``: callers that
      want them add them.
    - ``decode(ids)`` accepts any sequence of ids in range (special ids are
      skipped) and returns an item; it must not raise on ids a model generated.

    Learned tokenizers (VQ, k-means, residual VQ) may add ``fit(items)`` and a
    ``fitted`` flag: :meth:`arkit.Pipeline.fit` calls ``fit`` on the training
    data first while ``fitted`` is false. Their learned state belongs in
    ``config`` or ``state_dict()`` so that it saves with the pipeline.

    A tokenizer whose encode or decode is a network may add ``onnx_graphs()``,
    a mapping from a short name to an :class:`arkit.onnx.TokenizerGraph`:
    :func:`arkit.onnx.export` writes each as its own graph next to the step
    graph. Such graphs belong to their tokenizer (saved with it), so they are
    not registered on their own.
    """

    vocab_size: int
    special_tokens: Mapping[str, int]
    lossless: bool

    @property
    def config(self) -> Mapping[str, Any]: ...

    def encode(self, item: Any) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> Any: ...


@runtime_checkable
class Backbone(Protocol):
    """The sequence model (an ``nn.Module``): token ids -> hidden states.

    ``forward(input_ids, *, positions, cache=None, attention_mask=None)``:

    - ``input_ids``: ``LongTensor[B, T]``, ids in ``[0, vocab_size)``.
    - ``positions``: ``LongTensor[B, T]``, the absolute position of each token
      (rows of a left-padded batch start at different offsets).
    - ``cache``: a :class:`Cache` already ``allocate``\\ d with ``cache_spec()``.
      Keys and values of the ``T`` new tokens are appended to it; attention runs
      over all ``S = cache.seq_len (before) + T`` stored positions. ``None``
      means no cache: attention runs over the ``T`` tokens only.
    - ``attention_mask``: ``BoolTensor[B, T, S]``, true where a query may attend
      to a key. ``None`` means causal by storage slot: the token at slot ``s``
      sees slots ``<= s``. Padding and draft trees are expressed through it.
    - returns ``Tensor[B, T, D]`` (``D == d_model``).

    Invariant (checked by the contract suite): decoding incrementally with a
    cache gives the same hidden states as one forward over the full sequence.
    Wrong shapes, dtypes or out-of-range ids raise :class:`arkit.InputError`
    (a :class:`PrecheckedBackbone` called with ``prechecked=True`` may skip the value checks).
    ``max_seq_len`` bounds positions; ``cache_spec()`` says what to allocate.
    """

    vocab_size: int
    d_model: int
    max_seq_len: int

    @property
    def config(self) -> Mapping[str, Any]: ...

    def cache_spec(self) -> CacheSpec: ...

    def forward(
        self,
        input_ids: torch.Tensor,
        *,
        positions: torch.Tensor,
        cache: Cache | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor: ...

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

    def state_dict(self, *args: Any, **kwargs: Any) -> Any: ...


@runtime_checkable
class Head(Protocol):
    """Maps hidden states to a distribution over the next token (an ``nn.Module``).

    ``forward(hidden: Tensor[B, T, D]) -> Tensor[B, T, V]`` returns unnormalised
    logits for categorical tokens. ``d_model`` must equal the backbone's and
    ``vocab_size`` the tokenizer's; the pipeline checks both when it is built.
    """

    d_model: int
    vocab_size: int

    @property
    def config(self) -> Mapping[str, Any]: ...

    def forward(self, hidden: torch.Tensor) -> torch.Tensor: ...

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

    def state_dict(self, *args: Any, **kwargs: Any) -> Any: ...


@runtime_checkable
class Sampler(Protocol):
    """Chooses the next token from logits, in two steps that other parts reuse.

    - ``process(logits: Tensor[B, V], tokens: LongTensor[B, S]) -> Tensor[B, V]``
      turns raw logits into the scores of the distribution actually sampled from
      (temperature, truncation, penalties...): ``softmax`` of the result is that
      distribution, and ids outside its support are ``-inf``. ``tokens`` holds
      each row's context so far, right-aligned: entries before a row's start
      are ``-1`` (no token), so count only ids ``>= 0``.
      It must not modify ``logits`` in place.
    - ``select(scores: Tensor[B, V], generator) -> LongTensor[B]`` draws one id per
      row from ``softmax(scores)`` using only ``generator`` for randomness, so
      the same seed gives the same ids. The id always has a finite score.
    - ``deterministic``: true when ``select`` is an argmax (greedy decoding).
    """

    deterministic: bool

    @property
    def config(self) -> Mapping[str, Any]: ...

    def process(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor: ...

    def select(self, scores: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor: ...


@runtime_checkable
class Drafter(Protocol):
    """Proposes tokens for the target model to verify in one forward pass (speculative decoding).

    - ``propose(tokens: LongTensor[B, S], k: int) -> Draft`` returns up to ``k``
      draft ids per row (``Draft.tokens: LongTensor[B, k]``, ``Draft.lengths``
      for rows with fewer) continuing each row of ``tokens``: the row's whole
      context so far (prompt and generated tokens), right-aligned, ``-1`` before
      the row's start. With ``Draft.probs: Tensor[B, k, V]`` the drafter gives
      the distribution it drew each token from, which lossless acceptance uses;
      without, the drafter is taken as deterministic. Ids lie in ``[0, V)``.

    Optional capabilities, each a protocol of its own below: :class:`StatefulDrafter`
    (``start``), :class:`SamplingDrafter` (draws from the generation's generator),
    :class:`ObservingDrafter` (``observe``), :class:`TreeDrafter` (``tree_drafts``) and,
    for export, :class:`ExportableDraftHeads`. Drafts reach the acceptance rule with their
    ``probs`` only from a :class:`SamplingDrafter` that drew them from the generation's
    generator; any other draft is a fixed guess.
    """

    @property
    def config(self) -> Mapping[str, Any]: ...

    def propose(self, tokens: torch.Tensor, k: int) -> Draft: ...


@runtime_checkable
class AcceptanceRule(Protocol):
    """Decides how much of a draft the target keeps, and the token it adds after it.

    ``accept(draft, target_probs, generator) -> (accepted: LongTensor[B], next_tokens: LongTensor[B])``:

    - ``draft``: the :class:`~arkit.Draft` (``tokens [B, k]``, optional ``probs``, ``lengths``);
    - ``target_probs``: ``Tensor[B, k + 1, V]``, the target's distribution at each draft
      position and one past the last, after the sampler's processing and any constraint
      (one-hot on the argmax for a deterministic sampler);
    - returns how many leading draft tokens each row keeps (``<= lengths``) and the
      token the target contributes after them.

    ``lossless`` is true when the emitted tokens are distributed exactly as plain
    decoding with the target would emit them (exact speculative sampling; greedy
    match under a deterministic sampler). Lossy rules trade that for longer
    acceptance and must say so. A rule may treat ``draft.tokens`` as random draws
    from ``draft.probs`` only because the loop passes ``probs`` solely for drafts
    drawn from the generation's generator (see :class:`Drafter`); with ``probs``
    ``None`` the draft is a fixed guess, and a lossless rule must stay lossless
    for any guess. Every rule that claims ``lossless`` is held to it by
    :func:`arkit.testing.lossless.check_lossless` (every registered drafter).

    Optional: :class:`TreeAcceptanceRule` (``accept_tree``, for tree drafts).
    """

    lossless: bool

    @property
    def config(self) -> Mapping[str, Any]: ...

    def accept(
        self, draft: Draft, target_probs: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


@runtime_checkable
class Cache(Protocol):
    """Per-layer key/value storage for incremental decoding.

    Layout: keys and values of layer ``i`` are ``Tensor[B, H, S, Dh]`` (``H`` key/
    value heads, ``Dh`` head size from the backbone's :class:`~arkit.CacheSpec`).

    - ``allocate(spec, *, batch_size, max_len, dtype, device)`` empties the
      cache and prepares it for ``batch_size`` rows of at most ``max_len``
      positions. Called once per generation.
    - ``update(layer, key, value)`` appends ``T`` positions (``Tensor[B, H, T,
      Dh]``) to ``layer`` and returns that layer's keys and values for all
      stored positions (``S`` = stored before + ``T``).
    - ``seq_len``: positions stored (after a forward pass, the same for every
      layer and row; per-row validity is the attention mask's business).
    - ``crop(n)`` keeps the first ``n`` positions of every layer (speculative
      rollback); ``0 <= n <= seq_len``.
    - ``reorder(indices: LongTensor[B'])`` replaces the rows by ``rows[indices]``:
      beam reordering, row selection and duplication.
    - ``memory_bytes()``: bytes held by the stored tensors.

    Optional: :class:`EvictingCache` (``offset``, for caches that drop positions from the
    front, like a sliding window); a cache without it drops none.
    """

    @property
    def config(self) -> Mapping[str, Any]: ...

    @property
    def seq_len(self) -> int: ...

    def allocate(
        self, spec: CacheSpec, *, batch_size: int, max_len: int, dtype: torch.dtype, device: torch.device | str
    ) -> None: ...

    def update(self, layer: int, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def crop(self, n: int) -> None: ...

    def reorder(self, indices: torch.Tensor) -> None: ...

    def memory_bytes(self) -> int: ...


@runtime_checkable
class Constraint(Protocol):
    """Which tokens a row may produce next: a state machine over the generated tokens.

    Pass one per call (``Pipeline.generate(..., constraint=...)``), or give it to the
    pipeline (``Pipeline(..., constraint=...)``), which then uses it whenever a call
    passes none and saves it with the rest. Plugins register constraints with
    :func:`arkit.hookspecs.arkit_register_constraints` (``arkit.create("constraint",
    "core/trie", sequences=...)``). The prompt is not fed to the constraint:

    - ``start()`` returns the state before the first generated token.
    - ``allowed(state)`` returns the ids allowed next: a sequence of ints or a
      ``BoolTensor[V]`` mask. Empty means the row cannot go on: if
      ``complete(state)`` the row finishes (reason ``"constraint"``), otherwise
      generation fails with :class:`arkit.ConstraintError` naming the row and
      position.
    - ``advance(state, token)`` returns the state after ``token`` (one of the
      allowed ids). States must be immutable values: beam search and speculative
      decoding keep several and roll them back.
    - ``complete(state)``: whether the tokens so far form a full, valid output.

    Every generated token satisfies the constraint, under greedy decoding,
    sampling, beam search and speculative decoding alike: disallowed ids are masked
    before the sampler sees the logits.

    Optional member: ``config``, a JSON mapping of keyword arguments that rebuilds
    the constraint from its registered factory, as every component has. A
    constraint needs it (and a registered name) to be saved with a pipeline; one
    passed per call needs neither. :class:`arkit.testing.ConstraintContract` checks
    all of the above.
    """

    def start(self) -> Any: ...

    def allowed(self, state: Any) -> Sequence[int] | torch.Tensor: ...

    def advance(self, state: Any, token: int) -> Any: ...

    def complete(self, state: Any) -> bool: ...


# --- generation capabilities --------------------------------------------------------------------------


@runtime_checkable
class PrecheckedBackbone(Protocol):
    """A :class:`Backbone` that can be told its inputs' values were checked already.

    Optional. Checking that ids lie in the vocabulary and positions in the context
    reads tensor values: a reduction and a host sync per check, per call, a few
    percent of a small model's decode step. A generation loop often knows the answer
    without reading anything, and a backbone with this member lets it say so.

    - ``accepts_prechecked``: ``True`` when ``forward`` takes the keyword
      ``prechecked: bool = False``. With ``prechecked=True`` the caller vouches that
      every id is in ``[0, vocab_size)`` (vectors finite, for a backbone over vectors),
      every position in ``[0, max_seq_len)``, and every extra input holds values the
      backbone accepted before; the backbone may then skip the checks that read values.
      Checks of shapes and dtypes still run, and without the keyword (or with
      ``False``) bad values raise :class:`arkit.InputError` as always.

    The sampling loop passes ``prechecked=True`` on its one-token decode steps (never
    the prefill, which checks the extra inputs): the request checked the prompts and
    the context once, every id it feeds is a :class:`Sampler`'s choice among the head's
    ``vocab_size`` ids (the Sampler contract keeps it in range, and the pipeline keeps
    the head's vocabulary within the backbone's) or a placeholder ``0``, and it passes
    the word only when the furthest position it will feed, known on the host before the
    first step, is below ``max_seq_len``. ``core/transformer`` has the member; a subclass
    that overrides ``forward`` has it only by setting ``accepts_prechecked = True``.
    """

    accepts_prechecked: bool


# --- speculative capabilities -------------------------------------------------------------------------
# Optional members that speculative decoding uses when a component has them. Each capability is a
# protocol of its own that extends its kind's protocol: a component has it by having the members
# (built-in or plugin, no inheritance needed), and the loop asks with ``isinstance``, once per
# generation. arkit.testing.lossless holds every drafter to losslessness whatever capabilities it has.


@runtime_checkable
class StatefulDrafter(Drafter, Protocol):
    """A :class:`Drafter` with per-generation state (a cache, a window): ``start`` resets it.

    - ``start(pipe, batch_size)``: called once per generation, before the prefill. ``pipe``
      is the target :class:`arkit.Pipeline`; ``batch_size`` counts the rows (guidance twins
      excluded). Check that the target fits here (vocabulary, tokenizer) and raise
      :class:`arkit.ConfigError` when it does not.
    """

    def start(self, pipe: Any, batch_size: int) -> None: ...


@runtime_checkable
class SamplingDrafter(StatefulDrafter, Protocol):
    """A :class:`StatefulDrafter` that can sample its drafts from the generation's own random stream.

    - ``start(pipe, batch_size, *, generator)``: ``generator`` is a ``torch.Generator``
      seeded from the generation's, so ``generate(seed=...)`` repeats exactly.
    - ``uses_generator``: whether this generation's drafts are drawn from that generator.
      Only then does the loop pass ``Draft.probs`` to the acceptance rule, which may treat
      the draft as random draws from them. Any other draft (a drafter reseeding a stream of
      its own makes its "samples" a fixed function of the context) reaches the rule without
      ``probs``, as a fixed guess: exact acceptance of such draws would be biased.

    arkit 0.1 detected this capability from ``start``'s signature; a drafter whose ``start``
    takes a keyword ``generator`` but has no ``uses_generator`` is still treated as one with
    ``uses_generator = True``. Declare ``uses_generator``: that fallback is for older plugins.
    """

    uses_generator: bool

    def start(self, pipe: Any, batch_size: int, *, generator: torch.Generator | None = None) -> None: ...


@runtime_checkable
class ObservingDrafter(Drafter, Protocol):
    """A :class:`Drafter` that learns from the target as it verifies (Medusa heads, Jacobi, token recycling).

    - ``observe(verification)``: after the prefill and after each verification pass, with
      that pass's :class:`arkit.Verification`: the tokens fed, the target's hidden states
      and (guided) logits for the conditional rows, the draft tokens each row kept, the
      target's next token, which rows were live, and the pass position that next token
      came from.
    """

    def observe(self, verification: Verification) -> None: ...


@runtime_checkable
class CostedDrafter(Drafter, Protocol):
    """A :class:`Drafter` whose drafts cost time that grows with their width (a draft model's steps).

    - ``draft_cost(target, width)``: the time to propose a draft of ``width`` tokens per row,
      as a multiple of one plain decoding step of ``target`` (the target pipeline's backbone)
      at the same batch size. A draft model of a tenth of the target's step cost returns
      ``0.1 * width``. Called once per generation for each width from 1 to ``k``; the result
      must be a finite number >= 0 (else :class:`arkit.GenerationError`).

    The adaptive draft schedule adds it to a pass's cost, so drafting stops where the drafts
    cost more than they save (batch 8 on free text, for a draft model). Drafters without it
    are taken to cost about as much as scoring four more positions, whatever the width (a
    lookup, heads on the target's hidden state).
    """

    def draft_cost(self, target: Any, width: int) -> float: ...


@runtime_checkable
class TreeDrafter(Drafter, Protocol):
    """A :class:`Drafter` whose drafts may be trees (``Draft.parents`` set).

    - ``tree_drafts``: true when ``propose`` may return trees (it may depend on the
      configuration, like ``core/medusa``'s ``tree_width``). The loop then reserves cache
      room for the branches the target discards (up to ``k + 1`` slots per generated
      token) and needs a :class:`TreeAcceptanceRule` (else :class:`arkit.ConfigError`). A
      tree from a drafter whose ``tree_drafts`` is not true raises
      :class:`arkit.GenerationError`.
    """

    tree_drafts: bool


@runtime_checkable
class TreeAcceptanceRule(AcceptanceRule, Protocol):
    """An :class:`AcceptanceRule` that keeps a root-to-node path of a tree draft.

    ``accept_tree(draft, target_probs, generator) -> (paths, next_tokens)``: ``draft.parents``
    is set, and ``target_probs: Tensor[B, k + 1, V]`` holds the target's distribution at the
    pending token (position 0) and after each node ``i`` (position ``i + 1``). Returns each
    row's kept path as a list of node indices, from a child of the root down, and the
    target's token after the path's last node (``LongTensor[B]``). ``core/exact``
    (deterministic drafts), ``core/greedy-match`` and ``core/typical-acceptance`` have it.
    """

    def accept_tree(
        self, draft: Draft, target_probs: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[list[list[int]], torch.Tensor]: ...


@runtime_checkable
class EvictingCache(Cache, Protocol):
    """A :class:`Cache` that drops positions from the front, like a sliding window (``core/sliding``).

    - ``offset``: positions dropped so far; storage slot ``j`` holds the ``offset + j``-th
      position written. Loops build attention masks from slot ``offset`` on.

    Speculative decoding refuses an evicting cache with :class:`arkit.ConfigError`: rolling
    a draft back needs every position it wrote.
    """

    offset: int


# --- export capabilities ------------------------------------------------------------------------------
# What arkit.onnx asks of a component to give it more than the plain step graph. The exporter checks
# these with ``isinstance`` and never looks at a concrete class: a plugin's component that has the
# members gets the same exports as a built-in one.


@runtime_checkable
class FusedAttentionBackbone(Protocol):
    """A :class:`Backbone` whose attention can run as onnxruntime's fused ``GroupQueryAttention``.

    Optional: a backbone that has these members gets the exports that need the
    fused op (the decode graph of :func:`arkit.onnx.export`, and
    :func:`arkit.onnx.export_genai` for onnxruntime-genai), whatever its class.

    - ``d_model``, ``head_dim``, ``n_kv_heads``: queries have ``d_model // head_dim``
      heads, keys and values ``n_kv_heads``, each ``head_dim`` wide (a multiple of 16
      for onnxruntime's kernel).
    - ``rope_cos``, ``rope_sin``: ``Tensor[max_seq_len, head_dim]`` rotary tables in
      Llama's rotate-half layout, ``cos`` repeated over both halves and ``sin`` with its
      first half negated (``x * cos + roll(x, head_dim / 2) * sin`` rotates ``x``).
    - ``forward``: when the ``cache`` it is given has a method ``attend(layer, qkv,
      mask)``, every layer calls it instead of its own attention, with the packed
      projection ``qkv: Tensor[B, T, (H + 2 Hkv) * head_dim]`` (queries, keys, values,
      before rotation) and the additive mask ``Tensor[B, 1, T, S]`` (0 where a query
      may attend, the dtype's minimum where not), and uses the ``Tensor[B, T, H *
      head_dim]`` it returns as the attention output, before the output projection.
      The cache rotates queries and keys at the call's ``positions`` and stores keys
      and values itself.
    """

    d_model: int
    head_dim: int
    n_kv_heads: int
    max_seq_len: int
    rope_cos: torch.Tensor
    rope_sin: torch.Tensor

    def cache_spec(self) -> CacheSpec: ...


@runtime_checkable
class ExportableDraftHeads(Drafter, Protocol):
    """A :class:`Drafter` made of heads on the target's last hidden state, exported inside the step graph.

    Optional: :func:`arkit.onnx.export` puts such a drafter (``core/medusa`` or a plugin's)
    into the step graph, which then also outputs ``medusa_tokens: LongTensor[B, T,
    num_heads]``, every head's top-1 guess at every position; :class:`arkit.onnx.OrtPipeline`
    drafts from that output, with no hidden states outside the graph. Any other drafter
    is saved beside the graph as a component of its own and drafts as it does in torch.

    - ``num_heads``: how many tokens the heads guess.
    - ``d_model``, ``vocab_size``: the target's width and vocabulary.
    - ``forward(hidden: Tensor[..., D]) -> Tensor[..., num_heads, V]``: every head's logits
      at each position of the target's final hidden states; head ``i`` guesses the token
      ``i + 1`` places after the token the target predicts there. The drafter must be a
      ``torch.nn.Module`` whose forward traces with ``torch.export``.

    The exported pipeline drafts head ``i``'s top-1 guess at each row's last verified
    position, a chain of ``min(k, num_heads)`` tokens: what ``propose`` should draft in torch
    too, so that both pipelines draft alike (trees are not exported).
    """

    num_heads: int
    d_model: int
    vocab_size: int

    def forward(self, hidden: torch.Tensor) -> torch.Tensor: ...
