"""No powers reserved for built-ins (issue 22, item 3): the exporter asks protocols, never concrete classes.

A backbone and a drafter written here, registered by a plugin that exists only in this
file, get what ``core/transformer`` and ``core/medusa`` get: the fused decode graph
(:class:`arkit.protocols.FusedAttentionBackbone`) and draft heads inside the step graph
(:class:`arkit.protocols.ExportableDraftHeads`), drafting through :class:`arkit.onnx.OrtPipeline`.
"""

from __future__ import annotations

from collections.abc import Mapping
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
import torch.nn.functional as F

pytest.importorskip("onnxscript")
pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

import arkit  # noqa: E402
from arkit.backbones.transformer import TransformerBackbone  # noqa: E402
from arkit.drafters.medusa import MedusaHeads  # noqa: E402
from arkit.onnx import OrtPipeline, export  # noqa: E402
from arkit.protocols import ExportableDraftHeads, FusedAttentionBackbone  # noqa: E402
from arkit.testing import register_plugin  # noqa: E402

from .helpers import tiny_pipeline  # noqa: E402

PROMPTS = ["hello world", "ab", "The interpreter reads"]  # different lengths: a padded batch


class AttentionOnly(nn.Module):
    """A plugin's backbone written from scratch: attention-only layers with rotary embedding, no MLP.

    It shares no code with ``core/transformer``; it has the members of
    :class:`arkit.protocols.FusedAttentionBackbone` and hands each layer's packed
    ``[q | k | v]`` projection to the cache's ``attend`` when the cache has one.
    """

    def __init__(self, *, vocab_size: int = 259, d_model: int = 64, n_heads: int = 4, n_kv_heads: int = 2,
                 n_layers: int = 2, max_seq_len: int = 128) -> None:
        super().__init__()
        self._config = dict(vocab_size=vocab_size, d_model=d_model, n_heads=n_heads, n_kv_heads=n_kv_heads,
                            n_layers=n_layers, max_seq_len=max_seq_len)
        self.vocab_size, self.d_model, self.max_seq_len = vocab_size, d_model, max_seq_len
        self.n_heads, self.n_kv_heads, self.head_dim = n_heads, n_kv_heads, d_model // n_heads
        self.embed = nn.Embedding(vocab_size, d_model)
        self.qkv = nn.ModuleList(nn.Linear(d_model, (n_heads + 2 * n_kv_heads) * self.head_dim, bias=False)
                                 for _ in range(n_layers))
        self.out = nn.ModuleList(nn.Linear(n_heads * self.head_dim, d_model, bias=False) for _ in range(n_layers))
        half = self.head_dim // 2
        angles = torch.arange(max_seq_len)[:, None] * 10000.0 ** (-torch.arange(half) / half)  # [L, D/2]
        # rotate-half layout: cos over both halves, sin with its first half negated
        self.register_buffer("rope_cos", torch.cat([angles.cos(), angles.cos()], -1), persistent=False)
        self.register_buffer("rope_sin", torch.cat([-angles.sin(), angles.sin()], -1), persistent=False)

    @property
    def config(self) -> Mapping[str, Any]:
        return dict(self._config)

    def cache_spec(self) -> arkit.CacheSpec:
        return arkit.CacheSpec(num_layers=len(self.qkv), num_kv_heads=self.n_kv_heads, head_dim=self.head_dim)

    def _rotate(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        return x * cos + torch.roll(x, self.head_dim // 2, dims=-1) * sin

    def forward(self, input_ids: torch.Tensor, *, positions: torch.Tensor, cache: Any = None,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        B, T = input_ids.shape
        past = cache.seq_len if cache is not None else 0
        x = self.embed(input_ids)
        if attention_mask is None:  # causal by storage slot
            slots = torch.arange(past + T, device=x.device)
            attention_mask = (slots[None, :] <= slots[past:, None]).expand(B, T, past + T)
        mask = torch.zeros(attention_mask.shape, dtype=x.dtype, device=x.device)
        mask = mask.masked_fill(~attention_mask, torch.finfo(x.dtype).min).unsqueeze(1)  # [B, 1, T, S]
        cos, sin = self.rope_cos[positions].unsqueeze(1), self.rope_sin[positions].unsqueeze(1)
        H, Hkv, D = self.n_heads, self.n_kv_heads, self.head_dim
        for i, (qkv_proj, out_proj) in enumerate(zip(self.qkv, self.out)):
            qkv = qkv_proj(x)
            attend = getattr(cache, "attend", None)
            if attend is not None:  # the exported decode graph: the fused attention does all of it
                y = attend(i, qkv, mask)
            else:
                q, k, v = qkv.view(B, T, H + 2 * Hkv, D).transpose(1, 2).split([H, Hkv, Hkv], dim=1)
                q, k = self._rotate(q, cos, sin), self._rotate(k, cos, sin)
                if cache is not None:
                    k, v = cache.update(i, k, v)
                k, v = k.repeat_interleave(H // Hkv, 1), v.repeat_interleave(H // Hkv, 1)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(B, T, H * D)
            x = x + out_proj(y)
        return x


class LinearHeads(nn.Module):
    """A plugin's draft heads: one linear map from the target's hidden state to ``num_heads`` guesses.

    It shares no code with ``core/medusa``; it has the members of
    :class:`arkit.protocols.ExportableDraftHeads` and drafts, in torch, what the
    exported graph drafts: head ``i``'s top-1 at each row's last verified position.
    """

    def __init__(self, *, d_model: int = 64, vocab_size: int = 259, num_heads: int = 3) -> None:
        super().__init__()
        self.d_model, self.vocab_size, self.num_heads = d_model, vocab_size, num_heads
        self.proj = nn.Linear(d_model, num_heads * vocab_size)
        self._hidden: torch.Tensor | None = None

    @property
    def config(self) -> Mapping[str, Any]:
        return {"d_model": self.d_model, "vocab_size": self.vocab_size, "num_heads": self.num_heads}

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.proj(hidden).unflatten(-1, (self.num_heads, self.vocab_size))

    def start(self, pipe: Any, batch_size: int) -> None:
        self._hidden = None

    def observe(self, verification: arkit.Verification) -> None:
        last = verification.accepted if verification.last_kept is None else verification.last_kept
        rows = torch.arange(verification.hidden.shape[0])
        self._hidden = verification.hidden[rows, last].detach()

    def propose(self, tokens: torch.Tensor, k: int) -> arkit.Draft:
        B, n = tokens.shape[0], min(k, self.num_heads)
        drafted = torch.zeros(B, k, dtype=torch.long)
        if self._hidden is None or self._hidden.shape[0] != B:
            return arkit.Draft(tokens=drafted, lengths=torch.zeros(B, dtype=torch.long))
        with torch.no_grad():
            drafted[:, :n] = self.forward(self._hidden).argmax(-1)[:, :n]
        return arkit.Draft(tokens=drafted, lengths=torch.full((B,), n, dtype=torch.long))


class _Plugin:
    @arkit.hookimpl
    def arkit_register_backbones(self, register: Any) -> None:
        register("attention-only", AttentionOnly)

    @arkit.hookimpl
    def arkit_register_drafters(self, register: Any) -> None:
        register("linear-heads", LinearHeads)


@pytest.fixture(scope="module")
def plugin() -> Any:
    with register_plugin(_Plugin(), "testexport"):
        yield


def _pipeline() -> arkit.Pipeline:
    pipe = tiny_pipeline()
    torch.manual_seed(1)
    backbone = arkit.create("backbone", "testexport/attention-only", vocab_size=pipe.tokenizer.vocab_size)
    with torch.no_grad():
        for p in backbone.parameters():
            p.normal_(0, 0.3)
    return pipe.replace(backbone=backbone.eval())


def test_the_protocols_not_the_classes_decide(plugin: Any) -> None:
    pipe = _pipeline()
    assert not isinstance(pipe.backbone, TransformerBackbone) and isinstance(pipe.backbone, FusedAttentionBackbone)
    heads = arkit.create("drafter", "testexport/linear-heads")
    assert not isinstance(heads, MedusaHeads) and isinstance(heads, ExportableDraftHeads)
    assert not isinstance(arkit.create("drafter", "core/prompt-lookup"), ExportableDraftHeads)


def test_a_plugin_backbone_with_fused_attention_gets_the_decode_graph(plugin: Any, tmp_path: Path) -> None:
    pipe = _pipeline()
    report = export(pipe, tmp_path / "out")
    assert report.decode_graph and report.max_abs_logit_diff is not None and report.max_abs_logit_diff < 1e-4
    assert {c["graph"] for c in report.cases} == {"step", "decode"}  # both graphs validated against torch
    graph = onnx.load(str(tmp_path / "out" / "decode.onnx"), load_external_data=False)
    fused = [n for n in graph.graph.node if n.op_type == "GroupQueryAttention"]
    assert len(fused) == 2 and {n.domain for n in fused} == {"com.microsoft"}  # one node per layer
    ort = OrtPipeline.from_pretrained(tmp_path / "out")
    assert ort.backbone.decode_session is not None
    expected = pipe.generate(PROMPTS, max_new_tokens=16, eos_token_ids=()).sequences
    assert ort.generate(PROMPTS, max_new_tokens=16, eos_token_ids=()).sequences == expected


def test_plugin_draft_heads_export_inside_the_step_graph_and_draft_through_ort(plugin: Any, tmp_path: Path) -> None:
    pipe = _pipeline()
    torch.manual_seed(2)
    heads = arkit.create("drafter", "testexport/linear-heads", vocab_size=pipe.tokenizer.vocab_size)
    target = pipe.replace(drafter=heads.eval())
    report = export(target, tmp_path / "out")
    assert all("medusa_token_mismatches" in case for case in report.cases)
    assert not (tmp_path / "out" / "drafter").exists()  # the heads live in the graph
    manifest = json.loads((tmp_path / "out" / "onnx.json").read_text())
    assert manifest["outputs"][:2] == ["logits", "medusa_tokens"] and manifest["medusa"] == {"num_heads": 3}
    ort = OrtPipeline.from_pretrained(tmp_path / "out")
    assert ort.drafter is not None
    a = target.generate(PROMPTS, max_new_tokens=20, eos_token_ids=())
    b = ort.generate(PROMPTS, max_new_tokens=20, eos_token_ids=())
    assert a.sequences == b.sequences == pipe.generate(PROMPTS, max_new_tokens=20, eos_token_ids=()).sequences
    assert a.speculative is not None and b.speculative is not None and b.speculative.drafted > 0
    # the exported graph drafts exactly what the torch heads draft
    assert (a.speculative.drafted, a.speculative.accepted, a.speculative.target_calls) == (
        b.speculative.drafted, b.speculative.accepted, b.speculative.target_calls)


def test_draft_heads_that_cannot_go_in_the_graph_are_refused_clearly(plugin: Any, tmp_path: Path) -> None:
    pipe = _pipeline()

    class NotAModule:
        """Has every member of ExportableDraftHeads but is no nn.Module."""

        num_heads, d_model, vocab_size = 2, 64, pipe.tokenizer.vocab_size
        config: dict[str, Any] = {}

        def forward(self, hidden: torch.Tensor) -> torch.Tensor:
            return hidden

        def propose(self, tokens: torch.Tensor, k: int) -> arkit.Draft:
            raise AssertionError("not called")

    assert isinstance(NotAModule(), ExportableDraftHeads)
    with pytest.raises(arkit.ExportError, match="not a torch module"):
        export(pipe.replace(drafter=NotAModule()), tmp_path / "a")
    heads = LinearHeads(vocab_size=pipe.tokenizer.vocab_size)
    heads.num_heads = math.nan  # type: ignore[assignment]
    with pytest.raises(arkit.ExportError, match="num_heads must be a positive integer"):
        export(pipe.replace(drafter=heads), tmp_path / "b")
    narrow = LinearHeads(d_model=32, vocab_size=pipe.tokenizer.vocab_size)
    with pytest.raises(arkit.ExportError, match="32-wide hidden states .* the target's are 64 wide"):
        export(pipe.replace(drafter=narrow), tmp_path / "c")
    assert not any((tmp_path / name).exists() for name in "abc")  # nothing half-written
