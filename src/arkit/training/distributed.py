"""Data-parallel training on torch's own engine: DDP (or FSDP) under ``torchrun``.

Nothing to configure: ``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``,
and :func:`setup` reads them. With ``WORLD_SIZE > 1`` it joins the process group
(NCCL when CUDA is available, otherwise gloo), places the model on
``cuda:LOCAL_RANK`` (or the CPU) and wraps it in ``DistributedDataParallel`` -- or
``fully_shard`` (FSDP2) when ``TrainConfig.parallel == "fsdp"``. Without those
variables it is one plain process. Rank 0 alone logs, writes metrics and checkpoints.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import attrs
import torch
from torch import nn
import torch.distributed as dist

from ..errors import ConfigError

__all__ = ["Context", "all_reduce_sum", "barrier", "broadcast_object", "no_sync", "setup", "teardown", "wrap"]


@attrs.frozen(kw_only=True)
class Context:
    """Where this process stands: its rank among ``world_size`` and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None
    owns_group: bool = False
    """True when :func:`setup` started the process group (and :func:`teardown` ends it)."""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value.strip() else default
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r} must be an integer (torchrun sets it)") from None


def setup(model_device: torch.device, device: str | None = None) -> Context:
    """Read the ``torchrun`` environment, join the process group if needed, choose the device."""
    world_size = _env_int("WORLD_SIZE", 1)
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if world_size <= 1:
        return Context(device=torch.device(device) if device else model_device)
    cuda = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
    if cuda:
        target = torch.device(f"cuda:{local_rank}")
        torch.cuda.set_device(target)
    else:
        target = torch.device(device or "cpu")
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
        owns = True
    return Context(rank=rank, world_size=world_size, local_rank=local_rank, device=target,
                   backend=dist.get_backend(), owns_group=owns)


def teardown(ctx: Context) -> None:
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, ctx: Context, parallel: str) -> nn.Module:
    """The module the loop calls: ``model`` itself, DDP around it, or it fully sharded (FSDP2)."""
    if not ctx.distributed:
        return model
    if parallel == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for param in model.parameters():  # FSDP shards flat, contiguous storage
            if not param.is_contiguous():
                param.data = param.data.contiguous()
        with torch.no_grad():  # every rank starts from rank 0's weights, as DDP does
            for tensor in model.state_dict().values():
                dist.broadcast(tensor, src=0)
        for block in getattr(getattr(model, "backbone", None), "layers", []):
            fully_shard(block)
        fully_shard(model)
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def no_sync(model: nn.Module, last: bool) -> Any:
    """Skip DDP's gradient all-reduce on every micro-batch but the last of a step."""
    if not last and hasattr(model, "no_sync"):
        return model.no_sync()
    if not last and hasattr(model, "set_requires_gradient_sync"):  # FSDP2
        model.set_requires_gradient_sync(False)
        return contextlib.nullcontext()
    if last and hasattr(model, "set_requires_gradient_sync"):
        model.set_requires_gradient_sync(True)
    return contextlib.nullcontext()


def all_reduce_sum(tensor: torch.Tensor, ctx: Context) -> torch.Tensor:
    """The sum of ``tensor`` over all ranks (itself in one process)."""
    if ctx.distributed:
        tensor = tensor.clone()
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def barrier(ctx: Context) -> None:
    if ctx.distributed:
        dist.barrier()


def broadcast_object(value: Any, ctx: Context) -> Any:
    """Rank 0's ``value`` on every rank."""
    if not ctx.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
