"""Medusa heads (core/medusa) and their training helper (arkit.training.medusa.train_medusa).

Trained briefly by self-distillation on a briefly trained tiny target, head 1 must
guess the token after next far better than chance and lengthen the accepted
drafts; whatever the heads say, greedy speculative output equals plain greedy.
"""

from __future__ import annotations

import pytest
import torch

import arkit
from arkit.drafters.medusa import MedusaHeads
from arkit.training.medusa import train_medusa

from .helpers import tiny_pipeline

CORPUS = arkit.tiny_corpus(60_000)
PROMPTS = [list(b"the cat sat on the mat. the cat"), list(b"x"), list(b"hello world, hello")]


@pytest.fixture(scope="module")
def trained() -> tuple[arkit.Pipeline, MedusaHeads, MedusaHeads]:
    """A target trained for a few seconds, and Medusa heads before and after training on it."""
    target = tiny_pipeline()
    target.fit(CORPUS, steps=120, batch_size=8, seq_len=64, lr=3e-3, warmup_steps=5, progress=False)
    untrained = MedusaHeads.for_pipeline(target, num_heads=3)
    heads = MedusaHeads.for_pipeline(target, num_heads=3)
    train_medusa(target, heads, CORPUS, steps=120, batch_size=8, seq_len=64, seed=0, progress=False)
    return target, untrained, heads


def _head1_accuracy(target: arkit.Pipeline, heads: MedusaHeads) -> float:
    """How often head 1 at position t names the target's own greedy choice at t + 1 (held-out text)."""
    ids = torch.tensor([target.encode(text)[:64] for text in CORPUS[-40:] if len(target.encode(text)) >= 64])
    positions = torch.arange(ids.shape[1]).expand_as(ids)
    with torch.no_grad():
        hidden = target.backbone(ids, positions=positions)
        teacher = target.head(hidden).argmax(-1)
        guess = heads(hidden)[:, :, 0].argmax(-1)
    return float((guess[:, :-1] == teacher[:, 1:]).float().mean())


def test_trained_heads_guess_ahead_and_lengthen_accepted_drafts(trained) -> None:
    target, untrained, heads = trained
    accuracy = _head1_accuracy(target, heads)
    assert accuracy > 0.25, accuracy  # chance is 1/259
    assert accuracy > _head1_accuracy(target, untrained) + 0.1
    prompts = [target.encode(text[:40]) for text in CORPUS[200:204]]
    plain = target.generate(prompt_ids=prompts, max_new_tokens=48)
    fixed = dict(max_new_tokens=48, num_draft_tokens=3, draft_schedule="constant")  # compare the heads, not schedules
    before = target.replace(drafter=untrained).generate(prompt_ids=prompts, **fixed)
    after = target.replace(drafter=heads).generate(prompt_ids=prompts, **fixed)
    assert before.sequences == plain.sequences and after.sequences == plain.sequences
    assert after.speculative.mean_accepted_per_call > before.speculative.mean_accepted_per_call + 0.2
    assert after.speculative.mean_accepted_per_call > 1.4


@pytest.mark.parametrize("cache", ["core/dynamic", "core/static"])
@pytest.mark.parametrize("batch", [1, 3])
def test_greedy_speculative_equals_plain_greedy(trained, batch: int, cache: str) -> None:
    target, _, heads = trained
    target = target.replace(cache=arkit.create("cache", cache))
    prompts = PROMPTS[:batch] if batch == 3 else PROMPTS[:1]
    plain = target.generate(prompt_ids=prompts, max_new_tokens=40, output_logprobs=True)
    fast = target.replace(drafter=heads).generate(prompt_ids=prompts, max_new_tokens=40, num_draft_tokens=4,
                                                  output_logprobs=True)
    assert fast.sequences == plain.sequences
    for a, b in zip(fast.logprobs, plain.logprobs):
        torch.testing.assert_close(torch.tensor(a), torch.tensor(b), atol=1e-4, rtol=0)
    assert fast.speculative.accepted > 0


