"""``arkit train CONFIG``: a training run described by a small TOML or JSON file.

    out_dir = "runs/tiny"              # metrics.jsonl, checkpoints/, pipeline/ (relative to this file)

    [pipeline]
    preset = "core/tiny-byte"          # or: path = "my-saved-pipeline"
    backbone = { n_layers = 4 }        # config overrides per role (presets only)

    [data]
    source = "tiny-corpus"             # or: path = "train.txt" / "train.jsonl"
    format = "paragraphs"              # text files: "paragraphs" (blank-line separated), "lines", "file"
    field = "text"                     # JSONL: the key holding each item (or lines that are bare strings)
    eval_path = "valid.txt"            # optional held-out file (or train.eval_fraction)

    [train]                            # any arkit.TrainConfig field
    steps = 300
    seq_len = 128

Files are read lazily each epoch (streaming), so they may be larger than memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
import json
import os
from pathlib import Path
from typing import Any

import attrs

from .._corpus import tiny_corpus
from ..errors import ConfigError, InputError
from ..types import TrainConfig

__all__ = ["TextFile", "load_config", "run_config"]

_TOP = {"out_dir", "pipeline", "data", "train"}
_PIPELINE = {"preset", "path", "tokenizer", "backbone", "head", "sampler"}
_DATA = {"source", "path", "format", "field", "eval_path", "max_chars"}


class TextFile:
    """Items of a text or JSONL file, read afresh on every iteration (a streaming source)."""

    def __init__(self, path: str | os.PathLike[str], *, format: str = "paragraphs", field: str = "text") -> None:
        self.path, self.format, self.field = Path(path), format, field
        if not self.path.is_file():
            raise InputError(f"data file {self.path} does not exist")
        if format not in ("paragraphs", "lines", "file", "jsonl"):
            raise ConfigError(f"data format must be 'paragraphs', 'lines', 'file' or 'jsonl', got {format!r}")

    def __iter__(self) -> Iterator[Any]:
        with self.path.open(encoding="utf-8") as fh:
            if self.format == "file":
                yield fh.read()
            elif self.format == "lines":
                yield from (line.rstrip("\n") for line in fh if line.strip())
            elif self.format == "jsonl":
                for number, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        value = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise InputError(f"{self.path}:{number} is not valid JSON: {exc}") from None
                    if isinstance(value, Mapping):
                        if self.field not in value:
                            raise InputError(f"{self.path}:{number} has no {self.field!r} key (data.field)")
                        value = value[self.field]
                    yield value
            else:
                paragraph: list[str] = []
                for line in fh:
                    if line.strip():
                        paragraph.append(line.rstrip("\n"))
                    elif paragraph:
                        yield "\n".join(paragraph)
                        paragraph = []
                if paragraph:
                    yield "\n".join(paragraph)


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse and check a config file; relative paths in it become relative to its folder."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            raw = json.loads(text)
        else:
            import tomllib  # Python 3.11+

            raw = tomllib.loads(text)
    except ImportError:
        raise ConfigError(f"{path}: reading TOML needs Python 3.11+; write the config as JSON instead") from None
    except ValueError as exc:  # json.JSONDecodeError and tomllib.TOMLDecodeError
        raise ConfigError(f"{path} is not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a table/object at the top level")
    for where, allowed, table in (("the top level", _TOP, raw), ("[pipeline]", _PIPELINE, raw.get("pipeline", {})),
                                  ("[data]", _DATA, raw.get("data", {}))):
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {where} must be a table")
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) {unknown} in {where}; allowed: {sorted(allowed)}")
    base = path.parent
    resolved = dict(raw)
    if "out_dir" in raw:
        resolved["out_dir"] = str(base / raw["out_dir"])
    for table, key in (("pipeline", "path"), ("data", "path"), ("data", "eval_path")):
        if key in raw.get(table, {}):
            resolved[table] = {**resolved[table], key: str(base / raw[table][key])}
    return resolved


def _train_config(values: Mapping[str, Any], out_dir: str | None, resume: bool) -> TrainConfig:
    fields = {f.name for f in attrs.fields(TrainConfig)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ConfigError(f"unknown [train] key(s) {unknown}; TrainConfig fields are {sorted(fields)}")
    changes = dict(values)
    if out_dir is not None:
        changes.setdefault("out_dir", out_dir)
    if resume:
        changes["resume_from"] = "latest"
    try:
        return TrainConfig(**changes)
    except TypeError as exc:
        raise ConfigError(f"[train]: {exc}") from None


def _pipeline(spec: Mapping[str, Any]) -> Any:
    from ..pipeline import Pipeline

    if "path" in spec:
        if "preset" in spec:
            raise ConfigError("[pipeline] takes either preset or path, not both")
        return Pipeline.from_pretrained(spec["path"])
    overrides = {k: v for k, v in spec.items() if k != "preset"}
    return Pipeline.from_preset(spec.get("preset", "core/tiny-byte"), **overrides)


def _data(spec: Mapping[str, Any]) -> tuple[Any, Any]:
    fmt = spec.get("format")
    field = spec.get("field", "text")
    if "path" in spec:
        if spec.get("source", "file") != "file":
            raise ConfigError("[data] takes either source or path, not both")
        path = Path(spec["path"])
        fmt = fmt or ("jsonl" if path.suffix == ".jsonl" else "paragraphs")
        data: Any = TextFile(path, format=fmt, field=field)
    elif spec.get("source", "tiny-corpus") == "tiny-corpus":
        data = tiny_corpus(int(spec.get("max_chars", 400_000)))
    else:
        raise ConfigError(f"[data] source must be 'tiny-corpus' (or give a path), got {spec.get('source')!r}")
    eval_data = None
    if "eval_path" in spec:
        path = Path(spec["eval_path"])
        eval_data = TextFile(path, format=fmt or ("jsonl" if path.suffix == ".jsonl" else "paragraphs"), field=field)
    return data, eval_data


def run_config(path: str | os.PathLike[str], *, resume: bool = False, progress: bool = True,
               log: Any = print) -> dict[str, Any]:
    """Run the training a config file describes; return a JSON-ready summary."""
    raw = load_config(path)
    out_dir = raw.get("out_dir")
    if out_dir is None:
        raise ConfigError(f"{path}: set out_dir, the folder the trained pipeline is saved to")
    config = _train_config(raw.get("train", {}), out_dir, resume)
    if not progress:
        config = attrs.evolve(config, progress=False)
    pipe = _pipeline(raw.get("pipeline", {}))
    data, eval_data = _data(raw.get("data", {}))
    rank = int(os.environ.get("RANK", "0") or 0)
    if rank == 0:
        log(f"training {pipe.num_parameters:,} parameters for {config.steps} steps; output in {config.out_dir}")
    result = pipe.fit(data, config, eval_data=eval_data)
    new = result.losses[result.resumed_from :] or result.losses
    k = min(10, max(1, len(new) // 2))
    return {
        "rank": rank,
        "steps": result.steps,
        "resumed_from": result.resumed_from,
        "loss_first": sum(new[:k]) / k,
        "loss_last": sum(new[-k:]) / k,
        "eval_losses": [list(x) for x in result.eval_losses],
        "tokens": result.tokens,
        "tokens_per_s": round(result.run_tokens / max(result.elapsed_s, 1e-9), 1),
        "elapsed_s": round(result.elapsed_s, 2),
        "skipped_steps": list(result.skipped_steps),
        "checkpoint": result.checkpoint,
        "pipeline": str(Path(config.out_dir) / "pipeline"),  # type: ignore[arg-type]
    }
