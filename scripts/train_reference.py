"""Train the byte-level reference model meant to ship as ``core/ref-text`` (issue 25).

The goal: a small model that writes English and Python like the text it learned from,
and copies: given a span once, it repeats it when the context starts to repeat it, so
that speculative decoding is measured on a model that behaves like a real one.

Data, all offline and deterministic for a seed:

- the Python standard library's own source files (code, comments, docstrings) and
  ``pydoc_data.topics`` (CPython's help text), cut into documents;
- **copy structure**: "fill" rows (a random span of 4-48 characters repeated until the
  row is full; "hard" ones draw the span from a small alphabet of 4-12 symbols), and items
  of a span, a separator and the span again; and quotes: a passage followed by one of its
  sentences;
- **edit structure**: "rewrite with one change" - a line, then the same line with one
  word replaced, so that the answer mostly repeats the prompt.

Three stages. Copying needs induction heads (find where the current text occurred before
and read on from there), and they form only when most of the loss can be cut by copying.
Stage 1 trains on fill rows alone: the model learns to look up the last character and
read on, which copies most of a span but derails where a character recurs. Stage 2 makes
half the rows hard (every character recurs, so only matching the characters before it
finds the place). Stage 3 goes on with text, keeping a share of copy items so that the
skill stays. (Runs that mixed 2-30 % copy characters into text from the start never
formed induction heads in 1,200 steps.)

Held-out loss is measured on stdlib files that no training document comes from (every
tenth file by name). The model: ``core/transformer``, 4 layers, d_model 256, 4 heads,
context 512, byte vocabulary (3.3M parameters, 6.6 MB in float16).

    python scripts/train_reference.py --out-dir runs/ref-text                 # the three stages, then export
    python scripts/train_reference.py --out-dir runs/ref-text --resume        # go on after a stop
    python scripts/train_reference.py --out-dir runs/ref-text --export-only   # write the newest checkpoint

It writes a ``save_pretrained`` folder (float16 weights, ``training.json`` with seed, data,
steps, the loss log and the copy test) to ``--target``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import random
import string
import sys
import sysconfig

import torch

import arkit

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "src" / "arkit" / "checkpoints" / "ref-text"
DIMS = {"d_model": 256, "n_layers": 4, "n_heads": 4, "max_seq_len": 512}
SEPARATORS = ["\n", "\n\n", " | ", " -> ", ": ", "\n>>> ", " = "]


def stdlib_files() -> list[Path]:
    """The stdlib's .py files in name order (tests and IDLE left out), readable as UTF-8."""
    lib = Path(sysconfig.get_paths()["stdlib"])
    skip = ("test", "idlelib", "lib2to3", "site-packages", "tkinter", "turtledemo", "ensurepip", "pydoc_data")
    return sorted(p for p in lib.rglob("*.py") if not any(part in skip for part in p.relative_to(lib).parts))


def split_files(files: list[Path]) -> tuple[list[Path], list[Path]]:
    """Every tenth file (by name) is held out."""
    return [p for i, p in enumerate(files) if i % 10], [p for i, p in enumerate(files) if not i % 10]


def chunks(files: list[Path], size: int = 1500) -> list[str]:
    """Each file cut at line boundaries into documents of about ``size`` characters."""
    out: list[str] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        piece: list[str] = []
        length = 0
        for line in text.splitlines(keepends=True):
            piece.append(line)
            length += len(line)
            if length >= size:
                out.append("".join(piece))
                piece, length = [], 0
        if length > 80:
            out.append("".join(piece))
    return out


def help_topics() -> list[str]:
    from pydoc_data.topics import topics

    return [topics[name] for name in sorted(topics)]


def _random_span(rng: random.Random, length: int, text: list[str]) -> str:
    if rng.random() < 0.5:
        alphabet = rng.choice([string.ascii_lowercase, string.ascii_letters + string.digits,
                               string.ascii_lowercase + " ", string.printable[:94]])
        return "".join(rng.choice(alphabet) for _ in range(length))
    doc = rng.choice(text)
    start = rng.randrange(max(1, len(doc) - length))
    return doc[start:start + length]


def copy_item(rng: random.Random, text: list[str]) -> str:
    """A span, a separator, the span again (twice, sometimes), after some unrelated context."""
    span = _random_span(rng, rng.randint(4, 96), text)
    sep = rng.choice(SEPARATORS)
    context = _random_span(rng, rng.randint(0, 60), text) if rng.random() < 0.3 else ""
    repeats = 2 if rng.random() < 0.8 else 3
    return context + sep.join([span] * repeats) + "\n"


