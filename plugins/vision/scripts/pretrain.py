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
from arkit_vision.recipes import SHIPPED_SIZES, ModelSize, shapes_tokenizer
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
    torch.manual_seed(size.seed)
    backbone = arkit.create("backbone", "core/transformer", vocab_size=tokenizer.vocab_size, d_model=size.d_model,
                            n_layers=size.n_layers, n_heads=size.n_heads, max_seq_len=max_seq_len)
    head = arkit.create("head", "core/categorical", vocab_size=tokenizer.vocab_size, d_model=size.d_model)
    return arkit.Pipeline(tokenizer=tokenizer, backbone=backbone, head=head, sampler=content_sampler(tokenizer))


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
    _log(f"{name}: shipped step {best_step} (valid loss {best_loss:.4f}) of {last} to {target}")


def _train(name: str, pipe: arkit.Pipeline, train: list[Any], valid: list[Any], size: ModelSize, seq_len: int,
           out_dir: Path, extra: dict[str, Any], eval_every: int, schedule: Any = None) -> None:
    run = out_dir / name
    if run.exists():
        shutil.rmtree(run)
    run.mkdir(parents=True)
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


def _stage(name: str, out_dir: Path, seed: int, scale: float, eval_every: int) -> None:
    size = attrs.evolve(SIZES[name], seed=seed, steps=max(eval_every, int(SIZES[name].steps * scale)))
    dataset = name.split("-")[0]
    data = split(dataset)
    extra: dict[str, Any] = {"data": DATA[dataset], "label_dropout": size.label_dropout}
    train = with_label_dropout(list(data.train), size.label_dropout, seed=seed)
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
            tokenizer.fit(list(data.train), steps=400)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {', '.join(STAGES)}")
    parser.add_argument("--out-dir", type=Path, default=Path("runs/vision"), help="runs: checkpoints, metrics.jsonl")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps-scale", type=float, default=1.0, help="multiply every model's step count")
    parser.add_argument("--eval-every", type=int, default=100, help="validation loss and checkpoint interval")
    parser.add_argument("--judge-steps", type=int, default=600)
    parser.add_argument("--export-only", action="store_true",
                        help="ship the best checkpoint so far of each stage run under --out-dir, train nothing")
    args = parser.parse_args()
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise SystemExit(f"unknown stages {unknown}; known: {', '.join(STAGES)}")
    torch.set_num_threads(1)
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
            _stage(name, args.out_dir, args.seed, args.steps_scale, args.eval_every)


if __name__ == "__main__":
    main()
