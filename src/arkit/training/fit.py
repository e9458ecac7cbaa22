"""The fit loop: next-token training of a pipeline's backbone and head on packed documents.

Read top to bottom, one optimiser step is:

1. take the next global batch of packed rows (``batch_size * grad_accum_steps *
   world_size`` rows; see ``data.py``), keep this process's slice, cut it into
   ``grad_accum_steps`` micro-batches;
2. for each micro-batch: forward under bf16 autocast if enabled, the objective's
   *sum* of losses divided by the number of scored tokens in the whole global batch
   (so accumulation and data parallelism reproduce one big batch), backward
   (DDP all-reduces gradients on the last micro-batch only);
3. check the loss and the gradient norm are finite (else stop, naming the step, or
   skip the update), clip, AdamW step (decoupled weight decay on matrices only),
   linear warm-up then cosine learning rate;
4. on rank 0: progress bar (loss, tokens/s, time left), a JSON line of metrics, a
   checkpoint every ``checkpoint_every`` steps; every ``eval_every`` steps all ranks
   evaluate on the held-out rows.

Steps are counted from 1: "step 3" is the third optimiser update, ``losses[2]`` its loss,
``checkpoint-00000003`` the state after it.
"""

from __future__ import annotations

from collections.abc import Iterable
import contextlib
import copy
import json
import math
from pathlib import Path
import time
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..errors import ConfigError, InputError, TrainingError
from ..types import TrainConfig, TrainResult
from . import checkpoint as ckpt
from . import distributed as D
from .data import IGNORE, Batch, Row, RowStream, Source, attention_mask, collate, eval_rows, shard_slice
from .objective import loss_sum

if TYPE_CHECKING:
    from ..pipeline import Pipeline

__all__ = ["fit"]


class _Model(nn.Module):
    """Backbone and head as one module (what DDP and FSDP wrap); forward returns (loss sum, count)."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor, positions: torch.Tensor,
                segments: torch.Tensor, blocks: torch.Tensor | None = None,
                extras: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.backbone(inputs, positions=positions, attention_mask=attention_mask(segments, blocks),
                               **(extras or {}))
        valid = segments > 0 if targets.is_floating_point() else None  # real-valued targets: padding by segment
        return loss_sum(self.head, hidden, targets, valid)


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


def _use_bf16(mode: str, device: torch.device) -> bool:
    if mode == "off":
        return False
    supported = device.type == "cpu" or (device.type == "cuda" and torch.cuda.is_bf16_supported())
    if mode == "bf16" and not supported:
        raise ConfigError(f"mixed_precision='bf16' is not supported on {device}: use 'auto' or 'off'")
    return supported if mode == "bf16" else device.type == "cuda" and supported


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        betas=(0.9, 0.95),
    )


def _scored(row: Row) -> int:
    """Positions of a row that have a target: not IGNORE (ids), or not padding (real vectors)."""
    if row.targets and isinstance(row.targets[0], list):
        return sum(s > 0 for s in row.segments)
    return sum(t != IGNORE for t in row.targets)


def _padding_row(seq_len: int, pad_id: int, like: Row | None = None) -> Row:
    """A row that scores nothing (segment 0 throughout), shaped like ``like`` (ids or real vectors)."""
    extras = None if like is None or like.extras is None else {k: torch.zeros_like(v) for k, v in like.extras.items()}
    if like is not None and like.targets and isinstance(like.targets[0], list):
        zero = [0.0] * len(like.targets[0])
        return Row([zero] * seq_len, [zero] * seq_len, [0] * seq_len, [0] * seq_len, None, extras)
    return Row([pad_id] * seq_len, [IGNORE] * seq_len, [0] * seq_len, [0] * seq_len, None, extras)


class _Metrics:
    """Metrics as JSON lines (rank 0). A fresh run starts the file; a resumed one keeps the lines up to its step."""

    def __init__(self, path: str | None, resumed_from: int) -> None:
        self.path = Path(path) if path else None
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = []
        if resumed_from and self.path.is_file():
            for line in self.path.read_text().splitlines():
                with contextlib.suppress(json.JSONDecodeError, TypeError):
                    if json.loads(line).get("step", 0) <= resumed_from:
                        kept.append(line + "\n")
        self.path.write_text("".join(kept))

    def write(self, record: dict[str, Any]) -> None:
        if self.path is not None:
            with self.path.open("a") as fh:
                fh.write(json.dumps(record) + "\n")


def fit(pipe: Pipeline, data: Iterable[Any], config: TrainConfig, *, eval_data: Any = None,
        schedule: Any = None) -> TrainResult:
    """Train ``pipe``'s backbone and head in place; see the module docstring and :class:`arkit.TrainConfig`."""
    backbone, head = pipe.backbone, pipe.head
    if config.seq_len > getattr(backbone, "max_seq_len", config.seq_len):
        raise InputError(
            f"TrainConfig.seq_len ({config.seq_len}) exceeds the backbone's max_seq_len ({backbone.max_seq_len}): "
            f"lower seq_len (longer documents are split or truncated, see TrainConfig.overflow)"
        )
    if config.eval_every is not None and eval_data is None and config.eval_fraction == 0.0:
        raise ConfigError("TrainConfig.eval_every needs held-out data: pass eval_data or set eval_fraction")
    model_device = next(backbone.parameters()).device
    ctx = D.setup(model_device, config.device)
    try:
        with _threads(config.threads):
            return _Trainer(pipe, data, config, eval_data, ctx, schedule).run()
    finally:
        D.teardown(ctx)


