"""The molecules demo: train small SMILES and SELFIES models, sample, evaluate, draw.

:func:`run_demo` is what ``arkit molecules demo`` runs:

1. read ``train_size`` MOSES training molecules (Kekulé SMILES; invalid ones are
   skipped and counted) and a disjoint MOSES test sample for FCD;
2. train the ``molecules/smiles-small`` preset on them, each item behind a tag of
   its Crippen-logP bin (``condition``; 20 % untagged), and the ``molecules/selfies-small``
   preset on the same
   molecules as SELFIES, ``steps`` steps each, saving checkpoints on the way;
3. sample ``samples`` molecules from each: SMILES without and with the validity
   constraint, SELFIES as they come; SMILES validity at each checkpoint;
4. conditioned sampling (lowest and highest bin, plain and guided) and the shift of the mean;
5. the metrics table (:func:`arkit_molecules.metrics.evaluate`) and a PNG grid.
"""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path
import tempfile
import time
from typing import Any

import torch

import arkit
from arkit.training.checkpoint import list_checkpoints

from .conditioning import PropertyBins, property_value
from .datasets import load_smiles
from .metrics import evaluate
from .sampling import sample_molecules
from .selfies_tokenizer import to_selfies

__all__ = ["TRAIN_INFO", "draw_grid", "measure_conditioning", "run_demo", "train_model"]

#: The file next to a saved demo pipeline that records its training data (for novelty).
TRAIN_INFO = "arkit_molecules.json"


