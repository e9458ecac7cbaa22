"""arkit.testing catches broken components and passes correct ones.

The contracts are run the way a plugin author runs them: a test file with
``Test...`` subclasses, collected and run by pytest (here in-process, through the
``pytester`` fixture). Each broken component has exactly one bug, and the test
names the contract tests that must fail for it; every other contract test of
every class must pass (or skip).
"""

from __future__ import annotations

from collections.abc import Iterator
import subprocess
import sys
import textwrap
from xml.etree import ElementTree

from hypothesis import given
import pytest
import torch

import arkit
import arkit.testing
from arkit.testing import register_plugin, strategies

pytest_plugins = ["pytester"]

# Components: one bug each (unless named Good...), some registered through a plugin,
# some only returned by make() (unregistered: the contract registers their class).
COMPONENTS = '''
import arkit, torch
from arkit.backbones.transformer import TransformerBackbone
from arkit.cache.dynamic import DynamicCache
from arkit.heads.categorical import CategoricalHead
from arkit.samplers.greedy import GreedySampler
from arkit.samplers.top_k import TopK
from arkit.tokenizers.byte import ByteTokenizer

SMALL = dict(vocab_size=32, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, max_seq_len=32)


class GoodChars:
    """Correct, and not registered: built by make()."""
    lossless = True
    def __init__(self, *, alphabet="abc"):
        self.alphabet = alphabet
        self.vocab_size = len(alphabet) + 1
        self.special_tokens = {"eos": len(alphabet)}
    @property
    def config(self):
        return {"alphabet": self.alphabet}
    def encode(self, item):
        if not isinstance(item, str) or set(item) - set(self.alphabet):
            raise arkit.InputError(f"cannot encode {item!r}")
        return [self.alphabet.index(ch) for ch in item]
    def decode(self, ids):
        return "".join(self.alphabet[i] for i in ids if i < len(self.alphabet))


class UpperCasing(ByteTokenizer):
    """Claims to be lossless but upper-cases everything."""
    def encode(self, item):
        return super().encode(item.upper())


class OffByOneIds(GoodChars):
    """Ids 1..n for an alphabet of n characters and a vocabulary of n + 1: the last id is out of range."""
    def __init__(self, *, alphabet="abc"):
        super().__init__(alphabet=alphabet)
        self.vocab_size, self.special_tokens = len(alphabet), {}
    def encode(self, item):
        return [i + 1 for i in super().encode(item)]
    def decode(self, ids):
        return "".join(self.alphabet[i - 1] for i in ids if 1 <= i <= len(self.alphabet))


class ChokesOnSpecials(ByteTokenizer):
    """decode raises on the special ids a model generates."""
    def decode(self, ids):
        return bytes(ids).decode("utf-8", errors="replace")


class ForgetsPositions(TransformerBackbone):
    """Numbers every call's tokens from 0: right without a cache, wrong with one."""
    def forward(self, input_ids, *, positions, cache=None, attention_mask=None):
        return super().forward(input_ids, positions=positions - positions.min(), cache=cache, attention_mask=attention_mask)


class Lenient(TransformerBackbone):
    """Quietly converts float ids instead of raising arkit.InputError."""
    def forward(self, input_ids, *, positions, cache=None, attention_mask=None):
        if isinstance(input_ids, torch.Tensor) and input_ids.is_floating_point():
            input_ids = input_ids.long()
        return super().forward(input_ids, positions=positions, cache=cache, attention_mask=attention_mask)


class UnsavedScale(CategoricalHead):
    """Keeps part of its state outside state_dict(): lost by saving."""
    def __init__(self, **config):
        super().__init__(**config)
        self.scale = torch.rand(self.vocab_size) + 0.5
    def forward(self, hidden):
        return super().forward(hidden) * self.scale


class InPlaceTemperature(GreedySampler):
    """Divides the caller's logits in place."""
    deterministic = False
    def process(self, logits, tokens):
        return logits.div_(2.0)
    def select(self, scores, generator):
        return torch.multinomial(scores.softmax(-1), 1, generator=generator).squeeze(-1)


class GlobalRandomness(InPlaceTemperature):
    """Ignores the generator it is given."""
    def process(self, logits, tokens):
        return logits / 2.0
    def select(self, scores, generator):
        return torch.multinomial(scores.softmax(-1), 1).squeeze(-1)


class Contrarian(GreedySampler):
    """Picks the least likely id: outside the support whenever some id is -inf."""
    def select(self, scores, generator):
        return scores.argmin(-1)


class ForgetfulTopK(TopK):
    """Leaves k out of its config, so a saved copy has the default k."""
    @property
    def config(self):
        return {}


class GoodRepeatLast:
    """Proposes the last context token k times, with one-hot probabilities."""
    vocab_size = 40
    config = {}
    def propose(self, tokens, k):
        last = tokens[:, -1:].clamp(min=0).repeat(1, k)
        return arkit.Draft(tokens=last, probs=torch.nn.functional.one_hot(last, self.vocab_size).float())


class ShortDraft(GoodRepeatLast):
    """Proposes k - 1 tokens."""
    def propose(self, tokens, k):
        return arkit.Draft(tokens=tokens[:, -1:].clamp(min=0).repeat(1, k - 1))


class UnnormalisedDraft(GoodRepeatLast):
    """Its probs rows sum to 2."""
    def propose(self, tokens, k):
        draft = super().propose(tokens, k)
        return arkit.Draft(tokens=draft.tokens, probs=2 * draft.probs)


class OffByOneCrop(DynamicCache):
    def crop(self, n):
        super().crop(max(0, n - 1))


class KeepsOldRows(DynamicCache):
    """reorder sorts the indices: row permutations are lost."""
    def reorder(self, indices):
        super().reorder(indices.sort().values)


class AllocateKeepsData(DynamicCache):
    """allocate does not empty a cache of the same depth."""
    def allocate(self, spec, **kwargs):
        if len(self.keys) != spec.num_layers:
            super().allocate(spec, **kwargs)


class NoMemory(DynamicCache):
    def memory_bytes(self):
        return 0


class Plugin:
    @arkit.hookimpl
    def arkit_register_tokenizers(self, register):
        register("kit/upper", UpperCasing)
        register("kit/chokes", ChokesOnSpecials)

    @arkit.hookimpl
    def arkit_register_heads(self, register):
        register("kit/unsaved-scale", UnsavedScale)

    @arkit.hookimpl
    def arkit_register_samplers(self, register):
        register("kit/in-place", InPlaceTemperature)
        register("kit/global-rng", GlobalRandomness)
        register("kit/contrarian", Contrarian)
        register("kit/forgetful-top-k", ForgetfulTopK)

    @arkit.hookimpl
    def arkit_register_drafters(self, register):
        register("kit/repeat-last", GoodRepeatLast)
        register("kit/short", ShortDraft)
        register("kit/unnormalised", UnnormalisedDraft)

    @arkit.hookimpl
    def arkit_register_caches(self, register):
        register("kit/off-by-one-crop", OffByOneCrop)
        register("kit/keeps-old-rows", KeepsOldRows)
        register("kit/allocate-keeps-data", AllocateKeepsData)
        register("kit/no-memory", NoMemory)
'''

