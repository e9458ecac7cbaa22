"""``arkit.onnx.export_genai``: a folder that onnxruntime-genai loads and runs with its own ``Generator``.

onnxruntime-genai (ONNX Runtime's generation runtime) drives a decoder-only
graph with its own loop and KV cache. Its conventions, which this graph follows:

- inputs ``input_ids`` int64 ``[batch, seq]``, ``attention_mask`` int64
  ``[batch, total]`` (1 for a token, 0 for padding; ``total`` = past + seq) and
  ``past_key_values.{i}.key/value`` ``[batch, kv_heads, max_length, head_dim]``;
- outputs ``logits`` ``[batch, seq, vocab]`` and ``present.{i}.key/value``, bound to
  the same memory as the past (``past_present_share_buffer``): each layer's
  attention is one ``com.microsoft.GroupQueryAttention`` node that writes the new
  keys and values into the buffer in place, at slot ``total - seq``.

Positions and the attention mask are computed inside the graph from
``attention_mask``: a token's position is the number of real tokens before it in
its row, so a padded row continues exactly as it would alone, and padding
and causality reach the fused attention as its additive ``attention_bias``
(``causal=0``). The backbone must satisfy
:class:`arkit.protocols.FusedAttentionBackbone`.

The export is validated with onnxruntime-genai itself: its greedy tokens must
equal the torch pipeline's on a few prompts, alone and as one padded batch,
or :class:`arkit.ExportError` names the first difference and nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
import contextlib
import io
import json
import logging
import os
from pathlib import Path
import subprocess
import sys
import time
from typing import Any
import warnings

import attrs
import torch
from torch import nn

from .._serialization import discard_temporary, new_temporary, replace_folder
from .._version import __version__
from ..errors import ConfigError, ExportError, PipelineFormatError
from ..pipeline import Pipeline
from ..protocols import FusedAttentionBackbone
from ._graph import _FusedCache

__all__ = ["GenAIExportReport", "export_genai", "genai_greedy", "load_model", "tokenizer_mismatch", "unused_token"]

GENAI_CONFIG = "genai_config.json"
GENAI_GRAPH = "model.onnx"
GENAI_DATA = "model.onnx.data"
INSTALL = "pip install --no-deps onnxruntime-genai==0.18.0"
"""onnxruntime-genai declares a dependency on the CPU ``onnxruntime`` package; ``--no-deps`` keeps the installed
``onnxruntime`` or ``onnxruntime-gpu``."""


@attrs.frozen(kw_only=True)
class GenAIExportReport:
    """What :func:`export_genai` wrote and checked."""

    directory: Path
    export_s: float
    """Wall time of tracing and conversion."""
    tokenizer: bool
    """Whether the folder holds tokenizer files onnxruntime-genai reads (otherwise feed token ids)."""
    cases: tuple[dict[str, Any], ...] = ()
    """Each validation case: batch, prompt lengths, new tokens, and whether onnxruntime-genai's greedy tokens equal
    torch's (they must)."""


