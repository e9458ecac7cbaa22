"""arkit.testing catches broken components and passes correct ones."""

from __future__ import annotations

import textwrap

import pytest

import arkit
from arkit.testing import register_plugin

pytest_plugins = ["pytester"]

PLUGIN = '''
import arkit, torch
from arkit.cache.dynamic import DynamicCache
from arkit.samplers.greedy import GreedySampler


class UpperTokenizer:
    """Claims to be lossless but upper-cases everything."""
    lossless = True
    vocab_size = 256
    special_tokens = {}
    config = {}
    def encode(self, item):
        return list(item.upper().encode())
    def decode(self, ids):
        return bytes(ids).decode("latin-1")


class OffByOneCache(DynamicCache):
    def crop(self, n):
        super().crop(max(0, n - 1))


class Contrarian(GreedySampler):
    """Picks the least likely id, which its scores mark as outside the support."""
    deterministic = False
    def process(self, logits, tokens):
        top = logits.argmax(-1, keepdim=True)
        return torch.full_like(logits, float("-inf")).scatter(-1, top, 0.0)
    def select(self, scores, generator):
        return scores.argmin(-1)


class Drafter:
    config = {}
    def propose(self, tokens, k):
        return arkit.Draft(tokens=tokens[:, -1:].repeat(1, k).clamp(min=0))


class Plugin:
    @arkit.hookimpl
    def arkit_register_tokenizers(self, register):
        register("kit/upper", UpperTokenizer)
    @arkit.hookimpl
    def arkit_register_caches(self, register):
        register("kit/off-by-one", OffByOneCache)
    @arkit.hookimpl
    def arkit_register_samplers(self, register):
        register("kit/contrarian", Contrarian)
    @arkit.hookimpl
    def arkit_register_drafters(self, register):
        register("kit/repeat-last", Drafter)
'''

TESTS = '''
import pytest
from hypothesis import strategies as st
from arkit.testing import CacheContract, DrafterContract, SamplerContract, TokenizerContract, register_plugin
from kitplugin import Plugin

@pytest.fixture(autouse=True, scope="module")
def plugin():
    with register_plugin(Plugin(), "kit"):
        yield

class TestUpper(TokenizerContract):
    component = "kit/upper"
    items = st.text(alphabet="abcXYZ", min_size=1)

class TestOffByOne(CacheContract):
    component = "kit/off-by-one"

class TestContrarian(SamplerContract):
    component = "kit/contrarian"

class TestGoodCache(CacheContract):
    component = "core/static"

class TestGoodDrafter(DrafterContract):
    component = "kit/repeat-last"

class TestGoodTokenizer(TokenizerContract):
    component = "core/byte"
    items = st.text()

class TestNoItems(TokenizerContract):
    component = "core/byte"
'''


def test_contracts_fail_broken_components_and_pass_good_ones(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(kitplugin=PLUGIN, test_kit=TESTS)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    failed = {line.split("::")[1] + "::" + line.split("::")[2].split(" ")[0]
              for line in result.outlines if line.startswith("FAILED")}
    assert "TestUpper::test_round_trip" in failed
    assert "TestOffByOne::test_behaves_like_a_list_of_tensors" in failed
    assert "TestContrarian::test_samples_inside_the_support" in failed
    assert "TestNoItems::test_round_trip" in failed  # no `items`: a failure that says so, never a silent skip
    assert not any(name.startswith(("TestGoodCache", "TestGoodDrafter", "TestGoodTokenizer")) for name in failed)
    assert outcomes["passed"] >= 15
    assert "set `items`" in result.stdout.str()


def test_register_plugin_adds_and_removes_components() -> None:
    class Plugin:
        @arkit.hookimpl
        def arkit_register_samplers(self, register):  # type: ignore[no-untyped-def]
            from arkit.samplers.greedy import GreedySampler

            register("temp/greedy", GreedySampler)

    with register_plugin(Plugin(), "temp"):
        assert arkit.get_component("sampler", "temp/greedy").plugin == "temp"
    with pytest.raises(arkit.UnknownComponentError):
        arkit.get_component("sampler", "temp/greedy")


def test_the_pytest_fixture_unregisters_after_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(textwrap.dedent('''
        import arkit, pytest

        class Plugin:
            @arkit.hookimpl
            def arkit_register_samplers(self, register):
                from arkit.samplers.greedy import GreedySampler
                register("fx/greedy", GreedySampler)

        def test_registered(arkit_register_plugin):
            arkit_register_plugin(Plugin(), "fx")
            assert arkit.create("sampler", "fx/greedy").deterministic

        def test_gone_afterwards():
            with pytest.raises(KeyError):
                arkit.get_component("sampler", "fx/greedy")
    '''))
    pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider").assert_outcomes(passed=2)