CONTRACT_TESTS = '''
import pytest
from hypothesis import strategies as st
from arkit.testing import (
    BackboneContract, CacheContract, DrafterContract, HeadContract, SamplerContract, TokenizerContract,
    register_plugin,
)
import kitcomponents as kit


@pytest.fixture(autouse=True, scope="module")
def plugin():
    with register_plugin(kit.Plugin(), "kit"):
        yield


class NotCollectedBecauseOfItsName(SamplerContract):
    component = "kit/contrarian"


# tokenizers
class TestGoodByte(TokenizerContract):
    component = "core/byte"
    items = st.text()
    invalid_items = st.integers() | st.none()

class TestGoodUnregistered(TokenizerContract):
    items = st.text(alphabet="abc")
    invalid_items = st.text(alphabet="xyz", min_size=1)
    def make(self):
        return kit.GoodChars(alphabet="abc")

class TestUpperCasing(TokenizerContract):
    component = "kit/upper"
    items = st.text(alphabet="abcXYZ")

class TestOffByOneIds(TokenizerContract):
    items = st.text(alphabet="abc")
    def make(self):
        return kit.OffByOneIds(alphabet="abc")

class TestChokesOnSpecials(TokenizerContract):
    component = "kit/chokes"
    items = st.text(alphabet="abc")

class TestNoItems(TokenizerContract):  # unregistered, so no examples to fall back on
    def make(self):
        return kit.GoodChars(alphabet="abc")

class TestInvalidItemsAccepted(TokenizerContract):
    component = "core/byte"
    items = st.text()
    invalid_items = st.binary()  # bytes are valid for the byte tokenizer: the author's strategy is wrong


# backbones and heads
class TestGoodTransformer(BackboneContract):
    component = "core/transformer"
    config = kit.SMALL

class TestGoodTransformerWithStaticCache(BackboneContract):
    component = "core/transformer"
    config = kit.SMALL
    cache = "core/static"

class TestGoodConditionedTransformer(BackboneContract):
    component = "core/transformer"
    config = {**kit.SMALL, "cond_dim": 3}  # its export spec declares `conditioning`: the suite feeds it

class TestForgetsPositions(BackboneContract):
    def make(self):
        return kit.ForgetsPositions(**kit.SMALL)

class TestLenient(BackboneContract):
    def make(self):
        return kit.Lenient(**kit.SMALL)

class TestGoodHead(HeadContract):
    component = "core/categorical"
    config = {"d_model": 16, "vocab_size": 24}

class TestUnsavedScale(HeadContract):
    component = "kit/unsaved-scale"
    config = {"d_model": 16, "vocab_size": 24}


# samplers
class TestGoodGreedy(SamplerContract):
    component = "core/greedy"

class TestGoodMultinomial(SamplerContract):
    component = "core/multinomial"
    config = {"temperature": 0.8, "top_k": 5}

class TestInPlace(SamplerContract):
    component = "kit/in-place"

class TestGlobalRandomness(SamplerContract):
    component = "kit/global-rng"

class TestContrarian(SamplerContract):
    component = "kit/contrarian"

class TestForgetfulTopK(SamplerContract):
    component = "kit/forgetful-top-k"
    config = {"k": 2}


# drafters
class TestGoodDrafter(DrafterContract):
    component = "kit/repeat-last"

class TestShortDraft(DrafterContract):
    component = "kit/short"

class TestUnnormalisedDraft(DrafterContract):
    component = "kit/unnormalised"


# caches
class TestGoodStatic(CacheContract):
    component = "core/static"

class TestGoodSliding(CacheContract):
    component = "core/sliding"
    config = {"window": 3}

class TestOffByOneCrop(CacheContract):
    component = "kit/off-by-one-crop"

class TestKeepsOldRows(CacheContract):
    component = "kit/keeps-old-rows"

class TestAllocateKeepsData(CacheContract):
    component = "kit/allocate-keeps-data"

class TestNoMemory(CacheContract):
    component = "kit/no-memory"
'''

