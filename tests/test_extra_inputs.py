"""Extra backbone inputs: declared by an export spec (hook), fed by every generation loop, exported as graph inputs.

``core/transformer(cond_dim=n)`` takes a conditioning vector per row; a plugin's
own backbone declares an integer input through ``arkit_register_export_specs``
and exports without exporter code of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
import pytest
import torch

import arkit
from arkit.backbones.transformer import TransformerBackbone
from arkit.onnx import OrtPipeline, export
from arkit.plugins import registered_plugin

from .helpers import tiny_pipeline

PROMPTS = ["hello world", "ab", "The interpreter reads"]


def conditioned(cond_dim: int = 4) -> arkit.Pipeline:
    pipe = tiny_pipeline()
    torch.manual_seed(1)
    backbone = arkit.create("backbone", "core/transformer", **{**pipe.backbone.config, "cond_dim": cond_dim})
    return pipe.replace(backbone=backbone)


def test_extra_input_declarations_are_checked() -> None:
    assert arkit.ExtraInput(name="speaker", shape=("batch", 8)).dtype == "float32"
    for bad in ({"name": "not a name", "shape": ("batch", 2)}, {"name": "x", "shape": (2, "batch")},
                {"name": "x", "shape": ("batch", 0)}, {"name": "x", "shape": ("batch",), "dtype": "float64"},
                {"name": "x", "shape": ("batch",), "dtype": "int64"}):
        with pytest.raises(arkit.ConfigError):
            arkit.ExtraInput(**bad)


def test_the_transformer_checks_its_conditioning() -> None:
    pipe = conditioned()
    backbone, ids, positions = pipe.backbone, torch.ones(2, 3, dtype=torch.long), torch.arange(3).expand(2, 3)
    with pytest.raises(arkit.InputError, match="cond_dim=4"):
        backbone(ids, positions=positions)
    for bad in (torch.randn(3, 4), torch.randn(2, 5), torch.ones(2, 4, dtype=torch.long),
                torch.full((2, 4), float("nan"))):
        with pytest.raises(arkit.InputError, match="conditioning"):
            backbone(ids, positions=positions, conditioning=bad)
    with pytest.raises(arkit.InputError, match="no conditioning"):
        tiny_pipeline().backbone(ids, positions=positions, conditioning=torch.randn(2, 4))
    with pytest.raises(arkit.ConfigError, match="cond_dim"):
        arkit.create("backbone", "core/transformer", cond_dim=0)
    a = backbone(ids, positions=positions, conditioning=torch.zeros(2, 4))
    b = backbone(ids, positions=positions, conditioning=torch.ones(2, 4))
    assert not torch.allclose(a, b)


@settings(max_examples=15, deadline=None)
@given(length=st.integers(1, 12), new=st.integers(1, 6), batch=st.integers(1, 3), cache=st.sampled_from(
    ["core/dynamic", "core/static"]))
def test_incremental_decoding_with_conditioning_equals_the_full_forward(length: int, new: int, batch: int,
                                                                         cache: str) -> None:
    pipe = conditioned()
    backbone, store = pipe.backbone, arkit.create("cache", cache)
    g = torch.Generator().manual_seed(length * 100 + new * 10 + batch)
    ids = torch.randint(0, 259, (batch, length + new), generator=g)
    condition = torch.randn(batch, 4, generator=g)
    positions = torch.arange(length + new).expand(batch, -1)
    with torch.no_grad():
        full = backbone(ids, positions=positions, conditioning=condition)
        store.allocate(backbone.cache_spec(), batch_size=batch, max_len=length + new, dtype=torch.float32,
                       device="cpu")
        parts = [backbone(ids[:, :length], positions=positions[:, :length], cache=store, conditioning=condition)]
        for t in range(length, length + new):
            parts.append(backbone(ids[:, t : t + 1], positions=positions[:, t : t + 1], cache=store,
                                  conditioning=condition))
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-5, rtol=1e-5)


def test_each_row_is_generated_under_its_own_condition() -> None:
    pipe, condition = conditioned(), torch.randn(2, 4, generator=torch.Generator().manual_seed(0))
    both = pipe.generate([PROMPTS[0]] * 2, max_new_tokens=12, extra_inputs={"conditioning": condition})
    for row in range(2):
        alone = pipe.generate([PROMPTS[0]], max_new_tokens=12, extra_inputs={"conditioning": condition[row:row + 1]})
        assert alone.sequences[0] == both.sequences[row]
    assert both.sequences[0] != both.sequences[1]  # the condition, not the prompt, tells them apart
    streamed = [e.token_id for e in pipe.stream([PROMPTS[0]] * 2, max_new_tokens=12,
                                                extra_inputs={"conditioning": condition}) if e.row == 1]
    assert tuple(streamed) == both.sequences[1]


@pytest.mark.parametrize("cache", ["core/dynamic", "core/static"])
def test_speculative_and_beam_search_keep_the_condition(cache: str) -> None:
    pipe = conditioned().replace(cache=arkit.create("cache", cache))
    condition = {"conditioning": torch.randn(3, 4, generator=torch.Generator().manual_seed(2))}
    plain = pipe.generate(PROMPTS, max_new_tokens=16, extra_inputs=condition, output_logprobs=True)
    for drafter in ("core/prompt-lookup", "core/jacobi"):
        fast = pipe.replace(drafter=arkit.create("drafter", drafter)).generate(
            PROMPTS, max_new_tokens=16, extra_inputs=condition, output_logprobs=True)
        assert fast.sequences == plain.sequences
        for a, b in zip(fast.logprobs, plain.logprobs):
            torch.testing.assert_close(torch.tensor(a), torch.tensor(b), atol=1e-4, rtol=0)
    beams = pipe.generate(PROMPTS, max_new_tokens=16, extra_inputs=condition, num_beams=1)
    assert beams.sequences == plain.sequences
    wide = pipe.generate(PROMPTS, max_new_tokens=8, extra_inputs=condition, num_beams=3, num_return_sequences=2)
    assert len(wide.sequences) == 6


def test_guidance_gives_the_unconditional_twins_no_condition() -> None:
    pipe, scale = conditioned(), 2.5
    condition = torch.randn(1, 4, generator=torch.Generator().manual_seed(3))
    out = pipe.generate([PROMPTS[0]], max_new_tokens=1, guidance_scale=scale, negative_prompts=["x"],
                        extra_inputs={"conditioning": condition})
    backbone, head = pipe.backbone, pipe.head

    def last_logits(text: str, vector: torch.Tensor) -> torch.Tensor:
        ids = torch.tensor([pipe.encode(text)])
        with torch.no_grad():
            return head(backbone(ids, positions=torch.arange(ids.shape[1])[None], conditioning=vector))[0, -1]

    cond, uncond = last_logits(PROMPTS[0], condition), last_logits("x", torch.zeros(1, 4))
    assert out.sequences[0][0] == int((uncond + scale * (cond - uncond)).argmax())


def test_next_scale_prediction_takes_extra_inputs() -> None:
    pipe = conditioned()
    schedule = arkit.NextScaleSchedule(sides=(1, 2))
    config = arkit.GenerationConfig(seed=0)
    condition = torch.randn(2, 4, generator=torch.Generator().manual_seed(4))
    prompts = [pipe.encode("a"), pipe.encode("b")]
    maps, calls = arkit.generate_next_scale(pipe, prompts, schedule, config, extra_inputs={"conditioning": condition})
    assert calls == 2 and maps[1].shape == (2, 2, 2)
    with pytest.raises(arkit.InputError, match="needs extra input"):
        arkit.generate_next_scale(pipe, prompts, schedule, config)


def test_bad_extra_inputs_get_clear_errors() -> None:
    pipe, condition = conditioned(), torch.randn(3, 4)
    with pytest.raises(arkit.InputError, match=r"needs extra input\(s\) \['conditioning'\]"):
        pipe.generate(PROMPTS, max_new_tokens=2)
    with pytest.raises(arkit.InputError, match="one row per prompt"):
        pipe.generate(PROMPTS, max_new_tokens=2, extra_inputs={"conditioning": condition[:2]})
    with pytest.raises(arkit.InputError, match=r"no extra input\(s\) \['speaker'\]"):
        pipe.generate(PROMPTS, max_new_tokens=2, extra_inputs={"conditioning": condition, "speaker": condition})
    with pytest.raises(arkit.InputError, match="declares none"):
        tiny_pipeline().generate(PROMPTS, max_new_tokens=2, extra_inputs={"conditioning": condition})
    base = tiny_pipeline()
    unregistered = base.replace(backbone=_Tagged(**base.backbone.config))  # no export spec: its forward decides
    assert len(unregistered.generate(PROMPTS, max_new_tokens=3, extra_inputs={"tag": torch.tensor([0, 1, 2])})
               .sequences) == 3
    with pytest.raises(arkit.InputError, match="no such keyword"):
        unregistered.generate(PROMPTS, max_new_tokens=2, extra_inputs={"speaker": condition})


# -- ONNX: extra inputs become graph inputs -----------------------------------------------------------


def test_a_conditioned_pipeline_exports_and_generates_the_same(tmp_path: Path) -> None:
    pipe = conditioned()
    report = export(pipe, tmp_path / "cond")
    assert report.max_abs_logit_diff is not None and report.max_abs_logit_diff < 1e-4
    ort = OrtPipeline.from_pretrained(tmp_path / "cond")
    assert [e.name for e in ort.backbone.extra_inputs] == ["conditioning"]
    condition = {"conditioning": torch.randn(3, 4, generator=torch.Generator().manual_seed(5))}
    a = pipe.generate(PROMPTS, max_new_tokens=12, extra_inputs=condition)
    b = ort.generate(PROMPTS, max_new_tokens=12, extra_inputs=condition)
    assert a.sequences == b.sequences
    with pytest.raises(arkit.InputError, match="needs extra input"):
        ort.generate(PROMPTS, max_new_tokens=2)
    with pytest.raises(arkit.InputError, match="takes extra inputs"):
        ort.backbone(torch.ones(1, 2, dtype=torch.long), positions=torch.arange(2)[None],
                     cache=ort.cache, attention_mask=None)


def test_the_cli_reads_extra_inputs_from_npy_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    import numpy as np

    from arkit.cli import main

    pipe = conditioned()
    condition = np.random.default_rng(0).normal(size=(2, 4))  # float64: converted
    np.save(tmp_path / "c.npy", condition)
    saved = pipe.save_pretrained(tmp_path / "saved")
    expected = pipe.generate(["hi", "yo"], max_new_tokens=5, extra_inputs={"conditioning": torch.tensor(condition)})
    assert main(["export", str(saved), str(tmp_path / "x"), "--json"]) == 0
    capsys.readouterr()
    for folder, flags in ((saved, []), (tmp_path / "x", ["--onnx"])):
        assert main(["generate", *flags, str(folder), "--prompt", "hi", "--prompt", "yo", "--max-new-tokens", "5",
                     "--extra-input", f"conditioning={tmp_path / 'c.npy'}", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["sequences"] == [list(s) for s in expected.sequences]
    assert main(["generate", str(saved), "--prompt", "hi", "--extra-input", "conditioning"]) != 0
    assert "NAME=FILE.npy" in capsys.readouterr().err
    assert main(["generate", str(saved), "--prompt", "hi", "--extra-input", f"conditioning={tmp_path / 'no.npy'}"]) != 0
    assert "cannot read" in capsys.readouterr().err


class _Tagged(TransformerBackbone):
    """A plugin's backbone with an integer input per row: a learned tag embedding added at every position."""

    def __init__(self, *, n_tags: int = 3, **config: Any) -> None:
        super().__init__(**config)
        self.n_tags = n_tags
        self.tags = torch.nn.Embedding(n_tags, self.d_model)

    @property
    def config(self) -> dict[str, Any]:
        return {**super().config, "n_tags": self.n_tags}

    def forward(self, input_ids: torch.Tensor, *, positions: torch.Tensor, cache: Any = None,
                attention_mask: torch.Tensor | None = None, tag: torch.Tensor) -> torch.Tensor:
        hidden = super().forward(input_ids, positions=positions, cache=cache, attention_mask=attention_mask)
        return hidden + self.tags(tag)[:, None, :]


