"""Is speculative decoding lossless? A statistical check against an exactly enumerated target.

A tiny seeded target (vocabulary 5, one layer) makes the distribution of every
continuation computable exactly: each of the ``5 ** new_tokens`` sequences gets
its probability under plain decoding, constraint and sampler included. Speculative
decoding with the drafter and acceptance rule under test then generates many
samples, and a chi-square test (cells with small expected counts pooled into bins
of at least ``min_expected``) asks whether the samples could come from that
distribution. The total variation (TV) between the samples and the exact
distribution is reported next to ``tv_null``, the TV plain sampling noise gives
at the same sample size.

Conditions (each its own test):

- ``"batch"``: one call, prompts of two lengths interleaved (left padding, holes);
- ``"constraint"``: the same under a state-machine constraint;
- ``"batch-1"``: one call per sample at batch 1 (the first prompt), seeds ``0, 1, 2, ...``;
- ``"default-seed"``: the same with ``seed=None`` (torch's global generator is seeded
  once first, so the check repeats exactly).

Every seed is fixed, so a check gives the same p-values on every run. A test fails
when its p-value is below ``alpha / family`` (Bonferroni over the ``family`` of
tests run together), so the chance that a lossless drafter fails anywhere in the
family is below ``alpha``.

Plugin authors hold their drafter to it in a test::

    from arkit.testing.lossless import assert_lossless

    def test_my_drafter_is_lossless():
        assert_lossless(lambda target: MyDrafter(vocab_size=target.head.vocab_size))

``arkit bench lossless --json`` prints the same checks over every registered drafter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
import math
from typing import Any

import attrs
import torch

__all__ = [
    "CONDITIONS",
    "LosslessCheck",
    "assert_lossless",
    "check_lossless",
    "chi_square",
    "exact_distribution",
    "registered_cases",
    "toy_target",
]

#: The conditions :func:`check_lossless` runs by default.
CONDITIONS: tuple[str, ...] = ("batch", "constraint", "batch-1", "default-seed")

VOCAB = 5
PROMPTS: tuple[tuple[int, ...], ...] = ((1, 2), (3, 0, 4, 1, 2))  # two lengths: a batch is left-padded
NEW_TOKENS = 4
DRAFT_TOKENS = 2
# no dead ends: every state allows a token; 2 only after 0 has moved to state 1, never twice in a row there
_CONSTRAINT = {0: {0: 1, 1: 0, 3: 0, 4: 1}, 1: {1: 0, 2: 1, 3: 0}}


@attrs.frozen(kw_only=True)
class LosslessCheck:
    """One chi-square test of speculative samples against the exact distribution."""

    drafter: str
    acceptance: str
    condition: str
    samples: int
    statistic: float
    dof: int
    p_value: float
    threshold: float
    """The p-value below which the test fails: ``alpha / family`` (Bonferroni)."""
    tv: float
    """Total variation between the samples and the exact distribution (mean over prompts)."""
    tv_null: float
    """Mean TV of as many samples drawn from the exact distribution itself: sampling noise."""
    acceptance_rate: float

    @property
    def passed(self) -> bool:
        return self.p_value >= self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "passed": self.passed}


def toy_target(vocab: int = VOCAB, *, seed: int = 3, sampler: Any = None) -> Any:
    """A seeded 1-layer, 16-wide transformer over ids ``0..vocab-1`` with a ``core/multinomial`` sampler."""
    import arkit
    from ..tokenizers.ids import IdTokenizer

    torch.manual_seed(seed)
    backbone = arkit.create("backbone", "core/transformer", vocab_size=vocab, d_model=16, n_layers=1, n_heads=2,
                            max_seq_len=32, init_std=0.6)
    head = arkit.create("head", "core/categorical", d_model=16, vocab_size=vocab, init_std=0.6)
    return arkit.Pipeline(tokenizer=IdTokenizer(vocab), backbone=backbone, head=head,
                          sampler=sampler if sampler is not None else arkit.create("sampler", "core/multinomial"))


def default_constraint() -> Any:
    """The state-machine constraint of the ``"constraint"`` condition (no dead ends)."""
    from ..constraints.state_machine import StateMachineConstraint

    return StateMachineConstraint(_CONSTRAINT, start=0, accept={0, 1})


@torch.inference_mode()
def exact_distribution(pipe: Any, prompt: Sequence[int], new_tokens: int, *,
                       constraint: Any = None) -> dict[tuple[int, ...], float]:
    """P(sequence) of every ``new_tokens``-long continuation of ``prompt`` under plain decoding.

    Each step's distribution is the softmax of the sampler's processed scores after the
    constraint's mask (what plain sampling draws from). One batched forward pass per length.
    """
    V = int(pipe.head.vocab_size)
    prefixes: list[tuple[int, ...]] = [()]
    prob = {(): 1.0}
    states = {(): constraint.start() if constraint is not None else None}
    for _ in range(new_tokens):
        ids = torch.tensor([list(prompt) + list(p) for p in prefixes], dtype=torch.long)
        positions = torch.arange(ids.shape[1])[None].expand_as(ids)
        logits = pipe.head(pipe.backbone(ids, positions=positions))[:, -1].float()
        if constraint is not None:
            allowed = torch.zeros(len(prefixes), V, dtype=torch.bool)
            for row, p in enumerate(prefixes):
                allowed[row, list(constraint.allowed(states[p]))] = True
            logits = logits.masked_fill(~allowed, float("-inf"))
        probs = pipe.sampler.process(logits, ids).float().softmax(-1).tolist()
        grown = []
        for row, p in enumerate(prefixes):
            for token in range(V):
                q = prob[p] * probs[row][token]
                if q <= 0.0:
                    continue
                seq = (*p, token)
                prob[seq] = q
                if constraint is not None:
                    states[seq] = constraint.advance(states[p], token)
                grown.append(seq)
        prefixes = grown
    return {p: prob[p] for p in prefixes}


def chi_square(counts: Mapping[tuple[int, ...], int], exact: Mapping[tuple[int, ...], float], *,
               min_expected: float = 5.0) -> tuple[float, int]:
    """Pearson's statistic and degrees of freedom, cells pooled into bins expecting ``>= min_expected``.

    A sample outside the exact distribution's support gives an infinite statistic.
    """
    n = sum(counts.values())
    if any(seq not in exact or exact[seq] <= 0 for seq in counts):
        return math.inf, 1
    bins: list[tuple[float, int]] = []  # (expected, observed)
    expected = observed = 0.0
    for seq, p in sorted(exact.items(), key=lambda item: item[1]):
        expected, observed = expected + n * p, observed + counts.get(seq, 0)
        if expected >= min_expected:
            bins.append((expected, int(observed)))
            expected = observed = 0.0
    if expected > 0 or observed:
        if bins:
            e, o = bins.pop()
            bins.append((e + expected, o + int(observed)))
        else:
            bins.append((expected, int(observed)))
    statistic = sum((o - e) ** 2 / e for e, o in bins)
    return statistic, max(1, len(bins) - 1)


def chi_square_p(statistic: float, dof: int) -> float:
    """Upper tail of the chi-square distribution with ``dof`` degrees of freedom."""
    if math.isinf(statistic):
        return 0.0
    return float(torch.special.gammaincc(torch.tensor(dof / 2, dtype=torch.float64),
                                         torch.tensor(statistic / 2, dtype=torch.float64)))


def tv(counts: Mapping[tuple[int, ...], int], exact: Mapping[tuple[int, ...], float]) -> float:
    """Total variation between the empirical distribution of ``counts`` and ``exact``."""
    n = sum(counts.values())
    cells = set(exact) | set(counts)
    return 0.5 * sum(abs(counts.get(s, 0) / n - exact.get(s, 0.0)) for s in cells)


def tv_null(exact: Mapping[tuple[int, ...], float], n: int, *, draws: int = 64, seed: int = 0) -> float:
    """Mean TV between ``n`` samples of ``exact`` and ``exact``: what sampling noise alone gives."""
    p = torch.tensor(list(exact.values()), dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    total = 0.0
    for _ in range(draws):
        drawn = torch.multinomial(p, n, replacement=True, generator=generator)
        counts = torch.bincount(drawn, minlength=len(p)).double()
        total += 0.5 * float((counts / n - p).abs().sum())
    return total / draws


def _counts(sequences: Iterable[Sequence[int]]) -> dict[tuple[int, ...], int]:
    counts: dict[tuple[int, ...], int] = {}
    for seq in sequences:
        counts[tuple(seq)] = counts.get(tuple(seq), 0) + 1
    return counts


def _sample(pipe: Any, condition: str, samples: int, calls: int, seed: int, constraint: Any, new_tokens: int,
            draft_tokens: int) -> tuple[list[dict[tuple[int, ...], int]], float]:
    """Per prompt, the counts of generated sequences; and the acceptance rate over all calls."""
    options = {"max_new_tokens": new_tokens, "eos_token_ids": (), "num_draft_tokens": draft_tokens,
               "draft_schedule": "constant"}
    sequences: list[list[tuple[int, ...]]] = [[] for _ in PROMPTS]
    drafted = accepted = 0
    if condition in ("batch", "constraint"):
        rows = [list(PROMPTS[i % len(PROMPTS)]) for i in range(samples * len(PROMPTS))]
        out = pipe.generate(prompt_ids=rows, seed=seed, constraint=constraint, **options)
        for i, seq in enumerate(out.sequences):
            sequences[i % len(PROMPTS)].append(seq)
        drafted, accepted = out.speculative.drafted, out.speculative.accepted
    else:
        if condition == "default-seed":
            torch.manual_seed(seed)
        for i in range(calls):  # the first prompt only: every call adds to one distribution
            out = pipe.generate(prompt_ids=[list(PROMPTS[0])], seed=seed + i if condition == "batch-1" else None,
                                **options)
            sequences[0].append(out.sequences[0])
            drafted += out.speculative.drafted
            accepted += out.speculative.accepted
    return [_counts(s) for s in sequences], accepted / drafted if drafted else 0.0


def _rule(acceptance: Any) -> tuple[str, Any]:
    import arkit

    if isinstance(acceptance, str):
        return acceptance, arkit.create("acceptance", acceptance)
    if isinstance(acceptance, type) or (callable(acceptance) and not hasattr(acceptance, "accept")):
        acceptance = acceptance()
    return type(acceptance).__name__, acceptance


def check_lossless(
    drafter: Callable[[Any], Any],
    acceptance: Any = "core/exact",
    *,
    name: str | None = None,
    conditions: Sequence[str] = CONDITIONS,
    samples: int = 1200,
    calls: int = 250,
    alpha: float = 1e-3,
    family: int | None = None,
    seed: int = 0,
    new_tokens: int = NEW_TOKENS,
    draft_tokens: int = DRAFT_TOKENS,
    target: Any = None,
) -> list[LosslessCheck]:
    """Run the losslessness conditions for one drafter and one acceptance rule.

    - ``drafter``: a function ``target pipeline -> drafter``, called afresh for each condition.
    - ``acceptance``: a registry name, an acceptance rule, or a function making one.
    - ``samples``: generated rows per prompt in the batch conditions; ``calls``: batch-1
      calls per prompt in the others.
    - ``family``: how many tests share ``alpha`` (Bonferroni); defaults to ``len(conditions)``.
    - ``target``: the pipeline to test against (default :func:`toy_target`); its distribution
      is enumerated, so keep its vocabulary tiny.
    """
    unknown = sorted(set(conditions) - set(CONDITIONS))
    if unknown:
        from ..errors import ConfigError

        raise ConfigError(f"unknown conditions {unknown}; conditions are {list(CONDITIONS)}")
    target = toy_target() if target is None else target
    threshold = alpha / (family or len(conditions))
    constraint = default_constraint()
    exact = {c: [exact_distribution(target, p, new_tokens, constraint=constraint if c == "constraint" else None)
                 for p in PROMPTS] for c in ("plain", "constraint")}
    results = []
    for condition in conditions:
        rule_name, rule = _rule(acceptance)
        made = drafter(target)
        pipe = target.replace(drafter=made, acceptance=rule)
        counts, rate = _sample(pipe, condition, samples, calls, seed, constraint if condition == "constraint" else None,
                               new_tokens, draft_tokens)
        reference = exact["constraint" if condition == "constraint" else "plain"]
        counts, reference = zip(*[(c, e) for c, e in zip(counts, reference) if c])  # prompts sampled here
        statistic, dof = 0.0, 0
        for c, e in zip(counts, reference):  # independent prompts: statistics and dofs add up
            s, d = chi_square(c, e)
            statistic, dof = statistic + s, dof + d
        n = sum(counts[0].values())
        results.append(LosslessCheck(
            drafter=name or type(made).__name__, acceptance=rule_name, condition=condition, samples=n,
            statistic=statistic, dof=dof, p_value=chi_square_p(statistic, dof), threshold=threshold,
            tv=sum(tv(c, e) for c, e in zip(counts, reference)) / len(counts),
            tv_null=sum(tv_null(e, n, seed=seed) for e in reference) / len(counts),
            acceptance_rate=rate,
        ))
    return results


def assert_lossless(drafter: Callable[[Any], Any], acceptance: Any = "core/exact", **options: Any) -> list[LosslessCheck]:
    """:func:`check_lossless`, raising ``AssertionError`` with a table of the tests that failed."""
    results = check_lossless(drafter, acceptance, **options)
    failed = [r for r in results if not r.passed]
    if failed:
        lines = [f"  {r.drafter} + {r.acceptance} [{r.condition}]: p = {r.p_value:.3g} < {r.threshold:.3g}, "
                 f"TV {r.tv:.4f} (noise {r.tv_null:.4f}, n = {r.samples})" for r in failed]
        raise AssertionError("speculative decoding is not lossless:\n" + "\n".join(lines))
    return results


# -- the registry as the matrix -------------------------------------------------------------------------


def _draft_model(temperature: float) -> Callable[[Any], Any]:
    def make(target: Any) -> Any:
        import arkit

        V = int(target.head.vocab_size)
        torch.manual_seed(11)
        return arkit.create("drafter", "core/draft-model", temperature=temperature, backbone={
            "name": "core/transformer", "config": {"vocab_size": V, "d_model": 16, "n_layers": 1, "n_heads": 2,
                                                   "max_seq_len": 32, "init_std": 0.6}},
            head={"name": "core/categorical", "config": {"d_model": 16, "vocab_size": V, "init_std": 0.6}})

    return make


def _configured(name: str, **config: Any) -> Callable[[Any], Any]:
    def make(target: Any) -> Any:
        import arkit

        V = int(target.head.vocab_size)
        return arkit.create("drafter", name, **{k: (V if v == "VOCAB" else v) for k, v in config.items()})

    return make


def _medusa(target: Any) -> Any:
    from ..drafters.medusa import MedusaHeads

    torch.manual_seed(12)
    heads = MedusaHeads.for_pipeline(target, num_heads=3)
    with torch.no_grad():  # perturb the copies, so the heads disagree with the target now and then
        for p in heads.parameters():
            p.add_(0.5 * torch.randn_like(p))
    return heads


def _eagle(temperature: float) -> Callable[[Any], Any]:
    def make(target: Any) -> Any:
        from ..drafters.eagle import EagleDrafter

        torch.manual_seed(13)
        return EagleDrafter.for_pipeline(target, n_heads=2, init_std=0.6, temperature=temperature)

    return make


def _hierarchical(target: Any) -> Any:
    import arkit

    inner = arkit.create("drafter", "core/prompt-lookup")
    return arkit.create("drafter", "core/hierarchical", drafter=_draft_model(1.0)(target), inner=inner)


#: How the matrix builds each built-in drafter for the toy target: label -> factory, per registry name.
#: A registered drafter without an entry is built with its default config.
BUILTIN_CASES: dict[str, dict[str, Callable[[Any], Any]]] = {
    "core/draft-model": {"core/draft-model(temperature=1)": _draft_model(1.0),
                         "core/draft-model(temperature=0)": _draft_model(0.0)},
    "core/eagle": {"core/eagle(temperature=1)": _eagle(1.0), "core/eagle(temperature=0)": _eagle(0.0)},
    "core/hierarchical": {"core/hierarchical": _hierarchical},
    "core/jacobi": {"core/jacobi": _configured("core/jacobi"),
                    "core/jacobi(probabilistic)": _configured("core/jacobi", probabilistic=True)},
    "core/medusa": {"core/medusa": _medusa},
    "core/prompt-lookup": {"core/prompt-lookup": _configured("core/prompt-lookup")},
    "core/token-recycling": {"core/token-recycling": _configured("core/token-recycling", vocab_size="VOCAB", m=2)},
}


def registered_cases(
    overrides: Mapping[str, Mapping[str, Callable[[Any], Any]]] | None = None,
) -> list[tuple[str, Callable[[Any], Any], str]]:
    """``(label, drafter factory, acceptance name)`` for every registered drafter x every lossless rule.

    ``overrides`` (registry name -> {label: factory}) builds drafters that need a config, on top of
    :data:`BUILTIN_CASES`; any other drafter is built with its defaults.
    """
    import arkit

    rules = [info.name for info in arkit.list_components("acceptance") if getattr(info.factory, "lossless", False) is True]
    known = {**BUILTIN_CASES, **(overrides or {})}
    cases = []
    for info in arkit.list_components("drafter"):
        builders = known.get(info.name) or {info.name: _configured(info.name)}
        for label, make in builders.items():
            for rule in rules:
                cases.append((label, make, rule))
    return cases


def run_matrix(*, samples: int = 1200, calls: int = 250, alpha: float = 1e-3, seed: int = 0,
               conditions: Sequence[str] = CONDITIONS,
               overrides: Mapping[str, Mapping[str, Callable[[Any], Any]]] | None = None) -> list[LosslessCheck]:
    """Every registered drafter x every lossless rule x every condition, Bonferroni over all of them."""
    cases = registered_cases(overrides)
    family = len(cases) * len(conditions)
    out = []
    for label, make, rule in cases:
        out += check_lossless(make, rule, name=label, conditions=conditions, samples=samples, calls=calls,
                              alpha=alpha, family=family, seed=seed)
    return out

