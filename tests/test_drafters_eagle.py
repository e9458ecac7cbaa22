"""The EAGLE drafter (core/eagle), its training helper (arkit.training.eagle.train_eagle) and the prefill features
the loop hands to observing drafters (``Verification.prompt_hidden``).

Online drafts must be exactly what the layer computes offline from the target's features of the
same context (batched, padded, with holes and a rebuilt cache); greedy speculative output equals
plain greedy whatever the layer says; trained briefly, it must guess the target's next token far
better than chance and keep drafts on text it can copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
import pytest
import torch

import arkit
from arkit.drafters.eagle import EagleDrafter
from arkit.training.eagle import train_eagle

from .helpers import tiny_pipeline

CORPUS = arkit.tiny_corpus(60_000)
PROMPTS = [list(b"the cat sat on the mat. the cat"), list(b"x"), list(b"hello world, hello")]


def _shaken(target: arkit.Pipeline, seed: int = 0, **options: Any) -> EagleDrafter:
    """An untrained layer with large random weights: drafts that vary, so rows keep different amounts."""
    torch.manual_seed(seed)
    eagle = EagleDrafter.for_pipeline(target, **options)
    with torch.no_grad():
        for p in eagle.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return eagle


class _Recorder:
    """Wraps a drafter's ``propose``: the contexts it was given and the drafts it returned."""

    def __init__(self, drafter: EagleDrafter) -> None:
        self.calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = []
        inner = drafter.propose

        def propose(tokens: torch.Tensor, k: int) -> arkit.Draft:
            draft = inner(tokens, k)
            self.calls.append((tokens.clone(), draft.tokens.clone(), draft.lengths))
            return draft

        drafter.propose = propose  # type: ignore[method-assign]


@torch.no_grad()
def _offline(target: arkit.Pipeline, eagle: EagleDrafter, context: list[int], k: int) -> list[int]:
    """The chain the layer drafts after ``context`` (pending token last), from the target's features of it."""
    x = torch.tensor([context])
    features = target.backbone(x[:, :-1], positions=torch.arange(len(context) - 1)[None])
    tokens, out = x, []
    for _ in range(k):
        predicted = eagle(features, tokens[:, :-1], tokens[:, 1:], positions=torch.arange(features.shape[1])[None])
        token = target.head(predicted[:, -1]).argmax(-1)
        out.append(int(token))
        features, tokens = torch.cat([features, predicted[:, -1:]], 1), torch.cat([tokens, token[:, None]], 1)
    return out


@pytest.mark.parametrize(("capacity", "width"), [(None, None), (60, None), (None, 32)])
def test_online_drafts_are_the_layers_offline_chain_batched_padded_and_with_holes(capacity: int | None,
                                                                                width: int | None) -> None:
    target = tiny_pipeline()
    eagle = _shaken(target, width=width)
    if capacity is not None:
        eagle._capacity = capacity  # small: the cache is rebuilt from the stored features several times
    recorder = _Recorder(eagle)
    out = target.replace(drafter=eagle).generate(prompt_ids=PROMPTS, max_new_tokens=20, num_draft_tokens=3,
                                                 draft_schedule="constant", eos_token_ids=())
    assert out.sequences == target.generate(prompt_ids=PROMPTS, max_new_tokens=20, eos_token_ids=()).sequences
    checked = 0
    for tokens, drafted, lengths in recorder.calls:
        for row in range(tokens.shape[0]):
            n = int(lengths[row]) if lengths is not None else drafted.shape[1]
            context = [t for t in tokens[row].tolist() if t >= 0]
            if n:
                assert drafted[row, :n].tolist() == _offline(target, eagle, context, n)
                checked += 1
    assert checked >= 10
    assert out.speculative.accepted < out.speculative.drafted  # rows kept different amounts: holes were made


@settings(max_examples=12, deadline=None)
@given(prompts=st.lists(st.lists(st.integers(1, 250), min_size=1, max_size=8), min_size=1, max_size=3),
       k=st.integers(1, 4), guidance=st.sampled_from([1.0, 2.0]))
def test_greedy_speculative_with_eagle_equals_plain_greedy(prompts: list[list[int]], k: int, guidance: float) -> None:
    target = tiny_pipeline()
    eagle = _shaken(target, seed=len(prompts) + k)
    options = dict(max_new_tokens=6, eos_token_ids=(), guidance_scale=guidance)
    plain = target.generate(prompt_ids=prompts, **options)
    spec = target.replace(drafter=eagle).generate(prompt_ids=prompts, num_draft_tokens=k, draft_schedule="constant",
                                                  **options)
    assert spec.sequences == plain.sequences