def test_heads_trained_on_the_targets_own_continuations_guess_its_greedy_text_better(trained) -> None:
    """generate_tokens: the Medusa paper's self-distillation data, the target's own continuations."""
    target, _, on_corpus = trained
    on_outputs = MedusaHeads.for_pipeline(target, num_heads=3)
    train_medusa(target, on_outputs, [text[:40] for text in CORPUS[-60:]], generate_tokens=48, steps=120,
                 batch_size=8, seq_len=64, seed=0, progress=False)
    prompts = [target.encode(text[:40]) for text in CORPUS[200:204]]
    fixed = dict(max_new_tokens=48, num_draft_tokens=3, draft_schedule="constant")
    plain = target.generate(prompt_ids=prompts, max_new_tokens=48)
    corpus_run = target.replace(drafter=on_corpus).generate(prompt_ids=prompts, **fixed)
    outputs_run = target.replace(drafter=on_outputs).generate(prompt_ids=prompts, **fixed)
    assert outputs_run.sequences == plain.sequences
    assert outputs_run.speculative.mean_accepted_per_call > corpus_run.speculative.mean_accepted_per_call + 0.2


def test_heads_read_the_hidden_state_of_the_last_accepted_position() -> None:
    heads = MedusaHeads(d_model=8, vocab_size=11, num_heads=2)
    tokens = torch.tensor([[1, 2, 3]])
    assert heads.propose(tokens, 3).lengths.tolist() == [0]  # nothing observed yet
    hidden = torch.randn(1, 4, 8)
    heads.observe(arkit.Verification(tokens=torch.zeros(1, 4, dtype=torch.long), hidden=hidden,
                                     logits=torch.zeros(1, 4, 11), accepted=torch.tensor([2]),
                                     next_tokens=torch.tensor([5])))
    draft = heads.propose(tokens, 3)
    assert draft.lengths.tolist() == [2] and draft.probs is None  # min(k, num_heads); deterministic
    with torch.no_grad():
        expected = heads(hidden[0, 2]).argmax(-1)
    assert draft.tokens[0, :2].tolist() == expected.tolist()


def test_training_is_seeded_and_leaves_the_target_alone() -> None:
    target = tiny_pipeline()
    before = {k: v.clone() for k, v in target.backbone.state_dict().items()}
    runs = []
    for _ in range(2):
        heads = MedusaHeads.for_pipeline(target, num_heads=2)
        runs.append(train_medusa(target, heads, CORPUS[:50], steps=3, batch_size=2, seq_len=16, seed=4,
                                 progress=False))
    assert runs[0] == runs[1]
    assert all(torch.equal(before[k], v) for k, v in target.backbone.state_dict().items())
    losses = train_medusa(target, heads, CORPUS[:50], steps=2, batch_size=2, seq_len=16, distill=False,
                          progress=False)
    assert len(losses) == 2 and all(loss > 0 for loss in losses)


def test_heads_save_and_load_with_the_pipeline(trained, tmp_path) -> None:
    target, _, heads = trained
    target.replace(drafter=heads).save_pretrained(tmp_path / "p")
    loaded = arkit.Pipeline.from_pretrained(tmp_path / "p")
    assert isinstance(loaded.drafter, MedusaHeads)
    for key, value in heads.state_dict().items():
        assert torch.equal(loaded.drafter.state_dict()[key], value)


def test_bad_input_gets_arkit_errors(trained) -> None:
    target, _, _ = trained
    for bad in ({"num_heads": 0}, {"d_model": -1}, {"vocab_size": 2.5}, {"init_std": 0}):
        with pytest.raises(arkit.ConfigError):
            MedusaHeads(**{"d_model": 64, "vocab_size": 259, **bad})
    with pytest.raises(arkit.ConfigError, match="vocab"):
        target.replace(drafter=MedusaHeads(d_model=64, vocab_size=100))
    narrow = target.replace(drafter=MedusaHeads(d_model=32, vocab_size=259))
    with pytest.raises(arkit.ConfigError, match="wide"):
        narrow.generate(prompt_ids=[[1, 2]], max_new_tokens=3)
    for bad in ({"steps": 0}, {"lr": -1.0}, {"seq_len": "8"}):
        with pytest.raises(arkit.ConfigError):
            train_medusa(target, MedusaHeads.for_pipeline(target), CORPUS[:5], progress=False, **bad)
    with pytest.raises(arkit.ConfigError, match="fit"):
        train_medusa(target, MedusaHeads(d_model=32, vocab_size=259), CORPUS[:5], progress=False)
    with pytest.raises(arkit.ConfigError, match="generate_tokens"):
        train_medusa(target, MedusaHeads.for_pipeline(target), CORPUS[:5], generate_tokens=-1, progress=False)
    for data in ([], iter(CORPUS[:5]), "one prompt"):
        with pytest.raises(arkit.InputError, match="list of prompts"):
            train_medusa(target, MedusaHeads.for_pipeline(target), data, generate_tokens=4, progress=False)
