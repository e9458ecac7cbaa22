"""Train the vision plugin's shipped checkpoints (``arkit_vision/checkpoints/<name>``), one torch thread.

Stages, in order (``--stages`` picks some):

- ``judges``: the CNN feature spaces of the Frechet distance, on the digits' and the shapes' training images;
- ``shapes-raster``: a ``vision/vq`` tokenizer (64 codes, 8 x 8 map) fitted on the 2,000 training shapes,
  then a raster model over its codes;
- ``shapes-draft``: a 1-layer model over the shapes-raster codes (the draft of speculative decoding);
- ``digits-raster``: a raster model over 17-level pixel tokens of the 1,350 training digits;
- ``digits-next-scale``: a ``vision/msvq`` tokenizer (32 codes, scales 1, 2, 4, 8) then a next-scale model;
- ``shapes-next-scale``: a shapes ``vision/msvq`` tokenizer (64 codes) then a next-scale model.

Data: ``arkit_vision.pretrained.split``: ``load_digits(seed=0)`` and ``load_shapes(seed=0)`` (the eval's
splits): training images only,
the validation images for early stopping (the weights of the lowest held-out loss are shipped), the
test images never. Every model has label dropout 0.1 (the null class, for guidance).

    python plugins/vision/scripts/pretrain.py --out-dir runs/vision          # everything, about an hour
    python plugins/vision/scripts/pretrain.py --stages digits-raster         # one stage
    # interrupted? ship the best checkpoint so far of each stage that started:
    python plugins/vision/scripts/pretrain.py --out-dir runs/vision --export-only
    # train a finished stage on to 2,000 steps (same data, tokenizer and seed; exact resume from its last checkpoint)
    python plugins/vision/scripts/pretrain.py --out-dir runs/vision --stages shapes-next-scale --resume-steps 2000
    # fine-tune a shipped shapes model on the 2,000 training shapes plus 18,000 more procedural ones
    python plugins/vision/scripts/pretrain.py --out-dir runs/vision --stages shapes-raster --finetune-steps 1500

The shipped shapes models are the 2,000-shape runs above, then fine-tuned (runs under ``runs/vision/finetune``)::

    pretrain.py --out-dir runs/vision --stages shapes-raster --finetune-steps 1500 --extra-shapes 18000
    pretrain.py --out-dir runs/vision/finetune --stages shapes-raster --resume-steps 3000
    pretrain.py --out-dir runs/vision/finetune --stages shapes-raster --resume-steps 6000
    pretrain.py --out-dir runs/vision-ft2 --stages shapes-raster --finetune-steps 6000 --finetune-lr 5e-4 \
        --extra-shapes 40000                      # on from the 6,000-step fine-tune: 42,000 shapes
    pretrain.py --out-dir runs/vision --stages shapes-next-scale --finetune-steps 1500 --extra-shapes 18000
    pretrain.py --out-dir runs/vision --stages shapes-draft --finetune-steps 1500 --finetune-lr 2e-3 --extra-shapes 18000
    pretrain.py --out-dir runs/vision-draft2 --stages shapes-draft --finetune-steps 1500 --finetune-lr 2e-3 \
        --extra-shapes 40000                      # on from that fine-tune: 42,000 shapes

The shipped digits models are the 1,350-digit recipes with residual dropout and longer (the step of the lowest
validation loss ships; both were at step 1,600 of 3,000)::

    pretrain.py --out-dir runs/vision-digits-do --stages digits-raster --steps-scale 2.5 --dropout 0.2
    pretrain.py --out-dir runs/vision-dns-do --stages digits-next-scale --steps-scale 2.5 --dropout 0.2

and the shipped next-scale model is a wider one trained from scratch on the 1,350 training digits plus 40,000
digits sampled from the shipped raster model (which is closer to the real digits in Frechet distance: distillation
through its samples), early stopping on the real validation digits as before (best step 5,800 of 6,000)::

    pretrain.py --out-dir runs/vision-dns-syn-big --stages digits-next-scale --steps-scale 5 --dropout 0.1 \
        --d-model 128 --n-layers 4 --synthetic-digits 40000

(Fine-tuning the 96-wide model on the same data instead, ``--finetune-steps 3000 --synthetic-digits 40000`` then
``--resume-steps 6000``, reached validation loss 1.347 against the wider model's 1.304.)

On 2,000 shapes every shapes model overfits within about 1,000 steps (training 1,000 more steps of
``shapes-next-scale`` raised its validation loss from 2.344 to 2.487), so more steps need more images.
``--finetune-steps`` starts from the shipped checkpoint's weights and tokenizer (a fresh optimiser, warm-up and
cosine schedule at ``--finetune-lr``) and trains on the training images plus ``--extra-shapes`` more shapes drawn
by ``make_shapes(n, seed=1)``: the generator's parameters are continuous, so these are new images, none of the
validation or test shapes (drawn from ``seed=0``). For ``digits-next-scale`` the extra images are
``--synthetic-digits`` samples of the shipped ``digits-raster`` model (its documented decoding, classes in turn,
sampling seeds from 20,000: none of the eval's or the decoding sweep's); the raster model saw only the training
digits, so no validation or test digit reaches the fine-tune. Early stopping is on the same validation images; the run's
``training.json`` records the starting checkpoint (``finetuned_from``) and the data, and the starting
checkpoint's logs (its own and, for a fine-tuned one, its base's, oldest first) are kept as
``base_training_log.jsonl``; a fine-tune of a fine-tune nests the earlier ``finetuned_from``.

``--resume-steps`` keeps the run's cosine schedule shape with the new total: the learning rate rises from its
floor to where a ``--resume-steps`` run would be at the resumed step (a warm restart), then decays again.

Each shipped folder holds the pipeline (float16 safetensors), ``training.json`` (seed, data, steps, best
step and loss, the command) and ``training_log.jsonl`` (the run's metrics, one JSON object a line).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import shutil
import sys
import time
from typing import Any

import attrs
import safetensors.torch
import torch

import arkit
from arkit_vision.features import train_cnn_judge
from arkit_vision.generate import content_sampler
from arkit_vision.msvq import MultiScaleVQTokenizer
from arkit_vision.pixels import PixelTokenizer
from arkit_vision.pretrained import CHECKPOINTS, JUDGE_TRAIN, split
from arkit_vision.recipes import SHIPPED_SIZES, ModelSize, model_pipeline, shapes_tokenizer
from arkit_vision.training import scale_items, with_label_dropout

STAGES = ("judges", "shapes-raster", "shapes-draft", "digits-raster", "digits-next-scale", "shapes-next-scale")

SIZES = SHIPPED_SIZES
DATA = {
    "digits": "scikit-learn digits, load_digits(seed=0): 1,350 train / 150 valid / 297 test, 8 x 8, 17 levels",
    "shapes": "procedural shapes, load_shapes(seed=0): 2,000 train / 200 valid / 400 test, 32 x 32 RGB, 4 classes",
}


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _fp16(folder: Path) -> None:
    """Rewrite every float32 tensor of the saved pipeline's safetensors files as float16."""
    for file in folder.rglob("*.safetensors"):
        weights = safetensors.torch.load_file(str(file))
        half = {k: (v.to(torch.float16) if v.dtype == torch.float32 else v).contiguous() for k, v in weights.items()}
        safetensors.torch.save_file(half, str(file))


