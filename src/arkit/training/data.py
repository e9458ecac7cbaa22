"""Training data: sources, seeded shuffling, packing with document boundaries, sharding.

A *source* is any collection of items the pipeline's tokenizer encodes:

- **map-style**: a ``Sequence`` (``len`` and integer indexing), such as a list of
  strings. Each epoch visits the items in a seeded permutation.
- **streaming**: any other iterable. Items are read in order and shuffled through a
  seeded buffer of ``shuffle_buffer`` items. An object whose ``__iter__`` starts over
  can be read for many epochs; a one-shot iterator (a generator) is read once.

Every item becomes a *document* ``[bos] + tokens + [eos]`` (the special tokens the
tokenizer has). Documents are packed into rows of ``seq_len`` positions; position
``i`` of a row holds an input token and the target that follows it in the same
document (``IGNORE`` where nothing is to be predicted: padding). A row may hold
several documents, or pieces of them; each piece is its own *segment*: its positions
restart at 0 and it attends only to itself (a block-diagonal causal mask), so no token
ever sees another document. What happens to documents that do not fit a row is the
``overflow`` rule:

- ``"split"``: documents flow across rows and are cut where a row ends (no padding
  but at the end of an epoch). Nothing is dropped.
- ``"truncate"``: documents keep their first ``seq_len + 1`` tokens and are never cut;
  one that does not fit what is left of a row starts the next row (the rest is padding).
- ``"error"``: like ``"truncate"``, but a longer document raises :class:`arkit.InputError`.

Under data parallelism every rank packs the same global stream of rows and trains on
its own contiguous slice of each global batch (:func:`shard_slice`): the union over
ranks is exactly the batch one process would see, which is what makes multi-process
training reproduce single-process training.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
import random
from typing import Any, Literal, NamedTuple

import torch

from ..errors import ConfigError, InputError
from ..types import Conditioned

__all__ = [
    "IGNORE",
    "Batch",
    "Row",
    "attention_mask",
    "block_rows",
    "collate",
    "is_map_style",
    "pack",
    "scale_rows",
    "shard_indices",
    "shard_slice",
    "shuffled_indices",
]

IGNORE = -100
"""Target id of positions that predict nothing (``F.cross_entropy``'s ``ignore_index``)."""

Overflow = Literal["split", "truncate", "error"]


class Row(NamedTuple):
    """One packed training row of ``seq_len`` positions (plain lists; see :func:`collate`)."""

    inputs: list[int]
    targets: list[int]
    positions: list[int]
    segments: list[int]
    """Segment of each position: 1, 2, ... for the pieces of documents in the row, 0 for padding."""
    blocks: list[int] | None = None
    """Optional attention blocks: positions of one segment with the same block id see each other
    both ways (next-scale prediction's scales). ``None``: plain causal attention in each segment."""
    extras: dict[str, torch.Tensor] | None = None
    """The backbone's extra inputs for this row (from a :class:`arkit.Conditioned` item), without batch axis."""


class Batch(NamedTuple):
    """Rows stacked into tensors: each ``LongTensor[B, seq_len]``; ``extras`` by name, ``[B, ...]``."""

    inputs: torch.Tensor
    targets: torch.Tensor
    positions: torch.Tensor
    segments: torch.Tensor
    blocks: torch.Tensor | None = None
    extras: dict[str, torch.Tensor] | None = None

    def to(self, device: torch.device | str) -> Batch:
        extras = None if self.extras is None else {k: v.to(device, non_blocking=True) for k, v in self.extras.items()}
        return Batch(*(None if t is None else t.to(device, non_blocking=True) for t in self[:5]), extras)


# -- sources and order ---------------------------------------------------------------
def is_map_style(data: Any) -> bool:
    """True for a ``Sequence``-like source (``len`` and integer indexing) that is not a single item."""
    if isinstance(data, (str, bytes, bytearray)):
        return False
    return hasattr(data, "__len__") and hasattr(data, "__getitem__") and not isinstance(data, dict)


def _rng(seed: int, epoch: int) -> random.Random:
    # one independent, platform-independent stream per (seed, epoch)
    return random.Random(f"arkit-data-{seed}-{epoch}")


def shuffled_indices(n: int, seed: int, epoch: int) -> list[int]:
    """The order an epoch visits ``n`` map-style items: a permutation fixed by ``(seed, epoch)``."""
    order = list(range(n))
    _rng(seed, epoch).shuffle(order)
    return order


def _buffer_shuffle(items: Iterable[Any], size: int, rng: random.Random) -> Iterator[Any]:
    """Shuffle a stream through a buffer of ``size`` items (exact permutation when the stream fits)."""
    buffer: list[Any] = []
    for item in items:
        buffer.append(item)
        if len(buffer) >= size:
            i = rng.randrange(len(buffer))
            buffer[i], buffer[-1] = buffer[-1], buffer[i]
            yield buffer.pop()
    rng.shuffle(buffer)
    yield from buffer


def shard_indices(n: int, rank: int, world_size: int) -> range:
    """Indices ``rank, rank + world_size, ...`` of ``n``: disjoint across ranks, covering ``range(n)``."""
    if not 0 <= rank < world_size:
        raise ConfigError(f"rank must lie in [0, world_size={world_size}), got {rank}")
    return range(rank, n, world_size)


def shard_slice(n: int, rank: int, world_size: int) -> slice:
    """This rank's contiguous slice of ``n`` items (``n`` divisible by ``world_size``)."""
    if not 0 <= rank < world_size or n % world_size:
        raise ConfigError(f"cannot give rank {rank} of {world_size} an equal share of {n} items")
    share = n // world_size
    return slice(rank * share, (rank + 1) * share)


class Source:
    """Items of a dataset, in a seeded order per epoch, with an optional held-out part.

    ``eval_fraction`` holds out documents for evaluation: for map-style data a seeded
    choice of ``round(fraction * len)`` items (at least one); for streaming data every
    ``round(1 / fraction)``-th item.
    """

    def __init__(self, data: Any, *, seed: int, shuffle: bool, shuffle_buffer: int, eval_fraction: float = 0.0) -> None:
        if data is None or isinstance(data, (str, bytes, bytearray)) or not isinstance(data, Iterable) and not is_map_style(data):
            raise InputError(
                f"training data must be a list (or other sequence) or an iterable of items, got {type(data).__name__}"
                + ("; wrap a single text in a list: [text]" if isinstance(data, (str, bytes)) else "")
            )
        self.data, self.seed, self.shuffle, self.shuffle_buffer = data, seed, shuffle, shuffle_buffer
        self.map_style = is_map_style(data)
        self.one_shot = not self.map_style and iter(data) is data
        self.held_out: set[int] = set()
        self.every = 0
        if eval_fraction > 0:
            if self.one_shot:
                raise ConfigError(
                    "eval_fraction needs data that can be read twice; a one-shot iterator (a generator) cannot: "
                    "pass eval_data, or a list or re-iterable object"
                )
            if self.map_style:
                n = len(data)
                if n < 2:
                    raise InputError(f"eval_fraction needs at least 2 training items to hold some out, got {n}")
                k = min(n - 1, max(1, round(eval_fraction * n)))
                self.held_out = set(shuffled_indices(n, seed, -1)[:k])
            else:
                self.every = max(2, round(1 / eval_fraction))

    def _indexed(self) -> Iterator[tuple[int, Any]]:
        if self.map_style:
            yield from ((i, self.data[i]) for i in range(len(self.data)))
        else:
            yield from enumerate(self.data)

    def _is_eval(self, index: int) -> bool:
        return index in self.held_out if self.map_style else bool(self.every) and index % self.every == self.every - 1

    def train_items(self, epoch: int) -> Iterator[tuple[int, Any]]:
        """``(index, item)`` pairs of one epoch, shuffled by ``(seed, epoch)``, held-out items left out."""
        if self.map_style:
            n = len(self.data)
            order = shuffled_indices(n, self.seed, epoch) if self.shuffle else range(n)
            return ((i, self.data[i]) for i in order if not self._is_eval(i))
        items = ((i, x) for i, x in self._indexed() if not self._is_eval(i))
        return _buffer_shuffle(items, self.shuffle_buffer, _rng(self.seed, epoch)) if self.shuffle else items

    def eval_items(self) -> Iterator[tuple[int, Any]]:
        """The held-out ``(index, item)`` pairs, in data order."""
        return ((i, x) for i, x in self._indexed() if self._is_eval(i))


# -- tokens and packing --------------------------------------------------------------
def documents(
    items: Iterable[tuple[int, Any]], encode: Callable[[Any], list[int]], eos: int | None
) -> Iterator[list[int] | tuple[list[int], dict[str, torch.Tensor]]]:
    """Encode each item as ``encode(item) + [eos]``; an item the tokenizer rejects raises, naming it.

    A :class:`arkit.Conditioned` item gives ``(ids, extras)``: its extra inputs as tensors.
    All items must agree on having extra inputs, and on their names.
    """
    names: list[tuple[str, ...]] = []  # the first item's extra input names ((): none)
    for index, item in items:
        item, extras = _unwrap(item, index, names)
        try:
            ids = list(encode(item))
        except InputError as exc:
            raise InputError(f"training item {index} cannot be encoded: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a third-party tokenizer may raise anything
            raise InputError(f"training item {index} cannot be encoded ({type(exc).__name__}: {exc})") from None
        ids += [eos] if eos is not None else []
        yield ids if extras is None else (ids, extras)


def _unwrap(item: Any, index: int, names: list[tuple[str, ...]]) -> tuple[Any, dict[str, torch.Tensor] | None]:
    """``(item, extras)`` of a training item, :class:`arkit.Conditioned` or not; ``names`` holds the first
    item's extra input names, which every later item must repeat."""
    extras = None
    if isinstance(item, Conditioned):
        item, extras = item.item, _as_tensors(item.extra_inputs, index)
    found = tuple(sorted(extras)) if extras is not None else ()
    if not names:
        names.append(found)
    elif found != names[0]:
        raise InputError(f"training item {index} has extra inputs {list(found)} but earlier items have "
                         f"{list(names[0])}: every item must give the same ones (wrap each in arkit.Conditioned)")
    return item, extras


def _as_tensors(values: Mapping[str, Any], index: int) -> dict[str, torch.Tensor]:
    out = {}
    for name, value in values.items():
        try:
            tensor = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError):
            raise InputError(f"training item {index}: extra input {name!r} is not numeric "
                             f"({type(value).__name__})") from None
        if tensor.is_complex() or tensor.dtype == torch.bool:
            raise InputError(f"training item {index}: extra input {name!r} must be real or integer, got {tensor.dtype}")
        out[name] = tensor.float() if tensor.is_floating_point() else tensor.long()
    return out


def pack(docs: Iterable[list[int] | tuple[list[int], dict[str, torch.Tensor]]], seq_len: int, *,
         overflow: Overflow = "split", pad_id: int = 0) -> Iterator[Row]:
    """Pack documents (token lists) into rows of ``seq_len`` positions (see the module docstring).

    Documents with fewer than two tokens predict nothing and are skipped. The last
    row is padded. A document with extra inputs (``(ids, extras)``) is never packed
    with another: its rows hold it alone, padded, and carry its ``extras``.
    """
    if overflow not in ("split", "truncate", "error"):
        raise ConfigError(f"overflow must be 'split', 'truncate' or 'error', got {overflow!r}")
    inputs: list[int] = []
    targets: list[int] = []
    positions: list[int] = []
    segments: list[int] = []

    extras: dict[str, torch.Tensor] | None = None  # the current row's, when its document has them

    def flush() -> Row:
        pad = seq_len - len(inputs)
        if inputs and isinstance(inputs[0], list):  # real vectors (a continuous model): pad with zeros, scored by segment
            zero = [0.0] * len(inputs[0])
            row = Row(inputs + [zero] * pad, targets + [zero] * pad, positions + [0] * pad, segments + [0] * pad,
                      None, extras)
        else:
            row = Row(inputs + [pad_id] * pad, targets + [IGNORE] * pad, positions + [0] * pad, segments + [0] * pad,
                      None, extras)
        inputs.clear(), targets.clear(), positions.clear(), segments.clear()
        return row

    for number, doc in enumerate(docs):
        alone = isinstance(doc, tuple)
        if alone and inputs:
            yield flush()  # a conditioned document starts a row of its own
        doc, extras = doc if alone else (doc, None)
        if len(doc) - 1 > seq_len and overflow != "split":
            if overflow == "error":
                raise InputError(
                    f"document {number} has {len(doc)} tokens, more than seq_len + 1 = {seq_len + 1}: set "
                    f"TrainConfig.overflow to 'split' or 'truncate', or raise seq_len"
                )
            doc = doc[: seq_len + 1]
        start = 0  # index of the next input token of this document
        while start < len(doc) - 1:
            space = seq_len - len(inputs)
            take = len(doc) - 1 - start
            if take > space:
                if overflow != "split" and inputs:
                    yield flush()  # the document starts the next row whole
                    continue
                take = space
            segment = (segments[-1] if segments else 0) + 1
            inputs.extend(doc[start : start + take])
            targets.extend(doc[start + 1 : start + take + 1])
            positions.extend(range(take))
            segments.extend([segment] * take)
            start += take
            if len(inputs) == seq_len or (alone and start >= len(doc) - 1):
                yield flush()
    if inputs:
        yield flush()


def collate(rows: Sequence[Row]) -> Batch:
    """Stack rows into a :class:`Batch` of ``LongTensor[B, seq_len]`` (``blocks`` and ``extras`` only when rows
    have them)."""
    fields = [torch.tensor([getattr(r, f) for r in rows]) for f in Row._fields[:2]]  # ids (long) or vectors (float)
    fields += [torch.tensor([getattr(r, f) for r in rows], dtype=torch.long) for f in Row._fields[2:4]]
    blocks = None
    if any(r.blocks is not None for r in rows):
        blocks = torch.tensor([r.blocks if r.blocks is not None else list(range(len(r.inputs))) for r in rows])
    extras = None
    if rows and rows[0].extras is not None:
        try:
            extras = {name: torch.stack([r.extras[name] for r in rows]) for name in rows[0].extras}  # type: ignore[index]
        except RuntimeError as exc:
            raise InputError(f"the training items' extra inputs differ in shape: {exc}") from None
    return Batch(*fields, blocks, extras)


def attention_mask(segments: torch.Tensor, blocks: torch.Tensor | None = None) -> torch.Tensor | None:
    """``BoolTensor[B, T, T]`` (True: may attend): causal within each segment, and both ways within a block.

    ``None`` when every row is one segment without blocks, since plain causal attention
    is then exact (and the backbone can take its mask-free fast path).
    """
    if blocks is None and bool((segments == 1).all()):
        return None
    T = segments.shape[-1]
    visible = torch.ones(T, T, dtype=torch.bool, device=segments.device).tril()
    if blocks is not None:
        visible = visible | (blocks[:, :, None] == blocks[:, None, :])
    return (segments[:, :, None] == segments[:, None, :]) & visible


def scale_rows(
    items: Iterable[tuple[int, Any]], encode: Callable[[Any], list[int]], schedule: Any, *, seq_len: int, pad_id: int
) -> Iterator[Row]:
    """One row per ``(prompt, maps)`` item for next-scale training (:class:`arkit.NextScaleSchedule`).

    ``prompt`` is encoded by the pipeline (a class or start token, say); ``maps[k]`` is scale
    ``k``'s ``side_k x side_k`` token map. The row holds the prompt and every scale's
    upsampled inputs; each scale is one attention block (block-causal over scales). An
    :class:`arkit.Conditioned` pair carries its extra inputs into its row.
    """
    names: list[tuple[str, ...]] = []
    for index, item in items:
        item, extras = _unwrap(item, index, names)
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise InputError(f"next-scale training item {index} must be a (prompt, maps) pair, got {type(item).__name__}")
        prompt, maps = item
        try:
            ids = list(encode(prompt))
            tensors = [torch.as_tensor(m, dtype=torch.long)[None] for m in maps]
            inputs, targets, positions, _ = schedule.training_example(torch.tensor([ids], dtype=torch.long), tensors,
                                                                      ignore_index=IGNORE)
        except InputError as exc:
            raise InputError(f"next-scale training item {index}: {exc}") from None
        except (TypeError, ValueError, RuntimeError) as exc:
            raise InputError(f"next-scale training item {index} is not a prompt and token maps ({exc})") from None
        n = inputs.shape[1]
        if n > seq_len:
            raise InputError(f"next-scale training item {index} needs {n} positions (prompt {len(ids)} + "
                             f"{schedule.input_length} map inputs) but TrainConfig.seq_len is {seq_len}: raise it")
        blocks = [i for i in range(len(ids))] + [len(ids) + k for k, side in enumerate(schedule.sides) if k > 0
                                                 for _ in range(side * side)]
        pad = seq_len - n
        yield Row(inputs[0].tolist() + [pad_id] * pad, targets[0].tolist() + [IGNORE] * pad,
                  positions[0].tolist() + [0] * pad, [1] * n + [0] * pad, blocks + list(range(seq_len, seq_len + pad)),
                  extras)


def block_rows(
    items: Iterable[tuple[int, Any]], encode: Callable[[Any], list[int]], schedule: Any, *, seq_len: int, pad_id: int
) -> Iterator[Row]:
    """One row per ``(prompt, blocks)`` item for block-wise training (:class:`arkit.BlockSchedule`).

    ``prompt`` is encoded by the pipeline; ``blocks[k]`` holds block ``k``'s tokens. The
    schedule rebuilds each block's inputs (:meth:`arkit.BlockSchedule.training_example`);
    each block is one attention block. An :class:`arkit.Conditioned` pair carries its extra
    inputs into its row.
    """
    names: list[tuple[str, ...]] = []
    for index, item in items:
        item, extras = _unwrap(item, index, names)
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise InputError(f"block-wise training item {index} must be a (prompt, blocks) pair, got "
                             f"{type(item).__name__}")
        prompt, blocks = item
        try:
            inputs, targets, block_ids = schedule.training_example(list(encode(prompt)), blocks, ignore_index=IGNORE)
        except InputError as exc:
            raise InputError(f"block-wise training item {index}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise InputError(f"block-wise training item {index} is not a prompt and token blocks ({exc})") from None
        n = len(inputs)
        if n > seq_len:
            raise InputError(f"block-wise training item {index} needs {n} positions but TrainConfig.seq_len is "
                             f"{seq_len}: raise it")
        pad = seq_len - n
        yield Row(inputs + [pad_id] * pad, targets + [IGNORE] * pad, list(range(n)) + [0] * pad, [1] * n + [0] * pad,
                  block_ids + list(range(seq_len, seq_len + pad)), extras)


def schedule_rows(
    items: Iterable[tuple[int, Any]], encode: Callable[[Any], list[int]], schedule: Any, *, seq_len: int, pad_id: int
) -> Iterator[Row]:
    """Rows for a next-scale or a block-wise schedule."""
    from ..generation.blocks import BlockSchedule

    rows = block_rows if isinstance(schedule, BlockSchedule) else scale_rows
    return rows(items, encode, schedule, seq_len=seq_len, pad_id=pad_id)


# -- the row stream ------------------------------------------------------------------
class RowStream:
    """Packed rows epoch after epoch, from a fixed position: ``(epoch, offset)`` is all its state.

    Packing is deterministic given ``(seed, epoch)``, so resuming means packing the
    epoch again and skipping the ``offset`` rows already used.
    """

    def __init__(
        self, source: Source, encode: Callable[[Any], list[int]], eos: int | None, *,
        seq_len: int, overflow: Overflow, pad_id: int, schedule: Any = None,
    ) -> None:
        self.source, self.encode, self.eos, self.schedule = source, encode, eos, schedule
        self.seq_len, self.overflow, self.pad_id = seq_len, overflow, pad_id
        self.epoch, self.offset = 0, 0
        self._rows: Iterator[Row] | None = None

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "offset": self.offset}

    def load_state(self, state: dict[str, int]) -> None:
        self.epoch, self.offset, self._rows = int(state["epoch"]), int(state["offset"]), None

    def _epoch_rows(self) -> Iterator[Row]:
        items = self.source.train_items(self.epoch)
        if self.schedule is not None:
            rows = schedule_rows(items, self.encode, self.schedule, seq_len=self.seq_len, pad_id=self.pad_id)
        else:
            rows = pack(documents(items, self.encode, self.eos), self.seq_len, overflow=self.overflow,
                        pad_id=self.pad_id)
        for _ in range(self.offset):
            if next(rows, None) is None:
                break
        return rows

    def take(self, n: int) -> list[Row]:
        """The next ``n`` rows, starting new epochs as needed."""
        out: list[Row] = []
        fresh_epochs = 0
        while len(out) < n:
            if self._rows is None:
                self._rows = self._epoch_rows()
            row = next(self._rows, None)
            if row is not None:
                out.append(row)
                self.offset += 1
                fresh_epochs = 0
                continue
            if self.epoch == 0 and self.offset == 0:
                raise InputError(
                    "the training data is empty: give at least one item that encodes to a document with 2+ tokens"
                )
            if fresh_epochs:  # a whole new epoch gave nothing: the source is exhausted
                raise InputError(
                    f"the training data ran out in epoch {self.epoch}: a one-shot iterator (a generator) is read "
                    f"only once; pass a list, or an object whose __iter__ starts over, or lower TrainConfig.steps"
                )
            self.epoch, self.offset, self._rows = self.epoch + 1, 0, None
            fresh_epochs += 1
        return out


def eval_rows(source: Source, encode: Callable[[Any], list[int]], eos: int | None, *,
              seq_len: int, overflow: Overflow, pad_id: int, eval_data: Any = None, schedule: Any = None) -> list[Row]:
    """Packed rows of the held-out documents (``eval_data`` when given, else the source's held-out part)."""
    if eval_data is not None:
        held = Source(eval_data, seed=0, shuffle=False, shuffle_buffer=1)
        items: Iterable[tuple[int, Any]] = held._indexed()
    else:
        items = source.eval_items()
    if schedule is not None:
        rows = list(schedule_rows(items, encode, schedule, seq_len=seq_len, pad_id=pad_id))
    else:
        rows = list(pack(documents(items, encode, eos), seq_len, overflow=overflow, pad_id=pad_id))
    if not rows:
        raise InputError("the evaluation data is empty: give at least one item that encodes to 2+ tokens")
    return rows