STATE_MACHINE = "test_behaves_like_a_list_of_tensors"
#: The contract tests that must fail, per test class; every other test must pass or skip.
EXPECTED_FAILURES: dict[str, set[str]] = {
    "TestUpperCasing": {"test_round_trip"},
    "TestOffByOneIds": {"test_encodes_to_ids_in_the_vocabulary"},
    "TestChokesOnSpecials": {"test_decode_accepts_any_ids_in_range", "test_decode_skips_special_tokens"},
    "TestNoItems": {"test_round_trip", "test_encodes_to_ids_in_the_vocabulary", "test_decode_skips_special_tokens"},
    "TestInvalidItemsAccepted": {"test_rejects_invalid_items"},
    "TestForgetsPositions": {"test_cached_decoding_equals_the_full_forward"},
    "TestLenient": {"test_bad_input_raises_input_error"},
    "TestUnsavedScale": {"test_save_and_load_round_trip", "test_same_weights_same_outputs"},
    "TestInPlace": {"test_selects_inside_the_support"},
    "TestGlobalRandomness": {"test_selects_inside_the_support", "test_same_seed_same_ids"},
    "TestContrarian": {"test_selects_inside_the_support"},
    "TestForgetfulTopK": {"test_save_and_load_round_trip"},
    "TestShortDraft": {"test_proposals_have_the_promised_shape"},
    "TestUnnormalisedDraft": {"test_proposals_have_the_promised_shape"},
    "TestOffByOneCrop": {STATE_MACHINE},
    "TestKeepsOldRows": {STATE_MACHINE},
    "TestAllocateKeepsData": {STATE_MACHINE},
    "TestNoMemory": {STATE_MACHINE},
}
GOOD = ["TestGoodByte", "TestGoodUnregistered", "TestGoodTransformer", "TestGoodTransformerWithStaticCache",
        "TestGoodConditionedTransformer",
        "TestGoodHead", "TestGoodGreedy", "TestGoodMultinomial", "TestGoodDrafter", "TestGoodStatic", "TestGoodSliding"]