def test_observers_get_every_prompt_slots_features_after_the_prefill_only() -> None:
    target = tiny_pipeline()
    seen: list[arkit.Verification] = []

    class Watcher:
        config: dict[str, Any] = {}

        def propose(self, tokens: torch.Tensor, k: int) -> arkit.Draft:
            return arkit.Draft(tokens=tokens.new_zeros(tokens.shape[0], k), lengths=tokens.new_zeros(tokens.shape[0]))

        def observe(self, verification: arkit.Verification) -> None:
            seen.append(verification)

    prompts = [list(b"abcdef"), list(b"xy")]
    target.replace(drafter=Watcher()).generate(prompt_ids=prompts, max_new_tokens=4, num_draft_tokens=2)
    first, rest = seen[0], seen[1:]
    assert first.prompt_hidden is not None and all(v.prompt_hidden is None for v in rest) and rest
    assert first.prompt_hidden.shape == (2, 6, target.backbone.d_model)
    with torch.no_grad():
        for row, prompt in enumerate(prompts):  # right-aligned: the row's prompt fills its last slots
            alone = target.backbone(torch.tensor([prompt]), positions=torch.arange(len(prompt))[None])
            torch.testing.assert_close(first.prompt_hidden[row, 6 - len(prompt):], alone[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(first.hidden[:, -1], first.prompt_hidden[:, -1])


def test_saves_only_its_own_weights_and_loads_back(tmp_path: Path) -> None:
    target = tiny_pipeline()
    eagle = _shaken(target)
    pipe = target.replace(drafter=eagle)
    pipe.generate("abc", max_new_tokens=3, num_draft_tokens=2)  # bound to the target's head now
    assert not any("head" in name for name in eagle.state_dict())  # the target's head is not the drafter's
    pipe.save_pretrained(tmp_path / "p")
    loaded = arkit.Pipeline.from_pretrained(tmp_path / "p")
    assert isinstance(loaded.drafter, EagleDrafter) and loaded.drafter.config == eagle.config
    options = dict(max_new_tokens=12, num_draft_tokens=3, draft_schedule="constant", eos_token_ids=())
    a, b = pipe.generate(prompt_ids=PROMPTS, **options), loaded.generate(prompt_ids=PROMPTS, **options)
    assert a.sequences == b.sequences
    assert (a.speculative.drafted, a.speculative.accepted) == (b.speculative.drafted, b.speculative.accepted)


def test_a_layer_built_for_another_target_is_refused_with_a_clear_error() -> None:
    target = tiny_pipeline()
    with pytest.raises(arkit.ConfigError, match="for_pipeline"):
        target.replace(drafter=EagleDrafter(d_model=32, vocab_size=target.head.vocab_size)).generate(
            "abc", max_new_tokens=2, num_draft_tokens=2)
    with pytest.raises(arkit.ConfigError, match="vocab"):
        target.replace(drafter=EagleDrafter(d_model=64, vocab_size=11)).generate("abc", max_new_tokens=2,
                                                                                num_draft_tokens=2)
    with pytest.raises(arkit.ConfigError, match="temperature"):
        EagleDrafter(temperature=-1)
    eagle = EagleDrafter.for_pipeline(target)
    eagle.start(target, 1)
    logits = torch.zeros(1, 4, target.head.vocab_size)  # what an OrtPipeline's graph returns instead of features
    with pytest.raises(arkit.ConfigError, match="torch pipeline"):
        eagle.observe(arkit.Verification(tokens=torch.zeros(1, 1, dtype=torch.long), hidden=logits[:, -1:],
                                         logits=logits[:, -1:], accepted=torch.zeros(1, dtype=torch.long),
                                         next_tokens=torch.zeros(1, dtype=torch.long), prompt_hidden=logits))
    for bad in (dict(steps=0), dict(lr=0.0), dict(cls_weight=-1.0), dict(noise=float("nan"))):
        with pytest.raises(arkit.ConfigError, match="train_eagle"):
            train_eagle(target, EagleDrafter.for_pipeline(target), CORPUS[:10], progress=False, **bad)


def _first_token_agreement(target: arkit.Pipeline, eagle: EagleDrafter) -> float:
    ids = torch.tensor([target.encode(text)[:64] for text in CORPUS[-40:] if len(target.encode(text)) >= 64])
    positions = torch.arange(ids.shape[1]).expand_as(ids)
    with torch.no_grad():
        features = target.backbone(ids, positions=positions)
        greedy = target.head(features).argmax(-1)
        guess = target.head(eagle(features[:, :-1], ids[:, :-1], ids[:, 1:], positions=positions[:, :-1])).argmax(-1)
    return float((guess == greedy[:, 1:]).float().mean())


def test_training_teaches_the_layer_the_targets_next_token_and_leaves_the_target_alone() -> None:
    target = tiny_pipeline()
    target.fit(CORPUS, steps=120, batch_size=8, seq_len=64, lr=3e-3, warmup_steps=5, progress=False)
    before = {name: p.clone() for name, p in target.head.state_dict().items()}
    for p in target.head.parameters():
        p.grad = None
    torch.manual_seed(0)
    eagle = EagleDrafter.for_pipeline(target)
    untrained = _first_token_agreement(target, eagle)
    losses = train_eagle(target, eagle, CORPUS, steps=120, batch_size=8, seq_len=64, cls_weight=1.0, seed=0,
                         progress=False)
    assert sum(losses[-10:]) < 0.85 * sum(losses[:10])  # the floor is the teacher's entropy
    accuracy = _first_token_agreement(target, eagle)
    assert accuracy > 0.35 and accuracy > untrained + 0.2, (untrained, accuracy)  # chance: 1/259
    assert all(torch.equal(p, before[name]) for name, p in target.head.state_dict().items())
    assert all(p.grad is None and p.requires_grad for p in target.head.parameters())
    prompts = [target.encode(text[:40]) for text in CORPUS[200:204]]
    fixed = dict(max_new_tokens=32, num_draft_tokens=3, draft_schedule="constant", eos_token_ids=())
    out = target.replace(drafter=eagle).generate(prompt_ids=prompts, **fixed)
    assert out.sequences == target.generate(prompt_ids=prompts, max_new_tokens=32, eos_token_ids=()).sequences
    assert out.speculative.mean_accepted_per_call > 1.3