def fill_item(rng: random.Random, text: list[str], size: int = 300, hard: bool = False) -> str:
    """A random span of 4-48 characters and a separator, repeated to about ``size`` characters.

    ``hard``: the span's characters come from a small random alphabet (4-12 symbols), so that
    each character recurs within the span and only matching the characters *before* it (an
    induction head, not a lookup of the last character) finds where to read on.
    """
    length = rng.randint(4, 48)
    if hard:
        alphabet = rng.sample(string.ascii_lowercase + string.digits, rng.randint(4, 12))
        unit = "".join(rng.choice(alphabet) for _ in range(length))
    else:
        unit = _random_span(rng, length, text)
    unit += rng.choice(SEPARATORS)
    return unit * (size // len(unit) + 1)


def quote_item(rng: random.Random, text: list[str]) -> str:
    """A passage, then one of its sentences quoted back."""
    doc = rng.choice(text)
    start = rng.randrange(max(1, len(doc) - 400))
    passage = doc[start:start + 400]
    sentences = [s.strip() for s in passage.split(".") if len(s.strip()) > 20]
    if not sentences:
        return passage
    return f"{passage}\n\nQuote: \"{rng.choice(sentences)}.\"\n"


def edit_item(rng: random.Random, text: list[str]) -> str:
    """'Rewrite with one change': a line, then the line with one word replaced."""
    doc = rng.choice(text)
    lines = [ln for ln in doc.splitlines() if len(ln.split()) >= 4]
    if not lines:
        return doc[:300]
    line = rng.choice(lines)
    words = line.split(" ")
    i = rng.randrange(len(words))
    replacement = rng.choice(rng.choice(text).split() or ["value"])
    changed = " ".join(words[:i] + [replacement] + words[i + 1:])
    return f"Rewrite with one change:\n{line}\n{changed}\n"


COPY_MIX = {"fill": 1.0}
"""Stage 1: fill rows alone, until copying starts (the last character looked up)."""
HARD_MIX = {"fill": 0.5, "fill-hard": 0.5}
"""Stage 2: half the rows over small alphabets, until copying matches whole contexts."""
MIX = {"text": 0.6, "fill": 0.05, "fill-hard": 0.1, "copy": 0.1, "quote": 0.08, "edit": 0.07}
"""Stage 3: share of the characters of each kind."""


def dataset(steps: int, batch_size: int, seq_len: int, seed: int, mix: dict[str, float],
            max_files: int | None = None) -> tuple[list[str], list[str], dict]:
    """Training documents (enough for the run), held-out documents, and a description.

    ``mix`` gives each kind's share of the *characters* read. Copy, quote and edit items are
    short, so several are packed into one document of about 1,500 characters.
    """
    rng = random.Random(seed)
    train_files, held_files = split_files(stdlib_files()[:max_files])
    text = chunks(train_files) + help_topics()
    held = chunks(held_files)
    rng.shuffle(text)
    make = {"fill": lambda: fill_item(rng, text), "fill-hard": lambda: fill_item(rng, text, hard=True),
            "copy": lambda: copy_item(rng, text),
            "quote": lambda: quote_item(rng, text), "edit": lambda: edit_item(rng, text)}
    budget = steps * batch_size * seq_len  # characters the run reads, about
    docs: list[str] = []
    used = {kind: 0 for kind in mix}
    total, i = 0, 0
    while total < budget * 1.05:
        kind = min(mix, key=lambda k: used[k] / mix[k])  # the kind furthest behind its share
        if kind == "text":
            doc = text[i % len(text)]
            i += 1
        elif kind.startswith("fill"):
            doc = make[kind]()
        else:
            doc = ""
            while len(doc) < 1500:
                doc += make[kind]()
        docs.append(doc)
        size = len(doc.encode("utf-8")) + 2
        used[kind] += size
        total += size
    about = {"train_files": len(train_files), "held_out_files": len(held_files), "text_documents": len(text),
             "documents": len(docs), "mix_by_characters": mix, "python": sys.version.split()[0]}
    return docs, held, about


def copy_test(pipe: arkit.Pipeline, n: int = 20, length: int = 40, seed: int = 1) -> float:
    """Share of characters right when the model continues a 40-character random string's repeat.

    The prompt holds the string once, a newline and its first 4 characters; greedy decoding
    must produce the remaining 36.
    """
    rng = random.Random(seed)
    greedy = pipe.replace(sampler=arkit.create("sampler", "core/greedy"))
    right = total = 0
    prompts, answers = [], []
    for _ in range(n):
        s = "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(length))
        prompts.append(s + "\n" + s[:4])
        answers.append(s[4:])
    out = greedy.generate(prompts, max_new_tokens=length - 4, seed=0)
    for answer, got in zip(answers, out.decoded):
        right += sum(a == b for a, b in zip(answer, got))
        total += len(answer)
    return right / total


def _pipeline() -> arkit.Pipeline:
    return arkit.Pipeline.from_preset("core/tiny-byte", backbone=DIMS, head={"d_model": DIMS["d_model"]})


def _log(out_dir: Path, offset: int = 0) -> list[dict]:
    """Every 50th step's loss and every held-out loss of a run folder, steps shifted by ``offset``."""
    path = out_dir / "metrics.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    return [{**{k: m[k] for k in ("loss", "eval_loss") if k in m}, "step": m["step"] + offset} for m in lines
            if m.get("step", 0) % 50 == 0 or "eval_loss" in m]


