"""Sampling shapes: PolyGen sequences under the pointer constraint, octrees level by level.

Prompts are ``[bos, class]`` (``None``: ``[bos, null]``, unconditioned); with
``guidance_scale != 1`` every row has the unconditional twin ``[bos, null]`` and the
engine mixes their logits (classifier-free guidance).
"""

from __future__ import annotations

from collections.abc import Sequence
import time
from typing import Any

import attrs

import arkit

from .constraint import PolygenConstraint
from .octree import OctreeSchedule, Voxels

__all__ = ["MeshSamples", "VoxelSamples", "sample_meshes", "sample_octrees"]


@attrs.frozen(kw_only=True)
class MeshSamples:
    """Generated meshes (``trimesh.Trimesh``, ``metadata['label']`` the requested class) and their token ids."""

    meshes: tuple[Any, ...]
    sequences: tuple[tuple[int, ...], ...]
    elapsed_s: float


@attrs.frozen(kw_only=True)
class VoxelSamples:
    """Generated octrees as voxel grids, with the model calls they took and what token-by-token decoding would."""

    voxels: tuple[Voxels, ...]
    blocks: tuple[tuple[tuple[int, ...], ...], ...]
    calls_per_shape: float
    """Model calls per shape, prefill included (one per octree level)."""
    token_calls_per_shape: float
    """Calls token-by-token decoding of the same octrees takes: one per token (the prefill predicts the first)."""
    elapsed_s: float


def _prompts(tokenizer: Any, labels: Sequence[int | None]) -> tuple[list[list[int]], list[list[int]]]:
    bos = tokenizer.special_tokens["bos"]
    prompts = [[bos, tokenizer.class_id(label)] for label in labels]  # InputError for an unknown label
    return prompts, [[bos, tokenizer.special_tokens["null"]] for _ in labels]


def sample_meshes(pipe: arkit.Pipeline, labels: Sequence[int | None], *, guidance_scale: float = 1.0,
                  temperature: float = 1.0, top_p: float = 1.0, constrained: bool = True, closed: bool = False,
                  seed: int = 0, batch_size: int = 50) -> MeshSamples:
    """One mesh per label from a ``shapes/polygen`` pipeline (``None``: unconditioned).

    ``constrained`` applies :class:`PolygenConstraint` with as many faces as the context
    holds (every sample decodes without index errors and ends with eos); without it the model
    alone decides, and ``metadata['index_errors']`` counts faces the decoder had to drop.
    ``closed`` adds the constraint's closed-surface rule (``PolygenConstraint(closed=True)``).
    """
    tokenizer = pipe.tokenizer
    prompts, negative = _prompts(tokenizer, labels)
    room = pipe.backbone.max_seq_len - 2
    constraint = None
    if constrained:  # as many faces as the context holds after the most vertices: every row ends with eos
        max_faces = min(64, (room - 3 * tokenizer.max_vertices - 2) // (tokenizer.max_face_size + 1))
        if max_faces < 1:
            raise arkit.ConfigError(f"the model's context ({pipe.backbone.max_seq_len}) has no room for a face after "
                                    f"{tokenizer.max_vertices} vertices: use a longer max_seq_len")
        constraint = PolygenConstraint.for_tokenizer(tokenizer, max_faces=max_faces, closed=closed)
    budget = min(constraint.max_tokens, room) if constraint else room
    sampler = arkit.create("sampler", "core/multinomial", temperature=temperature, top_p=top_p)
    pipe = pipe.replace(sampler=sampler)
    guided = guidance_scale != 1.0
    meshes, sequences, start = [], [], time.perf_counter()
    for lo in range(0, len(labels), batch_size):
        chunk = slice(lo, lo + batch_size)
        out = pipe.generate(prompt_ids=prompts[chunk], negative_prompt_ids=negative[chunk] if guided else None,
                            constraint=constraint, max_new_tokens=budget, seed=seed + lo, guidance_scale=guidance_scale)
        for seq, label in zip(out.sequences, labels[chunk]):
            mesh = tokenizer.decode(seq)
            mesh.metadata["label"] = label
            meshes.append(mesh)
            sequences.append(tuple(seq))
    return MeshSamples(meshes=tuple(meshes), sequences=tuple(sequences), elapsed_s=time.perf_counter() - start)


def sample_octrees(pipe: arkit.Pipeline, labels: Sequence[int | None], *, guidance_scale: float = 1.0,
                   temperature: float = 1.0, seed: int = 0, batch_size: int = 25) -> VoxelSamples:
    """One voxel grid per label from a ``shapes/octree`` pipeline, one model call per octree level."""
    tokenizer = pipe.tokenizer
    schedule = OctreeSchedule(tokenizer)
    prompts, negative = _prompts(tokenizer, labels)
    pipe = pipe.replace(sampler=arkit.create("sampler", "core/multinomial", temperature=temperature))
    guided = guidance_scale != 1.0
    voxels, blocks, calls, tokens, start = [], [], 0, 0, time.perf_counter()
    for lo in range(0, len(labels), batch_size):
        chunk = slice(lo, lo + batch_size)
        out = arkit.generate_blocks(pipe, schedule, prompt_ids=prompts[chunk],
                                    negative_prompt_ids=negative[chunk] if guided else None,
                                    seed=seed + lo, guidance_scale=guidance_scale, max_blocks=tokenizer.depth)
        calls += out.calls * len(out.blocks)  # one call serves the whole batch; per shape it is one per level
        for row, label in zip(out.blocks, labels[chunk]):
            voxels.append(Voxels(grid=tokenizer.grid(row), label=label))
            blocks.append(row)
            tokens += sum(len(b) for b in row)
    n = max(1, len(labels))
    return VoxelSamples(voxels=tuple(voxels), blocks=tuple(blocks), calls_per_shape=calls / n,
                        token_calls_per_shape=tokens / n, elapsed_s=time.perf_counter() - start)
