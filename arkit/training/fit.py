"""The fit loop: next-token cross-entropy over packed documents.

Each item becomes ``[bos] + tokens + [eos]`` (whichever special tokens the
tokenizer has); all documents are concatenated into one token stream and
random windows of ``seq_len + 1`` tokens form each batch, as in nanoGPT.
AdamW with decoupled weight decay on matrices only, linear warm-up then cosine
decay, gradient clipping. Randomness comes from one seeded generator.
"""

from __future__ import annotations

from collections.abc import Iterable
import contextlib
import math
import time
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from ..errors import InputError, TrainingError
from ..types import TrainConfig, TrainResult

if TYPE_CHECKING:
    from ..pipeline import Pipeline

__all__ = ["fit"]


def _token_stream(pipe: Pipeline, data: Iterable[Any]) -> torch.Tensor:
    eos = pipe.tokenizer.special_tokens.get("eos")
    stream: list[int] = []
    documents = 0
    for index, item in enumerate(data):
        try:
            ids = pipe.encode(item)
        except InputError as exc:
            raise InputError(f"training item {index} cannot be encoded: {exc}") from None
        stream.extend(ids + ([eos] if eos is not None else []))
        documents += 1
    if documents == 0:
        raise InputError("the training data is empty: give at least one item")
    return torch.tensor(stream, dtype=torch.long)


def _lr_factor(step: int, config: TrainConfig) -> float:
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine


@contextlib.contextmanager
def _threads(n: int | None) -> Any:
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fit(pipe: Pipeline, data: Iterable[Any], config: TrainConfig) -> TrainResult:
    stream = _token_stream(pipe, data)
    if len(stream) < config.seq_len + 1:
        raise InputError(
            f"the training data has {len(stream)} tokens, fewer than seq_len + 1 = {config.seq_len + 1}: "
            f"lower TrainConfig.seq_len or add data"
        )
    if config.seq_len > pipe.backbone.max_seq_len:
        raise InputError(
            f"TrainConfig.seq_len ({config.seq_len}) exceeds the backbone's max_seq_len ({pipe.backbone.max_seq_len})"
        )
    modules = [pipe.backbone, pipe.head]
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        betas=(0.9, 0.95),
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, config))
    generator = torch.Generator().manual_seed(config.seed)
    device = next(pipe.backbone.parameters()).device
    positions = torch.arange(config.seq_len, device=device).expand(config.batch_size, -1)
    offsets = torch.arange(config.seq_len + 1)

    losses: list[float] = []
    start = time.perf_counter()
    progress = None
    if config.progress:
        from tqdm.auto import tqdm

        progress = tqdm(total=config.steps, desc="training", unit="step", dynamic_ncols=True)
    for module in modules:
        module.train()
    try:
        with _threads(config.threads):
            for step in range(config.steps):
                starts = torch.randint(0, len(stream) - config.seq_len, (config.batch_size,), generator=generator)
                windows = stream[starts[:, None] + offsets].to(device)  # [B, seq_len + 1]
                inputs, targets = windows[:, :-1], windows[:, 1:]
                logits = pipe.head(pipe.backbone(inputs, positions=positions))
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"the loss became {loss.item()} at step {step}: lower TrainConfig.lr or check the data"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
                optimizer.step()
                scheduler.step()
                losses.append(loss.item())
                if progress is not None:
                    elapsed = time.perf_counter() - start
                    tokens_per_s = (step + 1) * config.batch_size * config.seq_len / max(elapsed, 1e-9)
                    progress.set_postfix(loss=f"{losses[-1]:.3f}", tok_s=f"{tokens_per_s:,.0f}", refresh=False)
                    progress.update(1)
    finally:
        if progress is not None:
            progress.close()
        for module in modules:
            module.eval()
    return TrainResult(
        losses=tuple(losses),
        steps=config.steps,
        tokens=config.steps * config.batch_size * config.seq_len,
        elapsed_s=time.perf_counter() - start,
    )