def _pipeline(tokenizer: Any, size: ModelSize, max_seq_len: int) -> arkit.Pipeline:
    return model_pipeline(tokenizer, size, max_seq_len).replace(sampler=content_sampler(tokenizer))


def _export(name: str, run: Path, extra: dict[str, Any]) -> None:
    """Ship the lowest-validation-loss checkpoint of ``run`` as ``CHECKPOINTS/name`` (float16)."""
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    saved = {int(p.name.split("-")[-1]): p for p in (run / "checkpoints").glob("checkpoint-*")}
    evals = [(m["step"], m["eval_loss"]) for m in metrics if "eval_loss" in m and m["step"] in saved]
    if not evals:
        raise SystemExit(f"{name}: no evaluated checkpoint under {run} yet")
    best_step, best_loss = min(evals, key=lambda sv: (sv[1], sv[0]))
    pipe = arkit.Pipeline.from_pretrained(run / "init")
    weights = safetensors.torch.load_file(str(saved[best_step] / "model.safetensors"))
    for part, module in (("backbone", pipe.backbone), ("head", pipe.head)):
        module.load_state_dict({k[len(part) + 1:]: v for k, v in weights.items() if k.startswith(part + ".")})
    target = CHECKPOINTS / name
    pipe.save_pretrained(target)
    _fp16(target)
    last = max(m["step"] for m in metrics)
    info = {**extra, "steps_run": last, "best_step": best_step, "best_valid_loss": round(best_loss, 5),
            "eval_losses": evals, "parameters": pipe.num_parameters, "torch_threads": 1}
    (target / "training.json").write_text(json.dumps(info, indent=2) + "\n")
    shutil.copyfile(run / "metrics.jsonl", target / "training_log.jsonl")
    if (run / "base_training_log.jsonl").is_file():  # a --finetune-steps run: the starting checkpoint's log
        shutil.copyfile(run / "base_training_log.jsonl", target / "base_training_log.jsonl")
    _log(f"{name}: shipped step {best_step} (valid loss {best_loss:.4f}) of {last} to {target}")