STAGES = ("copy", "copy-hard", "text")


def stages_log(out_dir: Path) -> list[dict]:
    """The loss log of every stage trained under ``out_dir``, in one step count, each entry named by its stage."""
    log: list[dict] = []
    for stage in STAGES:
        if (out_dir / stage / "checkpoints").is_dir():
            log += [{**m, "stage": stage} for m in _log(out_dir / stage, offset=log[-1]["step"] if log else 0)]
    return log


def train_stages(pipe: arkit.Pipeline, args: argparse.Namespace, steps: tuple[int, int, int], out_dir: Path,
                 about: dict, *, train: bool = True) -> None:
    """Train ``pipe`` through the stages (``steps`` each, a stage of 0 skipped) under ``out_dir``, recording each
    stage's data in ``about``. With ``args.resume`` a stage that finished before is loaded, not trained again;
    ``train=False`` only records the data."""
    for i, (stage, n, mix) in enumerate(zip(STAGES, steps, (COPY_MIX, HARD_MIX, MIX))):
        docs, held, stage_about = dataset(n, args.batch_size, args.seq_len, args.seed + i, mix,
                                          max_files=args.max_files)
        about[stage] = {**stage_about, "steps": n}
        if not train or not n:
            continue
        torch.manual_seed(args.seed + i)
        if args.resume and (out_dir / stage / "checkpoints").is_dir() and (out_dir / stage / "final").is_dir():
            pipe.load_checkpoint(out_dir / stage)  # this stage finished before the stop
            continue
        pipe.fit(docs, _config(args, n, out_dir / stage), eval_data=held)
        (out_dir / stage / "final").mkdir(exist_ok=True)


def export(out_dir: Path, target: Path, about: dict) -> dict:
    """Load the newest checkpoint, measure it, and ship it as float16 with ``training.json``:
    the data, seeds, steps and loss log of every stage."""
    pipe = _pipeline()
    for stage in STAGES:
        if (out_dir / stage / "checkpoints").is_dir():
            pipe.load_checkpoint(out_dir / stage)
    log = stages_log(out_dir)
    if not log:
        raise SystemExit(f"no checkpoint under {out_dir}: train first")
    step = log[-1]["step"]
    copy = copy_test(pipe)
    pipe.backbone.half()
    pipe.head.half()
    pipe.save_pretrained(target)
    record = {**about, "steps": step, "copy_test": round(copy, 4),
              "eval_loss": next((m["eval_loss"] for m in reversed(log) if "eval_loss" in m), None), "log": log}
    (target / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copy-steps", type=int, default=1500, help="stage 1: fill rows only")
    parser.add_argument("--hard-steps", type=int, default=600, help="stage 2: fill rows, half over small alphabets")
    parser.add_argument("--steps", type=int, default=1200, help="stage 3: text with copy, quote and edit items")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3, help="each stage's peak learning rate (induction heads "
                                                                 "form late with larger ones)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=Path("runs/ref-text"))
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--resume", action="store_true", help="go on from the newest checkpoint of each stage")
    parser.add_argument("--max-files", type=int, default=None,
                        help="read only the first N standard-library files (a quick smoke run)")
    parser.add_argument("--export-only", action="store_true")
    parser.add_argument("--target", type=Path, default=TARGET)
    args = parser.parse_args()
    torch.set_num_threads(1)
    about: dict = {"seed": args.seed, "batch_size": args.batch_size, "seq_len": args.seq_len,
                   "lr": args.lr,
                   "dims": DIMS, "command": " ".join(["python", "scripts/train_reference.py", *sys.argv[1:]])}
    train_stages(_pipeline(), args, (args.copy_steps, args.hard_steps, args.steps), args.out_dir, about,
                 train=not args.export_only)
    print(json.dumps({k: v for k, v in export(args.out_dir, args.target, about).items() if k != "log"}, indent=1))


def _config(args: argparse.Namespace, steps: int, out_dir: Path) -> arkit.TrainConfig:
    return arkit.TrainConfig(
        steps=steps, batch_size=args.batch_size, seq_len=args.seq_len, lr=args.lr, seed=args.seed, shuffle=False,
        warmup_steps=min(100, steps // 5), threads=1, progress=False, out_dir=str(out_dir),
        checkpoint_every=args.checkpoint_every, keep_checkpoints=2, eval_every=250, eval_batches=8, log_every=10,
        resume_from="latest" if args.resume and (out_dir / "checkpoints").is_dir() else None)


if __name__ == "__main__":
    main()