def _train_config(steps: int, out_dir: str | None = None, checkpoints: int = 0, seed: int = 0,
                  progress: bool = True) -> arkit.TrainConfig:
    every = max(1, steps // checkpoints) if checkpoints else 0
    return arkit.TrainConfig(steps=steps, batch_size=16, seq_len=128, lr=3e-3, warmup_steps=min(50, steps // 10 + 1),
                             threads=1, seed=seed, out_dir=out_dir, checkpoint_every=every or None,
                             keep_checkpoints=checkpoints or 1, log_every=max(1, steps // 20),
                             progress=progress)


def train_model(preset: str, items: list[str], steps: int, *, checkpoints: int = 0, out_dir: str | None = None,
                seed: int = 0, progress: bool = True) -> arkit.Pipeline:
    """Build ``preset`` and fit it (alphabet first) on ``items`` for ``steps`` steps."""
    torch.manual_seed(seed)
    pipe = arkit.Pipeline.from_preset(preset)
    pipe.fit(items, _train_config(steps, out_dir, checkpoints, seed, progress))
    return pipe


def _at_checkpoint(pipe: arkit.Pipeline, path: Path) -> arkit.Pipeline:
    """A copy of ``pipe`` with the weights of a training checkpoint (``backbone.*`` and ``head.*``)."""
    import safetensors.torch

    weights = safetensors.torch.load_file(str(path / "model.safetensors"))
    backbone, head = copy.deepcopy(pipe.backbone), copy.deepcopy(pipe.head)
    backbone.load_state_dict({k[len("backbone."):]: v for k, v in weights.items() if k.startswith("backbone.")})
    head.load_state_dict({k[len("head."):]: v for k, v in weights.items() if k.startswith("head.")})
    return pipe.replace(backbone=backbone, head=head)


def _jsonable(value: Any) -> Any:
    """NaN (a metric with no valid sample) becomes null: strict JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value



def _validity(smiles: tuple[str, ...]) -> float:
    from rdkit import Chem

    return sum(bool(s) and Chem.MolFromSmiles(s) is not None for s in smiles) / len(smiles)


def draw_grid(smiles: list[str], legends: list[str], path: str | os.PathLike[str], *, per_row: int = 6) -> Path:
    """Draw molecules in a grid PNG (RDKit), written atomically; invalid SMILES are left out."""
    from rdkit import Chem
    from rdkit.Chem import Draw

    pairs = [(m, label) for m, label in ((Chem.MolFromSmiles(s), lg) for s, lg in zip(smiles, legends)) if m is not None]
    image = Draw.MolsToGridImage([m for m, _ in pairs], molsPerRow=per_row, subImgSize=(220, 180),
                                 legends=[label for _, label in pairs])
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=target.parent)
    os.close(fd)
    try:
        image.save(tmp, format="PNG")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a figure is for everyone
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def measure_conditioning(pipe: arkit.Pipeline, bins: PropertyBins, n: int, *, guidance: float = 3.0, seed: int = 0,
                         progress: bool = True) -> dict[str, Any]:
    """Mean property of ``n`` constrained samples behind the lowest and the highest bin's tag, and the shift.

    Measured plainly and with classifier-free guidance (``guidance``; the unconditional
    prompt is ``bos`` alone, which the untagged share of the training items taught).
    """
    result: dict[str, Any] = {"property": bins.prop, "guidance_scale": guidance}
    for mode, scale in (("plain", 1.0), ("guided", guidance)):
        means = {}
        for label, index in (("low", 0), ("high", bins.bins - 1)):
            run = sample_molecules(pipe, n, prompt=bins.tag(index), constrained=True, seed=seed, progress=progress,
                                   guidance_scale=scale)
            values = [v for v in (property_value(s, bins.prop) for s in run.smiles) if v is not None]
            means[label] = sum(values) / len(values) if values else math.nan
        result[mode] = {"tags": [bins.tag(0), bins.tag(bins.bins - 1)], "low_mean": means["low"],
                        "high_mean": means["high"], "shift_high_minus_low": means["high"] - means["low"]}
    return result


def run_demo(*, steps: int = 800, samples: int = 1000, train_size: int = 50_000, out_dir: str = "molecules-demo",
             checkpoints: int = 4, seed: int = 0, condition: str = "logp", progress: bool = True) -> dict[str, Any]:
    """Train, sample and evaluate as the module docstring says; return the results (JSON-ready)."""
    begin = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = load_smiles("moses-train", limit=train_size, seed=seed, kekule=True)
    train = list(data.smiles)
    reference = list(load_smiles("moses-test", limit=2 * samples, seed=seed).smiles)
    values = [property_value(s, condition) for s in train]
    known = [v for v in values if v is not None]
    bins = PropertyBins.fit(train, prop=condition, bins=3, values=values)
    results: dict[str, Any] = {"data": {"dataset": "moses-train", "train_size": train_size, "seed": seed,
                                        "report": str(data.report), "invalid_skipped": data.report.invalid},
                               "steps": steps, "samples": samples, "condition_bins": list(bins.edges),
                               "condition_train_mean": sum(known) / len(known)}
    info = {"dataset": "moses-train", "limit": train_size, "seed": seed, "kekule": True}

    # SMILES, tagged with property bins (20 % untagged so it also samples unconditionally); checkpoints for the validity curve
    with tempfile.TemporaryDirectory() as runs:
        smiles_pipe = train_model("molecules/smiles-small", bins.tagged(train, seed=seed, values=values), steps,
                                  checkpoints=checkpoints, out_dir=runs, seed=seed, progress=progress)
        curve = []
        for path in list_checkpoints(Path(runs) / "checkpoints"):
            step = int(path.name.rsplit("-", 1)[1])
            probe = sample_molecules(_at_checkpoint(smiles_pipe, path), min(samples, 250), seed=seed,
                                     progress=progress)
            curve.append({"step": step, "valid": _validity(probe.smiles)})
    results["smiles_validity_curve"] = curve
    smiles_pipe.save_pretrained(out / "smiles")
    (out / "smiles" / TRAIN_INFO).write_text(json.dumps(info))

    selfies_items, skipped = to_selfies(train)
    results["data"]["selfies_encoder_skipped"] = skipped
    selfies_pipe = train_model("molecules/selfies-small", selfies_items, steps, seed=seed, progress=progress)
    selfies_pipe.save_pretrained(out / "selfies")
    (out / "selfies" / TRAIN_INFO).write_text(json.dumps(info))

    runs_to_eval = {
        "smiles": sample_molecules(smiles_pipe, samples, seed=seed, progress=progress),
        "smiles+constraint": sample_molecules(smiles_pipe, samples, constrained=True, seed=seed, progress=progress),
        "selfies": sample_molecules(selfies_pipe, samples, seed=seed, progress=progress),
    }
    table = {}
    for name, run in runs_to_eval.items():
        row = evaluate(list(run.smiles), train=train, reference=reference)
        row["sampling_s"] = run.seconds
        row["finish_reasons"] = run.finish_reasons
        if run.intervention is not None:
            row["intervention"] = run.intervention.as_dict()
        table[name] = row
    results["table"] = table

    # conditioning: the lowest and highest property bins, constrained so every sample counts; plain and with guidance
    results["conditioning"] = measure_conditioning(smiles_pipe, bins, samples // 2, seed=seed, progress=progress)
    results["conditioning"]["unconditional_mean"] = table["smiles+constraint"][f"{condition}_mean"]

    picks = [s for s in runs_to_eval["smiles+constraint"].smiles if s][:12]
    picks_selfies = [s for s in runs_to_eval["selfies"].smiles if s][:12]
    grid = draw_grid(picks + picks_selfies, ["SMILES + constraint"] * len(picks) + ["SELFIES"] * len(picks_selfies),
                     out / "molecules.png")
    results["grid"] = str(grid)
    results["pipelines"] = {"smiles": str(out / "smiles"), "selfies": str(out / "selfies")}
    results["elapsed_s"] = time.perf_counter() - begin
    (out / "results.json").write_text(json.dumps(_jsonable(results), indent=2))
    return results
