"""Value types: small immutable records passed across the public API.

All are ``attrs`` frozen, keyword-only classes; derive a changed copy with
``attrs.evolve(value, field=new)``. Fields are validated on construction, so an
invalid value fails where it is written, with an :class:`arkit.ConfigError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import math
from typing import Any, Literal

import attrs

from .errors import ConfigError

__all__ = [
    "KINDS",
    "CacheSpec",
    "ComponentInfo",
    "Conditioned",
    "Draft",
    "ExtraInput",
    "SpeculativeStats",
    "Verification",
    "GenerationConfig",
    "GenerationEvent",
    "GenerationOutput",
    "Kind",
    "PipelinePreset",
    "PluginInfo",
    "TrainConfig",
    "TrainResult",
]

Kind = Literal["tokenizer", "backbone", "head", "sampler", "drafter", "acceptance", "cache", "constraint"]
#: The component kinds: the roles of a pipeline, in the order it uses them (``constraint`` came last, in 0.3).
KINDS: tuple[Kind, ...] = (
    "tokenizer", "backbone", "head", "sampler", "drafter", "acceptance", "cache", "constraint",
)

FinishReason = Literal["eos", "stop_sequence", "length", "max_length", "constraint"]


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _at_least(minimum: float, *, optional: bool = False) -> Callable[[Any, attrs.Attribute, Any], None]:
    """A finite number (not a bool) ``>= minimum``; ``None`` too when ``optional``."""
    def validate(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value is None and optional:
            return
        _check(
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and value >= minimum,
            f"{type(instance).__name__}.{attribute.name} must be a finite number >= {minimum}, got {value!r}",
        )

    return validate


def _int_at_least(minimum: int, *, optional: bool = False) -> Callable[[Any, attrs.Attribute, Any], None]:
    """An integer (not a bool, not a float such as 1.5 or 2.0) ``>= minimum``; ``None`` too when ``optional``."""
    def validate(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value is None and optional:
            return
        _check(
            _is_int(value) and value >= minimum,
            f"{type(instance).__name__}.{attribute.name} must be an integer >= {minimum}, got {value!r}",
        )

    return validate


def _is_int(value: Any) -> bool:
    """A Python or numpy integer, not a bool."""
    import numbers

    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _finite(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    _check(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
           f"{type(instance).__name__}.{attribute.name} must be a finite number, got {value!r}")


def _boolean(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    _check(isinstance(value, bool), f"{type(instance).__name__}.{attribute.name} must be true or false, got {value!r}")


_SEED_RANGE = (-(2**63), 2**64 - 1)  # what torch.Generator.manual_seed accepts


def _seed(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is None:
        return
    _check(_is_int(value) and _SEED_RANGE[0] <= value <= _SEED_RANGE[1],
           f"{type(instance).__name__}.{attribute.name} must be an integer in [-2**63, 2**64) or None, got {value!r}")


def _token_id(value: Any, what: str) -> int:
    if not _is_int(value) or value < 0:
        raise ConfigError(f"{what} must hold token ids (integers >= 0), got {value!r}")
    return int(value)


def _token_ids(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    if _is_int(value):
        return (_token_id(value, "eos_token_ids"),)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ConfigError(f"eos_token_ids must be a token id, a list of token ids or None, got {value!r}")
    return tuple(_token_id(v, "eos_token_ids") for v in value)


def _sequences(value: Any) -> tuple[tuple[int, ...], ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ConfigError(f"stop_sequences must be a list of token-id lists, got {value!r}")
    out = []
    for seq in value:
        if isinstance(seq, (str, bytes)) or not hasattr(seq, "__iter__"):
            raise ConfigError(f"stop_sequences must be a list of token-id lists, got {value!r}")
        out.append(tuple(_token_id(t, "stop_sequences") for t in seq))
    return tuple(out)


def _stop_sequences(instance: Any, attribute: attrs.Attribute, value: tuple[tuple[int, ...], ...]) -> None:
    _check(all(len(seq) > 0 for seq in value), "stop_sequences must not contain an empty sequence")


@attrs.frozen(kw_only=True)
class GenerationConfig:
    """How to generate: lengths, stopping, search and randomness.

    Sampling behaviour (temperature, top-k, penalties...) belongs to the
    pipeline's :class:`~arkit.protocols.Sampler`; this record says how long to
    go on, when to stop and how to search.
    """

    max_new_tokens: int = attrs.field(default=32, validator=_int_at_least(0))
    """Upper bound on generated tokens per row."""
    min_new_tokens: int = attrs.field(default=0, validator=_int_at_least(0))
    """End-of-sequence tokens are suppressed until a row has this many tokens."""
    max_length: int | None = attrs.field(default=None, validator=_int_at_least(1, optional=True))
    """Upper bound on prompt plus generated tokens per row (defaults to the backbone's context)."""
    eos_token_ids: tuple[int, ...] | None = attrs.field(default=None, converter=_token_ids)
    """Tokens that end a row; ``None`` uses the tokenizer's ``eos`` special token, ``()`` never stops early."""
    stop_sequences: tuple[tuple[int, ...], ...] = attrs.field(default=(), converter=_sequences, validator=_stop_sequences)
    """Token-id sequences that end a row once generated (they stay in the output).
    ``Pipeline.generate`` also accepts items here and encodes them with the tokenizer."""
    seed: int | None = attrs.field(default=None, validator=_seed)
    """Seed of the ``torch.Generator`` used for sampling; ``None`` draws a fresh seed. The same seed
    gives the same output; a deterministic sampler (``core/greedy``) and beam search draw nothing from it."""
    output_logprobs: bool = attrs.field(default=False, validator=_boolean)
    """Also return the log-probability of each generated token under the sampler's distribution
    (beam search: under the scores its hypotheses are ranked by)."""
    num_beams: int = attrs.field(default=1, validator=_int_at_least(1))
    """Beam search with this many beams when > 1 (uses the sampler's processed scores, deterministic).
    Every option of sampling applies to it but ``guidance_scale``; it takes no drafter."""
    length_penalty: float = attrs.field(default=1.0, validator=_finite)
    """Beam search ranks finished hypotheses by ``sum logprob / length ** length_penalty``."""
    early_stopping: bool = attrs.field(default=False, validator=_boolean)
    """Beam search stops a prompt once it has ``num_beams`` finished hypotheses."""
    num_return_sequences: int = attrs.field(default=1, validator=_int_at_least(1))
    """Beam search: how many of the best hypotheses to return per prompt (at most ``num_beams``)."""
    guidance_scale: float = attrs.field(default=1.0, validator=_finite)
    """Classifier-free guidance: ``uncond + scale * (cond - uncond)`` on the logits when != 1."""
    num_draft_tokens: int = attrs.field(default=4, validator=_int_at_least(1))
    """Speculative decoding (a pipeline with a drafter): most tokens the drafter proposes per target call.
    Without a drafter nothing is drafted and the output is plain decoding's (as with a drafter, losslessly)."""
    draft_schedule: Literal["adaptive", "constant"] = "adaptive"
    """``"adaptive"``: each pass's width is chosen by a cost model: every row keeps an estimate of its
    chance to keep each next draft token (from its recent passes), a pass over ``A`` rows and ``1 + d``
    positions is taken to cost like ``24 + A * (1 + d) + 4`` tokens (the last term only with a draft;
    a CPU fit, see ``arkit.generation.speculative.schedule``), and the width with the most expected
    tokens per unit of cost wins. Rows whose drafts fail ride along; a batch whose drafts all fail
    decodes plainly (the drafter is not called) and tries again now and then. No clock is read, so
    seeded runs draft alike everywhere. ``"constant"``: always ``num_draft_tokens``."""

    def __attrs_post_init__(self) -> None:
        _check(self.num_return_sequences <= self.num_beams,
               f"num_return_sequences ({self.num_return_sequences}) cannot exceed num_beams ({self.num_beams}): "
               f"several sequences per prompt come from beam search (not sampling or speculative decoding), so set "
               f"num_beams >= num_return_sequences")
        _check(self.draft_schedule in ("adaptive", "constant"),
               f"draft_schedule must be 'adaptive' or 'constant', got {self.draft_schedule!r}")
        _check(self.min_new_tokens <= self.max_new_tokens,
               f"min_new_tokens ({self.min_new_tokens}) exceeds max_new_tokens ({self.max_new_tokens})")


@attrs.frozen(kw_only=True)
class GenerationEvent:
    """One token produced for one row, as yielded by :meth:`arkit.Pipeline.stream`."""

    row: int
    """Index of the prompt this token belongs to."""
    index: int
    """Position of the token among the row's generated tokens (0-based)."""
    token_id: int
    finish_reason: FinishReason | None = None
    """Set on the row's last event: why the row stopped."""


@attrs.frozen(kw_only=True)
class GenerationOutput:
    """What :meth:`arkit.Pipeline.generate` returns. Rows follow the order of the prompts."""

    sequences: tuple[tuple[int, ...], ...]
    """Generated token ids per row (prompt excluded, stop token included). With beam search
    and ``num_return_sequences = n``, rows ``i * n ... i * n + n - 1`` belong to prompt ``i``, best first."""
    prompt_lengths: tuple[int, ...]
    finish_reasons: tuple[FinishReason, ...]
    decoded: tuple[Any, ...]
    """Each row's generated tokens decoded by the pipeline's tokenizer."""
    logprobs: tuple[tuple[float, ...], ...] | None = None
    """Per-token log-probabilities, when ``GenerationConfig.output_logprobs`` is set."""
    scores: tuple[float, ...] | None = None
    """Beam search: each returned hypothesis' length-penalised score."""
    num_steps: int = 0
    """Backbone calls made, prefill included."""
    elapsed_s: float = 0.0
    """Wall time of the whole call."""
    prefill_s: float = 0.0
    """Wall time of the first backbone call (the prompt)."""
    speculative: SpeculativeStats | None = None
    """Drafted and accepted tokens and where the time went, when the pipeline has a drafter."""


@attrs.frozen(kw_only=True)
class SpeculativeStats:
    """What speculative decoding did in one :meth:`arkit.Pipeline.generate` call (all rows together)."""

    drafted: int
    """Draft tokens proposed to the target (per row, summed over rows)."""
    accepted: int
    """Draft tokens the acceptance rule kept."""
    target_calls: int
    """Verification passes of the target (prefill excluded); each scores every row's drafts at once."""
    row_calls: int
    """Verification passes summed over the rows live in them (``target_calls`` at batch 1)."""
    generated: int
    """Tokens emitted, all rows together."""
    drafter_s: float
    """Wall time inside the drafter."""
    target_s: float
    """Wall time inside the target's forward passes (prefill included)."""

    @property
    def acceptance_rate(self) -> float:
        """Accepted / drafted (0 when nothing was drafted)."""
        return self.accepted / self.drafted if self.drafted else 0.0

    @property
    def mean_accepted_per_call(self) -> float:
        """Tokens a row gains per verification pass: accepted drafts plus the target's own (τ in the papers)."""
        return (self.accepted + self.row_calls) / self.row_calls if self.row_calls else 0.0

    @property
    def target_calls_per_token(self) -> float:
        """Target forward passes (prefill included) per emitted token of a row."""
        return (self.target_calls + 1) / self.generated if self.generated else 0.0


def _positive_int(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    _check(
        isinstance(value, int) and not isinstance(value, bool) and value >= 1,
        f"TrainConfig.{attribute.name} must be an integer >= 1, got {value!r}",
    )


def _one_of(*choices: Any) -> Callable[[Any, attrs.Attribute, Any], None]:
    def validate(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        _check(value in choices, f"{type(instance).__name__}.{attribute.name} must be one of {list(choices)}, got {value!r}")

    return validate


def _fraction(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    _check(isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value < 1.0,
           f"TrainConfig.{attribute.name} must be a number in [0, 1), got {value!r}")


def _optional_positive_int(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None:
        _positive_int(instance, attribute, value)


def _train_seed(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    _check(_is_int(value) and _SEED_RANGE[0] <= value <= _SEED_RANGE[1],
           f"TrainConfig.seed must be an integer in [-2**63, 2**64), got {value!r}")


def _optional_str(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    _check(value is None or isinstance(value, str),
           f"{type(instance).__name__}.{attribute.name} must be a string or None, got {value!r}")


def _optional_path(value: Any) -> str | None:
    return None if value is None else str(value)


@attrs.frozen(kw_only=True)
class TrainConfig:
    """How :meth:`arkit.Pipeline.fit` trains: steps, batch, optimiser and schedule,
    data packing, evaluation, precision, metrics, checkpoints and data parallelism.

    One optimiser step sees ``batch_size * grad_accum_steps * world_size`` packed rows
    of ``seq_len`` positions (the *global batch*; ``world_size`` is the number of
    ``torchrun`` processes, 1 otherwise).
    """

    steps: int = attrs.field(default=200, validator=_positive_int)
    """Optimiser steps to run (training is budgeted in steps, never in seconds)."""
    batch_size: int = attrs.field(default=16, validator=_positive_int)
    """Rows per micro-batch in each process."""
    seq_len: int = attrs.field(default=128, validator=_positive_int)
    """Positions per packed row; documents are packed into rows of this length."""
    lr: float = attrs.field(default=3e-3, validator=_at_least(0.0))
    weight_decay: float = attrs.field(default=0.1, validator=_at_least(0.0))
    warmup_steps: int = attrs.field(default=20, validator=_int_at_least(0))
    """Linear warm-up, then cosine decay to ``min_lr_ratio * lr``."""
    min_lr_ratio: float = attrs.field(default=0.1, validator=_at_least(0.0))
    grad_clip: float | None = attrs.field(default=1.0, validator=_at_least(0.0, optional=True))
    seed: int = attrs.field(default=0, validator=_train_seed)
    """Seeds the data order (a new seeded permutation each epoch) and which items are held out."""
    threads: int | None = attrs.field(default=None, validator=_int_at_least(1, optional=True))
    """torch intra-op threads while training; ``None`` keeps the process setting."""
    progress: bool = attrs.field(default=True, validator=_boolean)
    """Show a progress bar with loss, tokens/s and the time left (rank 0 only)."""
    grad_accum_steps: int = attrs.field(default=1, validator=_positive_int)
    """Micro-batches whose gradients add up to one optimiser step."""
    mixed_precision: Literal["auto", "bf16", "off"] = attrs.field(default="auto", validator=_one_of("auto", "bf16", "off"))
    """bf16 autocast: ``"auto"`` uses it on CUDA devices that support bf16 and not on CPU;
    ``"bf16"`` always (CPU included); ``"off"`` never. The loss is always computed in float32."""
    overflow: Literal["split", "truncate", "error"] = attrs.field(default="split", validator=_one_of("split", "truncate", "error"))
    """Documents that do not fit a row: ``"split"`` cuts them where rows end (no padding, nothing
    dropped); ``"truncate"`` keeps the first ``seq_len + 1`` tokens and never cuts a document;
    ``"error"`` raises on documents longer than that."""
    shuffle: bool = attrs.field(default=True, validator=_boolean)
    """Visit documents in a seeded random order, a new one each epoch."""
    shuffle_buffer: int = attrs.field(default=10_000, validator=_positive_int)
    """Streaming (iterable) data is shuffled through a buffer of this many items."""
    eval_every: int | None = attrs.field(default=None, validator=_optional_positive_int)
    """Evaluate on the held-out data every this many steps (and after the last step)."""
    eval_fraction: float = attrs.field(default=0.0, validator=_fraction)
    """Hold out this fraction of the training items for evaluation (when no ``eval_data`` is given)."""
    eval_batches: int | None = attrs.field(default=None, validator=_optional_positive_int)
    """Evaluate on at most this many batches of held-out rows per process; ``None``: all of them."""
    on_nonfinite: Literal["raise", "skip"] = attrs.field(default="raise", validator=_one_of("raise", "skip"))
    """A NaN or infinite loss or gradient: ``"raise"`` stops with a :class:`arkit.TrainingError`
    naming the step; ``"skip"`` drops that batch's update and goes on."""
    out_dir: str | None = attrs.field(default=None, converter=_optional_path)
    """Folder for ``metrics.jsonl``, ``checkpoints/`` and the final ``pipeline/`` (written by
    rank 0); ``None`` writes nothing."""
    metrics_path: str | None = attrs.field(default=None, converter=_optional_path)
    """Where to append metrics as JSON lines; defaults to ``out_dir/metrics.jsonl``."""
    log_every: int = attrs.field(default=1, validator=_positive_int)
    """Write a training metrics line every this many steps."""
    checkpoint_every: int | None = attrs.field(default=None, validator=_optional_positive_int)
    """Save a checkpoint to ``out_dir/checkpoints`` every this many steps (needs ``out_dir``)."""
    keep_checkpoints: int = attrs.field(default=2, validator=_positive_int)
    """How many of the newest checkpoints to keep."""
    resume_from: str | None = attrs.field(default=None, converter=_optional_path)
    """A checkpoint folder to resume from, or ``"latest"``: the newest in ``out_dir/checkpoints``
    (starting afresh when there is none, which suits preemptible jobs)."""
    parallel: Literal["ddp", "fsdp"] = attrs.field(default="ddp", validator=_one_of("ddp", "fsdp"))
    """Under ``torchrun``: replicate the model (``"ddp"``) or shard it (``"fsdp"``, FSDP2)."""
    device: str | None = attrs.field(default=None, validator=_optional_str)
    """Train on this device; ``None`` keeps the pipeline where it is (under ``torchrun`` with
    CUDA: ``cuda:LOCAL_RANK``)."""

    def __attrs_post_init__(self) -> None:
        _check(self.checkpoint_every is None or self.out_dir is not None,
               "TrainConfig.checkpoint_every needs out_dir: the folder the checkpoints go to")
        _check(self.resume_from != "latest" or self.out_dir is not None,
               "TrainConfig.resume_from='latest' needs out_dir: the folder whose checkpoints/ to look in")


@attrs.frozen(kw_only=True)
class ExtraInput:
    """A backbone input beyond token ids and positions: one tensor per row, fed at every call.

    Declared by a backbone's export spec (the ``arkit_register_export_specs`` hook) and
    passed to generation as ``extra_inputs={name: tensor}``; an exported step graph gets
    it as an input of that name. ``shape`` is the per-call shape: ``"batch"`` first,
    then integers (a conditioning vector ``("batch", 16)``). Validation at export feeds
    random values: normal floats, or integers from ``[0, high)``.
    """

    name: str
    shape: tuple[int | str, ...]
    dtype: Literal["float32", "int64"] = "float32"
    high: int | None = None
    """For ``int64`` inputs: the exclusive upper bound of valid values (validation draws below it)."""

    def __attrs_post_init__(self) -> None:
        _check(isinstance(self.name, str) and self.name.isidentifier(),
               f"ExtraInput name must be a Python identifier (it becomes a keyword argument), got {self.name!r}")
        _check(len(self.shape) >= 1 and self.shape[0] == "batch"
               and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in self.shape[1:]),
               f"ExtraInput {self.name!r}: shape must be ('batch', positive ints...), got {self.shape!r}")
        _check(self.dtype in ("float32", "int64"), f"ExtraInput {self.name!r}: dtype must be 'float32' or "
                                                   f"'int64', got {self.dtype!r}")
        _check(self.dtype == "float32" or (isinstance(self.high, int) and self.high >= 1),
               f"ExtraInput {self.name!r}: an int64 input needs high (the exclusive upper bound of its values)")

    def _random(self, batch: int, generator: Any) -> Any:
        """Valid random values for ``batch`` rows (normal floats, integers below ``high``): what export
        validation and the contract suite feed."""
        import torch

        shape = (batch, *self.shape[1:])
        if self.dtype == "float32":
            return torch.randn(shape, generator=generator)
        return torch.randint(0, self.high, shape, generator=generator)  # type: ignore[arg-type]


@attrs.frozen
class Conditioned:
    """A training item with the backbone's extra inputs: ``Conditioned(text, {"conditioning": vector})``.

    ``Pipeline.fit`` encodes ``item`` as usual and feeds ``extra_inputs`` (one value
    per name, without the batch axis: a vector, an array or an integer) to the
    backbone with every row cut from this item. Such items are not packed with
    other documents: each row holds one item (split into several rows when it is
    longer than ``seq_len``) and is padded. Every item of a dataset must give the
    same names.
    """

    item: Any
    extra_inputs: Mapping[str, Any] = attrs.field(converter=dict)

    def __attrs_post_init__(self) -> None:
        _check(all(isinstance(k, str) for k in self.extra_inputs) and bool(self.extra_inputs),
               "Conditioned.extra_inputs must map input names (str) to values, and name at least one")


@attrs.frozen(kw_only=True)
class CacheSpec:
    """The key/value geometry a backbone needs from its cache."""

    num_layers: int
    num_kv_heads: int
    head_dim: int


@attrs.frozen(kw_only=True, eq=False)
class Draft:
    """Tokens a :class:`~arkit.protocols.Drafter` proposes for each row.

    ``tokens`` is a ``LongTensor[B, k]`` chain per row; ``probs`` (optional) is the
    drafter's distribution at each drafted position, ``Tensor[B, k, V]``. With
    ``parents`` the ``k`` tokens are the nodes of a tree instead of a chain.
    """

    tokens: Any
    probs: Any = None
    lengths: Any = None
    """``LongTensor[B]``: how many of each row's ``k`` tokens are real proposals (the rest are
    padding the target ignores). ``None`` means all ``k``. A drafter with nothing to propose
    for a row (no n-gram match) gives 0 and the row advances by the target's own token."""
    parents: Any = None
    """``LongTensor[B, k]``: a tree draft. Node ``i``'s parent is node ``parents[b, i] < i``, or
    ``-1`` for the row's pending token (the root), so several candidates can continue the same
    prefix. ``None`` is a chain (``parents[b, i] = i - 1``). The target scores every node in one
    pass under a tree attention mask and keeps one root-to-node path per row."""


@attrs.frozen(kw_only=True, eq=False)
class Verification:
    """What the target decided in one pass; given to drafters that learn from it (``Drafter.observe``).

    After the prefill ``n = 1`` (each row's last prompt token), ``accepted`` is 0 and
    ``prompt_hidden`` holds every prompt slot's hidden state; after a verification pass
    ``n = 1 + k`` (the row's pending token, then its drafts).
    """

    tokens: Any
    """``LongTensor[B, n]``: the tokens the target was fed."""
    hidden: Any
    """``Tensor[B, n, D]``: the target's final hidden states at those positions."""
    logits: Any
    """``Tensor[B, n, V]``: the target's raw logits there (position ``i`` predicts the token after input ``i``)."""
    accepted: Any
    """``LongTensor[B]``: drafts accepted per row."""
    next_tokens: Any
    """``LongTensor[B]``: the token the target chose after the accepted drafts (the next pass's first input)."""
    live: Any = None
    """``BoolTensor[B]``: rows still generating when the pass ran; finished rows were fed placeholders."""
    last_kept: Any = None
    """``LongTensor[B]``: index into ``tokens`` of each row's last kept position, whose prediction is
    ``next_tokens`` (0 for the pending token). For a chain it equals ``accepted``; for a tree draft it
    is ``1 +`` the last kept node. ``None`` means ``accepted``."""
    prompt_hidden: Any = None
    """After the prefill only: ``Tensor[B, L, D]``, the target's final hidden states at every slot of the
    prompts, laid out as they were fed (right-aligned: a row's prompt fills its last slots, and the slots
    before hold no token and meaningless values). ``None`` after a verification pass. A drafter that
    reads the context's features (EAGLE) starts from these; ``hidden`` holds the last of them."""


@attrs.frozen(kw_only=True)
class ComponentInfo:
    """A registry entry: what a plugin registered under a name."""

    kind: Kind
    name: str
    """Namespaced name, ``domain/name``."""
    factory: Callable[..., Any] = attrs.field(eq=False, repr=False)
    plugin: str
    """Name of the plugin that registered it."""
    distribution: str | None = None
    """Installed distribution that provides the plugin (``None`` for in-process plugins)."""
    version: str | None = None
    description: str = ""
    examples: tuple[Any, ...] = ()
    """Sample inputs (for tokenizers: items to encode), used by docs and the contract suite."""


@attrs.frozen(kw_only=True)
class PluginInfo:
    """A loaded (or failed) plugin, as listed by :func:`arkit.list_plugins`."""

    name: str
    distribution: str | None
    version: str | None
    builtin: bool
    components: tuple[str, ...] = ()
    """``kind:name`` for every component the plugin registered."""
    presets: tuple[str, ...] = ()
    error: str | None = None
    """Why the plugin failed to load or register; ``None`` when it works."""


@attrs.frozen(kw_only=True)
class PipelinePreset:
    """A named composition: for each role, a registry name and its config."""

    name: str
    components: Mapping[str, tuple[str, Mapping[str, Any]]]
    description: str = ""
    plugin: str = ""
    weights: str | None = None
    """A folder written by :meth:`arkit.Pipeline.save_pretrained` whose trained weights
    :meth:`arkit.Pipeline.from_preset` loads into the preset's modules (``pretrained=False``
    skips it); ``None`` for presets without shipped weights."""
    base: str | None = None
    """Another preset this one extends: its components (and shipped weights) come first, this
    preset's ``components`` add roles or replace them, and ``weights`` may then hold only the
    added ones (a drafter trained for a shipped model, for instance)."""




@attrs.frozen(kw_only=True)
class TrainResult:
    """What :meth:`arkit.Pipeline.fit` returns."""

    losses: tuple[float, ...]
    """Training loss after every optimiser step."""
    steps: int
    tokens: int
    """Target tokens trained on (padding excluded), over all processes."""
    elapsed_s: float
    eval_losses: tuple[tuple[int, float], ...] = ()
    """``(step, mean held-out loss)`` for every evaluation."""
    skipped_steps: tuple[int, ...] = ()
    """Steps whose update was dropped because the loss or gradient was not finite."""
    resumed_from: int = 0
    """The step a resumed run started from (0 for a fresh run); ``losses`` covers every step."""
    checkpoint: str | None = None
    """The last checkpoint written, if any."""
    run_tokens: int = 0
    """Target tokens this call trained on: ``tokens`` less those of the steps a resumed run
    started from. ``run_tokens / elapsed_s`` is the run's throughput."""