def _train(name: str, pipe: arkit.Pipeline, train: list[Any], valid: list[Any], size: ModelSize, seq_len: int,
           out_dir: Path, extra: dict[str, Any], eval_every: int, schedule: Any = None, base_log: str | None = None
           ) -> None:
    run = out_dir / name
    if run.exists():
        shutil.rmtree(run)
    run.mkdir(parents=True)
    if base_log is not None:
        (run / "base_training_log.jsonl").write_text(base_log)
    pipe.save_pretrained(run / "init")  # the fitted tokenizer and the untrained model, for --export-only
    extra = {**extra, "seed": size.seed, "model": attrs.asdict(size), "seq_len": seq_len, "eval_every": eval_every,
             "command": " ".join(sys.argv)}
    (run / "extra.json").write_text(json.dumps(extra, indent=2))
    config = arkit.TrainConfig(steps=size.steps, batch_size=size.batch_size, seq_len=seq_len, lr=size.lr,
                               overflow="truncate", threads=1, progress=False, seed=size.seed, eval_every=eval_every,
                               checkpoint_every=eval_every, keep_checkpoints=size.steps // eval_every + 1,
                               out_dir=str(run), log_every=20)
    t0 = time.time()
    _log(f"{name}: training {size.steps} steps ({pipe.num_parameters} parameters)")
    pipe.fit(train, config, eval_data=valid, schedule=schedule)
    _log(f"{name}: trained in {time.time() - t0:.0f} s")
    _export(name, run, extra)