class _TaggedPlugin:
    @arkit.hookimpl
    def arkit_register_backbones(self, register):  # type: ignore[no-untyped-def]
        register("tagged/transformer", _Tagged)

    @arkit.hookimpl
    def arkit_register_export_specs(self, register):  # type: ignore[no-untyped-def]
        register("tagged/transformer",
                 lambda backbone: (arkit.ExtraInput(name="tag", shape=("batch",), dtype="int64", high=backbone.n_tags),))


class _SpecTwicePlugin:
    @arkit.hookimpl
    def arkit_register_export_specs(self, register):  # type: ignore[no-untyped-def]
        register("tagged/transformer", lambda backbone: ())


def test_a_plugin_declares_an_integer_input_and_exports_without_exporter_code(tmp_path: Path) -> None:
    base = tiny_pipeline()
    with registered_plugin(_TaggedPlugin(), "tagged"):
        torch.manual_seed(0)
        pipe = base.replace(backbone=arkit.create("backbone", "tagged/transformer", **base.backbone.config))
        tags = {"tag": torch.tensor([0, 2, 1])}
        export(pipe, tmp_path / "tagged")
        ort = OrtPipeline.from_pretrained(tmp_path / "tagged")
        assert ort.backbone.extra_inputs == (arkit.ExtraInput(name="tag", shape=("batch",), dtype="int64", high=3),)
        assert ort.generate(PROMPTS, max_new_tokens=10, extra_inputs=tags).sequences == \
            pipe.generate(PROMPTS, max_new_tokens=10, extra_inputs=tags).sequences
        with pytest.raises(arkit.InputError, match="integer tensor"):
            pipe.generate(PROMPTS, max_new_tokens=2, extra_inputs={"tag": torch.zeros(3)})
        with pytest.warns(arkit.ArkitPluginWarning, match="two export specs"):
            with registered_plugin(_SpecTwicePlugin(), "again"):
                info = next(p for p in arkit.list_plugins() if p.name == "again")
                assert info.error is not None