# The inner run checks *that* contracts fail; shrinking to a minimal example (what an author
# wants to read) only costs time here, so it is switched off for that run and restored after.
CONFTEST = '''
import pytest
from hypothesis import Phase, settings


@pytest.fixture(autouse=True, scope="session")
def _no_shrinking():
    previous = settings.get_current_profile_name()
    settings.register_profile("kit-selftest", settings.default, phases=[Phase.explicit, Phase.generate])
    settings.load_profile("kit-selftest")
    yield
    settings.load_profile(previous)
'''

Outcomes = dict[str, dict[str, tuple[str, str]]]
_RUN: list[Outcomes] = []  # the inner run's outcomes, computed by the first test that needs them


@pytest.fixture()
def contract_run(pytester: pytest.Pytester) -> Outcomes:
    """The contract file's outcomes, ``{class: {test: (outcome, failure text)}}``, run once per session."""
    if not _RUN:
        pytester.makeconftest(CONFTEST)
        pytester.makepyfile(kitcomponents=COMPONENTS, test_kit=CONTRACT_TESTS)
        # In a subprocess: an in-process run unloads the torch modules it imported (ONNX export, dynamo),
        # and importing them again later in this process fails ("Only a single TORCH_LIBRARY ...").
        xml = pytester.path / "report.xml"
        pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", f"--junitxml={xml}")
        outcomes: Outcomes = {}
        for case in ElementTree.parse(xml).getroot().iter("testcase"):
            cls = case.attrib["classname"].rsplit(".", 1)[-1]
            failure = case.find("failure")
            if failure is None:
                failure = case.find("error")
            outcome = "failed" if failure is not None else "skipped" if case.find("skipped") is not None else "passed"
            text = "" if failure is None else f"{failure.attrib.get('message', '')}\n{failure.text or ''}"
            outcomes.setdefault(cls, {})[case.attrib["name"]] = (outcome, text)
        _RUN.append(outcomes)
    return _RUN[0]


def _failed(outcomes: dict[str, tuple[str, str]]) -> set[str]:
    return {test for test, (outcome, _) in outcomes.items() if outcome == "failed"}


@pytest.mark.parametrize("cls", sorted(EXPECTED_FAILURES))
def test_each_broken_component_fails_exactly_the_contract_test_for_its_bug(contract_run: Outcomes, cls: str) -> None:
    assert cls in contract_run, f"{cls} was not collected"
    assert _failed(contract_run[cls]) == EXPECTED_FAILURES[cls]


@pytest.mark.parametrize("cls", GOOD)
def test_correct_components_pass_the_whole_contract(contract_run: Outcomes, cls: str) -> None:
    outcomes = contract_run[cls]
    assert not _failed(outcomes), {t: text for t, (o, text) in outcomes.items() if o == "failed"}
    assert sum(outcome == "passed" for outcome, _ in outcomes.values()) >= 5


