"""Contract tests every arkit component should pass, one base class per component kind.

Subclass the one for your component's kind in a class whose name starts with
``Test``; pytest collects it and runs every inherited test::

    from hypothesis import strategies as st
    from arkit.testing import TokenizerContract

    class TestCharTokenizer(TokenizerContract):
        component = "mydomain/chars"          # registry name
        config = {"alphabet": "abc"}          # keyword arguments for arkit.create
        items = st.text(alphabet="abc")       # valid items (tokenizers only)

Instead of ``component`` you may override ``make(self)`` to return the object
(it must still be registered for the save/load tests). What each contract checks
is listed in its docstring. arkit runs the same contracts over every registered
component (``tests/contracts``).
"""

from __future__ import annotations

from collections.abc import Mapping
import json
from pathlib import Path
from typing import Any, ClassVar

from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test
import pytest
import torch

import arkit
from arkit import _serialization
from arkit.registry import PROTOCOLS, _component_name

from . import strategies

# Each contract method runs once per subclass (one per component): that is the point of a
# contract, so hypothesis' "differing executors" check does not apply here.
_SUPPRESS = [HealthCheck.differing_executors, HealthCheck.too_slow]

__all__ = [
    "BackboneContract",
    "CacheContract",
    "DrafterContract",
    "HeadContract",
    "SamplerContract",
    "TokenizerContract",
]


class _Contract:
    """What every contract checks: protocol, registration, config round trip, save/load, determinism."""

    kind: ClassVar[str]
    component: ClassVar[str | None] = None
    config: ClassVar[Mapping[str, Any]] = {}

    def make(self) -> Any:
        """The component under test (override for components built another way)."""
        if self.component is None:
            pytest.fail(f"{type(self).__name__}: set `component = 'domain/name'` or override make()")
        return arkit.create(self.kind, self.component, **dict(self.config))  # type: ignore[arg-type]

    def same(self, a: Any, b: Any) -> None:
        """Assert that two components behave the same (kind-specific)."""
        assert dict(a.config) == dict(b.config)

    def test_satisfies_its_protocol(self) -> None:
        obj = self.make()
        assert isinstance(obj, PROTOCOLS[self.kind]), f"not a {PROTOCOLS[self.kind].__name__}"

    def test_is_registered(self) -> None:
        info = _component_name(self.kind, self.make())
        assert info.kind == self.kind
        if self.component is not None:
            assert arkit.get_component(self.kind, self.component).name == info.name  # type: ignore[arg-type]

    def test_config_is_json_and_rebuilds_the_component(self) -> None:
        obj = self.make()
        config = dict(obj.config)
        assert json.loads(json.dumps(config)) == config, "config must hold plain JSON values"
        rebuilt = arkit.create(self.kind, _component_name(self.kind, obj).name, **config)  # type: ignore[arg-type]
        assert dict(rebuilt.config) == config

    def test_save_and_load_round_trip(self, tmp_path: Path) -> None:
        """Written and read back through the real pipeline folder format."""
        obj = self.make()
        _serialization.save_pipeline({self.kind: obj}, tmp_path / "saved")
        assert (tmp_path / "saved" / self.kind / "config.json").is_file()
        loaded = _serialization.load_component(tmp_path / "saved", self.kind)
        self.same(obj, loaded)