def test_a_backbone_with_an_undeclared_required_input_is_refused(tmp_path: Path) -> None:
    base = tiny_pipeline()
    unregistered = _Tagged(**base.backbone.config)  # no plugin, so no export spec
    with pytest.raises(arkit.ExportError, match=r"requires input\(s\) \['tag'\].*arkit_register_export_specs"):
        export(base.replace(backbone=unregistered), tmp_path / "refused")
    assert not (tmp_path / "refused").exists()


# -- training: arkit.Conditioned items ------------------------------------------------------------------


def test_conditioned_items_get_rows_of_their_own_with_their_extra_inputs() -> None:
    from arkit.training.data import collate, documents, pack

    items = [(0, arkit.Conditioned([1, 2, 3], {"conditioning": [1.0, 0.0]})),
             (1, arkit.Conditioned(list(range(10, 22)), {"conditioning": [0.0, 1.0]}))]
    rows = list(pack(documents(items, list, eos=None), seq_len=8))
    assert [r.segments.count(1) for r in rows] == [2, 8, 3]  # never packed together; the long one split
    assert [r.extras["conditioning"].tolist() for r in rows] == [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]
    batch = collate(rows)
    assert batch.extras["conditioning"].shape == (3, 2) and batch.inputs.shape == (3, 8)
    mixed = [(0, arkit.Conditioned([1, 2], {"conditioning": [1.0]})), (1, [3, 4])]
    with pytest.raises(arkit.InputError, match="same ones"):
        list(documents(mixed, list, eos=None))
    with pytest.raises(arkit.InputError, match="not numeric"):
        list(documents([(0, arkit.Conditioned([1, 2], {"conditioning": "loud"}))], list, eos=None))
    with pytest.raises(arkit.ConfigError):
        arkit.Conditioned([1, 2], {})


