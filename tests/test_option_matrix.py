"""Every ``GenerationConfig`` option in every mode: its documented effect, or a ``ConfigError`` naming it and the mode.

Rows are the options (every field of :class:`arkit.GenerationConfig`); columns the modes:
greedy and sampling (``Pipeline.generate``), beam search, speculative decoding with each
built-in drafter, next-scale generation, continuous generation, and ``OrtPipeline``.
Each cell sets the option to a value other than its default and either checks what the
option's docstring says it does, or checks that the call raises :class:`arkit.ConfigError`
whose message names the option and the mode. :func:`test_the_matrix_covers_every_option`
fails when a new option or drafter has no cell. Tiny models, a few tokens per call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
import re
from typing import Any

import attrs
import pytest
import torch

import arkit
from arkit.testing import lossless, register_id_tokenizer
from arkit.tokenizers.ids import IdTokenizer

VOCAB = 12
PROMPTS = [[1, 2, 3, 4], [5, 6]]
EOS = (0, 3, 6, 9)  # a third of the vocabulary: rows end early when eos is on
FIELDS = [f.name for f in attrs.fields(arkit.GenerationConfig)]
DRAFTERS = {name: next(iter(cases.values())) for name, cases in lossless.BUILTIN_CASES.items()}
MODES = ["greedy", "sampling", "beam", *(f"speculative:{d}" for d in DRAFTERS), "next-scale", "continuous", "ort"]
MODE_WORDS = {"greedy": "sampling", "sampling": "sampling", "beam": "beam search", "next-scale": "next-scale",
              "continuous": "continuous", "ort": "sampling"}  # what a refusal must say about the mode

#: Cells that raise ConfigError: option -> modes (speculative:* stands for every drafter).
REFUSED: dict[str, set[str]] = {
    "max_new_tokens": {"next-scale", "continuous"},
    "min_new_tokens": {"next-scale", "continuous"},
    "max_length": {"continuous"},
    "eos_token_ids": {"next-scale", "continuous"},
    "stop_sequences": {"next-scale", "continuous"},
    "seed": set(),
    "output_logprobs": {"next-scale", "continuous"},
    "num_beams": {"speculative:*", "next-scale", "continuous"},
    "length_penalty": {"greedy", "sampling", "speculative:*", "next-scale", "continuous", "ort"},
    "early_stopping": {"greedy", "sampling", "speculative:*", "next-scale", "continuous", "ort"},
    "num_return_sequences": {"greedy", "sampling", "speculative:*", "next-scale", "continuous", "ort"},
    "guidance_scale": {"beam", "continuous"},
    "num_draft_tokens": {"beam", "next-scale", "continuous"},
    "draft_schedule": {"beam", "next-scale", "continuous"},
}
#: The value each option is set to in its cells (never its default).
VALUES: dict[str, Any] = {
    "max_new_tokens": 3, "min_new_tokens": 2, "max_length": 7, "eos_token_ids": EOS, "stop_sequences": [[5]],
    "seed": 5, "output_logprobs": True, "num_beams": 2, "length_penalty": 2.0, "early_stopping": True,
    "num_return_sequences": 2, "guidance_scale": 3.0, "num_draft_tokens": 2, "draft_schedule": "constant",
}


def _refused(field: str, mode: str) -> bool:
    modes = REFUSED[field]
    return mode in modes or (mode.startswith("speculative:") and "speculative:*" in modes)


def _target(sampler: str = "core/greedy") -> arkit.Pipeline:
    torch.manual_seed(3)
    backbone = arkit.create("backbone", "core/transformer", vocab_size=VOCAB, d_model=32, n_layers=1, n_heads=2,
                            max_seq_len=32, init_std=0.6)
    head = arkit.create("head", "core/categorical", d_model=32, vocab_size=VOCAB, init_std=0.6)
    return arkit.Pipeline(tokenizer=IdTokenizer(VOCAB), backbone=backbone, head=head,
                          sampler=arkit.create("sampler", sampler))


@pytest.fixture(scope="module")
def ort(tmp_path_factory: pytest.TempPathFactory) -> Iterator[arkit.Pipeline]:
    pytest.importorskip("onnxruntime")
    from arkit.onnx import OrtPipeline, export

    with register_id_tokenizer("test-option-matrix"):
        folder = export(_target(), Path(tmp_path_factory.mktemp("matrix")) / "ort").directory
        yield OrtPipeline.from_pretrained(folder, providers=["CPUExecutionProvider"], threads=1)


def _pipe(mode: str, ort: Callable[[], arkit.Pipeline], *, sampler: str | None = None) -> arkit.Pipeline:
    if mode == "ort":
        return ort()
    if mode.startswith("speculative:"):
        target = _target(sampler or "core/greedy")
        return target.replace(drafter=DRAFTERS[mode.split(":", 1)[1]](target))
    return _target(sampler or ("core/multinomial" if mode == "sampling" else "core/greedy"))


def _generate(mode: str, ort: Callable[[], arkit.Pipeline], *, sampler: str | None = None,
              **options: Any) -> arkit.GenerationOutput:
    options.setdefault("max_new_tokens", 6)
    options.setdefault("eos_token_ids", ())
    if mode == "sampling":
        options.setdefault("seed", 0)
    if mode == "beam":
        options.setdefault("num_beams", 2)
    return _pipe(mode, ort, sampler=sampler).generate(prompt_ids=PROMPTS, **options)


def _prompts_of(out: arkit.GenerationOutput) -> list[int]:
    return list(out.prompt_lengths)


@torch.no_grad()
def _greedy_reference(prompts: list[list[int]], steps: int, *, negative: list[list[int]] | None = None,
                      scale: float = 1.0) -> tuple[list[list[int]], list[list[float]]]:
    """Greedy tokens and their log-probabilities from full forward passes (no cache), optionally guided."""
    pipe = _target()

    def last(ids: list[int]) -> torch.Tensor:
        x = torch.tensor([ids])
        return pipe.head(pipe.backbone(x, positions=torch.arange(len(ids))[None]))[0, -1].float()

    tokens, logprobs = [], []
    for r, prompt in enumerate(prompts):
        row, lps = list(prompt), []
        for _ in range(steps):
            logits = last(row)
            if negative is not None:
                uncond = last(negative[r] + row[len(prompt):])
                logits = uncond + scale * (logits - uncond)
            token = int(logits.argmax())
            lps.append(float(logits.log_softmax(-1)[token]))
            row.append(token)
        tokens.append(row[len(prompt):])
        logprobs.append(lps)
    return tokens, logprobs


# -- the checks of each option's documented effect, per kind of mode -----------------------------------


def _check_token_modes(field: str, mode: str, ort: Callable[[], arkit.Pipeline]) -> None:
    """greedy, sampling, beam, speculative and ort: ``Pipeline.generate``'s options."""
    beam = mode == "beam"
    run = lambda **o: _generate(mode, ort, **o)  # noqa: E731
    if field == "max_new_tokens":
        out = run(max_new_tokens=3)
        assert all(len(s) == 3 for s in out.sequences) and set(out.finish_reasons) == {"length"}
    elif field == "min_new_tokens":
        free = run(max_new_tokens=8, eos_token_ids=EOS)
        out = run(max_new_tokens=8, eos_token_ids=EOS, min_new_tokens=4)
        assert any(len(s) < 4 for s in free.sequences)  # without it a row ends sooner: the option has work to do
        for s in out.sequences:
            assert len(s) >= 4 and not set(s[:3]) & set(EOS)
    elif field == "max_length":
        out = run(max_new_tokens=20, max_length=7)
        for s, n, reason in zip(out.sequences, _prompts_of(out), out.finish_reasons):
            assert n + len(s) == 7 and reason == "max_length"
    elif field == "eos_token_ids":
        out = run(max_new_tokens=8, eos_token_ids=EOS)
        assert "eos" in out.finish_reasons
        for s, reason in zip(out.sequences, out.finish_reasons):
            ends = s[-1] in EOS
            assert (reason == "eos") == ends and not set(s[:-1]) & set(EOS)
            assert ends or len(s) == 8
    elif field == "stop_sequences":
        plain = run(max_new_tokens=8)
        stop = plain.sequences[0][1]
        out = run(max_new_tokens=8, stop_sequences=[[stop]])
        assert "stop_sequence" in out.finish_reasons
        for s, reason in zip(out.sequences, out.finish_reasons):
            assert (reason == "stop_sequence") == (s[-1] == stop) and stop not in s[:-1]
    elif field == "seed":
        if mode in ("greedy", "beam", "ort"):  # deterministic: nothing is drawn
            assert run(seed=1).sequences == run(seed=2).sequences == run().sequences
        else:
            sampler = "core/multinomial"
            a = _generate(mode, ort, sampler=sampler, seed=1, max_new_tokens=8)
            assert a.sequences == _generate(mode, ort, sampler=sampler, seed=1, max_new_tokens=8).sequences
            others = [_generate(mode, ort, sampler=sampler, seed=s, max_new_tokens=8).sequences for s in (2, 3, 4)]
            assert any(o != a.sequences for o in others)
    elif field == "output_logprobs":
        out = run(output_logprobs=True, max_new_tokens=5)
        assert out.logprobs is not None and [len(x) for x in out.logprobs] == [len(s) for s in out.sequences]
        assert all(v <= 0 and v == v for row in out.logprobs for v in row)
        if beam:  # a hypothesis' score is the sum of its tokens' log-probabilities over length ** penalty
            for s, lps, score in zip(out.sequences, out.logprobs, out.scores or ()):
                assert sum(lps) / len(s) == pytest.approx(score, abs=1e-4)
        elif mode != "sampling":  # greedy everywhere else: the cache-free reference
            tokens, lps = _greedy_reference(PROMPTS, 5)
            assert [list(s) for s in out.sequences] == tokens
            assert torch.allclose(torch.tensor(out.logprobs), torch.tensor(lps), atol=1e-4)
    elif field == "num_beams":
        out = run(num_beams=3, num_return_sequences=3, max_new_tokens=4)
        assert out.scores is not None and len(out.sequences) == 3 * len(PROMPTS)
        for p in range(len(PROMPTS)):
            group = out.sequences[3 * p: 3 * p + 3]
            assert len(set(group)) == 3 and list(out.scores[3 * p: 3 * p + 3]) == sorted(
                out.scores[3 * p: 3 * p + 3], reverse=True)
    elif field == "length_penalty":
        for penalty in (0.0, 2.0):
            out = run(length_penalty=penalty, output_logprobs=True, eos_token_ids=EOS, max_new_tokens=8)
            for s, lps, score in zip(out.sequences, out.logprobs or (), out.scores or ()):
                assert sum(lps) / len(s) ** penalty == pytest.approx(score, abs=1e-4)
    elif field == "early_stopping":
        eager = run(early_stopping=True, eos_token_ids=EOS, max_new_tokens=12)
        patient = run(eos_token_ids=EOS, max_new_tokens=12)
        assert eager.num_steps <= patient.num_steps
    elif field == "num_return_sequences":
        out = run(num_beams=3, num_return_sequences=2)
        assert len(out.sequences) == 2 * len(PROMPTS) and len(out.scores or ()) == 2 * len(PROMPTS)
    elif field == "guidance_scale":
        same = run(guidance_scale=3.0, negative_prompt_ids=PROMPTS)
        assert same.sequences == run().sequences  # uncond == cond: guidance changes nothing
        if mode != "sampling":
            negative = [[7], [8]]
            out = run(guidance_scale=3.0, negative_prompt_ids=negative)
            tokens, _ = _greedy_reference(PROMPTS, 6, negative=negative, scale=3.0)
            assert [list(s) for s in out.sequences] == tokens
    elif field in ("num_draft_tokens", "draft_schedule"):
        out = run(**{"num_draft_tokens": 2, field: VALUES[field]}, max_new_tokens=10)
        plain = _generate("greedy" if mode != "sampling" else "sampling", ort, max_new_tokens=10)
        assert out.sequences == plain.sequences  # speculative decoding is lossless; without a drafter: no drafts
        if mode.startswith("speculative:"):
            stats = out.speculative
            assert stats is not None and stats.drafted <= 2 * stats.row_calls
        else:
            assert out.speculative is None
    else:  # pragma: no cover - test_the_matrix_covers_every_option names the missing cell
        raise AssertionError(f"no check for {field}")


