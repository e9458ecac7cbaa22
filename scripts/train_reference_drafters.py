"""Train the drafters shipped for ``core/ref-text``: a draft model, Medusa heads and an EAGLE layer (issue 25).

Speculative decoding pays only when the drafter guesses what the target will say. The
drafters that ``arkit bench speculative`` used to train on the spot (a 1-layer draft
model, 250 steps on the help text; Medusa heads, 150 steps) barely agreed with the
reference model. These are trained on the reference model's own data and curriculum
(``scripts/train_reference.py``: the stdlib's source and help text, copy, quote and edit
items), long enough to agree with it:

- **draft model** (``core/ref-text-draft``): a ``core/transformer`` of 2 layers, d_model
  128, 4 heads, context 512 (two layers, so that it can form the induction heads that
  copying needs), trained in the reference model's three stages: fill rows, fill rows over
  small alphabets, then text with copy structure (at a learning rate of 1e-3 its induction
  heads had not formed after 700 copy steps: copy test 0.08; at 2e-3 and 1,500, 0.99).
  About a third of the target's step cost at batch 1 on a CPU.
- **Medusa heads** (``core/ref-text-medusa``): five heads (one per draft slot of the
  benchmark) on the frozen reference model, self-distilled: head ``i`` learns the target's
  own distribution ``i`` places on, on the stage-3 text mix.
- **EAGLE layer** (``core/ref-text-eagle``): one transformer layer over the frozen reference
  model's features paired with the next token (:func:`arkit.training.eagle.train_eagle`, the
  paper's loss), on the stage-3 text mix. It attends over the context, so it can copy, which
  Medusa's heads cannot.

Each is written as a drafter-only folder (``pipeline.json`` with a single ``drafter``
component, float16 weights) with ``training.json`` beside it: seed, data, steps, loss log
and the agreement with the target on held-out text (how often the drafter's first guess
is the target's greedy token). The presets load the reference model's weights from its
own folder and the drafter's from these.

    python scripts/train_reference_drafters.py --out-dir runs/ref-drafters            # both, then export
    python scripts/train_reference_drafters.py --out-dir runs/ref-drafters --resume   # go on after a stop
    python scripts/train_reference_drafters.py --only medusa                          # one of the three
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import random
import string
import sys

import torch

import arkit
from arkit.drafters.draft_model import DraftModel
from arkit.drafters.eagle import EagleDrafter
from arkit.training.eagle import train_eagle
from arkit.training.medusa import train_medusa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_reference import (COPY_MIX, HARD_MIX, MIX, ROOT, STAGES, copy_test, dataset,  # noqa: E402
                             stages_log, train_stages)

CHECKPOINTS = ROOT / "src" / "arkit" / "checkpoints"
DRAFT_DIMS = {"d_model": 128, "n_layers": 2, "n_heads": 4, "max_seq_len": 512}
MEDUSA_HEADS = 5


def _command() -> str:
    return " ".join(["python", "scripts/train_reference_drafters.py", *sys.argv[1:]])


def _target() -> arkit.Pipeline:
    return arkit.Pipeline.from_preset("core/ref-text", sampler=arkit.create("sampler", "core/greedy"))


def _draft_pipeline() -> arkit.Pipeline:
    return arkit.Pipeline.from_preset("core/tiny-byte", pretrained=False, backbone=DRAFT_DIMS,
                                      head={"d_model": DRAFT_DIMS["d_model"]},
                                      sampler=arkit.create("sampler", "core/greedy"))


def _held_rows(target: arkit.Pipeline, n: int = 16, seq_len: int = 256, seed: int = 99,
               max_files: int | None = None) -> torch.Tensor:
    """``n`` held-out rows of ``seq_len`` token ids (stdlib files no training document comes from)."""
    _, held, _ = dataset(1, 1, 1, seed, {"text": 1.0}, max_files=max_files)
    rows = [target.encode(doc)[:seq_len] for doc in held if len(doc.encode("utf-8")) > seq_len][:: max(1, len(held) // (4 * n))]
    return torch.tensor(rows[:n])


@torch.no_grad()
def agreement(target: arkit.Pipeline, rows: torch.Tensor, *, draft: arkit.Pipeline | None = None,
              medusa: torch.nn.Module | None = None, eagle: EagleDrafter | None = None) -> list[float]:
    """How often the drafter's first guess is the target's greedy token, on held-out rows.

    Draft model: its next-token argmax against the target's (one figure). Medusa: head ``i``'s
    argmax at ``t`` against the target's argmax at ``t + i`` (one figure per head). EAGLE: the
    target's head on its predicted feature from the pairs up to ``t`` against the target's argmax
    at ``t + 1`` (one figure: the first draft token, from the target's own features).
    """
    positions = torch.arange(rows.shape[1]).expand_as(rows)
    hidden = target.backbone(rows, positions=positions)
    greedy = target.head(hidden).argmax(-1)
    if draft is not None:
        guess = draft.head(draft.backbone(rows, positions=positions)).argmax(-1)
        return [round(float((guess == greedy).float().mean()), 4)]
    if eagle is not None:
        guess = target.head(eagle(hidden[:, :-1], rows[:, :-1], rows[:, 1:], positions=positions[:, :-1])).argmax(-1)
        return [round(float((guess == greedy[:, 1:]).float().mean()), 4)]
    logits = medusa(hidden)  # [B, T, heads, V]
    return [round(float((logits[:, :-i, i - 1].argmax(-1) == greedy[:, i:]).float().mean()), 4)
            for i in range(1, logits.shape[2] + 1)]


def train_draft(args: argparse.Namespace, target: arkit.Pipeline, rows: torch.Tensor) -> None:
    about: dict = {"seed": args.seed, "dims": DRAFT_DIMS, "batch_size": args.batch_size, "seq_len": args.seq_len,
                   "lr": args.lr, "command": _command()}
    draft = _draft_pipeline()
    steps = (args.draft_copy_steps, args.draft_hard_steps, args.draft_steps)
    train_stages(draft, args, steps, args.out_dir / "draft", about)  # the reference model's curriculum
    drafter = DraftModel(draft)
    record = {**about, "steps": sum(steps), "parameters": draft.num_parameters,
              "agreement_with_target": agreement(target, rows, draft=draft)[0],
              "copy_test": round(copy_test(draft), 4), "log": stages_log(args.out_dir / "draft")}
    draft.backbone.half()
    draft.head.half()
    _export(target.replace(drafter=drafter), args.export_dir / "ref-text-draft", record)


def train_heads(args: argparse.Namespace, target: arkit.Pipeline, rows: torch.Tensor) -> None:
    heads = arkit.create("drafter", "core/medusa", d_model=target.backbone.d_model,
                         vocab_size=target.tokenizer.vocab_size, num_heads=MEDUSA_HEADS)
    docs, _, data = dataset(args.medusa_steps, args.medusa_batch_size, args.seq_len, args.seed + 10, MIX,
                            max_files=args.max_files)
    before = agreement(target, rows, medusa=heads)
    losses = train_medusa(target, heads, docs, steps=args.medusa_steps, batch_size=args.medusa_batch_size,
                          seq_len=args.seq_len, lr=args.medusa_lr, distill=True, seed=args.seed,
                          progress=not args.quiet)
    record = {"seed": args.seed, "num_heads": MEDUSA_HEADS, "steps": args.medusa_steps,
              "batch_size": args.medusa_batch_size, "seq_len": args.seq_len, "lr": args.medusa_lr,
              "distill": True, "data": data, "parameters": sum(p.numel() for p in heads.parameters()),
              "command": _command(),
              "agreement_with_target_per_head": agreement(target, rows, medusa=heads),
              "agreement_before_training": before,
              "log": [{"step": s + 1, "loss": round(sum(losses[s - 9:s + 1]) / 10, 4)}
                      for s in range(9, len(losses), 50)]}
    heads.half()
    _export(target.replace(drafter=heads), args.export_dir / "ref-text-medusa", record)


def copy_drafting(pipe: arkit.Pipeline, n: int = 20, length: int = 40, seed: int = 1) -> float:
    """Draft tokens kept per target pass when ``pipe`` (with its drafter) continues the copy test's prompts
    (a 40-character random string, a newline, its first 4 characters), greedy, 5 draft tokens, batch 1."""
    rng = random.Random(seed)
    kept = calls = 0
    for _ in range(n):
        text = "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(length))
        out = pipe.generate(text + "\n" + text[:4], max_new_tokens=length - 4, seed=0, num_draft_tokens=5,
                            draft_schedule="constant")
        kept, calls = kept + out.speculative.accepted, calls + out.speculative.target_calls
    return round(kept / max(calls, 1), 3)


def train_eagle_layer(args: argparse.Namespace, target: arkit.Pipeline, rows: torch.Tensor) -> None:
    torch.manual_seed(args.seed)
    eagle = EagleDrafter.for_pipeline(target, width=args.eagle_width)
    stages = {}  # the reference model's curriculum: fill rows, fill rows over small alphabets, then the text mix
    losses: list[float] = []
    for i, (stage, steps, mix) in enumerate(zip(STAGES, (args.eagle_copy_steps, args.eagle_hard_steps,
                                                         args.eagle_steps), (COPY_MIX, HARD_MIX, MIX))):
        if not steps:
            continue
        docs, _, about = dataset(steps, args.eagle_batch_size, args.seq_len, args.seed + 20 + i, mix,
                                 max_files=args.max_files)
        stages[stage] = {**about, "steps": steps}
        losses += train_eagle(target, eagle, docs, steps=steps, batch_size=args.eagle_batch_size,
                              seq_len=args.seq_len, lr=args.eagle_lr, cls_weight=args.eagle_cls_weight,
                              seed=args.seed + i, progress=not args.quiet)
    record = {"seed": args.seed, "width": args.eagle_width,
              "steps": {stage: about["steps"] for stage, about in stages.items()},
              "batch_size": args.eagle_batch_size,
              "seq_len": args.seq_len, "lr": args.eagle_lr, "cls_weight": args.eagle_cls_weight, "noise": 0.1,
              "data": stages, "parameters": sum(p.numel() for p in eagle.parameters()), "command": _command(),
              "agreement_with_target": agreement(target, rows, eagle=eagle)[0],
              "copy_drafts_kept_per_pass": copy_drafting(target.replace(drafter=eagle)),
              "log": [{"step": s + 1, "loss": round(sum(losses[s - 9:s + 1]) / 10, 4)}
                      for s in range(9, len(losses), 50)]}
    eagle.half()
    _export(target.replace(drafter=eagle), args.export_dir / "ref-text-eagle", record)


def _export(pipe: arkit.Pipeline, folder: Path, record: dict) -> None:
    """The drafter alone (the presets take the rest from ``core/ref-text``), with its record."""
    pipe.save_pretrained(folder, roles=["drafter"])
    (folder / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps({"written": str(folder), **{k: v for k, v in record.items() if k not in ("log", "copy",
                                                                                          "copy-hard", "text")}}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("draft", "medusa", "eagle"), default=None)
    parser.add_argument("--draft-copy-steps", type=int, default=1000)
    parser.add_argument("--draft-hard-steps", type=int, default=500)
    parser.add_argument("--draft-steps", type=int, default=1500)
    parser.add_argument("--medusa-steps", type=int, default=3000)
    parser.add_argument("--medusa-batch-size", type=int, default=8)
    parser.add_argument("--medusa-lr", type=float, default=3e-3)
    parser.add_argument("--eagle-copy-steps", type=int, default=1000)
    parser.add_argument("--eagle-hard-steps", type=int, default=500)
    parser.add_argument("--eagle-steps", type=int, default=1500)
    parser.add_argument("--eagle-width", type=int, default=128, help="the EAGLE layer's hidden size (the target's: "
                                                                      "256; narrower drafts for less)")
    parser.add_argument("--eagle-batch-size", type=int, default=8)
    parser.add_argument("--eagle-lr", type=float, default=3e-3)
    parser.add_argument("--eagle-cls-weight", type=float, default=0.1, help="the token loss's weight (the paper's 0.1)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-3, help="the draft model's peak learning rate (at 1e-3 its "
                                                                "induction heads had not formed after 700 copy steps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=Path("runs/ref-drafters"))
    parser.add_argument("--export-dir", type=Path, default=CHECKPOINTS)
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--resume", action="store_true", help="go on from the newest checkpoint of each draft stage")
    parser.add_argument("--max-files", type=int, default=None,
                        help="read only the first N standard-library files (a quick smoke run)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args()
    torch.set_num_threads(1)
    target = _target()
    rows = _held_rows(target, max_files=args.max_files)
    if args.only in (None, "medusa"):
        train_heads(args, target, rows)
    if args.only in (None, "draft"):
        train_draft(args, target, rows)
    if args.only in (None, "eagle"):
        train_eagle_layer(args, target, rows)


if __name__ == "__main__":
    main()