def test_subclasses_are_collected_and_the_bases_are_not(contract_run: Outcomes) -> None:
    assert set(contract_run) == set(EXPECTED_FAILURES) | set(GOOD)
    every_test = {test for tests in contract_run.values() for test in tests}
    assert "test_save_and_load_round_trip" in every_test and STATE_MACHINE in every_test


def test_unregistered_components_get_the_registry_checks_too(contract_run: Outcomes) -> None:
    outcomes = contract_run["TestGoodUnregistered"]
    assert outcomes["test_save_and_load_round_trip"][0] == "passed"
    assert outcomes["test_config_is_json_and_rebuilds_the_component"][0] == "passed"
    assert outcomes["test_is_registered_under_its_name"][0] == "skipped"  # no `component` to check


@pytest.mark.parametrize(
    ("cls", "test", "message"),
    [
        ("TestNoItems", "test_round_trip", "Set `items` to a hypothesis strategy"),
        ("TestUpperCasing", "test_round_trip", "decode(encode("),
        ("TestLenient", "test_bad_input_raises_input_error", "float ids: accepted"),
        ("TestInPlace", "test_selects_inside_the_support", "modified the logits in place"),
        ("TestGlobalRandomness", "test_same_seed_same_ids", "must draw only from `generator`"),
        ("TestContrarian", "test_selects_inside_the_support", "outside the support"),
        ("TestOffByOneCrop", STATE_MACHINE, "seq_len is"),
        ("TestOffByOneCrop", STATE_MACHINE, "crop("),  # hypothesis prints the failing call sequence
        ("TestNoMemory", STATE_MACHINE, "memory_bytes() = 0"),
        ("TestShortDraft", "test_proposals_have_the_promised_shape", "Draft.tokens has shape"),
        ("TestUnnormalisedDraft", "test_proposals_have_the_promised_shape", "do not sum to 1"),
    ],
)
def test_failures_say_what_is_wrong(contract_run: Outcomes, cls: str, test: str, message: str) -> None:
    outcome, text = contract_run[cls][test]
    assert outcome == "failed" and message in text, text[-3000:]


# -- register_plugin and the pytest fixture --------------------------------------------


class _GreedyPlugin:
    def __init__(self, name: str) -> None:
        self.name = name

    @arkit.hookimpl
    def arkit_register_samplers(self, register):  # type: ignore[no-untyped-def]
        from arkit.samplers.greedy import GreedySampler

        register(self.name, GreedySampler)


def test_register_plugin_registers_for_the_block_only() -> None:
    with register_plugin(_GreedyPlugin("temp/greedy"), "temp") as plugin:
        assert isinstance(plugin, _GreedyPlugin)
        assert arkit.get_component("sampler", "temp/greedy").plugin == "temp"
        assert "temp" in {p.name for p in arkit.list_plugins()}
    with pytest.raises(arkit.UnknownComponentError):
        arkit.get_component("sampler", "temp/greedy")
    assert "temp" not in {p.name for p in arkit.list_plugins()}


def test_register_plugin_unregisters_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with register_plugin(_GreedyPlugin("temp/greedy"), "temp"):
            raise RuntimeError("boom")
    with pytest.raises(arkit.UnknownComponentError):
        arkit.get_component("sampler", "temp/greedy")


def test_register_plugin_refuses_a_taken_name_and_leaves_that_plugin_alone() -> None:
    before = arkit.list_components()
    with pytest.raises(ValueError, match="already loaded"):
        with register_plugin(_GreedyPlugin("other/greedy"), "core"):
            pass
    assert arkit.list_components() == before


def test_register_plugin_raises_when_a_registration_fails() -> None:
    before = arkit.list_components()
    with pytest.raises(arkit.PluginLoadError, match="core/greedy"):
        with register_plugin(_GreedyPlugin("core/greedy"), "dup"):  # a duplicate component name
            pass
    assert arkit.list_components() == before
    assert "dup" not in {p.name for p in arkit.list_plugins()}