def test_next_scale_training_takes_conditioned_pairs() -> None:
    pipe = conditioned(cond_dim=2)
    schedule = arkit.NextScaleSchedule(sides=(1, 2))
    maps = [[[5]], [[1, 2], [3, 4]]]
    data = [arkit.Conditioned(("a", maps), {"conditioning": [1.0, 0.0]}),
            arkit.Conditioned(("b", maps), {"conditioning": [0.0, 1.0]})] * 4
    result = pipe.fit(data, steps=2, batch_size=4, seq_len=16, schedule=schedule, progress=False)
    assert len(result.losses) == 2
    with pytest.raises(arkit.InputError, match="same ones"):
        pipe.fit([data[0], ("a", maps)], steps=1, batch_size=2, seq_len=16, schedule=schedule, progress=False)


def test_fit_trains_a_conditioned_model_that_follows_its_condition() -> None:
    torch.manual_seed(0)
    pipe = arkit.Pipeline.from_preset("core/tiny-byte", head={"d_model": 64}, backbone={
        "cond_dim": 2, "d_model": 64, "n_layers": 2, "n_heads": 4, "max_seq_len": 64})
    data = [arkit.Conditioned("aaaa aaaa aaaa", {"conditioning": [1.0, 0.0]}),
            arkit.Conditioned("bbbb bbbb bbbb", {"conditioning": [0.0, 1.0]})] * 20
    result = pipe.fit(data, eval_data=data[:4], steps=60, batch_size=8, seq_len=32, lr=3e-3, warmup_steps=5,
                      eval_every=30, progress=False)
    assert result.losses[-1] < 0.5 * result.losses[0]
    out = pipe.generate(["x", "x"], max_new_tokens=8,
                        extra_inputs={"conditioning": torch.tensor([[1.0, 0.0], [0.0, 1.0]])})
    assert set(out.decoded[0]) <= {"a", " "} and set(out.decoded[1]) <= {"b", " "}
    with pytest.raises(arkit.InputError, match="conditioning"):
        pipe.fit(["plain text"] * 4, steps=1, batch_size=2, seq_len=16, progress=False)
    from arkit.drafters.medusa import MedusaHeads
    from arkit.training import train_medusa

    losses = train_medusa(pipe, MedusaHeads.for_pipeline(pipe, num_heads=2), data, steps=2, batch_size=4, seq_len=16,
                          progress=False)
    assert len(losses) == 2 and all(loss > 0 for loss in losses)