def export_genai(pipeline: Pipeline, out_dir: str | os.PathLike[str], *, opset: int | None = None,
                 validate: bool = True, max_new_tokens: int = 12) -> GenAIExportReport:
    """Export ``pipeline`` as an onnxruntime-genai model folder in ``out_dir``.

    The folder holds ``model.onnx`` (+ ``model.onnx.data``), ``genai_config.json``,
    ``README.md`` and, for a ``tokenizers`` tokenizer (its config has
    ``tokenizer_json``), ``tokenizer.json``; otherwise the README says how to feed
    token ids. With ``validate`` (the default) onnxruntime-genai generates
    ``max_new_tokens`` greedy tokens for three seeded prompts, one at a time and as
    one padded batch, and each must equal the torch pipeline's; and the tokenizer
    files are kept only if onnxruntime-genai's tokenizer encodes sample texts to the
    same ids (the README says why they were left out).

    Raises :class:`arkit.ExportError` before writing anything for what
    onnxruntime-genai cannot express (a continuous head, next-scale steps, extra
    backbone inputs, a backbone without fused attention), and
    :class:`arkit.ConfigError` when validation needs onnxruntime-genai and it is
    not installed. An existing non-empty ``out_dir`` that is not an earlier genai
    export is refused.
    """
    if opset is not None and (not isinstance(opset, int) or not 18 <= opset <= 23):
        raise ConfigError(f"opset must be an integer from 18 to 23, got {opset!r}")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ConfigError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}")
    _check_expressible(pipeline)
    if validate:
        _genai_module()
    from .export import _require

    _require("onnx", "onnxscript")
    target = Path(out_dir)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise PipelineFormatError(f"refusing to export to {target}: it exists and is not a folder (a file or a link); "
                                  f"choose a new path")
    if target.is_dir() and any(target.iterdir()) and not (target / GENAI_CONFIG).is_file():
        raise PipelineFormatError(f"refusing to export into {target}: the folder is not empty and holds no "
                                  f"{GENAI_CONFIG}")
    backbone, head = pipeline.backbone, pipeline.head
    graph = _GenAIGraph(backbone, head).eval()
    tmp = new_temporary(target)  # after recovering and cleaning what a killed export left
    try:
        started = time.perf_counter()
        program = _trace(graph, opset)
        export_s = time.perf_counter() - started
        program.save(str(tmp / GENAI_GRAPH), external_data=True)
        _rename_data(tmp)
        from .export import _check

        _check(tmp / GENAI_GRAPH)
        ids = _special_ids(pipeline.tokenizer, head.vocab_size)
        (tmp / GENAI_CONFIG).write_text(json.dumps(_genai_config(backbone, head, ids), indent=2) + "\n")
        has_tokenizer = _write_tokenizer(pipeline.tokenizer, tmp, ids)
        cases: list[dict[str, Any]] = []
        dropped = None
        if validate:
            cases = _validate(pipeline, tmp, ids, max_new_tokens)
            if has_tokenizer:
                dropped = tokenizer_mismatch(pipeline.tokenizer, tmp)
                if dropped is not None:  # onnxruntime-genai reads the files differently: feed ids instead
                    for name in _TOKENIZER_FILES:
                        (tmp / name).unlink()
                    has_tokenizer = False
        (tmp / "README.md").write_text(_readme(ids, has_tokenizer, backbone.max_seq_len, dropped))
        replace_folder(tmp, target)
    except BaseException:
        discard_temporary(tmp)
        raise
    return GenAIExportReport(directory=target, export_s=round(export_s, 2), tokenizer=has_tokenizer,
                             cases=tuple(cases))


def _genai_module() -> Any:
    try:
        import onnxruntime_genai
    except ImportError as exc:
        raise ConfigError(f"onnxruntime-genai is not installed; validating a genai export runs it: {INSTALL} "
                          f"(or export with validate=False / --no-validate)") from exc
    return onnxruntime_genai


def _check_expressible(pipeline: Pipeline) -> None:
    """Raise :class:`ExportError` naming the first feature onnxruntime-genai's decoder cannot run."""
    from ..generation.next_scale import NextScaleSchedule
    from ..registry import declared_inputs
    from .export import _describe

    plain = "export it in the plain format (`arkit export DIR OUT`) and run it with arkit.onnx.OrtPipeline"
    backbone, head = pipeline.backbone, pipeline.head
    for role, obj in (("backbone", backbone), ("head", head)):
        if not isinstance(obj, nn.Module):
            raise ExportError(f"the {role} ({type(obj).__name__}) is not a torch module: it has no graph to export")
    if getattr(head, "vocab_size", 0) == 0:
        raise ExportError(f"onnxruntime-genai samples token ids from logits; the continuous head "
                          f"{type(head).__name__} has none: {plain}")
    if isinstance(getattr(pipeline.tokenizer, "schedule", None), NextScaleSchedule):
        raise ExportError(f"onnxruntime-genai emits one token per row and step; this pipeline's tokenizer generates "
                          f"by next-scale steps (a whole scale at once): {plain}")
    extra = declared_inputs(backbone) or ()
    if extra:
        raise ExportError(f"onnxruntime-genai feeds only input_ids and attention_mask; the {_describe(pipeline)} "
                          f"takes extra input(s) {[e.name for e in extra]}: {plain}")
    if not isinstance(backbone, FusedAttentionBackbone):
        raise ExportError(f"onnxruntime-genai's decoder needs fused attention (GroupQueryAttention); the "
                          f"{_describe(pipeline)} does not implement arkit.protocols.FusedAttentionBackbone: {plain}")
    if backbone.head_dim % 16:
        raise ExportError(f"onnxruntime's fused attention needs a head size that is a multiple of 16; this "
                          f"backbone's is {backbone.head_dim}: {plain}")
    if getattr(head, "d_model", backbone.d_model) != backbone.d_model:
        raise ExportError(f"the head's d_model ({head.d_model}) is not the backbone's ({backbone.d_model})")