def _judges(seed: int, steps: int) -> None:
    for dataset in ("digits", "shapes"):
        data = split(dataset)
        images = list(data.train if dataset == "digits" else data.train[:JUDGE_TRAIN])
        shape = dict(image_size=8, channels=1, max_value=16, num_classes=10) if dataset == "digits" else \
            dict(image_size=32, channels=3, max_value=255, num_classes=4)
        log: list[dict[str, Any]] = []
        t0 = time.time()
        judge = train_cnn_judge(images, steps=steps, seed=seed, **shape,
                                log=lambda step, loss: log.append({"step": step, "loss": round(loss, 5)}))
        target = judge.save(CHECKPOINTS / f"judge-{dataset}")
        info = {"seed": seed, "data": DATA[dataset] + " (training images only)", "steps": steps, "batch_size": 64,
                "lr": 2e-3, "valid_accuracy": round(judge.accuracy(list(data.valid)), 4),
                "train_seconds": round(time.time() - t0, 1), "command": " ".join(sys.argv)}
        (target / "training.json").write_text(json.dumps(info, indent=2) + "\n")
        (target / "training_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
        _log(f"judge-{dataset}: valid accuracy {info['valid_accuracy']} in {info['train_seconds']} s")


SYNTHETIC_DIGITS_SEED = 20_000
"""The first sampling seed of the synthetic training digits (the eval samples from ``1000 + seed``, the decoding
sweep from ``500 + seed``)."""


def _synthetic_digits(n: int) -> tuple[list[Any], str]:
    """``n`` digits sampled from the shipped ``digits-raster`` model at its documented decoding, classes in turn,
    in batches of 500 with seeds ``SYNTHETIC_DIGITS_SEED`` and on; and how they were made, for ``training.json``."""
    from arkit_vision.evaluation import DECODING, _sample

    raster = arkit.Pipeline.from_pretrained(CHECKPOINTS / "digits-raster")
    images: list[Any] = []
    for i, start in enumerate(range(0, n, 500)):
        labels = [j % 10 for j in range(start, min(n, start + 500))]
        images += _sample(raster, "raster", labels, DECODING["digits_raster"], seed=SYNTHETIC_DIGITS_SEED + i).images
    recipe = (f"{n:,} digits sampled from the shipped digits-raster model ({DECODING['digits_raster'].describe()}), "
              f"classes in turn, batches of 500 with seeds {SYNTHETIC_DIGITS_SEED} and on")
    return images, recipe


def _stage(name: str, out_dir: Path, seed: int, scale: float, eval_every: int, dropout: float | None = None,
           d_model: int | None = None, n_layers: int | None = None, synthetic: int = 0) -> None:
    size = attrs.evolve(SIZES[name], seed=seed, steps=max(eval_every, int(SIZES[name].steps * scale)))
    if dropout is not None:
        size = attrs.evolve(size, dropout=dropout)
    if d_model is not None:
        size = attrs.evolve(size, d_model=d_model, n_heads=max(1, d_model // 32))  # heads of 32
    if n_layers is not None:
        size = attrs.evolve(size, n_layers=n_layers)
    dataset = name.split("-")[0]
    data = split(dataset)
    extra: dict[str, Any] = {"data": DATA[dataset], "label_dropout": size.label_dropout}
    images = list(data.train)
    if synthetic:
        if name != "digits-next-scale":
            raise SystemExit(f"--synthetic-digits applies to digits-next-scale, not {name}")
        more, recipe = _synthetic_digits(synthetic)
        images += more
        extra.update(data=f"{DATA[dataset]}; the training digits plus {recipe}", synthetic_digits=synthetic)
    train = with_label_dropout(images, size.label_dropout, seed=seed)
    if name == "digits-raster":
        tokenizer = PixelTokenizer()
        seq_len = tokenizer.num_content_tokens + 2
        _train(name, _pipeline(tokenizer, size, seq_len + 8), train, list(data.valid), size, seq_len, out_dir, extra,
               eval_every)
    elif name in ("shapes-raster", "shapes-draft"):
        if name == "shapes-raster":
            t0 = time.time()
            tokenizer = shapes_tokenizer(data, codebook_size=64, warmup_steps=800, steps=400, seed=seed)
            extra["tokenizer"] = {"name": "vision/vq", "codebook_size": 64, "warmup_steps": 800, "fit_steps": 400,
                                  "fit_seconds": round(time.time() - t0, 1),
                                  "test_codebook_usage": round(tokenizer.codebook_usage(list(data.valid)), 4)}
            _log(f"shapes vq tokenizer fitted: {extra['tokenizer']}")
        else:
            tokenizer = arkit.Pipeline.from_pretrained(CHECKPOINTS / "shapes-raster").tokenizer
            extra["tokenizer"] = "the shipped shapes-raster pipeline's vision/vq tokenizer"
        seq_len = tokenizer.num_content_tokens + 2
        _train(name, _pipeline(tokenizer, size, seq_len + 8), train, list(data.valid), size, seq_len, out_dir, extra,
               eval_every)
    else:  # next-scale
        t0 = time.time()
        if dataset == "digits":
            tokenizer = MultiScaleVQTokenizer(codebook_size=32, seed=seed)
            tokenizer.fit(list(data.train), steps=400)  # the real training digits only
            extra["tokenizer"] = {"name": "vision/msvq", "codebook_size": 32, "scales": [1, 2, 4, 8], "fit_steps": 400}
        else:
            tokenizer = shapes_tokenizer(data, multi_scale=True, codebook_size=64, warmup_steps=800, steps=400,
                                         seed=seed)
            extra["tokenizer"] = {"name": "vision/msvq", "codebook_size": 64, "scales": [1, 2, 4, 8],
                                  "warmup_steps": 800, "fit_steps": 400}
        extra["tokenizer"]["fit_seconds"] = round(time.time() - t0, 1)
        _log(f"{name} tokenizer fitted: {extra['tokenizer']}")
        schedule = tokenizer.schedule
        seq_len = 2 + schedule.input_length
        _train(name, _pipeline(tokenizer, size, seq_len + 8), scale_items(tokenizer, train),
               scale_items(tokenizer, list(data.valid)), size, seq_len, out_dir, extra, eval_every, schedule=schedule)


EXTRA_SHAPES_SEED = 1
"""The seed of the extra training shapes (``make_shapes(n, seed=EXTRA_SHAPES_SEED)``); the eval's split uses 0."""


def _finetune(name: str, out_dir: Path, steps: int, lr: float, extra: int, eval_every: int) -> None:
    """Train the shipped ``name`` on from its weights on its training images plus ``extra`` more: new procedural
    shapes for a shapes stage, digits sampled from the shipped raster model for ``digits-next-scale``."""
    from arkit_vision.datasets import make_shapes

    if not name.startswith("shapes-") and name != "digits-next-scale":
        raise SystemExit(f"--finetune-steps applies to the shapes stages and digits-next-scale, not {name}")
    shipped = arkit.Pipeline.from_pretrained(CHECKPOINTS / name)
    before = json.loads((CHECKPOINTS / name / "training.json").read_text())
    size = attrs.evolve(ModelSize(**before["model"]), steps=steps, lr=lr)
    pipe = _pipeline(shipped.tokenizer, size, int(before["seq_len"]) + 8)
    for part, module in (("backbone", pipe.backbone), ("head", pipe.head)):
        module.load_state_dict({k: v.float() for k, v in getattr(shipped, part).state_dict().items()})
    dataset = name.split("-")[0]
    if dataset == "digits" and extra <= 0:
        raise SystemExit("--finetune-steps of digits-next-scale trains on sampled digits: give --synthetic-digits N")
    data = split(dataset)
    t0 = time.time()
    if dataset == "digits":
        synthetic, recipe = _synthetic_digits(extra)
        images = list(data.train) + synthetic
        described = (f"scikit-learn digits, 8 x 8, 17 levels: the 1,350 training digits of load_digits(seed=0) plus "
                     f"{recipe}; valid 150, test 297 of load_digits(seed=0) (never trained on)")
    else:
        images = list(data.train) + make_shapes(extra, seed=EXTRA_SHAPES_SEED)
        described = ("procedural shapes, 32 x 32 RGB, 4 classes: the 2,000 training shapes of load_shapes(seed=0) plus "
                     f"{extra:,} drawn by make_shapes({extra}, seed={EXTRA_SHAPES_SEED}); valid 200, "
                     "test 400 of load_shapes(seed=0) (never trained on)")
    train = with_label_dropout(images, size.label_dropout, seed=size.seed)
    valid, schedule = list(data.valid), None
    if name.endswith("next-scale"):
        schedule = pipe.tokenizer.schedule
        train, valid = scale_items(pipe.tokenizer, train), scale_items(pipe.tokenizer, valid)
    _log(f"{name}: {len(images)} training images prepared in {time.time() - t0:.0f} s")
    previous = {k: before[k] for k in ("model", "steps_run", "best_step", "best_valid_loss", "command",
                                       "extra_shapes", "synthetic_digits", "resumed", "finetuned_from") if k in before}
    info = {"data": described, "label_dropout": size.label_dropout, "tokenizer": before.get("tokenizer"),
            ("synthetic_digits" if dataset == "digits" else "extra_shapes"): extra,
            "finetuned_from": {"checkpoint": f"shipped {name}", **previous, "log": "base_training_log.jsonl"}}
    # the logs of every run before this one, oldest first (a fine-tune of a fine-tune keeps its base's too)
    base = CHECKPOINTS / name / "base_training_log.jsonl"
    base_log = (base.read_text() if base.is_file() else "") + (CHECKPOINTS / name / "training_log.jsonl").read_text()
    _train(name, pipe, train, valid, size, int(before["seq_len"]), out_dir, info, eval_every, schedule=schedule,
           base_log=base_log)


def _resume(name: str, out_dir: Path, steps: int) -> None:
    """Train the finished run ``out_dir/name`` on to ``steps`` from its latest checkpoint, then ship its best."""
    run = out_dir / name
    if not (run / "extra.json").is_file() or not (run / "checkpoints").is_dir():
        raise SystemExit(f"{name}: nothing to resume under {run}; train the stage first")
    extra = json.loads((run / "extra.json").read_text())
    size = attrs.evolve(ModelSize(**extra["model"]), steps=steps)
    pipe = arkit.Pipeline.from_pretrained(run / "init")  # the run's fitted tokenizer and initial model
    data = split(name.split("-")[0])
    images = list(data.train)
    if extra.get("extra_shapes"):  # a --finetune-steps run: the same extra shapes again
        from arkit_vision.datasets import make_shapes

        images += make_shapes(int(extra["extra_shapes"]), seed=EXTRA_SHAPES_SEED)
    if extra.get("synthetic_digits"):  # the same synthetic digits again (the shipped raster model is unchanged)
        images += _synthetic_digits(int(extra["synthetic_digits"]))[0]
    train = with_label_dropout(images, size.label_dropout, seed=size.seed)
    valid, schedule = list(data.valid), None
    if name.endswith("next-scale"):
        schedule = pipe.tokenizer.schedule
        train, valid = scale_items(pipe.tokenizer, train), scale_items(pipe.tokenizer, valid)
    done = max(int(p.name.split("-")[-1]) for p in (run / "checkpoints").glob("checkpoint-*"))
    if done >= steps:
        raise SystemExit(f"{name}: {run} is already at step {done} >= --resume-steps {steps}")
    eval_every = int(extra["eval_every"])
    config = arkit.TrainConfig(steps=steps, batch_size=size.batch_size, seq_len=int(extra["seq_len"]), lr=size.lr,
                               overflow="truncate", threads=1, progress=False, seed=size.seed, eval_every=eval_every,
                               checkpoint_every=eval_every, keep_checkpoints=steps // eval_every + 1,
                               out_dir=str(run), log_every=20, resume_from="latest")
    t0 = time.time()
    _log(f"{name}: resuming at step {done}, training on to {steps}")
    pipe.fit(train, config, eval_data=valid, schedule=schedule)
    _log(f"{name}: trained {steps - done} more steps in {time.time() - t0:.0f} s")
    # recorded once the steps are done (a resume that fails or is stopped leaves no entry; the next one goes on
    # from the newest checkpoint and records that)
    extra["resumed"] = [*extra.get("resumed", []), {"from_step": done, "to_step": steps, "command": " ".join(sys.argv)}]
    extra["model"] = attrs.asdict(size)
    (run / "extra.json").write_text(json.dumps(extra, indent=2))
    _export(name, run, extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {', '.join(STAGES)}")
    parser.add_argument("--out-dir", type=Path, default=Path("runs/vision"), help="runs: checkpoints, metrics.jsonl")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps-scale", type=float, default=1.0, help="multiply every model's step count")
    parser.add_argument("--eval-every", type=int, default=100, help="validation loss and checkpoint interval")
    parser.add_argument("--judge-steps", type=int, default=600)
    parser.add_argument("--resume-steps", type=int, default=None,
                        help="train each stage's finished run under --out-dir on to this many steps, then ship it")
    parser.add_argument("--finetune-steps", type=int, default=None,
                        help="shapes stages: train the shipped checkpoint on for this many steps (fresh optimiser)")
    parser.add_argument("--finetune-lr", type=float, default=1e-3, help="peak learning rate of --finetune-steps")
    parser.add_argument("--extra-shapes", type=int, default=18_000,
                        help="procedural shapes added to the 2,000 training shapes by --finetune-steps")
    parser.add_argument("--synthetic-digits", type=int, default=0,
                        help="digits-next-scale: digits sampled from the shipped digits-raster model, added to the "
                             "1,350 training digits (from scratch or by --finetune-steps)")
    parser.add_argument("--dropout", type=float, default=None,
                        help="the backbone's residual dropout for the stages trained from scratch (default: the "
                             "stage's size in arkit_vision.recipes.SHIPPED_SIZES)")
    parser.add_argument("--d-model", type=int, default=None,
                        help="the backbone's width for the stages trained from scratch (heads of 32; default: the "
                             "stage's size)")
    parser.add_argument("--n-layers", type=int, default=None,
                        help="the backbone's depth for the stages trained from scratch (default: the stage's size)")
    parser.add_argument("--export-only", action="store_true",
                        help="ship the best checkpoint so far of each stage run under --out-dir, train nothing")
    args = parser.parse_args()
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise SystemExit(f"unknown stages {unknown}; known: {', '.join(STAGES)}")
    torch.set_num_threads(1)
    if args.finetune_steps is not None:
        for name in stages:
            _finetune(name, args.out_dir / "finetune", args.finetune_steps, args.finetune_lr,
                      args.synthetic_digits if name.startswith("digits") else args.extra_shapes, args.eval_every)
        return
    if args.resume_steps is not None:
        for name in stages:
            if name == "judges":
                raise SystemExit("--resume-steps applies to the model stages, not the judges")
            _resume(name, args.out_dir, args.resume_steps)
        return
    if args.export_only:
        for name in stages:
            run = args.out_dir / name
            if name != "judges" and (run / "metrics.jsonl").is_file():
                _export(name, run, json.loads((run / "extra.json").read_text()))
        return
    for name in stages:
        if name == "judges":
            _judges(args.seed, args.judge_steps)
        else:
            _stage(name, args.out_dir, args.seed, args.steps_scale, args.eval_every, args.dropout, args.d_model,
                   args.n_layers, args.synthetic_digits if name == "digits-next-scale" else 0)


if __name__ == "__main__":
    main()