class _Trainer:
    def __init__(self, pipe: Pipeline, data: Any, config: TrainConfig, eval_data: Any, ctx: D.Context,
                 schedule: Any = None) -> None:
        self.pipe, self.config, self.ctx = pipe, config, ctx
        tokenizer = pipe.tokenizer
        self.pad_id = int(tokenizer.special_tokens.get("pad", 0))
        eos = tokenizer.special_tokens.get("eos")
        source = Source(data, seed=config.seed, shuffle=config.shuffle, shuffle_buffer=config.shuffle_buffer,
                        eval_fraction=0.0 if eval_data is not None else config.eval_fraction)
        pack = dict(seq_len=config.seq_len, overflow=config.overflow, pad_id=self.pad_id, schedule=schedule)
        self.stream = RowStream(source, pipe.encode, eos, **pack)  # type: ignore[arg-type]
        self.eval = None
        if eval_data is not None or config.eval_fraction > 0:
            rows = eval_rows(source, pipe.encode, eos, eval_data=eval_data, **pack)  # type: ignore[arg-type]
            self.eval = rows
        self.global_rows = config.batch_size * config.grad_accum_steps * ctx.world_size
        self.out = Path(config.out_dir) if config.out_dir else None
        self.checkpoints = self.out / "checkpoints" if self.out else None

    # -- set-up ------------------------------------------------------------------------
    def _resume_path(self) -> Path | None:
        target = self.config.resume_from
        if target is None:
            return None
        if target == "latest":
            return ckpt.latest(self.checkpoints) if self.checkpoints else None
        path = Path(target)
        if not path.is_dir():
            raise ckpt.CheckpointError(f"cannot resume from {path}: no such checkpoint folder")
        return path

    def run(self) -> TrainResult:
        config, ctx, pipe = self.config, self.ctx, self.pipe
        pipe.to(ctx.device)
        fsdp = ctx.distributed and config.parallel == "fsdp"
        # FSDP reshapes the modules it shards, so it trains copies and copies the weights back at the end
        core = _Model(copy.deepcopy(pipe.backbone), copy.deepcopy(pipe.head)) if fsdp else _Model(pipe.backbone, pipe.head)
        arch = ckpt.architecture(pipe.components)
        resume = self._resume_path()
        state = ckpt.read(resume, arch) if resume is not None else None
        if state is not None:
            ckpt.load_weights(core, state["weights"], resume)
        model = D.wrap(core, ctx, config.parallel)
        optimizer = _optimizer(core, config)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, config))
        losses: list[float] = []
        eval_losses: list[tuple[int, float]] = []
        skipped: list[int] = []
        start_step, tokens_before = 0, 0
        if state is not None:
            record = state["record"]
            self._load_optimizer(core, optimizer, state["optimizer"], fsdp)
            scheduler.load_state_dict(record["scheduler"])
            self.stream.load_state(record["data"])
            ckpt.restore_rng(state["rng"], ctx.rank)
            ckpt.restore_python_random(record)
            start_step, tokens_before = int(record["step"]), int(record["tokens"])
            losses, skipped = [float(x) for x in record["losses"]], list(record["skipped_steps"])
            eval_losses = [(int(s), float(v)) for s, v in record["eval_losses"]]
        if start_step > config.steps:
            raise ckpt.CheckpointError(f"{resume} is at step {start_step}, past TrainConfig.steps = {config.steps}")
        use_bf16 = _use_bf16(config.mixed_precision, ctx.device)
        autocast = lambda: torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=use_bf16)  # noqa: E731
        metrics = _Metrics(
            (config.metrics_path or (str(self.out / "metrics.jsonl") if self.out else None)) if ctx.is_main else None,
            start_step,
        )
        progress = None
        if config.progress and ctx.is_main:
            from tqdm.auto import tqdm

            progress = tqdm(total=config.steps, initial=start_step, desc="training", unit="step", dynamic_ncols=True)
        last_checkpoint: str | None = str(resume) if resume else None
        tokens, run_tokens, start = tokens_before, 0, time.perf_counter()
        core.train()
        try:
            for step in range(start_step + 1, config.steps + 1):
                # 1. this step's rows: the same global batch on every rank, this rank's slice of it
                rows = self.stream.take(self.global_rows)
                count = sum(_scored(r) for r in rows)  # scored positions, all ranks
                mine = rows[shard_slice(len(rows), ctx.rank, ctx.world_size)]
                b = config.batch_size
                micro = [collate(mine[i * b : (i + 1) * b]) for i in range(config.grad_accum_steps)]
                # 2. forward and backward, each micro-batch weighted by its share of the global batch
                optimizer.zero_grad(set_to_none=True)
                total = torch.zeros((), device=ctx.device)
                for j, batch in enumerate(micro):
                    batch = batch.to(ctx.device)
                    with D.no_sync(model, last=j == len(micro) - 1), autocast():
                        loss_sum_, _ = model(*batch)
                    (loss_sum_ * (ctx.world_size / count)).backward()
                    total += loss_sum_.detach().float()
                loss = float(D.all_reduce_sum(total, ctx)) / count
                # 3. a finite loss and gradient, clipping, the update, the schedule
                norm = torch.nn.utils.clip_grad_norm_(core.parameters(), config.grad_clip if config.grad_clip is not None else math.inf)
                norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
                if not (math.isfinite(loss) and math.isfinite(norm)):
                    what = f"the loss became {loss}" if not math.isfinite(loss) else f"the gradient norm became {norm}"
                    if config.on_nonfinite == "raise":
                        raise TrainingError(
                            f"{what} at step {step}: lower TrainConfig.lr or check the data "
                            f"(TrainConfig.on_nonfinite='skip' drops such batches instead)"
                        )
                    skipped.append(step)
                    optimizer.zero_grad(set_to_none=True)
                else:
                    optimizer.step()
                lr = scheduler.get_last_lr()[0]
                scheduler.step()
                losses.append(loss)
                tokens += count
                run_tokens += count
                # 4. report, evaluate, checkpoint
                elapsed = time.perf_counter() - start
                tokens_per_s = run_tokens / max(elapsed, 1e-9)
                if step % config.log_every == 0 or step == config.steps:
                    metrics.write({"step": step, "loss": loss, "lr": lr, "grad_norm": norm, "tokens": tokens,
                                   "tokens_per_s": round(tokens_per_s, 1), "elapsed_s": round(elapsed, 3),
                                   **({"skipped": True} if skipped and skipped[-1] == step else {})})
                if progress is not None:
                    progress.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tokens_per_s:,.0f}", refresh=False)
                    progress.update(1)
                if self.eval is not None and config.eval_every and (step % config.eval_every == 0 or step == config.steps):
                    value = self._evaluate(model, core, autocast)
                    eval_losses.append((step, value))
                    metrics.write({"step": step, "eval_loss": value})
                if config.checkpoint_every and (step % config.checkpoint_every == 0 or step == config.steps):
                    record = {"data": self.stream.state(), "scheduler": scheduler.state_dict(), "tokens": tokens,
                              "losses": losses, "skipped_steps": skipped, "eval_losses": eval_losses,
                              "architecture": arch, "world_size": ctx.world_size,
                              "config": {k: v for k, v in _config_dict(config).items()}}
                    last_checkpoint = self._save(step, core, optimizer, record, fsdp)
        finally:
            if progress is not None:
                progress.close()
            core.eval()
        if fsdp:
            self._copy_back(core)
        pipe.backbone.eval(), pipe.head.eval()
        if self.out is not None:
            if ctx.is_main:
                pipe.save_pretrained(self.out / "pipeline")
            D.barrier(ctx)
        return TrainResult(
            losses=tuple(losses),
            steps=config.steps,
            tokens=tokens,
            elapsed_s=time.perf_counter() - start,
            eval_losses=tuple(eval_losses),
            skipped_steps=tuple(skipped),
            resumed_from=start_step,
            checkpoint=last_checkpoint,
            run_tokens=run_tokens,
        )

    # -- evaluation ----------------------------------------------------------------------
    @torch.no_grad()
    def _evaluate(self, model: nn.Module, core: _Model, autocast: Any) -> float:
        """Mean held-out loss over all ranks. Every rank runs the same number of batches
        (short shards are padded with rows that score nothing), as FSDP needs."""
        ctx, b = self.ctx, self.config.batch_size
        rows = self.eval or []
        per_rank = -(-len(rows) // ctx.world_size)
        mine = rows[ctx.rank :: ctx.world_size]
        mine += [_padding_row(self.config.seq_len, self.pad_id, rows[0] if rows else None)] * (per_rank - len(mine))
        batches = [mine[i : i + b] for i in range(0, len(mine), b)][: self.config.eval_batches]
        runner = model if self.config.parallel == "fsdp" else core  # DDP's forward would sync buffers
        core.eval()
        total, count = torch.zeros((), device=ctx.device), torch.zeros((), device=ctx.device)
        for rows_ in batches:
            with autocast():
                s, n = runner(*collate(rows_).to(ctx.device))
            total += s.float()
            count += n
        core.train()
        both = D.all_reduce_sum(torch.stack([total, count.float()]), ctx)
        return float(both[0] / both[1].clamp(min=1))

    # -- checkpoints ---------------------------------------------------------------------
    def _full_states(self, core: _Model, optimizer: torch.optim.Optimizer, fsdp: bool) -> tuple[dict, dict]:
        if not fsdp:
            return core.state_dict(), optimizer.state_dict()
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

        return get_state_dict(core, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))

    def _load_optimizer(self, core: _Model, optimizer: torch.optim.Optimizer, state: dict, fsdp: bool) -> None:
        try:
            if fsdp:
                from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

                set_optimizer_state_dict(core, optimizer, state, options=StateDictOptions(full_state_dict=True))
            else:
                optimizer.load_state_dict(state)
        except (ValueError, KeyError, RuntimeError) as exc:
            raise ckpt.CheckpointError(f"the checkpoint's optimiser state does not fit this model: {exc}") from None

    def _save(self, step: int, core: _Model, optimizer: torch.optim.Optimizer, record: dict, fsdp: bool) -> str:
        ctx = self.ctx
        model_state, optim_state = self._full_states(core, optimizer, fsdp)
        rng = [ckpt.rng_state()]
        if ctx.distributed:  # every rank's random state, gathered on rank 0
            import torch.distributed as dist

            gathered: list[Any] = [None] * ctx.world_size
            dist.all_gather_object(gathered, {k: v.cpu() for k, v in rng[0].items()})
            rng = gathered
        path = self.checkpoints / f"checkpoint-{step:08d}"  # type: ignore[operator]
        if ctx.is_main:
            path = ckpt.save(self.checkpoints, step=step, model_state=model_state, optimizer_state=optim_state,  # type: ignore[arg-type]
                             rng_states=rng, trainer=record, keep=self.config.keep_checkpoints)
        D.barrier(ctx)
        return str(path)

    def _copy_back(self, core: _Model) -> None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        full = get_model_state_dict(core, options=StateDictOptions(full_state_dict=True))
        for name, module in (("backbone", self.pipe.backbone), ("head", self.pipe.head)):
            prefix = name + "."
            module.load_state_dict({k[len(prefix):]: v for k, v in full.items() if k.startswith(prefix)})


def _config_dict(config: TrainConfig) -> dict[str, Any]:
    import attrs

    return attrs.asdict(config)