class _GenAIGraph(nn.Module):
    """``(input_ids, attention_mask, *past) -> (logits, *present)`` in onnxruntime-genai's conventions.

    ``past`` alternates keys and values per layer; each is the whole slot buffer
    ``[B, Hkv, max_length, D]``, and the fused attention writes the ``seq`` new
    positions at slot ``total - seq``.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                *past: torch.Tensor) -> tuple[torch.Tensor, ...]:
        S, total = input_ids.shape[1], attention_mask.shape[1]
        valid = attention_mask != 0  # [B, total]
        slots = torch.arange(total, device=input_ids.device)
        causal = slots[None, :] <= slots[total - S:, None]  # [S, total]: query at slot total - S + t
        mask = valid[:, None, :] & causal[None]  # [B, S, total]
        # a token's position counts the real tokens before it in its row: padding shifts nothing
        positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)[:, total - S:]
        cache = _FusedCache(past, self.backbone, positions, total)
        hidden = self.backbone(input_ids, positions=positions, cache=cache, attention_mask=mask)
        return (self.head(hidden), *cache.presents)


def _input_names(num_layers: int) -> list[str]:
    return ["input_ids", "attention_mask"] + [f"past_key_values.{i}.{kv}" for i in range(num_layers)
                                             for kv in ("key", "value")]


def _output_names(num_layers: int) -> list[str]:
    return ["logits"] + [f"present.{i}.{kv}" for i in range(num_layers) for kv in ("key", "value")]


def _trace(graph: _GenAIGraph, opset: int | None) -> Any:
    """Traced with batch 2, 3 new positions, 7 mask slots and a past buffer of 8 (all dynamic)."""
    from ._fused import TRANSLATIONS

    spec = graph.backbone.cache_spec()
    dtype = next(graph.parameters()).dtype
    g = torch.Generator().manual_seed(0)
    B, S, total, buffer = 2, 3, 7, 8
    ids = torch.randint(0, graph.head.vocab_size, (B, S), generator=g)
    mask = torch.ones(B, total, dtype=torch.long)
    mask[0, :2] = 0
    past = tuple(torch.randn(B, spec.num_kv_heads, buffer, spec.head_dim, generator=g).to(dtype)
                 for _ in range(2 * spec.num_layers))
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence_length")
    total_dim, past_dim = torch.export.Dim("total_sequence_length"), torch.export.Dim("past_sequence_length")
    dynamic = {"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: total_dim},
               "past": tuple({0: batch, 2: past_dim} for _ in past)}
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            return torch.onnx.export(graph, (ids, mask, *past), dynamic_shapes=dynamic,
                                     input_names=_input_names(spec.num_layers),
                                     output_names=_output_names(spec.num_layers), opset_version=opset,
                                     dynamo=True, verbose=False, custom_translation_table=TRANSLATIONS)
    except Exception as exc:  # torch.export / onnxscript errors: keep the first line
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ExportError(f"cannot export the genai graph of {type(graph.backbone).__name__}: {first[:400]}") from exc
    finally:
        quiet.setLevel(level)


def _rename_data(directory: Path) -> None:
    """The exporter names the external data after the graph; make sure it is ``model.onnx.data``."""
    found = [p for p in directory.iterdir() if p.name != GENAI_GRAPH and p.name.startswith(GENAI_GRAPH)]
    if found and found[0].name != GENAI_DATA:
        import onnx
        from onnx.external_data_helper import convert_model_to_external_data

        model = onnx.load(str(directory / GENAI_GRAPH))
        for old in found:
            old.unlink()
        convert_model_to_external_data(model, all_tensors_to_one_file=True, location=GENAI_DATA)
        onnx.save_model(model, str(directory / GENAI_GRAPH))


def _special_ids(tokenizer: Any, vocab: int) -> dict[str, Any]:
    """bos, eos and pad ids for genai_config.json, from the tokenizer's special tokens.

    onnxruntime-genai marks the trailing ``pad_token_id`` of each prompt in a batch as
    padding, so a real prompt must not end with it; without a pad token, the eos id (or 0)
    is used and the folder's README says so.
    """
    special = dict(getattr(tokenizer, "special_tokens", {}) or {})
    eos = special.get("eos")
    pad = special.get("pad", eos if eos is not None else 0)
    return {"bos": special.get("bos", pad), "eos": eos, "pad": pad, "pad_declared": "pad" in special,
            "vocab": vocab}


def _genai_config(backbone: Any, head: Any, ids: dict[str, Any]) -> dict[str, Any]:
    spec = backbone.cache_spec()
    return {
        "model": {
            "bos_token_id": ids["bos"],
            "context_length": backbone.max_seq_len,
            "decoder": {
                "session_options": {"log_id": "onnxruntime-genai", "provider_options": []},
                "filename": GENAI_GRAPH,
                "head_size": spec.head_dim,
                "hidden_size": backbone.d_model,
                "inputs": {"input_ids": "input_ids", "attention_mask": "attention_mask",
                           "past_key_names": "past_key_values.%d.key", "past_value_names": "past_key_values.%d.value"},
                "outputs": {"logits": "logits", "present_key_names": "present.%d.key",
                            "present_value_names": "present.%d.value"},
                "num_attention_heads": backbone.d_model // spec.head_dim,
                "num_hidden_layers": spec.num_layers,
                "num_key_value_heads": spec.num_kv_heads,
            },
            "eos_token_id": ids["eos"] if ids["eos"] is not None else ids["pad"],  # must be a valid id
            "pad_token_id": ids["pad"],
            "type": "llama",  # onnxruntime-genai's plain decoder-only model: the graph follows its conventions
            "vocab_size": head.vocab_size,
        },
        "search": {"do_sample": False, "max_length": backbone.max_seq_len, "min_length": 0, "num_beams": 1,
                   "num_return_sequences": 1, "past_present_share_buffer": True, "repetition_penalty": 1.0,
                   "temperature": 1.0, "top_k": 1, "top_p": 1.0, "early_stopping": True, "length_penalty": 1.0,
                   "no_repeat_ngram_size": 0, "diversity_penalty": 0.0},
    }  # onnxruntime-genai rejects keys it does not know: arkit's version is in the README


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def tokenizer_mismatch(tokenizer: Any, directory: Path, samples: int = 4) -> str | None:
    """Why onnxruntime-genai's tokenizer over ``directory``'s files disagrees with ``tokenizer``, or ``None``.

    The texts compared are ``tokenizer.decode`` of seeded random ids (ordinary ids, no specials): each must
    encode to the same ids in both. onnxruntime-genai reads the files in a child process (see
    :func:`_genai_encode`).
    """
    _genai_module()  # installed, or a ConfigError with the install command
    special = set(dict(getattr(tokenizer, "special_tokens", {}) or {}).values())
    pool = [i for i in range(int(tokenizer.vocab_size)) if i not in special]
    g = torch.Generator().manual_seed(7)
    texts = [tokenizer.decode([pool[int(i)] for i in torch.randint(0, len(pool), (8,), generator=g)])
             for _ in range(samples)]
    theirs = _genai_encode(directory, texts)
    if isinstance(theirs, str):
        return theirs
    for text, got in zip(texts, theirs):
        ours = list(tokenizer.encode(text))
        if got != ours:
            return f"onnxruntime-genai encodes {text!r} as {got[:8]}, the pipeline's tokenizer as {ours[:8]}"
    return None


#: Run by :func:`_genai_encode` in a child process: reads ``[directory, texts]`` as JSON on stdin, prints
#: ``{"ids": [...]}`` or ``{"error": "..."}``.
_ENCODE_SCRIPT = """
import json, sys
import onnxruntime_genai as og
directory, texts = json.loads(sys.stdin.read())
try:
    model = og.Model(directory)
    tokenizer = og.Tokenizer(model)
