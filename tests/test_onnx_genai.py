"""``arkit export --format genai``: a folder onnxruntime-genai runs with its own Generator, validated against torch."""

from __future__ import annotations

import json
from pathlib import Path
import sys
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest
import torch
from torch import nn

import arkit

pytest.importorskip("onnxscript")
og = pytest.importorskip("onnxruntime_genai")

from arkit.cli import main  # noqa: E402
from arkit.onnx import export_genai  # noqa: E402
from arkit.onnx.genai import _validate, genai_greedy, load_model, unused_token  # noqa: E402

from .helpers import tiny_pipeline  # noqa: E402

PROMPTS = ["hello world", "ab", "The interpreter reads"]  # different lengths: a padded batch


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[arkit.Pipeline, Path, dict[str, Any]]:
    """The tiny byte-level pipeline, saved and exported once through the command line (validated at export)."""
    import contextlib
    import io

    pipe = tiny_pipeline()
    root = tmp_path_factory.mktemp("genai")
    pipe.save_pretrained(root / "saved")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["export", str(root / "saved"), str(root / "genai"), "--format", "genai", "--json"]) == 0
    return pipe, root / "genai", json.loads(out.getvalue())


def test_the_folder_follows_onnxruntime_genai_conventions(exported: Any) -> None:
    import onnx

    pipe, out, summary = exported
    assert summary["format"] == "genai" and summary["tokenizer"] is False  # core/byte: no tokenizer.json
    assert {p.name for p in out.iterdir()} == {"model.onnx", "model.onnx.data", "genai_config.json", "README.md"}
    config = json.loads((out / "genai_config.json").read_text())
    decoder = config["model"]["decoder"]
    assert decoder["inputs"] == {"input_ids": "input_ids", "attention_mask": "attention_mask",
                                 "past_key_names": "past_key_values.%d.key",
                                 "past_value_names": "past_key_values.%d.value"}
    assert (decoder["num_hidden_layers"], decoder["num_key_value_heads"], decoder["num_attention_heads"],
            decoder["head_size"]) == (2, 2, 4, 16)
    assert config["search"]["past_present_share_buffer"] is True
    special = pipe.tokenizer.special_tokens
    assert (config["model"]["eos_token_id"], config["model"]["pad_token_id"]) == (special["eos"], special["pad"])
    graph = onnx.load(str(out / "model.onnx"), load_external_data=False)
    names = [i.name for i in graph.graph.input]
    assert names == ["input_ids", "attention_mask", "past_key_values.0.key", "past_key_values.0.value",
                     "past_key_values.1.key", "past_key_values.1.value"]
    assert [o.name for o in graph.graph.output][:3] == ["logits", "present.0.key", "present.0.value"]
    fused = [n for n in graph.graph.node if n.op_type == "GroupQueryAttention"]
    assert len(fused) == 2 and all(n.domain == "com.microsoft" for n in fused)
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.graph.input}
    assert all(isinstance(d, str) for d in dims["input_ids"] + dims["attention_mask"])
    assert isinstance(dims["past_key_values.0.key"][2], str)  # the slot buffer's length is onnxruntime-genai's


def test_export_validated_single_prompts_and_a_padded_batch(exported: Any) -> None:
    _, _, summary = exported
    cases = summary["cases"]
    assert [c["batch"] for c in cases] == [1, 1, 1, 3]
    assert cases[-1]["padded"] and all(c["identical_tokens"] for c in cases)


def test_onnx_runtime_genai_generates_torchs_greedy_tokens(exported: Any) -> None:
    """Text prompts the export never saw, alone and as one right-padded batch, through onnxruntime-genai's loop."""
    pipe, out, _ = exported
    ids = [pipe.tokenizer.encode(p) for p in PROMPTS]
    want = [list(s) for s in pipe.generate(prompt_ids=ids, max_new_tokens=10, eos_token_ids=()).sequences]
    stop = unused_token(pipe.head.vocab_size, *ids, *want)
    assert stop is not None
    model = load_model(out, overlay={"model": {"eos_token_id": stop}})
    assert genai_greedy(model, ids, 10, pad=pipe.tokenizer.special_tokens["pad"]) == want
    assert [genai_greedy(model, [row], 10, pad=0)[0] for row in ids] == want


