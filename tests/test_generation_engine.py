"""The generation engine: caches, processors, constraints, beam search, guidance, stopping."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

import arkit
from arkit.constraints.state_machine import StateMachineConstraint
from arkit.constraints.trie import TrieConstraint
from arkit.generation.beam import beam_search
from tests.helpers import tiny_pipeline

CACHES = [("core/dynamic", {}), ("core/static", {}), ("core/sliding", {"window": 512})]


@pytest.fixture(scope="module")
def pipe() -> arkit.Pipeline:
    return tiny_pipeline()


@pytest.mark.parametrize(("name", "config"), CACHES)
def test_every_cache_gives_the_same_greedy_tokens(pipe: arkit.Pipeline, name: str, config: dict) -> None:
    reference = pipe.generate(["a longer prompt", "hi", "mid"], max_new_tokens=12, eos_token_ids=())
    out = pipe.replace(cache=arkit.create("cache", name, **config)).generate(
        ["a longer prompt", "hi", "mid"], max_new_tokens=12, eos_token_ids=()
    )
    assert out.sequences == reference.sequences


@settings(max_examples=15)
@given(batch=st.integers(1, 3), length=st.integers(2, 20), chunks=st.lists(st.integers(1, 6), min_size=1, max_size=5),
       cache=st.sampled_from(CACHES))
def test_incremental_decoding_equals_the_full_forward(batch: int, length: int, chunks: list[int], cache: tuple) -> None:
    pipe = tiny_pipeline()
    window = 6 if cache[0] == "core/sliding" else None
    backbone = arkit.create("backbone", "core/transformer", **{**pipe.backbone.config, "sliding_window": window})
    ids = torch.randint(0, 259, (batch, length), generator=torch.Generator().manual_seed(length))
    positions = torch.arange(length).expand(batch, -1)
    full = backbone(ids, positions=positions)
    store = arkit.create("cache", cache[0], **({"window": window} if window else {}))
    store.allocate(backbone.cache_spec(), batch_size=batch, max_len=length, dtype=torch.float32, device="cpu")
    outs, start = [], 0
    for size in chunks + [length]:
        end = min(length, start + size)
        if start >= end:
            break
        outs.append(backbone(ids[:, start:end], positions=positions[:, start:end], cache=store))
        start = end
    torch.testing.assert_close(torch.cat(outs, 1), full[:, :start], atol=1e-5, rtol=1e-4)


def test_static_cache_refuses_to_overflow(pipe: arkit.Pipeline) -> None:
    cache = arkit.create("cache", "core/static")
    cache.allocate(pipe.backbone.cache_spec(), batch_size=1, max_len=4, dtype=torch.float32, device="cpu")
    with pytest.raises(arkit.InputError, match="larger max_len"):
        pipe.backbone(torch.zeros(1, 5, dtype=torch.long), positions=torch.arange(5)[None], cache=cache)


def test_static_cache_keeps_buffers_that_fit(pipe: arkit.Pipeline) -> None:
    """A shorter allocation reuses the buffers (speculative and plain decoding alternate); a longer one,
    or another batch size, gets new ones; generation is the same either way."""
    cache, spec = arkit.create("cache", "core/static"), pipe.backbone.cache_spec()
    cache.allocate(spec, batch_size=2, max_len=32, dtype=torch.float32, device="cpu")
    first = cache.keys
    cache.allocate(spec, batch_size=2, max_len=16, dtype=torch.float32, device="cpu")
    assert cache.keys is first and cache.max_len == 32 and cache.seq_len == 0
    cache.allocate(spec, batch_size=2, max_len=48, dtype=torch.float32, device="cpu")
    assert cache.keys is not first and cache.max_len == 48
    cache.allocate(spec, batch_size=3, max_len=16, dtype=torch.float32, device="cpu")
    assert cache.keys.shape[1] == 3
    static = pipe.replace(cache=cache, sampler=arkit.create("sampler", "core/greedy"))
    long, short = (static.generate(["ab", "cd"], max_new_tokens=n, eos_token_ids=()).sequences for n in (20, 6))
    assert [tuple(s[:6]) for s in long] == list(short)


def test_sliding_cache_bounds_memory(pipe: arkit.Pipeline) -> None:
    sliding = arkit.create("cache", "core/sliding", window=8)
    windowed = arkit.create("backbone", "core/transformer", **{**pipe.backbone.config, "sliding_window": 8})
    p = pipe.replace(backbone=windowed, cache=sliding)
    p.generate(["x" * 30], max_new_tokens=20, eos_token_ids=())
    spec = windowed.cache_spec()
    assert sliding.seq_len == 8 and sliding.offset > 0
    assert sliding.memory_bytes() == 2 * spec.num_layers * spec.num_kv_heads * 8 * spec.head_dim * 4


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("core/temperature", {"temperature": 0.5}), ("core/top-k", {"k": 3}), ("core/top-p", {"p": 0.5}),
        ("core/min-p", {"p": 0.2}), ("core/typical", {"mass": 0.5}), ("core/repetition-penalty", {"penalty": 2.0}),
        ("core/no-repeat-ngram", {"n": 2}), ("core/logit-bias", {"bias": {"3": 5.0}}),
        ("core/bad-tokens", {"sequences": [[1], [2, 3]]}),
    ],
)
@given(seed=st.integers(0, 1000))
@settings(max_examples=10)
def test_processors_sample_inside_their_support(name: str, config: dict, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(4, 12, generator=g) * 3
    tokens = torch.randint(0, 12, (4, 6), generator=g)
    tokens[0, :3] = -1  # left padding is never counted as context
    sampler = arkit.create("sampler", name, **config)
    scores = sampler.process(logits, tokens)
    ids = sampler.select(scores, g)
    assert bool(torch.isfinite(scores.gather(-1, ids[:, None])).all())


def test_penalties_and_bans_do_what_they_say() -> None:
    logits = torch.zeros(1, 5)
    tokens = torch.tensor([[-1, 2, 3, 2]])
    penalised = arkit.create("sampler", "core/repetition-penalty", penalty=2.0).process(logits + 1.0, tokens)
    assert penalised[0].tolist() == [1.0, 1.0, 0.5, 0.5, 1.0]
    banned = arkit.create("sampler", "core/no-repeat-ngram", n=2).process(logits, tokens)
    assert banned[0, 3] == float("-inf") and torch.isfinite(banned[0, [0, 1, 2, 4]]).all()  # "2 3" seen: no 3 after 2
    bad = arkit.create("sampler", "core/bad-tokens", sequences=[[4], [3, 2, 1]]).process(logits, tokens)
    assert bad[0, 4] == float("-inf") and bad[0, 1] == float("-inf") and bad[0, 0] == 0
    biased = arkit.create("sampler", "core/logit-bias", bias={1: 2.5}).process(logits, tokens)
    assert biased[0].tolist() == [0.0, 2.5, 0.0, 0.0, 0.0]


def test_min_p_and_typical_keep_the_mode() -> None:
    logits = torch.tensor([[3.0, 2.0, 0.0, -4.0]])
    kept = torch.isfinite(arkit.create("sampler", "core/min-p", p=0.3).process(logits, torch.zeros(1, 0)))
    assert kept[0].tolist() == [True, True, False, False]  # p(1)/p(0) = e^-1 = 0.37 >= 0.3
    typical = torch.isfinite(arkit.create("sampler", "core/typical", mass=0.01).process(logits, torch.zeros(1, 0)))
    assert typical.sum() == 1


def test_chain_composes_and_saves(tmp_path, pipe: arkit.Pipeline) -> None:  # type: ignore[no-untyped-def]
    chain = arkit.create("sampler", "core/chain", steps=[
        {"name": "core/repetition-penalty", "config": {"penalty": 1.5}},
        {"name": "core/greedy"},
    ])
    assert chain.deterministic
    p = pipe.replace(sampler=chain)
    out = p.generate(["abcabc"], max_new_tokens=8, eos_token_ids=())
    loaded = arkit.Pipeline.from_pretrained(p.save_pretrained(tmp_path / "p"))
    assert loaded.sampler.config == chain.config
    assert loaded.generate(["abcabc"], max_new_tokens=8, eos_token_ids=()).sequences == out.sequences
    with pytest.raises(arkit.ConfigError, match="at least one"):
        arkit.create("sampler", "core/chain", steps=[])


def test_one_beam_equals_greedy(pipe: arkit.Pipeline) -> None:
    greedy = pipe.generate(["abc", "hello there"], max_new_tokens=10, eos_token_ids=())
    beams = beam_search(pipe, [pipe.encode("abc"), pipe.encode("hello there")],
                        arkit.GenerationConfig(max_new_tokens=10, eos_token_ids=(), num_beams=1))
    assert [b[0].tokens for b in beams] == list(greedy.sequences)


def test_beam_search_with_as_many_beams_as_tokens_is_exhaustive(pipe: arkit.Pipeline) -> None:
    """Two steps with num_beams = vocabulary size keep every prefix: the top hypothesis is the true optimum."""
    prompt = pipe.encode("abc")
    with torch.no_grad():
        first = pipe.head(pipe.backbone(torch.tensor([prompt]), positions=torch.arange(len(prompt))[None]))[0, -1]
        first = first.log_softmax(-1)  # [V]
        V = first.shape[0]
        both = torch.tensor([prompt + [t] for t in range(V)])
        second = pipe.head(pipe.backbone(both, positions=torch.arange(len(prompt) + 1).expand(V, -1)))[:, -1]
        total = first[:, None] + second.log_softmax(-1)  # [V, V]: log p(t1) + log p(t2 | t1)
    best = divmod(int(total.argmax()), V)
    out = pipe.generate(["abc"], max_new_tokens=2, eos_token_ids=(), num_beams=V, num_return_sequences=3, length_penalty=0.0)
    assert out.sequences[0] == best
    assert out.scores is not None and list(out.scores) == sorted(out.scores, reverse=True)
    assert math.isclose(out.scores[0], float(total.max()), abs_tol=1e-4)


@st.composite
def tries(draw: st.DrawFn) -> list[list[int]]:
    return draw(st.lists(st.lists(st.integers(97, 110), min_size=1, max_size=5), min_size=1, max_size=6))


@settings(max_examples=15)
@given(sequences=tries(), seed=st.integers(0, 100), beams=st.sampled_from([1, 3]))
def test_trie_constrained_outputs_are_always_valid(sequences: list[list[int]], seed: int, beams: int) -> None:
    pipe = tiny_pipeline("core/multinomial", temperature=1.5)
    trie = TrieConstraint(sequences, eos_token_id=257)
    out = pipe.generate(["q", "query"], max_new_tokens=8, constraint=trie, seed=seed, num_beams=beams)
    valid = {tuple(s) for s in sequences}
    for tokens, reason in zip(out.sequences, out.finish_reasons):
        body = tokens[:-1] if reason == "eos" else tokens
        assert tuple(body) in valid or reason in ("length", "max_length") and any(
            v[: len(body)] == tuple(body) for v in valid
        )
        assert reason in ("eos", "constraint", "length")


@settings(max_examples=15)
@given(seed=st.integers(0, 200), states=st.integers(2, 5))
def test_state_machine_constraint_holds_under_sampling(seed: int, states: int) -> None:
    """A random automaton over a few byte values: every generated prefix is a walk through it."""
    g = torch.Generator().manual_seed(seed)
    transitions = {
        s: {int(t): int(torch.randint(0, states, (1,), generator=g)) for t in torch.randperm(6, generator=g)[:3] + 100}
        for s in range(states)
    }
    fsm = StateMachineConstraint(transitions, start=0, accept={states - 1}, eos_token_id=257)
    out = tiny_pipeline("core/multinomial", temperature=2.0).generate(
        ["x", "yy"], max_new_tokens=10, constraint=fsm, seed=seed
    )
    for tokens in out.sequences:
        state = 0
        for token in tokens:
            if token == 257:
                assert state in fsm.accept
                break
            assert token in transitions[state]
            state = transitions[state][token]


def test_a_dead_end_names_the_row_and_position(pipe: arkit.Pipeline) -> None:
    fsm = StateMachineConstraint({0: {104: 1}, 1: {}}, start=0, accept=(), eos_token_id=None)
    with pytest.raises(arkit.ConstraintError, match="row 0 at generated position 1"):
        pipe.generate(["x"], max_new_tokens=5, constraint=fsm)


def test_guidance_scale_one_is_plain_decoding_and_guidance_changes_the_distribution(pipe: arkit.Pipeline) -> None:
    plain = pipe.generate(["abc"], max_new_tokens=6, eos_token_ids=())
    assert pipe.generate(["abc"], max_new_tokens=6, eos_token_ids=(), guidance_scale=1.0).sequences == plain.sequences
    guided = pipe.generate(["abc"], max_new_tokens=6, eos_token_ids=(), guidance_scale=3.0, output_logprobs=True)
    # guided first token = argmax of uncond + 3 (cond - uncond), computed by hand
    with torch.no_grad():
        def last(ids: list[int]) -> torch.Tensor:
            return pipe.head(pipe.backbone(torch.tensor([ids]), positions=torch.arange(len(ids))[None]))[0, -1]
        cond, uncond = last(pipe.encode("abc")), last([256])
    assert guided.sequences[0][0] == int((uncond + 3.0 * (cond - uncond)).argmax())
    with pytest.raises(arkit.InputError, match="one per prompt"):
        pipe.generate(["a", "b"], guidance_scale=2.0, negative_prompts=["x"])


def test_stop_sequences_and_min_new_tokens(pipe: arkit.Pipeline) -> None:
    free = pipe.generate(["abc"], max_new_tokens=10, eos_token_ids=()).sequences[0]
    stop = list(free[2:4])
    out = pipe.generate(["abc"], max_new_tokens=10, eos_token_ids=(), stop_sequences=[stop])
    assert out.sequences[0] == free[:4] and out.finish_reasons == ("stop_sequence",)
    text_stop = pipe.tokenizer.decode(free[2:4])
    if text_stop.encode() == bytes(free[2:4]):
        assert pipe.generate(["abc"], max_new_tokens=10, eos_token_ids=(), stop_sequences=[text_stop]).sequences[0] == free[:4]
    late = pipe.generate(["abc"], max_new_tokens=10, eos_token_ids=(free[0],), min_new_tokens=3)
    assert len(late.sequences[0]) >= 3 or late.finish_reasons[0] != "eos"
    assert free[0] not in late.sequences[0][:3]


def test_streaming_refuses_beam_search(pipe: arkit.Pipeline) -> None:
    with pytest.raises(arkit.ConfigError, match="cannot stream"):
        next(pipe.stream(["a"], num_beams=2))


@pytest.mark.parametrize("bad", [{"num_beams": 0}, {"num_return_sequences": 3, "num_beams": 2},
                                 {"min_new_tokens": 5, "max_new_tokens": 2}, {"stop_sequences": [[]]}])
def test_bad_search_settings(bad: dict) -> None:
    with pytest.raises(arkit.ConfigError):
        arkit.GenerationConfig(**bad)


# -- the loop against a cache-free reference ---------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(model_seed=st.integers(0, 10_000), vocab=st.integers(3, 24), layers=st.integers(1, 2),
       lengths=st.lists(st.integers(1, 6), min_size=1, max_size=3), steps=st.integers(1, 6),
       sampler=st.sampled_from(["core/greedy", "core/multinomial"]), seed=st.integers(0, 1000),
       cache=st.sampled_from(["core/dynamic", "core/static"]))
def test_the_loop_equals_a_cache_free_reference_on_random_tiny_models(
    model_seed: int, vocab: int, layers: int, lengths: list[int], steps: int, sampler: str, seed: int, cache: str
) -> None:
    """Greedy and seeded sampled tokens (and their log-probabilities) of ``generate`` are what a loop without a
    cache, padding or masks gives: each row's full sequence through the model at every step, the sampler
    drawing for the whole batch from the same seeded generator."""
    from arkit.tokenizers.ids import IdTokenizer

    torch.manual_seed(model_seed)
    backbone = arkit.create("backbone", "core/transformer", vocab_size=vocab, d_model=16, n_layers=layers,
                            n_heads=2, max_seq_len=16, init_std=0.5)
    head = arkit.create("head", "core/categorical", d_model=16, vocab_size=vocab, init_std=0.5)
    pipe = arkit.Pipeline(tokenizer=IdTokenizer(vocab), backbone=backbone, head=head,
                          sampler=arkit.create("sampler", sampler), cache=arkit.create("cache", cache))
    prompts = [torch.randint(0, vocab, (n,)).tolist() for n in lengths]
    out = pipe.generate(prompt_ids=prompts, max_new_tokens=steps, eos_token_ids=(), seed=seed, output_logprobs=True)

    generator = torch.Generator().manual_seed(seed)
    rows, logprobs = [list(p) for p in prompts], [[] for _ in prompts]
    with torch.no_grad():
        for _ in range(steps):
            logits = torch.stack([head(backbone(torch.tensor([r]), positions=torch.arange(len(r))[None]))[0, -1]
                                  for r in rows]).float()
            width = max(map(len, rows))
            context = torch.tensor([[-1] * (width - len(r)) + r for r in rows])
            scores = pipe.sampler.process(logits, context)
            chosen = pipe.sampler.select(scores, generator)
            for r, token in enumerate(chosen.tolist()):
                rows[r].append(token)
                logprobs[r].append(float(scores[r].log_softmax(-1)[token]))
    assert [list(s) for s in out.sequences] == [r[len(p):] for r, p in zip(rows, prompts)]
    assert out.logprobs is not None
    assert torch.allclose(torch.tensor(out.logprobs), torch.tensor(logprobs), atol=1e-4)
    assert out.finish_reasons == ("length",) * len(prompts) and out.num_steps == steps


def test_beam_search_reports_logprobs_min_new_tokens_and_finish_reasons(pipe: arkit.Pipeline) -> None:
    """The drift issue 22 found: beams now return per-token logprobs, hold eos back for min_new_tokens, and
    end rows by the same rules as sampling (stopping.py)."""
    eos = tuple(range(0, 259, 2))  # every even id: without min_new_tokens rows end at once
    out = pipe.generate(["abc", "hello"], max_new_tokens=6, num_beams=2, eos_token_ids=eos, output_logprobs=True,
                        min_new_tokens=3)
    assert out.logprobs is not None and out.scores is not None
    for tokens, lps, score, reason in zip(out.sequences, out.logprobs, out.scores, out.finish_reasons):
        assert len(lps) == len(tokens) >= 3 and not set(tokens[:2]) & set(eos)
        assert sum(lps) / len(tokens) == pytest.approx(score, abs=1e-4)
        assert reason == ("eos" if tokens[-1] in eos else "length")


class _EvenIdsForever:
    """A constraint whose every state is ``None``: it allows the even ids below 20, always."""

    def start(self) -> None:
        return None

    def allowed(self, state: None) -> list[int]:
        assert state is None
        return list(range(0, 20, 2))

    def advance(self, state: None, token: int) -> None:
        return None

    def complete(self, state: None) -> bool:
        return False


@pytest.mark.parametrize("beams", [1, 2])
def test_a_constraint_whose_states_are_none_still_constrains_every_row(pipe: arkit.Pipeline, beams: int) -> None:
    """``None`` is a legal constraint state, not "unconstrained": every row obeys the rule, in sampling and beams."""
    sampled = tiny_pipeline("core/multinomial", temperature=2.0)
    for p, options in ((sampled, {"seed": 3}), (pipe, {})):
        out = p.generate(["abc", "hello there"], max_new_tokens=6, eos_token_ids=(), num_beams=beams,
                         constraint=_EvenIdsForever(), **options)
        assert all(t % 2 == 0 and t < 20 for s in out.sequences for t in s)


@pytest.mark.parametrize("drafter", ["core/prompt-lookup", "core/jacobi"])
def test_a_constraint_whose_states_are_none_constrains_speculative_decoding_too(drafter: str) -> None:
    """The speculative loop carries ``None`` states along draft paths like any other state."""
    for sampler, options in (("core/multinomial", {"seed": 3, "temperature": 2.0}), ("core/greedy", {})):
        config = {"temperature": options.pop("temperature")} if "temperature" in options else {}
        pipe = tiny_pipeline(sampler, **config).replace(drafter=arkit.create("drafter", drafter))
        out = pipe.generate(["abcabcabc", "hello hello"], max_new_tokens=8, eos_token_ids=(),
                            constraint=_EvenIdsForever(), **options)
        assert out.sequences and all(len(s) == 8 for s in out.sequences)
        assert all(t % 2 == 0 and t < 20 for s in out.sequences for t in s)


def test_generate_puts_every_module_in_inference_mode_even_one_left_training(pipe: arkit.Pipeline) -> None:
    """The modules are checked before each generation (a module already in eval mode is left alone): a submodule
    switched back to training mode, where dropout-like layers would change the tokens, is put in eval mode again."""
    local = pipe.replace(backbone=pipe.backbone)
    local.generate(prompt_ids=[[1, 2, 3]], max_new_tokens=2, eos_token_ids=())
    assert not any(m.training for m in local.backbone.modules())
    layer = next(iter(local.backbone.children()))
    layer.train()
    assert layer.training and not local.backbone.training  # only the submodule
    local.generate(prompt_ids=[[1, 2, 3]], max_new_tokens=2, eos_token_ids=())
    assert not any(m.training for m in local.backbone.modules())


@pytest.mark.parametrize("rows", [[[1, 2, 3], [4, 5]], [(1, 2, 3), (4, 5)], torch.tensor([[1, 2], [3, 4]])])
def test_prompt_ids_as_lists_tuples_or_tensors_give_the_same_tokens(pipe: arkit.Pipeline, rows: object) -> None:
    as_lists = rows.tolist() if isinstance(rows, torch.Tensor) else [list(r) for r in rows]  # type: ignore[union-attr]
    expected = pipe.generate(prompt_ids=as_lists, max_new_tokens=4, eos_token_ids=()).sequences
    assert pipe.generate(prompt_ids=rows, max_new_tokens=4, eos_token_ids=()).sequences == expected


@pytest.mark.parametrize("bad", [[[1, True]], [[1, 2.0]], [[1, -1]], [[1, 10**30]]])
def test_prompt_ids_that_are_not_in_vocabulary_ints_are_refused(pipe: arkit.Pipeline, bad: list) -> None:
    with pytest.raises(arkit.InputError):
        pipe.generate(prompt_ids=bad, max_new_tokens=2)


def test_padded_rows_decode_like_each_row_alone(pipe: arkit.Pipeline) -> None:
    """Rows of different lengths share the batch (left padding, positions made once per generation)."""
    rows = [[5, 6, 7, 8, 9, 10], [11], [12, 13, 14]]
    batched = pipe.generate(prompt_ids=rows, max_new_tokens=9, eos_token_ids=()).sequences
    assert batched == tuple(pipe.generate(prompt_ids=[r], max_new_tokens=9, eos_token_ids=()).sequences[0]
                            for r in rows)