except Exception as exc:
    print(json.dumps({"error": "onnxruntime-genai cannot load the tokenizer files (%s)" % str(exc).strip()[:200]}))
    sys.exit(0)
ids = []
for text in texts:
    try:
        ids.append([int(i) for i in tokenizer.encode(text)])
    except Exception as exc:
        print(json.dumps({"error": "onnxruntime-genai cannot encode %r (%s)" % (text, str(exc).strip()[:200])}))
        sys.exit(0)
print(json.dumps({"ids": ids}))
"""


def _genai_encode(directory: Path, texts: list[str]) -> list[list[int]] | str:
    """onnxruntime-genai's ids for each of ``texts`` with ``directory``'s tokenizer files, or why there are none.

    It runs in a child process: onnxruntime-genai 0.18 sometimes crashes (a segmentation fault) on tokenizer
    files it does not support, and an export must then leave the files out, not take the process down.
    """
    try:
        done = subprocess.run([sys.executable, "-c", _ENCODE_SCRIPT], input=json.dumps([str(directory), texts]),
                              capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        return "onnxruntime-genai took over 300 s to load the tokenizer files"
    if done.returncode != 0:
        return (f"onnxruntime-genai crashed reading the tokenizer files (exit code {done.returncode}: "
                f"{done.stderr.strip()[-200:] or 'no message'})")
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return f"onnxruntime-genai printed no encodings ({done.stdout.strip()[-200:]!r})"
    return answer["error"] if "error" in answer else answer["ids"]


def _write_tokenizer(tokenizer: Any, directory: Path, ids: dict[str, Any]) -> bool:
    """``tokenizer.json`` and ``tokenizer_config.json`` for a ``tokenizers`` tokenizer (its config holds
    ``tokenizer_json``); ``False`` for any other tokenizer."""
    content = dict(getattr(tokenizer, "config", {}) or {}).get("tokenizer_json")
    if content is None:
        return False
    text = content if isinstance(content, str) else json.dumps(content)
    try:
        from tokenizers import Tokenizer

        parsed = Tokenizer.from_str(text)
    except Exception:  # noqa: BLE001 - not a tokenizers JSON after all: feed ids
        return False
    (directory / "tokenizer.json").write_text(text)
    names = {role: parsed.id_to_token(ids[role]) for role in ("bos", "eos", "pad")
             if ids.get(role) is not None and 0 <= ids[role] < parsed.get_vocab_size(with_added_tokens=True)}
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 1 << 30,
              **{f"{role}_token": name for role, name in names.items() if name is not None}}
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    return True


def _readme(ids: dict[str, Any], has_tokenizer: bool, max_len: int, dropped: str | None = None) -> str:
    pad_note = ("" if ids["pad_declared"] else
                f"\nThe tokenizer declares no pad token, so `pad_token_id` is {ids['pad']}: in a batch, onnxruntime-genai "
                f"treats the {ids['pad']}s that end a prompt as padding, so a prompt must not end with it.\n")
    feed = ("The folder holds the tokenizer (`tokenizer.json`), so `og.Tokenizer(model)` encodes text."
            if has_tokenizer else
            ("The pipeline's tokenizer cannot be written as a `tokenizer.json`" if dropped is None else
             f"The pipeline's `tokenizer.json` was left out: {dropped}") +
            ", so feed token ids: encode with the arkit tokenizer (`arkit.Pipeline.from_pretrained(...).tokenizer"
            ".encode(item)`) and decode the ids onnxruntime-genai returns the same way.")
    return f"""# An arkit pipeline for onnxruntime-genai