class TokenizerContract(_Contract):
    """Tokenizers: ids in range, special ids in range, ``decode`` never raises on in-range ids,
    and ``decode(encode(x)) == x`` for every item of ``items`` when the tokenizer is lossless."""

    kind = "tokenizer"
    items: ClassVar[st.SearchStrategy[Any] | None] = None

    def _items(self) -> st.SearchStrategy[Any]:
        if self.items is None:
            pytest.fail(f"{type(self).__name__}: set `items` to a hypothesis strategy of valid items")
        return self.items

    def same(self, a: Any, b: Any) -> None:
        super().same(a, b)
        assert a.vocab_size == b.vocab_size and dict(a.special_tokens) == dict(b.special_tokens)

    @settings(max_examples=50, deadline=None, suppress_health_check=_SUPPRESS)
    @given(data=st.data())
    def test_round_trip(self, data: st.DataObject) -> None:
        tokenizer = self.make()
        if not tokenizer.lossless:
            pytest.skip("the tokenizer does not claim to be lossless")
        item = data.draw(self._items())
        assert tokenizer.decode(tokenizer.encode(item)) == item

    @settings(max_examples=30, deadline=None, suppress_health_check=_SUPPRESS)
    @given(data=st.data())
    def test_ids_are_in_the_vocabulary(self, data: st.DataObject) -> None:
        tokenizer = self.make()
        ids = tokenizer.encode(data.draw(self._items()))
        assert all(isinstance(i, int) and 0 <= i < tokenizer.vocab_size for i in ids)

    def test_special_tokens_are_in_the_vocabulary(self) -> None:
        tokenizer = self.make()
        assert all(0 <= i < tokenizer.vocab_size for i in tokenizer.special_tokens.values())

    @settings(max_examples=30, deadline=None, suppress_health_check=_SUPPRESS)
    @given(data=st.data())
    def test_decode_accepts_anything_a_model_can_generate(self, data: st.DataObject) -> None:
        tokenizer = self.make()
        tokenizer.decode(data.draw(strategies.token_ids(tokenizer.vocab_size)))