def _check_next_scale(field: str) -> None:
    schedule = arkit.NextScaleSchedule((1, 2))
    pipe = _target("core/multinomial")
    prompts = [[1], [2, 3]]

    def maps(**options: Any) -> list[list[Any]]:
        out, _ = arkit.generate_next_scale(pipe, prompts, schedule, arkit.GenerationConfig(**options))
        return [m.tolist() for m in out]

    if field == "seed":
        assert maps(seed=5) == maps(seed=5)
        assert any(maps(seed=5) != maps(seed=s) for s in (6, 7, 8))
    elif field == "guidance_scale":
        out, _ = arkit.generate_next_scale(pipe, prompts, schedule, arkit.GenerationConfig(seed=1, guidance_scale=3.0),
                                           negative_prompts=prompts)
        assert [m.tolist() for m in out] == maps(seed=1)  # uncond == cond: guidance changes nothing
    elif field == "max_length":
        assert len(maps(seed=1, max_length=7)) == 2  # room for the 5 positions after the 2-token prompt
        with pytest.raises(arkit.InputError, match="the map needs"):
            maps(seed=1, max_length=4)
    else:  # pragma: no cover
        raise AssertionError(f"no check for {field}")


def _continuous() -> tuple[torch.nn.Module, torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    backbone = arkit.create("backbone", "core/transformer", vocab_size=1, d_model=32, n_layers=1, n_heads=2,
                            input_dim=2, max_seq_len=32)
    head = arkit.create("head", "core/gaussian-mixture", d_model=32, dim=2, components=2)
    return backbone.eval(), head.eval(), torch.randn(2, 3, 2)


def _check_continuous(field: str) -> None:
    backbone, head, context = _continuous()
    assert field == "seed"
    a = arkit.generate_continuous(backbone, head, context, 4, config=arkit.GenerationConfig(seed=4))
    assert torch.equal(a, arkit.generate_continuous(backbone, head, context, 4, seed=4))
    assert not torch.equal(a, arkit.generate_continuous(backbone, head, context, 4, seed=5))


def _refusal(field: str, mode: str, ort: Callable[[], arkit.Pipeline]) -> None:
    value = VALUES[field]
    options = {field: value}
    if field == "num_return_sequences" and mode in ("next-scale", "continuous"):
        options["num_beams"] = 2  # else the config itself refuses it
    with pytest.raises(arkit.ConfigError) as info:
        if mode == "next-scale":
            arkit.generate_next_scale(_target(), [[1]], arkit.NextScaleSchedule((1, 2)),
                                      arkit.GenerationConfig(**options))
        elif mode == "continuous":
            backbone, head, context = _continuous()
            arkit.generate_continuous(backbone, head, context, 2, config=arkit.GenerationConfig(**options))
        else:
            if field == "guidance_scale":
                options["negative_prompt_ids"] = PROMPTS
            _generate(mode, ort, **options)
    message = str(info.value)
    word = "speculative|drafter" if mode.startswith("speculative:") else re.escape(MODE_WORDS[mode])
    assert field in message and re.search(word, message), message


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("field", FIELDS)
def test_every_option_has_its_effect_or_is_refused(field: str, mode: str, request: pytest.FixtureRequest) -> None:
    get_ort = lambda: request.getfixturevalue("ort")  # noqa: E731  (exported once, only for its column)
    if _refused(field, mode):
        _refusal(field, mode, get_ort)
    elif mode == "next-scale":
        _check_next_scale(field)
    elif mode == "continuous":
        _check_continuous(field)
    else:
        _check_token_modes(field, mode, get_ort)


def test_the_matrix_covers_every_option_and_drafter() -> None:
    assert set(REFUSED) == set(FIELDS) == set(VALUES)
    default = arkit.GenerationConfig()
    assert all(VALUES[f] != getattr(default, f) for f in FIELDS)
    assert set(DRAFTERS) == {info.name for info in arkit.list_components("drafter") if info.name.startswith("core/")}


def test_a_refusal_names_every_offending_option() -> None:
    with pytest.raises(arkit.ConfigError, match=r"length_penalty.*early_stopping.*sampling"):
        _target().generate(prompt_ids=PROMPTS, length_penalty=0.5, early_stopping=True)