def test_validation_names_the_first_difference(exported: Any) -> None:
    """The same comparison as at export time, against a torch pipeline with other weights, must fail."""
    pipe, out, _ = exported
    torch.manual_seed(1)
    other = pipe.replace(head=arkit.create("head", "core/categorical", d_model=64, vocab_size=259))
    ids = {"bos": 256, "eos": 257, "pad": 258, "vocab": 259, "pad_declared": True}
    with pytest.raises(arkit.ExportError, match=r"disagree on greedy tokens \(batch 1, row 0.*first difference"):
        _validate(other, out, ids, 6)


@settings(max_examples=50, deadline=None)
@given(vocab=st.integers(1, 12), sequences=st.lists(st.lists(st.integers(0, 11), max_size=8), max_size=4))
def test_unused_token_is_the_smallest_id_no_sequence_holds(vocab: int, sequences: list[list[int]]) -> None:
    found = unused_token(vocab, *sequences)
    used = {t for s in sequences for t in s}
    if found is None:
        assert set(range(vocab)) <= used
    else:
        assert 0 <= found < vocab and found not in used and all(i in used for i in range(found))


# -- what onnxruntime-genai cannot express fails before anything is written ------------------------------------


def test_a_continuous_head_is_refused(tmp_path: Path) -> None:
    backbone = arkit.create("backbone", "core/transformer", input_dim=3, d_model=32, n_layers=1, n_heads=2,
                            max_seq_len=16)
    head = arkit.create("head", "core/gaussian-mixture", d_model=32, dim=3, components=2)
    pipe = arkit.Pipeline(tokenizer=arkit.create("tokenizer", "core/vectors", dim=3), backbone=backbone, head=head)
    with pytest.raises(arkit.ExportError, match=r"continuous head.*arkit export DIR OUT"):
        export_genai(pipe, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_extra_inputs_and_next_scale_steps_are_refused(tmp_path: Path) -> None:
    pipe = tiny_pipeline()
    conditioned = pipe.replace(backbone=arkit.create("backbone", "core/transformer",
                                                     **{**pipe.backbone.config, "cond_dim": 4}))
    with pytest.raises(arkit.ExportError, match=r"extra input\(s\) \['conditioning'\].*OrtPipeline"):
        export_genai(conditioned, tmp_path / "a")

    class ScaleTokenizer:  # a tokenizer that generates by next-scale steps, as arkit-vision's multi-scale VQ does
        vocab_size, special_tokens, lossless, config = 259, {}, False, {}
        schedule = arkit.NextScaleSchedule(sides=(1, 2))

        def encode(self, item: Any) -> list[int]:
            return list(item)

        def decode(self, ids: Any) -> Any:
            return list(ids)

    with pytest.raises(arkit.ExportError, match="next-scale steps"):
        export_genai(pipe.replace(tokenizer=ScaleTokenizer()), tmp_path / "b")
    assert not any(tmp_path.iterdir())


class _Unfused(nn.Module):
    """A plugin backbone without fused attention: no rotary tables, no ``attend`` support."""

    def __init__(self) -> None:
        super().__init__()
        self.vocab_size, self.d_model, self.max_seq_len, self.head_dim, self.n_kv_heads = 259, 64, 32, 16, 4
        self.embed = nn.Embedding(259, 64)

    @property
    def config(self) -> dict[str, Any]:
        return {}

    def cache_spec(self) -> arkit.CacheSpec:
        return arkit.CacheSpec(num_layers=1, num_kv_heads=4, head_dim=16)

    def forward(self, input_ids: torch.Tensor, *, positions: torch.Tensor, cache: Any = None,
                attention_mask: Any = None) -> torch.Tensor:
        return self.embed(input_ids)


def test_a_backbone_without_the_protocol_is_refused_and_a_busy_folder_kept(tmp_path: Path) -> None:
    pipe = tiny_pipeline()
    with pytest.raises(arkit.ExportError, match="does not implement arkit.protocols.FusedAttentionBackbone"):
        export_genai(pipe.replace(backbone=_Unfused()), tmp_path / "a")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("keep me")
    with pytest.raises(arkit.PipelineFormatError, match="not empty"):
        export_genai(pipe, busy)
    assert (busy / "notes.txt").read_text() == "keep me"


def test_missing_onnxruntime_genai_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime_genai", None)
    with pytest.raises(arkit.ConfigError, match=r"pip install --no-deps onnxruntime-genai==0\.18\.0"):
        export_genai(tiny_pipeline(), tmp_path / "out")
    assert not (tmp_path / "out").exists()


class _PluginBackbone(nn.Module):
    """A third-party backbone (not core/transformer's class) that offers fused attention through the protocol:
    it delegates to a transformer's layers, exposing the protocol's members itself."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.vocab_size, self.d_model, self.max_seq_len = inner.vocab_size, inner.d_model, inner.max_seq_len
        self.head_dim, self.n_kv_heads = inner.head_dim, inner.n_kv_heads
        self.register_buffer("rope_cos", inner.rope_cos, persistent=False)
        self.register_buffer("rope_sin", inner.rope_sin, persistent=False)

    @property
    def config(self) -> dict[str, Any]:
        return {}

    def cache_spec(self) -> arkit.CacheSpec:
        return self.inner.cache_spec()

    def forward(self, input_ids: torch.Tensor, *, positions: torch.Tensor, cache: Any = None,
                attention_mask: Any = None) -> torch.Tensor:
        return self.inner(input_ids, positions=positions, cache=cache, attention_mask=attention_mask)


@pytest.mark.slow
def test_a_plugin_backbone_exports_through_the_protocol(tmp_path: Path) -> None:
    from arkit.protocols import FusedAttentionBackbone

    pipe = tiny_pipeline()
    plugin = _PluginBackbone(pipe.backbone)
    assert type(plugin) is not type(pipe.backbone) and isinstance(plugin, FusedAttentionBackbone)
    report = export_genai(pipe.replace(backbone=plugin), tmp_path / "out", max_new_tokens=6)
    assert report.cases and all(c["identical_tokens"] for c in report.cases)


def test_the_command_line_refuses_options_the_format_does_not_have(exported: Any, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = exported
    saved = out.parent / "saved"
    assert main(["export", str(saved), str(tmp_path / "a"), "--format", "genai", "--dtype", "float16"]) == 1
    assert "exports float32" in capsys.readouterr().err
    assert main(["export", str(saved), str(tmp_path / "b"), "--format", "triton", "--decode-graph"]) == 1
    assert "--decode-graph belongs to the arkit format" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_tokenizer_files_onnxruntime_genai_reads_differently_are_detected(exported: Any, tmp_path: Path) -> None:
    """A word-level tokenizers tokenizer: onnxruntime-genai 0.18 cannot encode with it, so export leaves it out."""
    import shutil

    from tokenizers import Tokenizer, models, pre_tokenizers

    from arkit.onnx.genai import _write_tokenizer, tokenizer_mismatch

    _, out, _ = exported
    words = Tokenizer(models.WordLevel({f"w{i}": i for i in range(259)}, unk_token="w0"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = arkit.create("tokenizer", "hf/tokenizer", tokenizer_json=words.to_str(), special_tokens={"eos": 1})
    folder = Path(shutil.copytree(out, tmp_path / "copy"))
    assert _write_tokenizer(tokenizer, folder, {"bos": 0, "eos": 1, "pad": 0})
    assert json.loads((folder / "tokenizer_config.json").read_text())["eos_token"] == "w1"
    reason = tokenizer_mismatch(tokenizer, folder)
    assert reason is not None and "onnxruntime-genai" in reason


def test_a_byte_level_bpe_tokenizer_is_read_the_same_by_onnxruntime_genai(exported: Any, tmp_path: Path) -> None:
    import shutil

    from tokenizers import ByteLevelBPETokenizer

    from arkit.onnx.genai import _write_tokenizer, tokenizer_mismatch

    _, out, _ = exported
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(["the quick brown fox jumps over the lazy dog " * 20, "hello world, a test " * 20],
                            vocab_size=300, min_frequency=1, special_tokens=["<|endoftext|>"])
    tokenizer = arkit.create("tokenizer", "hf/tokenizer", tokenizer_json=bpe._tokenizer.to_str(),
                             special_tokens={"eos": 0})
    folder = Path(shutil.copytree(out, tmp_path / "copy"))
    assert _write_tokenizer(tokenizer, folder, {"bos": 0, "eos": 0, "pad": 0})
    assert tokenizer_mismatch(tokenizer, folder) is None


def test_a_crash_inside_onnxruntime_genai_reading_tokenizer_files_is_a_mismatch_not_a_dead_process(
        exported: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """onnxruntime-genai 0.18 can segfault on tokenizer files it does not support: the check runs it in a child
    process, so the export leaves the files out with a reason instead of taking the process down."""
    import arkit.onnx.genai as genai

    pipe, out, _ = exported
    monkeypatch.setattr(genai, "_ENCODE_SCRIPT", "import os\nos.abort()\n")
    reason = genai.tokenizer_mismatch(pipe.tokenizer, out)
    assert reason is not None and "crashed" in reason and "exit code" in reason