Written by `arkit export DIR OUT --format genai` (arkit {__version__}) and validated at export time:
onnxruntime-genai's greedy tokens equal the torch pipeline's.

{feed}

```python
import numpy as np
import onnxruntime_genai as og

model = og.Model("this-folder")
params = og.GeneratorParams(model)
params.set_search_options(max_length=64, batch_size=2)   # prompt + new tokens, at most {max_len}
generator = og.Generator(model, params)
prompts = [[5, 6, 7, 8], [9, 10]]                         # token ids
width = max(map(len, prompts))
generator.append_tokens(np.array([p + [{ids["pad"]}] * (width - len(p)) for p in prompts], dtype=np.int32))
while not generator.is_done():
    generator.generate_next_token()
print([[int(t) for t in generator.get_sequence(i)[width:]] for i in range(len(prompts))])  # the new ids
```

Pad a batch on the right with `pad_token_id` ({ids["pad"]}): onnxruntime-genai marks the trailing pad ids of each
row as padding (leading ones count as tokens), and a padded row generates what it would alone.
{pad_note}
`genai_config.json` sets the search options (greedy by default; `do_sample`, `top_k`, `top_p`,
`temperature` as onnxruntime-genai defines them). arkit's own samplers, constraints and drafters are not part
of this folder: for them, export in arkit's format and run it with `arkit.onnx.OrtPipeline`.
"""


def genai_greedy(model: Any, prompts: Sequence[Sequence[int]], new_tokens: int, pad: int) -> list[list[int]]:
    """Greedy continuations from an ``onnxruntime_genai.Model``: ``new_tokens`` ids per prompt, the prompts
    right-padded with ``pad`` into one batch (onnxruntime-genai marks trailing pad ids as padding). Generation runs to ``max_length`` unless the model's eos comes
    first (the rows then hold fewer ids)."""
    import numpy as np

    og = _genai_module()
    width = max(len(p) for p in prompts)
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=width + new_tokens, do_sample=False, batch_size=len(prompts))
    generator = og.Generator(model, params)
    generator.append_tokens(np.array([list(p) + [pad] * (width - len(p)) for p in prompts], dtype=np.int32))
    while not generator.is_done():
        generator.generate_next_token()
    return [[int(t) for t in generator.get_sequence(i)[width:]] for i in range(len(prompts))]


def load_model(directory: str | os.PathLike[str], *, threads: int = 1, overlay: dict[str, Any] | None = None) -> Any:
    """``onnxruntime_genai.Model`` over ``directory`` on the CPU with ``threads`` intra-op threads (and an
    optional genai_config overlay)."""
    og = _genai_module()
    config = og.Config(str(directory))
    config.clear_providers()
    settings: dict[str, Any] = {"model": {"decoder": {"session_options": {"intra_op_num_threads": threads,
                                                                          "inter_op_num_threads": 1}}}}
    for key, value in (overlay or {}).items():
        settings.setdefault(key, {}).update(value)
    config.overlay(json.dumps(settings))
    return og.Model(config)


def unused_token(vocab: int, *sequences: Sequence[int]) -> int | None:
    """The smallest id in ``[0, vocab)`` that none of ``sequences`` holds (``None`` if all occur).

    onnxruntime-genai always stops at its ``eos_token_id`` (which must be a valid id); set to such an id, it lets a
    comparison with a generation that ignores eos run to full length.
    """
    used = {int(t) for seq in sequences for t in seq}
    return next((i for i in range(vocab) if i not in used), None)


def _validate(pipeline: Pipeline, directory: Path, ids: dict[str, Any], new_tokens: int) -> list[dict[str, Any]]:
    """Greedy tokens of onnxruntime-genai against the torch pipeline: each prompt alone and all of them as one
    padded batch. Both run to full length: torch ignores eos, and onnxruntime-genai's eos is set to an id
    that neither the prompts nor torch's tokens contain (when the vocabulary has one; otherwise both stop at the
    first eos)."""
    from ..registry import create

    vocab = ids["vocab"]
    g = torch.Generator().manual_seed(1234)
    avoid = {ids["pad"], ids["eos"], ids["bos"]}
    pool = torch.tensor([i for i in range(vocab) if i not in avoid])
    if len(pool) == 0:
        raise ExportError(f"cannot validate: every id of the vocabulary ({vocab}) is a special token")
    prompts = [pool[torch.randint(0, len(pool), (n,), generator=g)].tolist() for n in (7, 3, 5)]
    reference = pipeline.replace(sampler=create("sampler", "core/greedy"), drafter=None)
    batches = [[p] for p in prompts] + [prompts]
    expected = []
    for batch in batches:
        with torch.inference_mode():
            out = reference.generate(prompt_ids=batch, max_new_tokens=new_tokens, eos_token_ids=())
        expected.append([list(s) for s in out.sequences])
    stop = unused_token(vocab, *prompts, *(row for rows in expected for row in rows))
    if stop is None:  # every id occurs: compare up to each row's first eos, where onnxruntime-genai stops
        stop = ids["eos"] if ids["eos"] is not None else ids["pad"]
        expected = [[row[: row.index(stop) + 1] if stop in row else row for row in rows] for rows in expected]
    try:
        model = load_model(directory, overlay={"model": {"eos_token_id": stop}})
    except Exception as exc:  # onnxruntime-genai's own errors
        raise ExportError(f"onnxruntime-genai cannot load the exported folder: {str(exc).strip()[:300]}") from None
    cases = []
    for batch, want in zip(batches, expected):
        try:
            got = genai_greedy(model, batch, new_tokens, ids["pad"])
        except Exception as exc:  # onnxruntime-genai's own errors
            raise ExportError(f"onnxruntime-genai cannot run the exported graph (batch {len(batch)}): "
                              f"{str(exc).strip()[:300]}") from None
        for row, (a, b) in enumerate(zip(want, got)):
            b = b[: len(a)] if b[len(a):] == [ids["pad"]] * len(b[len(a):]) else b  # rows done early are padded
            if a != b:
                first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
                raise ExportError(
                    f"onnxruntime-genai and torch disagree on greedy tokens (batch {len(batch)}, row {row}, prompt "
                    f"of {len(batch[row])} tokens): first difference at new token {first}: torch "
                    f"{a[first] if first < len(a) else 'nothing'}, onnxruntime-genai "
                    f"{b[first] if first < len(b) else 'nothing'}")
        cases.append({"batch": len(batch), "prompt_lengths": [len(p) for p in batch], "new_tokens": new_tokens,
                      "padded": len({len(p) for p in batch}) > 1, "identical_tokens": True})
    return cases