def _module_outputs_equal(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


class BackboneContract(_Contract):
    """Backbones: output shape, determinism, bad input raises :class:`arkit.InputError`, and
    incremental decoding through a cache equals one forward pass over the whole sequence
    (hypothesis over batch size, length and chunking; compared on hidden states)."""

    kind = "backbone"
    cache: ClassVar[str] = "core/dynamic"
    atol: ClassVar[float] = 1e-5

    def same(self, a: Any, b: Any) -> None:
        super().same(a, b)
        _module_outputs_equal(a, b)

    def _ids(self, backbone: Any, batch: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        ids = torch.randint(0, backbone.vocab_size, (batch, length), generator=g)
        return ids, torch.arange(length).expand(batch, -1)

    def test_output_shape_and_determinism(self) -> None:
        backbone = self.make().eval()
        ids, positions = self._ids(backbone, 2, 5, 0)
        with torch.no_grad():
            out = backbone(ids, positions=positions)
            again = backbone(ids, positions=positions)
        assert out.shape == (2, 5, backbone.d_model)
        assert torch.equal(out, again)

    @settings(max_examples=12, deadline=None, suppress_health_check=_SUPPRESS)
    @given(batch=st.integers(1, 3), length=st.integers(2, 16), chunks=st.lists(st.integers(1, 5), min_size=1, max_size=4),
           seed=st.integers(0, 1000))
    def test_cached_decoding_equals_the_full_forward(self, batch: int, length: int, chunks: list[int], seed: int) -> None:
        backbone = self.make().eval()
        length = min(length, backbone.max_seq_len)
        ids, positions = self._ids(backbone, batch, length, seed)
        cache = arkit.create("cache", self.cache)
        cache.allocate(backbone.cache_spec(), batch_size=batch, max_len=length, dtype=torch.float32, device="cpu")
        with torch.no_grad():
            full = backbone(ids, positions=positions)
            pieces, start = [], 0
            for size in [*chunks, length]:
                end = min(length, start + size)
                if start >= end:
                    break
                pieces.append(backbone(ids[:, start:end], positions=positions[:, start:end], cache=cache))
                start = end
        torch.testing.assert_close(torch.cat(pieces, 1), full, atol=self.atol, rtol=1e-4)

    def test_bad_input_raises_input_error(self) -> None:
        backbone = self.make()
        ids, positions = self._ids(backbone, 1, 3, 0)
        for bad_ids, bad_positions in (
            (ids.float(), positions),
            (ids[0], positions[0]),
            (torch.full_like(ids, backbone.vocab_size), positions),
            (ids, positions[:, :2]),
        ):
            with pytest.raises(arkit.InputError):
                backbone(bad_ids, positions=bad_positions)


class HeadContract(_Contract):
    """Heads: ``[B, T, d_model] -> [B, T, vocab_size]``, deterministic, weights survive saving."""

    kind = "head"

    def same(self, a: Any, b: Any) -> None:
        super().same(a, b)
        _module_outputs_equal(a, b)

    def test_output_shape_and_determinism(self) -> None:
        head = self.make().eval()
        hidden = torch.randn(2, 3, head.d_model, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            out, again = head(hidden), head(hidden)
        assert out.shape == (2, 3, head.vocab_size)
        assert torch.equal(out, again)


class SamplerContract(_Contract):
    """Samplers: the chosen id is in range and has a finite processed score (support),
    ``process`` leaves its input untouched, the same seed gives the same ids, and a
    deterministic sampler picks the argmax of its processed scores."""

    kind = "sampler"

    def _context(self, batch: int, vocab: int, seed: int) -> torch.Tensor:
        tokens = torch.randint(0, vocab, (batch, 6), generator=torch.Generator().manual_seed(seed))
        tokens[0, :2] = -1  # left padding: no token
        return tokens

    def same(self, a: Any, b: Any) -> None:
        super().same(a, b)
        logits = torch.randn(3, 17, generator=torch.Generator().manual_seed(0))
        tokens = self._context(3, 17, 0)
        torch.testing.assert_close(a.process(logits, tokens), b.process(logits, tokens))

    @settings(max_examples=40, deadline=None, suppress_health_check=_SUPPRESS)
    @given(logits=strategies.logits(), seed=st.integers(0, 2**31 - 1))
    def test_samples_inside_the_support(self, logits: torch.Tensor, seed: int) -> None:
        sampler = self.make()
        before = logits.clone()
        scores = sampler.process(logits, self._context(logits.shape[0], logits.shape[1], seed))
        assert torch.equal(logits, before), "process() must not modify its input"
        assert scores.shape == logits.shape
        if not bool(torch.isfinite(scores).any(-1).all()):
            # processing may legitimately leave a row empty (bans, n-gram blocking); then
            # selecting must fail loudly rather than return an id outside the support
            with pytest.raises(arkit.ArkitError):
                sampler.select(scores, torch.Generator().manual_seed(seed))
            return
        ids = sampler.select(scores, torch.Generator().manual_seed(seed))
        assert ids.shape == (logits.shape[0],) and ids.dtype == torch.long
        assert bool(((ids >= 0) & (ids < logits.shape[1])).all())
        assert bool(torch.isfinite(scores.gather(-1, ids[:, None])).all()), "chose an id outside the support"
        if sampler.deterministic:
            assert torch.equal(ids, scores.argmax(-1))

    def test_same_seed_same_ids(self) -> None:
        sampler = self.make()
        logits = torch.randn(8, 50, generator=torch.Generator().manual_seed(1))
        tokens = self._context(8, 50, 1)
        draws = [sampler.select(sampler.process(logits, tokens), torch.Generator().manual_seed(7)) for _ in range(2)]
        assert torch.equal(draws[0], draws[1])


class DrafterContract(_Contract):
    """Drafters: ``propose(tokens, k)`` gives ``LongTensor[B, k]`` ids in range, optional
    probabilities ``[B, k, V]`` that sum to one, and the same proposal for the same input."""

    kind = "drafter"
    vocab_size: ClassVar[int] = 259

    @settings(max_examples=20, deadline=None, suppress_health_check=_SUPPRESS)
    @given(batch=st.integers(1, 3), length=st.integers(1, 20), k=st.integers(1, 6), seed=st.integers(0, 1000))
    def test_proposals_have_the_promised_shape(self, batch: int, length: int, k: int, seed: int) -> None:
        drafter = self.make()
        tokens = torch.randint(0, self.vocab_size, (batch, length), generator=torch.Generator().manual_seed(seed))
        draft = drafter.propose(tokens, k)
        assert isinstance(draft, arkit.Draft)
        assert draft.tokens.shape == (batch, k) and draft.tokens.dtype == torch.long
        assert bool(((draft.tokens >= 0) & (draft.tokens < self.vocab_size)).all())
        if draft.probs is not None:
            assert draft.probs.shape[:2] == (batch, k)
            torch.testing.assert_close(draft.probs.sum(-1), torch.ones(batch, k), atol=1e-4, rtol=0)
        assert torch.equal(drafter.propose(tokens, k).tokens, draft.tokens)


class CacheContract(_Contract):
    """Caches: a hypothesis state machine applies random ``update``, ``crop`` and ``reorder``
    calls and checks them against a plain reference after every step: ``seq_len``, the keys
    and values ``update`` returns, and ``memory_bytes``. A cache with a ``window`` attribute
    is expected to keep only the most recent ``window`` positions."""

    kind = "cache"
    max_len: ClassVar[int] = 24

    def test_behaves_like_a_list_of_tensors(self) -> None:
        contract = self
        spec = arkit.CacheSpec(num_layers=2, num_kv_heads=2, head_dim=4)

        class Machine(RuleBasedStateMachine):
            @initialize(batch=st.integers(1, 3))
            def start(self, batch: int) -> None:
                self.cache = contract.make()
                self.window = getattr(self.cache, "window", None)
                self.cache.allocate(spec, batch_size=batch, max_len=contract.max_len, dtype=torch.float32, device="cpu")
                self.keys = [torch.zeros(batch, 2, 0, 4) for _ in range(2)]
                self.values = [torch.zeros(batch, 2, 0, 4) for _ in range(2)]
                self.written = 0
                self.seed = 0

            def _stored(self) -> int:
                return self.keys[0].shape[2]

            @precondition(lambda self: self.written < contract.max_len)
            @rule(new=st.integers(1, 3))
            def update(self, new: int) -> None:
                new = min(new, contract.max_len - self.written)
                B = self.keys[0].shape[0]
                for layer in range(2):
                    self.seed += 1
                    g = torch.Generator().manual_seed(self.seed)
                    k, v = torch.randn(B, 2, new, 4, generator=g), torch.randn(B, 2, new, 4, generator=g)
                    got_k, got_v = self.cache.update(layer, k, v)
                    expect_k = torch.cat([self.keys[layer], k], 2)
                    expect_v = torch.cat([self.values[layer], v], 2)
                    assert torch.equal(got_k, expect_k) and torch.equal(got_v, expect_v), "update returned wrong K/V"
                    if self.window is not None:
                        expect_k, expect_v = expect_k[:, :, -self.window :], expect_v[:, :, -self.window :]
                    self.keys[layer], self.values[layer] = expect_k, expect_v
                self.written += new

            @rule(data=st.data())
            def crop(self, data: st.DataObject) -> None:
                n = data.draw(st.integers(0, self._stored()))
                self.cache.crop(n)
                dropped = self._stored() - n
                self.keys = [k[:, :, :n] for k in self.keys]
                self.values = [v[:, :, :n] for v in self.values]
                self.written -= dropped

            @rule(data=st.data())
            def reorder(self, data: st.DataObject) -> None:
                B = self.keys[0].shape[0]
                indices = data.draw(st.lists(st.integers(0, B - 1), min_size=1, max_size=B + 1))
                index = torch.tensor(indices)
                self.cache.reorder(index)
                self.keys = [k[index] for k in self.keys]
                self.values = [v[index] for v in self.values]

            @invariant()
            def lengths_and_memory_agree(self) -> None:
                if not hasattr(self, "cache"):
                    return
                assert self.cache.seq_len == self._stored()
                stored = sum(t.numel() * t.element_size() for t in (*self.keys, *self.values))
                assert self.cache.memory_bytes() >= stored

        run_state_machine_as_test(Machine, settings=settings(max_examples=25, stateful_step_count=12, deadline=None,
                                                                     suppress_health_check=_SUPPRESS))