def test_the_fixture_registers_for_one_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(textwrap.dedent("""
        import arkit, pytest

        class Plugin:
            def __init__(self, name):
                self.name = name

            @arkit.hookimpl
            def arkit_register_samplers(self, register):
                from arkit.samplers.greedy import GreedySampler
                register(self.name, GreedySampler)

        def test_registered(arkit_register_plugin):
            plugin = Plugin("fx/greedy")
            assert arkit_register_plugin(plugin, "fx") is plugin
            arkit_register_plugin(Plugin("fx2/greedy"), "fx2")
            assert arkit.create("sampler", "fx/greedy").deterministic
            assert arkit.create("sampler", "fx2/greedy").deterministic

        def test_gone_afterwards():
            for name in ("fx/greedy", "fx2/greedy"):
                with pytest.raises(arkit.UnknownComponentError):
                    arkit.get_component("sampler", name)
    """))
    pytester.inline_run("-p", "no:cacheprovider").assertoutcome(passed=2)


def test_the_pytest_plugin_is_light() -> None:
    code = (
        "import sys, arkit.testing.pytest_plugin as p; "
        "print(sorted(m for m in ('hypothesis', 'arkit.testing.contracts', 'arkit.testing.strategies') if m in sys.modules)); "
        "print(sorted(n for n in vars(p) if n.startswith('pytest_')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[:2] == ["[]", "[]"]  # no contracts or hypothesis imported, and no pytest hooks


def test_the_public_names_resolve() -> None:
    for name in arkit.testing.__all__:
        assert getattr(arkit.testing, name) is not None
    assert arkit.testing.strategies is strategies
    assert set(arkit.testing.__all__) <= set(dir(arkit.testing))
    with pytest.raises(AttributeError):
        arkit.testing.NoSuchContract  # noqa: B018


# -- strategies ---------------------------------------------------------------------


@given(logits=strategies.logits())
def test_logits_are_float32_and_never_a_row_of_minus_infinity(logits: torch.Tensor) -> None:
    assert logits.dtype == torch.float32 and logits.dim() == 2
    assert bool(torch.isfinite(logits).any(-1).all())
    assert not bool(torch.isnan(logits).any()) and not bool((logits == float("inf")).any())


@given(logits=strategies.logits(3, 7, masked=False))
def test_logits_take_a_fixed_shape(logits: torch.Tensor) -> None:
    assert logits.shape == (3, 7) and bool(torch.isfinite(logits).all())


def test_logits_do_mask_some_entries() -> None:
    seen: list[bool] = []

    @given(logits=strategies.logits())
    def collect(logits: torch.Tensor) -> None:
        seen.append(bool(torch.isinf(logits).any()))

    collect()
    assert any(seen) and not all(seen)


@given(ids=strategies.token_ids(5, min_size=2, max_size=4))
def test_token_ids_lie_in_the_vocabulary(ids: list[int]) -> None:
    assert 2 <= len(ids) <= 4 and all(0 <= i < 5 for i in ids)


@given(tokens=strategies.contexts(3, 9))
def test_contexts_are_right_aligned_with_padding_before_the_start(tokens: torch.Tensor) -> None:
    assert tokens.dtype == torch.long and tokens.shape[0] == 3
    for row in tokens.tolist():
        start = next((i for i, t in enumerate(row) if t >= 0), len(row))
        assert all(t == -1 for t in row[:start]) and all(0 <= t < 9 for t in row[start:])


@given(batch=strategies.prompt_batches(vocab_size=11, max_batch=4, max_len=6))
def test_prompt_batches_are_non_empty_prompts(batch: list[list[int]]) -> None:
    assert 1 <= len(batch) <= 4
    assert all(1 <= len(p) <= 6 and all(0 <= t < 11 for t in p) for p in batch)


def test_strategies_reject_an_empty_vocabulary() -> None:
    with pytest.raises(ValueError):
        strategies.token_ids(0)


@pytest.fixture(autouse=True)
def _no_plugin_left_behind() -> Iterator[None]:
    before = {p.name for p in arkit.list_plugins()}
    yield
    assert {p.name for p in arkit.list_plugins()} == before
