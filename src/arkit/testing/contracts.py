"""Contract tests every arkit component should pass, one base class per component kind.

The docstrings of :mod:`arkit.protocols` are the contract; these classes check it.
Subclass the one for your component's kind in a class whose name starts with
``Test``; pytest collects the subclass and runs every inherited ``test_*`` method
(the base classes are not collected: their names do not start with ``Test``)::

    from hypothesis import strategies as st
    from arkit.testing import TokenizerContract

    class TestMyTokenizer(TokenizerContract):
        component = "mydomain/my-tokenizer"   # registry name
        config = {"alphabet": "abc"}          # keyword arguments for arkit.create
        items = st.text(alphabet="abc")       # valid items (tokenizers only)

Class attributes every contract reads:

- ``component``: the registry name. ``make()`` builds the component with
  ``arkit.create(kind, component, **config)``.
- ``config``: keyword arguments for ``arkit.create`` (keep models small: the
  contract builds the component many times).
- ``max_examples``: hypothesis examples per property; ``None`` (the default)
  uses the active hypothesis profile's.

Kind-specific attributes (``items``, ``cache``, ``vocab_size``...) are listed in
each class docstring. Methods a subclass may override: ``make()`` (below),
``check_members(obj)`` (more attribute checks) and ``assert_equivalent(original,
loaded)`` (what "behaves the same after loading" means; call ``super()``).

Instead of ``component`` a subclass may override ``make(self)`` to return the
object, for a component that is not (yet) registered. Its class then stands in
for the registered factory: for the config and save/load checks the contract
registers the class for the duration of the test (under ``testing/<ClassName>``)
and rebuilds it as ``cls(**obj.config)``.

Every contract checks:

- protocol conformance (``isinstance(obj, arkit.protocols.X)``, and the types
  of its attributes) and, when ``component`` is given, that it is registered
  under that name;
- the config round trip: ``obj.config`` is plain JSON, and
  ``arkit.create(kind, name, **config)`` (with the config as read back from
  JSON) builds a component with the same config;
- saving and loading through arkit's real on-disk format: the component is saved
  with the pipeline writer (``role/config.json`` plus ``role/model.safetensors``
  for components with tensors; for modules the weights are perturbed first, so
  that weights that are not saved or not loaded cannot go unnoticed), then read
  back with the pipeline reader's per-component loader, and the copy must behave
  the same on the same inputs (:meth:`assert_equivalent`);
- determinism, in the kind's terms: the same weights give the same hidden
  states or logits, the same generator seed the same ids, the same context the
  same draft.

What each kind adds is in its class docstring. Hypothesis runs inside the test
methods, so the contract works with any hypothesis profile; deadlines are off
(components may be slow on their first call).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
import contextlib
import itertools
import json
import math
from pathlib import Path
import types
from typing import Any, ClassVar
import warnings

from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
import pytest
import torch

import arkit
from arkit import _serialization
from arkit.errors import ArkitConfigWarning, ComponentProtocolError, UnknownComponentError
from arkit.registry import PROTOCOLS, check_conforms, component_info
from arkit.types import Kind

from . import register_plugin, strategies

__all__ = [
    "AcceptanceContract",
    "BackboneContract",
    "CacheContract",
    "ConstraintContract",
    "DrafterContract",
    "HeadContract",
    "SamplerContract",
    "TokenizerContract",
]

_PLUGIN_NUMBERS = itertools.count()


def _as_json(value: Any, what: str) -> Any:
    """``value`` as it reads back from a JSON file; fails the test when it is not JSON."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        pytest.fail(f"{what} is not JSON-serialisable ({exc}): keep plain values in config, tensors in state_dict()")


def _registered_name(kind: str, obj: Any) -> str | None:
    try:
        return component_info(kind, obj).name
    except UnknownComponentError:
        return None


def _is_module(obj: Any) -> bool:
    return isinstance(obj, torch.nn.Module)


def _perturb(module: torch.nn.Module, seed: int = 1234) -> None:
    """Add noise to every floating tensor of ``module.state_dict()`` (in place), as training would."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in module.state_dict().values():
            if tensor.is_floating_point():
                noise = torch.randn(tensor.shape, generator=g, dtype=torch.float32)
                tensor.add_(0.02 * noise.to(device=tensor.device, dtype=tensor.dtype))


def _assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys(), f"state_dict keys differ: {sorted(set(sa) ^ set(sb))}"
    for key in sa:
        assert torch.equal(sa[key], sb[key]), f"state_dict[{key!r}] differs"


def _eval(obj: Any) -> Any:
    if _is_module(obj):
        obj.eval()
    return obj


class _Contract:
    """What every contract checks: protocol, registration, config round trip, save/load.

    Not collected by pytest itself (the name does not start with ``Test``);
    subclass one of the public ``...Contract`` classes.
    """

    kind: ClassVar[Kind]
    component: ClassVar[str | None] = None
    config: ClassVar[Mapping[str, Any]] = types.MappingProxyType({})
    max_examples: ClassVar[int | None] = None

    # -- hooks for subclasses ----------------------------------------------------
    def make(self) -> Any:
        """The component under test. Override for components built another way."""
        if self.component is None:
            pytest.fail(f"{type(self).__name__}: set `component = 'domain/name'` or override make()")
        return arkit.create(self.kind, self.component, **dict(self.config))

    def check_members(self, obj: Any) -> None:
        """Kind-specific checks of the protocol's attributes (beyond their presence)."""

    def assert_equivalent(self, original: Any, loaded: Any) -> None:
        """Assert that ``loaded`` (read back from disk) behaves like ``original``.

        The base checks the config; each kind adds outputs on the same inputs.
        Override to compare more, calling ``super()``.
        """
        config = _as_json(dict(original.config), "config")
        assert _as_json(dict(loaded.config), "loaded config") == config, "the loaded component's config differs"
        assert type(loaded) is type(original), f"loaded a {type(loaded).__name__}, saved a {type(original).__name__}"

    # -- helpers -----------------------------------------------------------------
    def _settings(self, **overrides: Any) -> settings:
        """The active hypothesis profile, without deadlines, with ``max_examples`` when set."""
        base = settings.default
        chosen: dict[str, Any] = {
            "deadline": None,
            "suppress_health_check": [*base.suppress_health_check, HealthCheck.too_slow, HealthCheck.data_too_large],
        }
        if self.max_examples is not None:
            chosen["max_examples"] = self.max_examples
        chosen.update(overrides)
        return settings(base, **chosen)

    def _property(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., None]], Callable[[], None]]:
        """``@given(...)`` with this contract's settings, for a property defined inside a test method."""

        def decorate(test: Callable[..., None]) -> Callable[[], None]:
            return self._settings()(given(*args, **kwargs)(test))

        return decorate

    @contextlib.contextmanager
    def _in_registry(self, obj: Any) -> Iterator[str]:
        """The registry name of ``obj``; an unregistered object's class is registered for the block."""
        name = _registered_name(self.kind, obj)
        if name is not None:
            yield name
            return
        factory = type(obj)
        name = f"testing/{factory.__name__}"

        def hook(register: Any) -> None:
            register(name, factory)

        plugin = types.SimpleNamespace(**{f"arkit_register_{self.kind}s": arkit.hookimpl(hook)},
                                       arkit_extends=("testing",))
        with register_plugin(plugin, f"arkit-testing-{next(_PLUGIN_NUMBERS)}"):
            yield name

    def _rebuild(self, obj: Any) -> Any:
        """A fresh component from the registry, built from ``obj.config`` as read back from JSON."""
        config = _as_json(dict(obj.config), "config")
        with self._in_registry(obj) as name:
            return arkit.create(self.kind, name, **config)

    # -- the tests every kind shares ---------------------------------------------
    def test_satisfies_its_protocol(self) -> None:
        obj = self.make()
        try:
            check_conforms(self.kind, obj, what=f"{type(obj).__name__} (from make())")
        except ComponentProtocolError as exc:
            pytest.fail(str(exc), pytrace=False)
        assert isinstance(obj, PROTOCOLS[self.kind])
        assert isinstance(obj.config, Mapping), f"config must be a mapping, got {type(obj.config).__name__}"
        self.check_members(obj)

    def test_is_registered_under_its_name(self) -> None:
        if self.component is None:
            pytest.skip("no `component` name given: registration is not checked")
        info = arkit.get_component(self.kind, self.component)
        assert info.kind == self.kind
        made = _registered_name(self.kind, self.make())
        assert made == info.name, f"make() returned a component registered as {made!r}, not {info.name!r}"

    def test_config_is_json_and_rebuilds_the_component(self) -> None:
        obj = self.make()
        config = _as_json(dict(obj.config), "config")
        rebuilt = self._rebuild(obj)
        assert _as_json(dict(rebuilt.config), "the rebuilt config") == config, (
            "arkit.create(kind, name, **obj.config) built a component with a different config"
        )

    def test_save_and_load_round_trip(self, tmp_path: Path) -> None:
        """Through the pipeline writer and the per-component loader (the on-disk format)."""
        obj = _eval(self.make())
        if _is_module(obj):
            _perturb(obj)
        folder = tmp_path / "saved"
        with self._in_registry(obj) as name:
            _serialization.save_pipeline({self.kind: obj}, folder)
            entry = json.loads((folder / self.kind / "config.json").read_text())
            assert entry == {"name": name, "config": _as_json(dict(obj.config), "config")}, (
                f"{self.kind}/config.json holds {entry}"
            )
            manifest = json.loads((folder / _serialization.MANIFEST).read_text())
            assert manifest["components"][self.kind]["name"] == name
            has_tensors = _is_module(obj) and len(obj.state_dict()) > 0
            weights = folder / self.kind / _serialization.WEIGHTS
            assert weights.is_file() == has_tensors, "weights are written exactly for modules with a state_dict"
            with warnings.catch_warnings():
                warnings.simplefilter("error", ArkitConfigWarning)  # every saved config key must be accepted
                loaded = _eval(_serialization.load_component(folder, self.kind))
        self.assert_equivalent(obj, loaded)


class TokenizerContract(_Contract):
    """Tokenizers (:class:`arkit.protocols.Tokenizer`).

    Set ``items`` to a hypothesis strategy of valid items; it is required for a
    lossless tokenizer (the round trip fails without it), and the item-based
    checks are skipped without it for a lossy one. Optionally set
    ``invalid_items`` to a strategy of items ``encode`` must reject.

    Checks, besides the shared ones:

    - ``vocab_size`` is a positive int, ``lossless`` a bool, ``special_tokens``
      maps names to ids in ``[0, vocab_size)``;
    - ``decode(encode(x)) == x`` for every item when ``lossless`` (hypothesis);
    - ``encode`` returns a list of ints in ``[0, vocab_size)``, the same each time;
    - ``decode`` never raises on any list of in-range ids (hypothesis), and
      skips special ids: inserting them anywhere does not change the result;
    - ``encode`` raises :class:`arkit.InputError` on ``invalid_items``;
    - a saved and loaded tokenizer encodes and decodes the same.
    """

    kind = "tokenizer"
    items: ClassVar[st.SearchStrategy[Any] | None] = None
    invalid_items: ClassVar[st.SearchStrategy[Any] | None] = None

    def _examples(self) -> tuple[Any, ...]:
        """The ``examples=`` the component was registered with (none for an unregistered one)."""
        if self.component is None:
            return ()
        return arkit.get_component(self.kind, self.component).examples

    def _items_or_stop(self, tokenizer: Any) -> st.SearchStrategy[Any]:
        """``items``, else the registered ``examples``; without either, fail for a lossless tokenizer, skip a lossy one."""
        if self.items is not None:
            return self.items
        examples = self._examples()
        if examples:
            return st.sampled_from(examples)
        message = (
            f"{type(self).__name__}: no items to encode. Set `items` to a hypothesis strategy of valid items, "
            f"or register the tokenizer with examples=(...)"
        )
        if tokenizer.lossless:
            pytest.fail(message + "; a lossless tokenizer must have its round trip checked", pytrace=False)
        pytest.skip(message)

    def check_members(self, obj: Any) -> None:
        assert isinstance(obj.vocab_size, int) and obj.vocab_size >= 0, f"vocab_size must be an int >= 0, got {obj.vocab_size!r}"
        assert isinstance(obj.lossless, bool), f"lossless must be a bool, got {obj.lossless!r}"
        assert isinstance(obj.special_tokens, Mapping), "special_tokens must be a mapping of names to ids"

    def test_special_tokens_are_in_the_vocabulary(self) -> None:
        tokenizer = self.make()
        for key, value in tokenizer.special_tokens.items():
            assert isinstance(key, str), f"special token names must be str, got {key!r}"
            assert isinstance(value, int) and 0 <= value < tokenizer.vocab_size, (
                f"special token {key!r} = {value!r} is outside [0, {tokenizer.vocab_size})"
            )

    def test_round_trip(self) -> None:
        tokenizer = self.make()
        if not tokenizer.lossless:
            pytest.skip("the tokenizer does not claim to be lossless")

        @self._property(item=self._items_or_stop(tokenizer))
        def round_trip(item: Any) -> None:
            ids = tokenizer.encode(item)
            decoded = tokenizer.decode(ids)
            assert decoded == item, f"decode(encode({item!r})) = {decoded!r} (ids {ids})"

        round_trip()

    def test_registered_examples_are_items_it_encodes(self) -> None:
        """``examples=`` given at registration are valid items (docs and the registry-wide suite use them)
        for the component as registered: built with its default config, not the test's ``config``."""
        examples = self._examples()
        if not examples:
            pytest.skip("the component registered no examples")
        try:
            tokenizer = arkit.create(self.kind, self.component)
        except (arkit.ConfigError, TypeError) as exc:
            pytest.skip(f"examples are checked against the default config, which this component lacks ({exc})")
        for example in examples:
            try:
                ids = tokenizer.encode(example)
            except arkit.ArkitError as exc:
                pytest.fail(f"{self.component!r} registered the example {example!r}, which it rejects: {exc}",
                            pytrace=False)
            assert isinstance(ids, list), f"encode({example!r}) must return a list, got {type(ids).__name__}"

    def test_encodes_to_ids_in_the_vocabulary(self) -> None:
        tokenizer = self.make()

        @self._property(item=self._items_or_stop(tokenizer))
        def in_range(item: Any) -> None:
            ids = tokenizer.encode(item)
            assert isinstance(ids, list), f"encode must return a list, got {type(ids).__name__}"
            if tokenizer.vocab_size == 0:  # a continuous tokenizer: equal-length lists of finite floats
                assert all(isinstance(v, list) and len(v) == len(ids[0]) for v in ids), "encode must give equal vectors"
                assert all(math.isfinite(x) for v in ids for x in v), "encode gave non-finite values"
                assert tokenizer.encode(item) == ids, "encode is not deterministic"
                return
            bad = [i for i in ids if not (isinstance(i, int) and 0 <= i < tokenizer.vocab_size)]
            assert not bad, f"encode({item!r}) gave ids outside [0, {tokenizer.vocab_size}): {bad}"
            assert tokenizer.encode(item) == ids, "encode is not deterministic"

        in_range()

    def test_decode_accepts_any_ids_in_range(self) -> None:
        tokenizer = self.make()
        V = tokenizer.vocab_size
        if V == 0:
            pytest.skip("a continuous tokenizer (vocab_size 0) has no ids")
        often = [i for i in (*tokenizer.special_tokens.values(), 0, V - 1) if isinstance(i, int) and 0 <= i < V]

        @self._property(ids=strategies.token_ids(V, max_size=48, often=often))
        def never_raises(ids: list[int]) -> None:
            tokenizer.decode(ids)

        never_raises()

    def test_decode_skips_special_tokens(self) -> None:
        tokenizer = self.make()
        specials = sorted(set(tokenizer.special_tokens.values()))
        if not specials:
            pytest.skip("the tokenizer has no special tokens")

        @self._property(item=self._items_or_stop(tokenizer), data=st.data())
        def skipped(item: Any, data: st.DataObject) -> None:
            ids = tokenizer.encode(item)
            inserts = data.draw(
                st.lists(st.tuples(st.integers(0, len(ids)), st.sampled_from(specials)), min_size=1, max_size=4),
                label="inserted (position, special id)",
            )
            noisy = list(ids)
            for position, special in sorted(inserts, reverse=True):
                noisy.insert(position, special)
            expected = tokenizer.decode(ids)
            assert tokenizer.decode(noisy) == expected, f"decode({noisy}) differs from decode({ids}) = {expected!r}"

        skipped()

    def test_rejects_invalid_items(self) -> None:
        if self.invalid_items is None:
            pytest.skip("no `invalid_items` strategy given")
        tokenizer = self.make()

        @self._property(item=self.invalid_items)
        def rejected(item: Any) -> None:
            with pytest.raises(arkit.InputError):
                tokenizer.encode(item)

        rejected()

    def assert_equivalent(self, original: Any, loaded: Any) -> None:
        super().assert_equivalent(original, loaded)
        assert loaded.vocab_size == original.vocab_size
        assert dict(loaded.special_tokens) == dict(original.special_tokens)
        assert loaded.lossless == original.lossless
        specials = set(original.special_tokens.values())  # decoding those is the decode tests' business
        ordinary = [i for i in range(original.vocab_size) if i not in specials]
        for start in range(0, len(ordinary), 64):
            chunk = ordinary[start : start + 64]
            assert loaded.decode(chunk) == original.decode(chunk), f"decode({chunk}) differs after loading"
        if self.items is not None:

            @self._property(item=self.items)
            def same_ids(item: Any) -> None:
                assert loaded.encode(item) == original.encode(item), f"encode({item!r}) differs after loading"

            same_ids()


def _declared_extras(backbone: Any, batch: int) -> dict[str, torch.Tensor]:
    """Seeded random values of the extra inputs the backbone's export spec declares (none without a spec)."""
    from ..registry import declared_inputs

    g = torch.Generator().manual_seed(batch)
    return {e.name: e._random(batch, g) for e in declared_inputs(backbone) or ()}


def _inputs(vocab_size: int, batch: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab_size, (batch, length), generator=g)
    return ids, torch.arange(length).expand(batch, length)


class BackboneContract(_Contract):
    """Backbones (:class:`arkit.protocols.Backbone`). Keep ``config`` small.

    Checks, besides the shared ones:

    - ``vocab_size``, ``d_model`` and ``max_seq_len`` are positive ints and
      ``cache_spec()`` returns a :class:`arkit.CacheSpec`;
    - ``forward`` returns a finite float ``Tensor[B, T, d_model]`` (hypothesis
      over ``B`` and ``T``);
    - incremental decoding through a cache equals one forward over the whole
      sequence: hypothesis draws the batch size (1-3), the length and where the
      sequence is cut into chunks; each chunk is fed with the cache, and the
      concatenated hidden states must match the uncached forward within ``atol``
      / ``rtol`` (float32), and after each chunk the cache must have taken every
      position so far (``seq_len`` plus the optional ``offset``).
      The cache is ``arkit.create("cache", cache, **cache_config)``;
    - bad input raises :class:`arkit.InputError`: float ids, ids of the wrong
      rank, ids ``>= vocab_size`` or negative, positions shaped unlike the ids;
    - the same weights give the same outputs: a second instance built from the
      config, with the first one's ``state_dict`` loaded, computes the same hidden
      states (and repeated calls do too);
    - saved and loaded: the same ``state_dict`` and the same hidden states;
    - ONNX (when ``exportable`` and onnxruntime is installed): with a
      ``core/categorical`` head, :func:`arkit.onnx.export` traces, checks and
      validates the step graph against torch (max logit difference <= 1e-4,
      prefill and decode with a past, batch 1 and 3), and greedy generation
      through :class:`arkit.onnx.OrtPipeline` equals the torch pipeline's.

    A backbone whose export spec (``arkit_register_export_specs``) declares extra
    inputs gets random values of them (seeded, one set per batch size) at every call.
    """

    kind = "backbone"
    cache: ClassVar[str] = "core/dynamic"
    cache_config: ClassVar[Mapping[str, Any]] = types.MappingProxyType({})
    max_length: ClassVar[int] = 16
    atol: ClassVar[float] = 1e-5
    rtol: ClassVar[float] = 1e-5
    exportable: ClassVar[bool] = True
    """Set to ``False`` for a backbone that cannot be traced to ONNX (the export test is skipped, saying so)."""

    def check_members(self, obj: Any) -> None:
        for member in ("vocab_size", "d_model", "max_seq_len"):
            value = getattr(obj, member)
            assert isinstance(value, int) and value >= 1, f"{member} must be an int >= 1, got {value!r}"
        assert isinstance(obj.cache_spec(), arkit.CacheSpec), "cache_spec() must return an arkit.CacheSpec"

    def _forward(self, backbone: Any, ids: torch.Tensor, positions: torch.Tensor, cache: Any = None) -> torch.Tensor:
        with torch.no_grad():
            return backbone(ids, positions=positions, cache=cache, **_declared_extras(backbone, ids.shape[0]))

    def test_output_shape(self) -> None:
        backbone = _eval(self.make())

        @self._property(batch=st.integers(1, 3), length=st.integers(1, 8), seed=st.integers(0, 2**16))
        def shaped(batch: int, length: int, seed: int) -> None:
            length = min(length, backbone.max_seq_len)
            out = self._forward(backbone, *_inputs(backbone.vocab_size, batch, length, seed))
            assert isinstance(out, torch.Tensor) and out.is_floating_point(), "forward must return a float tensor"
            assert out.shape == (batch, length, backbone.d_model), (
                f"expected hidden states [B, T, d_model] = {[batch, length, backbone.d_model]}, got {list(out.shape)}"
            )
            assert bool(torch.isfinite(out).all()), "hidden states are not finite"

        shaped()

    def test_cached_decoding_equals_the_full_forward(self) -> None:
        backbone = _eval(self.make())
        longest = min(self.max_length, backbone.max_seq_len)

        @self._property(batch=st.integers(1, 3), length=st.integers(1, longest), seed=st.integers(0, 2**16), data=st.data())
        def incremental(batch: int, length: int, seed: int, data: st.DataObject) -> None:
            cuts = sorted(data.draw(st.sets(st.integers(1, length - 1)) if length > 1 else st.just(set()), label="cuts"))
            ids, positions = _inputs(backbone.vocab_size, batch, length, seed)
            full = self._forward(backbone, ids, positions)
            cache = arkit.create("cache", self.cache, **dict(self.cache_config))
            cache.allocate(backbone.cache_spec(), batch_size=batch, max_len=length, dtype=full.dtype, device=full.device)
            pieces = []
            for start, end in itertools.pairwise([0, *cuts, length]):
                pieces.append(self._forward(backbone, ids[:, start:end], positions[:, start:end], cache))
                written = cache.seq_len + getattr(cache, "offset", 0)  # an evicting cache dropped `offset`
                assert written == end, f"after positions [{start}, {end}) the cache has taken {written}, not {end}"
            torch.testing.assert_close(
                torch.cat(pieces, dim=1), full, atol=self.atol, rtol=self.rtol,
                msg=lambda m: f"chunks {[0, *cuts, length]} with a cache differ from the full forward: {m}",
            )

        incremental()

    def test_bad_input_raises_input_error(self) -> None:
        backbone = self.make()
        ids, positions = _inputs(backbone.vocab_size, 2, min(3, backbone.max_seq_len), 0)
        too_big, negative = ids.clone(), ids.clone()
        too_big[1, -1] = backbone.vocab_size
        negative[0, 0] = -1
        cases = {
            "float ids": (ids.float(), positions),
            "ids of rank 1": (ids[0], positions[0]),
            "ids of rank 3": (ids[:, :, None], positions[:, :, None]),
            "an id == vocab_size": (too_big, positions),
            "a negative id": (negative, positions),
            "positions shaped unlike the ids": (ids, positions[:, :-1]),
        }
        problems = []
        for what, (bad_ids, bad_positions) in cases.items():
            try:
                with torch.no_grad():
                    backbone(bad_ids, positions=bad_positions)
            except arkit.InputError:
                continue
            except Exception as exc:  # noqa: BLE001 - reported below
                problems.append(f"{what}: raised {type(exc).__name__} ({exc}) instead of arkit.InputError")
            else:
                problems.append(f"{what}: accepted")
        assert not problems, "bad input must raise arkit.InputError:\n" + "\n".join(problems)

    def test_same_weights_same_outputs(self) -> None:
        first = _eval(self.make())
        _perturb(first)
        second = _eval(self._rebuild(first))
        second.load_state_dict(first.state_dict())
        ids, positions = _inputs(first.vocab_size, 2, min(6, first.max_seq_len), 3)
        out = self._forward(first, ids, positions)
        torch.testing.assert_close(self._forward(first, ids, positions), out, rtol=0, atol=0,
                                   msg=lambda m: f"two calls on the same input differ: {m}")
        torch.testing.assert_close(self._forward(second, ids, positions), out, rtol=0, atol=0,
                                   msg=lambda m: f"the same weights give different outputs: {m}")

    def test_exports_to_onnx(self, tmp_path: Path) -> None:
        if not self.exportable:
            pytest.skip(f"{type(self).__name__}: exportable = False")
        for module in ("onnx", "onnxscript", "onnxruntime"):
            pytest.importorskip(module)
        from arkit.onnx import OrtPipeline, export
        from arkit.testing import register_id_tokenizer

        backbone = _eval(self.make())
        vocab = backbone.vocab_size
        head = arkit.create("head", "core/categorical", d_model=backbone.d_model, vocab_size=vocab).eval()
        with register_id_tokenizer("arkit-contract-export") as name:
            tokenizer = arkit.create("tokenizer", name, vocab_size=vocab)
            pipe = arkit.Pipeline(tokenizer=tokenizer, backbone=backbone, head=head)
            report = export(pipe, tmp_path / "onnx")
            assert report.max_abs_logit_diff is not None and report.max_abs_logit_diff <= 1e-4
            prompts = [[1, 2, 3, 4], [5, 6]]
            length = min(6, backbone.max_seq_len - 4)
            options = dict(max_new_tokens=length, eos_token_ids=(), extra_inputs=_declared_extras(backbone, 2))
            expected = pipe.generate(prompt_ids=prompts, **options).sequences
            got = OrtPipeline.from_pretrained(tmp_path / "onnx").generate(prompt_ids=prompts, **options).sequences
            assert got == expected, "greedy tokens through onnxruntime differ from the torch pipeline's"

    def assert_equivalent(self, original: Any, loaded: Any) -> None:
        super().assert_equivalent(original, loaded)
        _assert_same_state(original, loaded)
        ids, positions = _inputs(original.vocab_size, 2, min(6, original.max_seq_len), 5)
        torch.testing.assert_close(self._forward(loaded, ids, positions), self._forward(original, ids, positions),
                                   rtol=0, atol=0, msg=lambda m: f"the loaded backbone computes different outputs: {m}")


class HeadContract(_Contract):
    """Heads (:class:`arkit.protocols.Head`).

    Checks, besides the shared ones: ``d_model`` is a positive int and
    ``vocab_size`` a positive int (categorical) or 0 (continuous); ``forward``
    maps ``[B, T, d_model]`` to finite float ``[B, T, vocab_size]`` logits, or for a
    continuous head to a ``torch.distributions.Distribution`` of batch shape
    ``[B, T]`` (hypothesis over ``B`` and ``T``); the same weights give the same
    outputs; saved and loaded, the same ``state_dict`` and the same outputs.
    """

    kind = "head"

    def check_members(self, obj: Any) -> None:
        assert isinstance(obj.d_model, int) and obj.d_model >= 1, f"d_model must be an int >= 1, got {obj.d_model!r}"
        assert isinstance(obj.vocab_size, int) and obj.vocab_size >= 0, (
            f"vocab_size must be an int >= 1, or 0 for a continuous head, got {obj.vocab_size!r}"
        )

    def _hidden(self, head: Any, batch: int, length: int, seed: int) -> torch.Tensor:
        return torch.randn(batch, length, head.d_model, generator=torch.Generator().manual_seed(seed))

    def _raw(self, head: Any, hidden: torch.Tensor) -> Any:
        with torch.no_grad():
            return head(hidden)

    def _forward(self, head: Any, hidden: torch.Tensor) -> torch.Tensor:
        """Logits, or a continuous distribution's mean and variance side by side."""
        out = self._raw(head, hidden)
        if isinstance(out, torch.distributions.Distribution):
            return torch.cat([out.mean, out.variance], dim=-1)
        return out

    def test_output_shape(self) -> None:
        head = _eval(self.make())

        @self._property(batch=st.integers(1, 3), length=st.integers(1, 6), seed=st.integers(0, 2**16))
        def shaped(batch: int, length: int, seed: int) -> None:
            raw = self._raw(head, self._hidden(head, batch, length, seed))
            if head.vocab_size == 0:
                assert isinstance(raw, torch.distributions.Distribution), "a continuous head returns a Distribution"
                assert tuple(raw.batch_shape) == (batch, length), f"batch shape {tuple(raw.batch_shape)}"
                assert bool(torch.isfinite(self._forward(head, self._hidden(head, batch, length, seed))).all())
                return
            out = raw
            assert isinstance(out, torch.Tensor) and out.is_floating_point(), "forward must return float logits"
            assert out.shape == (batch, length, head.vocab_size), (
                f"expected logits [B, T, vocab_size] = {[batch, length, head.vocab_size]}, got {list(out.shape)}"
            )
            assert bool(torch.isfinite(out).all()), "logits are not finite"

        shaped()

    def test_same_weights_same_outputs(self) -> None:
        first = _eval(self.make())
        _perturb(first)
        second = _eval(self._rebuild(first))
        second.load_state_dict(first.state_dict())
        hidden = self._hidden(first, 2, 3, 0)
        out = self._forward(first, hidden)
        torch.testing.assert_close(self._forward(first, hidden), out, rtol=0, atol=0,
                                   msg=lambda m: f"two calls on the same input differ: {m}")
        torch.testing.assert_close(self._forward(second, hidden), out, rtol=0, atol=0,
                                   msg=lambda m: f"the same weights give different outputs: {m}")

    def assert_equivalent(self, original: Any, loaded: Any) -> None:
        super().assert_equivalent(original, loaded)
        _assert_same_state(original, loaded)
        hidden = self._hidden(original, 2, 3, 1)
        torch.testing.assert_close(self._forward(loaded, hidden), self._forward(original, hidden), rtol=0, atol=0,
                                   msg=lambda m: f"the loaded head computes different logits: {m}")


class SamplerContract(_Contract):
    """Samplers (:class:`arkit.protocols.Sampler`).

    Hypothesis draws logits (with ``-inf`` entries, never a row of ``-inf`` only,
    see :func:`arkit.testing.strategies.logits`) and right-aligned contexts with
    ``-1`` padding (:func:`arkit.testing.strategies.contexts`). Set ``vocab_size``
    to fix the logits' width (for samplers configured with token ids); ``None``
    draws widths from 2 to 64.

    Checks, besides the shared ones:

    - ``deterministic`` is a bool;
    - ``process`` modifies neither the logits nor the tokens, and returns float
      scores of the same shape, without NaN or ``+inf``;
    - ``select(process(logits))`` returns a ``LongTensor[B]`` of ids in range
      whose processed score is finite (the support property); when processing
      left a row with no finite score, ``select`` must raise an
      :class:`arkit.ArkitError` (such as :class:`arkit.GenerationError`) instead;
    - when ``deterministic``, each chosen id has its row's maximum score;
    - the same generator seed gives the same ids, whatever the global RNG:
      ``select`` draws only from the ``generator`` it is given;
    - saved and loaded: the same scores and the same ids for the same seed.
    """

    kind = "sampler"
    vocab_size: ClassVar[int | None] = None

    def check_members(self, obj: Any) -> None:
        assert isinstance(obj.deterministic, bool), f"deterministic must be a bool, got {obj.deterministic!r}"

    def _select(self, sampler: Any, scores: torch.Tensor, seed: int, global_seed: int) -> torch.Tensor:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(global_seed)  # must not matter: only the generator may be used
            return sampler.select(scores, torch.Generator().manual_seed(seed))

    def test_selects_inside_the_support(self) -> None:
        sampler = self.make()

        @self._property(logits=strategies.logits(vocab=self.vocab_size), seed=st.integers(0, 2**32 - 1), data=st.data())
        def inside(logits: torch.Tensor, seed: int, data: st.DataObject) -> None:
            B, V = logits.shape
            tokens = data.draw(strategies.contexts(B, V), label="tokens")
            logits_before, tokens_before = logits.clone(), tokens.clone()
            scores = sampler.process(logits, tokens)
            assert torch.equal(logits, logits_before), "process() modified the logits in place"
            assert torch.equal(tokens, tokens_before), "process() modified the tokens in place"
            assert isinstance(scores, torch.Tensor) and scores.is_floating_point(), "process() must return float scores"
            assert scores.shape == logits.shape, f"process() returned shape {list(scores.shape)}, not {[B, V]}"
            assert not bool(torch.isnan(scores).any()), "process() produced NaN scores"
            assert not bool((scores == float("inf")).any()), "process() produced +inf scores"
            if not bool(torch.isfinite(scores).any(-1).all()):
                # processing may leave a row empty (bans, n-gram blocking): selecting must then fail loudly
                with pytest.raises(arkit.ArkitError):
                    sampler.select(scores, torch.Generator().manual_seed(seed))
                return
            ids = self._select(sampler, scores, seed, 0)
            assert isinstance(ids, torch.Tensor) and ids.dtype == torch.long, "select() must return a LongTensor"
            assert ids.shape == (B,), f"select() returned shape {list(ids.shape)}, not [{B}]"
            assert bool(((ids >= 0) & (ids < V)).all()), f"select() returned ids outside [0, {V}): {ids.tolist()}"
            chosen = scores.gather(-1, ids[:, None]).squeeze(-1)
            assert bool(torch.isfinite(chosen).all()), f"select() chose ids outside the support: {ids.tolist()}"
            if sampler.deterministic:
                assert torch.equal(chosen, scores.max(-1).values), "a deterministic sampler must select the argmax"
            again = self._select(sampler, scores, seed, 1)
            assert torch.equal(again, ids), "the same generator seed gave different ids"

        inside()

    def test_same_seed_same_ids(self) -> None:
        """Many rows of nearly flat logits: a sampler drawing from the global RNG cannot pass."""
        sampler = self.make()
        V = self.vocab_size or 50
        logits = 0.1 * torch.randn(64, V, generator=torch.Generator().manual_seed(1))
        tokens = torch.randint(0, V, (64, 5), generator=torch.Generator().manual_seed(2))
        scores = sampler.process(logits, tokens)
        first = self._select(sampler, scores, 7, 0)
        assert torch.equal(self._select(sampler, scores, 7, 1), first), (
            "select() gave different ids for the same generator seed: it must draw only from `generator`"
        )

    def assert_equivalent(self, original: Any, loaded: Any) -> None:
        super().assert_equivalent(original, loaded)
        assert loaded.deterministic == original.deterministic
        V = self.vocab_size or 32
        logits = torch.randn(4, V, generator=torch.Generator().manual_seed(3))
        tokens = torch.randint(0, V, (4, 6), generator=torch.Generator().manual_seed(4))
        tokens[0, :3] = -1
        scores = original.process(logits.clone(), tokens.clone())  # fresh copies: in-place edits are another test's
        torch.testing.assert_close(loaded.process(logits.clone(), tokens.clone()), scores, rtol=0, atol=0,
                                   msg=lambda m: f"the loaded sampler processes differently: {m}")
        if bool(torch.isfinite(scores).any(-1).all()):
            assert torch.equal(self._select(loaded, scores, 9, 0), self._select(original, scores, 9, 0)), (
                "the loaded sampler selects different ids for the same seed"
            )


class DrafterContract(_Contract):
    """Drafters (:class:`arkit.protocols.Drafter`).

    The vocabulary is the drafter's ``vocab_size`` attribute when it has one,
    else the contract's ``vocab_size`` (set one of them). Hypothesis draws right-
    aligned contexts (``-1`` before a row's start) and ``k`` in ``1..max_k``.

    Checks, besides the shared ones: ``propose(tokens, k)`` returns an
    :class:`arkit.Draft` whose ``tokens`` is a ``LongTensor[B, k]`` of ids in
    ``[0, V)`` and whose ``probs``, when given, is a ``Tensor[B, k, V]`` of
    non-negative rows summing to 1; ``tokens`` is not modified; the same input
    gives the same proposal; saved and loaded, the same proposal.

    Losslessness: set ``lossless_drafter`` to a function ``target pipeline -> drafter``
    (the target is :func:`arkit.testing.lossless.toy_target`, a vocabulary of 5) and
    ``test_speculative_sampling_is_lossless`` compares the distribution of sequences
    sampled with your drafter under ``core/exact`` against the exactly enumerated
    distribution of plain decoding, at batch 1 and in a padded batch, under a
    constraint and with default seeds (:mod:`arkit.testing.lossless`).
    """

    kind = "drafter"
    vocab_size: ClassVar[int | None] = None
    max_k: ClassVar[int] = 6
    lossless_drafter: ClassVar[Any] = None

    def test_speculative_sampling_is_lossless(self) -> None:
        if self.lossless_drafter is None:
            pytest.skip("set `lossless_drafter = lambda target: MyDrafter(...)` to hold the drafter to losslessness")
        from .lossless import assert_lossless

        assert_lossless(type(self).lossless_drafter, "core/exact")

    def _vocab(self, drafter: Any) -> int:
        vocab = getattr(drafter, "vocab_size", None) or self.vocab_size
        if not isinstance(vocab, int) or vocab < 1:
            pytest.fail(f"{type(self).__name__}: set `vocab_size` (the drafter has no vocab_size attribute)", pytrace=False)
        return vocab

    def _propose(self, drafter: Any, tokens: torch.Tensor, k: int) -> arkit.Draft:
        with torch.no_grad():
            return drafter.propose(tokens, k)

    def test_proposals_have_the_promised_shape(self) -> None:
        drafter = _eval(self.make())
        V = self._vocab(drafter)

        @self._property(batch=st.integers(1, 3), k=st.integers(1, self.max_k), data=st.data())
        def proposals(batch: int, k: int, data: st.DataObject) -> None:
            tokens = data.draw(strategies.contexts(batch, V, min_len=1), label="tokens")
            before = tokens.clone()
            draft = self._propose(drafter, tokens, k)
            assert torch.equal(tokens, before), "propose() modified the tokens in place"
            assert isinstance(draft, arkit.Draft), f"propose() must return an arkit.Draft, got {type(draft).__name__}"
            drafted = draft.tokens
            assert isinstance(drafted, torch.Tensor) and drafted.dtype == torch.long, "Draft.tokens must be a LongTensor"
            assert drafted.shape == (batch, k), f"Draft.tokens has shape {list(drafted.shape)}, not {[batch, k]}"
            assert bool(((drafted >= 0) & (drafted < V)).all()), f"drafted ids outside [0, {V}): {drafted.tolist()}"
            if draft.lengths is not None:
                lengths = draft.lengths
                assert isinstance(lengths, torch.Tensor) and lengths.shape == (batch,), (
                    f"Draft.lengths must be a tensor of shape {[batch]}, got {getattr(lengths, 'shape', lengths)}")
                assert bool(((lengths >= 0) & (lengths <= k)).all()), f"Draft.lengths outside [0, {k}]: {lengths.tolist()}"
            if draft.probs is not None:
                probs = draft.probs
                assert probs.shape == (batch, k, V), f"Draft.probs has shape {list(probs.shape)}, not {[batch, k, V]}"
                assert bool((probs >= 0).all()), "Draft.probs has negative entries"
                torch.testing.assert_close(probs.sum(-1).float(), torch.ones(batch, k), atol=1e-4, rtol=0,
                                           msg=lambda m: f"Draft.probs rows do not sum to 1: {m}")
            again = self._propose(drafter, tokens, k)
            assert torch.equal(again.tokens, drafted), "the same input gave a different proposal"
            if draft.probs is not None:
                assert again.probs is not None and torch.equal(again.probs, draft.probs), "the same input gave different probs"

        proposals()

    def assert_equivalent(self, original: Any, loaded: Any) -> None:
        super().assert_equivalent(original, loaded)
        if _is_module(original):
            _assert_same_state(original, loaded)
        V = self._vocab(original)
        tokens = torch.randint(0, V, (3, 7), generator=torch.Generator().manual_seed(6))
        tokens[1, :2] = -1
        a, b = self._propose(original, tokens, 3), self._propose(loaded, tokens, 3)
        assert torch.equal(a.tokens, b.tokens), "the loaded drafter proposes different tokens"
        assert (a.probs is None) == (b.probs is None), "the loaded drafter gives probs differently"
        if a.probs is not None:
            torch.testing.assert_close(b.probs, a.probs, rtol=0, atol=0)


class AcceptanceContract(_Contract):
    """Acceptance rules (:class:`arkit.protocols.AcceptanceRule`).

    Hypothesis draws drafts (with and without drafter probabilities and
    per-row lengths) and target distributions over a small vocabulary.

    Checks, besides the shared ones: ``lossless`` is a bool; ``accept`` returns
    two ``LongTensor[B]``: accepted counts in ``[0, lengths]`` and ids in
    ``[0, V)`` that the target gives positive probability at the position after
    the kept tokens; the same seed gives the same decision; a draft that equals
    a one-hot target's argmax everywhere is kept whole, and the token after it
    is that target's argmax.
    """

    kind = "acceptance"
    vocab_size: ClassVar[int] = 7
    max_k: ClassVar[int] = 5

    def check_members(self, obj: Any) -> None:
        assert isinstance(obj.lossless, bool), f"lossless must be a bool, got {obj.lossless!r}"

    def _case(self, data: st.DataObject, batch: int, k: int, with_probs: bool) -> tuple[arkit.Draft, torch.Tensor]:
        V = self.vocab_size
        seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
        g = torch.Generator().manual_seed(seed)
        tokens = torch.randint(0, V, (batch, k), generator=g)
        lengths = torch.randint(0, k + 1, (batch,), generator=g) if data.draw(st.booleans(), label="lengths") else None
        target = torch.rand(batch, k + 1, V, generator=g) ** 3
        target = torch.where(torch.rand(batch, k + 1, V, generator=g) < 0.3, 0.0, target)
        target[..., 0] += 1e-3  # every position keeps some support
        target = target / target.sum(-1, keepdim=True)
        probs = None
        if with_probs:
            probs = torch.rand(batch, k, V, generator=g) + 1e-3
            probs = probs / probs.sum(-1, keepdim=True)
        return arkit.Draft(tokens=tokens, probs=probs, lengths=lengths), target

    def test_decisions_are_well_formed(self) -> None:
        rule = self.make()

        @self._property(batch=st.integers(1, 4), k=st.integers(0, self.max_k), with_probs=st.booleans(), data=st.data())
        def decisions(batch: int, k: int, with_probs: bool, data: st.DataObject) -> None:
            draft, target = self._case(data, batch, k, with_probs)
            accepted, following = rule.accept(draft, target, torch.Generator().manual_seed(3))
            for name, out in (("accepted", accepted), ("next tokens", following)):
                assert isinstance(out, torch.Tensor) and out.dtype == torch.long and out.shape == (batch,), (
                    f"{name} must be a LongTensor of shape {[batch]}, got {getattr(out, 'dtype', out)} "
                    f"{list(getattr(out, 'shape', []))}")
            limit = draft.lengths if draft.lengths is not None else torch.full((batch,), k)
            assert bool(((accepted >= 0) & (accepted <= limit)).all()), (
                f"accepted {accepted.tolist()} outside [0, lengths {limit.tolist()}]")
            assert bool(((following >= 0) & (following < self.vocab_size)).all()), f"next ids {following.tolist()}"
            support = target[torch.arange(batch), accepted, following]
            assert bool((support > 0).all()), "a next token has zero probability under the target where it was placed"
            again = rule.accept(draft, target, torch.Generator().manual_seed(3))
            assert torch.equal(again[0], accepted) and torch.equal(again[1], following), "same seed, different decision"

        decisions()

    def test_a_draft_equal_to_a_one_hot_target_is_kept(self) -> None:
        rule = self.make()
        g = torch.Generator().manual_seed(0)
        best = torch.randint(0, self.vocab_size, (3, self.max_k + 1), generator=g)
        target = torch.nn.functional.one_hot(best, self.vocab_size).float()
        accepted, following = rule.accept(arkit.Draft(tokens=best[:, :-1]), target, torch.Generator().manual_seed(0))
        assert accepted.tolist() == [self.max_k] * 3, f"kept {accepted.tolist()} of a draft the target agrees with"
        assert torch.equal(following, best[:, -1]), "the token after a fully kept draft is not the target's argmax"

    def assert_equivalent(self, original: Any, loaded: Any) -> None:
        super().assert_equivalent(original, loaded)
        g = torch.Generator().manual_seed(8)
        tokens = torch.randint(0, self.vocab_size, (2, 3), generator=g)
        target = torch.rand(2, 4, self.vocab_size, generator=g).softmax(-1)
        a = original.accept(arkit.Draft(tokens=tokens), target, torch.Generator().manual_seed(1))
        b = loaded.accept(arkit.Draft(tokens=tokens), target, torch.Generator().manual_seed(1))
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]), "the loaded rule decides differently"


class CacheContract(_Contract):
    """Caches (:class:`arkit.protocols.Cache`), checked by a hypothesis state machine.

    The machine applies random ``allocate`` (a new geometry: layers, heads, head
    size, batch size, ``max_len`` up to ``max_len``), ``update`` (``T`` new
    positions of random keys and values for every layer, never beyond
    ``max_len``), ``crop(n)`` and ``reorder(indices)`` (row selection,
    permutation and duplication) calls, and compares the cache with a reference:
    the keys and values written to each layer, as plain tensors.

    Caches that evict (a sliding window) say so through the protocol's optional
    ``offset``: the cache holds the written positions ``[offset, offset +
    seq_len)``. Checked after every step:

    - ``seq_len`` equals the positions written, minus those cropped, minus
      ``offset``; ``offset`` is 0 after ``allocate``, grows only on ``update``
      and never past what was written;
    - ``update`` returns exactly the reference's keys and values from the
      ``offset`` before the call to the newest position;
    - ``crop(n)`` keeps the first ``n`` stored positions and ``reorder`` picks
      rows (both checked by the next ``update``'s return value);
    - ``memory_bytes()`` is an int, at least the bytes of the stored keys and
      values (and >= 0 when empty).

    A failure prints the shortest sequence of calls that breaks the cache.
    """

    kind = "cache"
    max_len: ClassVar[int] = 16

    def assert_equivalent(self, original: Any, loaded: Any) -> None:
        super().assert_equivalent(original, loaded)
        spec = arkit.CacheSpec(num_layers=2, num_kv_heads=2, head_dim=4)
        g = torch.Generator().manual_seed(8)
        for cache in (original, loaded):
            cache.allocate(spec, batch_size=2, max_len=8, dtype=torch.float32, device="cpu")
        for _ in range(2):
            for layer in range(spec.num_layers):
                key, value = torch.randn(2, 2, 3, 4, generator=g), torch.randn(2, 2, 3, 4, generator=g)
                a, b = original.update(layer, key, value), loaded.update(layer, key, value)
                assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]), "the loaded cache stores differently"
        assert loaded.seq_len == original.seq_len

    def test_behaves_like_a_list_of_tensors(self) -> None:
        run_state_machine_as_test(
            _cache_machine(self),
            settings=self._settings(stateful_step_count=25),
        )


_GEOMETRY = st.fixed_dictionaries(
    {"layers": st.integers(1, 3), "heads": st.integers(1, 2), "head_dim": st.integers(1, 4), "batch": st.integers(1, 3)}
)


def _cache_machine(contract: CacheContract) -> type[RuleBasedStateMachine]:
    """The state machine class that runs ``contract.make()``'s cache against a reference."""

    # mostly roomy caches (hypothesis favours small integers), sometimes tight ones
    max_lens = st.integers(0, contract.max_len - 1).map(lambda spare: contract.max_len - spare)

    class CacheMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.cache = contract.make()
            self.keys: list[torch.Tensor] = []  # per layer: every position written and not cropped [B, H, N, Dh]
            self.values: list[torch.Tensor] = []
            self.max_len = 0

        # -- the reference ---------------------------------------------------------
        def _written(self) -> int:
            return self.keys[0].shape[2]

        def _offset(self) -> int:
            offset = getattr(self.cache, "offset", 0)
            assert isinstance(offset, int) and 0 <= offset <= self._written(), (
                f"offset {offset!r} must be an int in [0, {self._written()}] (positions written)"
            )
            return offset

        def _batch(self) -> int:
            return self.keys[0].shape[0]

        # -- rules -----------------------------------------------------------------
        @initialize(geometry=_GEOMETRY, max_len=max_lens)
        def allocate_first(self, geometry: dict[str, int], max_len: int) -> None:
            self.allocate(geometry, max_len)

        @precondition(lambda self: self.keys and self._written() > 0)  # allocate must empty the cache
        @rule(geometry=_GEOMETRY, max_len=max_lens)
        def allocate(self, geometry: dict[str, int], max_len: int) -> None:
            spec = arkit.CacheSpec(num_layers=geometry["layers"], num_kv_heads=geometry["heads"], head_dim=geometry["head_dim"])
            self.cache.allocate(spec, batch_size=geometry["batch"], max_len=max_len, dtype=torch.float32, device="cpu")
            empty = torch.zeros(geometry["batch"], geometry["heads"], 0, geometry["head_dim"])
            self.keys = [empty] * geometry["layers"]
            self.values = [empty] * geometry["layers"]
            self.max_len = max_len
            assert self._offset() == 0, "offset must be 0 after allocate"

        @precondition(lambda self: self.keys and self._written() < self.max_len)
        @rule(seed=st.integers(0, 2**16))
        def decode_step(self, seed: int) -> None:
            self.update(1, seed)

        @precondition(lambda self: self.keys and self._written() < self.max_len)
        @rule(new=st.integers(1, 6), seed=st.integers(0, 2**16))
        def update(self, new: int, seed: int) -> None:
            new = min(new, self.max_len - self._written())
            before = self._offset()
            g = torch.Generator().manual_seed(seed)
            for layer in range(len(self.keys)):
                B, H, _, Dh = self.keys[layer].shape
                key, value = torch.randn(B, H, new, Dh, generator=g), torch.randn(B, H, new, Dh, generator=g)
                got_key, got_value = self.cache.update(layer, key, value)
                self.keys[layer] = torch.cat([self.keys[layer], key], dim=2)
                self.values[layer] = torch.cat([self.values[layer], value], dim=2)
                for name, got, expected in (("keys", got_key, self.keys[layer]), ("values", got_value, self.values[layer])):
                    expected = expected[:, :, before:]
                    assert got.shape == expected.shape, (
                        f"update(layer={layer}) returned {name} of shape {list(got.shape)}, expected {list(expected.shape)}"
                    )
                    assert torch.equal(got, expected), f"update(layer={layer}) returned the wrong {name}"
            assert self._offset() >= before, "offset must not shrink on update"

        @precondition(lambda self: bool(self.keys))
        @rule(data=st.data())
        def crop(self, data: st.DataObject) -> None:
            before = self._offset()
            stored = self._written() - before
            n = stored - data.draw(st.integers(0, stored), label="positions dropped")  # mostly small rollbacks
            self.cache.crop(n)
            self.keys = [k[:, :, : before + n] for k in self.keys]
            self.values = [v[:, :, : before + n] for v in self.values]
            assert self._offset() == before, "crop must keep the first positions (offset changed)"

        @precondition(lambda self: bool(self.keys))
        @rule(data=st.data())
        def reorder(self, data: st.DataObject) -> None:
            B = self._batch()
            indices = data.draw(st.lists(st.integers(0, B - 1), min_size=1, max_size=B + 2), label="indices")
            before = self._offset()
            self.cache.reorder(torch.tensor(indices, dtype=torch.long))
            self.keys = [k[indices] for k in self.keys]
            self.values = [v[indices] for v in self.values]
            assert self._offset() == before, "reorder must not change offset"

        # -- invariants ------------------------------------------------------------
        @invariant()
        def matches_the_reference(self) -> None:
            if not self.keys:
                return
            offset = self._offset()
            expected = self._written() - offset
            assert self.cache.seq_len == expected, f"seq_len is {self.cache.seq_len}, the reference holds {expected}"
            stored = sum(t[:, :, offset:].numel() * t.element_size() for t in (*self.keys, *self.values))
            memory = self.cache.memory_bytes()
            assert isinstance(memory, int), f"memory_bytes() must return an int, got {type(memory).__name__}"
            assert memory >= stored and memory >= 0, f"memory_bytes() = {memory}, but {stored} bytes are stored"

    CacheMachine.__name__ = CacheMachine.__qualname__ = f"{type(contract).__name__}Machine"
    return CacheMachine


class ConstraintContract(_Contract):
    """Constraints (:class:`arkit.protocols.Constraint`), checked by random walks.

    A walk starts at ``start()`` and, for up to ``max_steps`` tokens, picks one of
    the ``allowed`` ids at random (hypothesis draws the seed) and ``advance``\\ s
    to it. Set ``vocab_size`` to the vocabulary the constraint is meant for: ids
    must lie in ``[0, vocab_size)`` (``None`` checks only that they are ``>= 0``,
    and skips the generation check below).

    Checks, besides the shared ones (a registered name, a JSON ``config`` that
    rebuilds it, saving and loading):

    - ``allowed(state)`` is a sequence of int ids in range, or a ``BoolTensor[V]``
      (``V == vocab_size`` when set); ``complete(state)`` is a bool;
    - no dead ends: a state that allows nothing is complete;
    - states are reusable values, as beam search and speculative decoding need:
      ``advance`` does not change the state it is given (what it allows and
      whether it is complete stay the same), advancing twice from one state gives
      equivalent states, and ``start()`` gives an equivalent state each time;
    - inside arkit's decode loop (a tiny random model over ``vocab_size`` ids,
      sampling with a fixed seed), every row's tokens form a walk the constraint
      allows, and a row that finishes for reason ``"constraint"`` is complete;
    - saved and loaded: the same allowed ids and completeness along the same walks.
    """

    kind = "constraint"
    vocab_size: ClassVar[int | None] = None
    max_steps: ClassVar[int] = 32

    def _allowed(self, constraint: Any, state: Any) -> list[int]:
        """``allowed(state)`` as a sorted list of ids, after checking its type and range."""
        allowed = constraint.allowed(state)
        if isinstance(allowed, torch.Tensor):
            assert allowed.dtype == torch.bool and allowed.dim() == 1, (
                f"allowed() returned a {allowed.dtype} tensor of shape {list(allowed.shape)}; a tensor must be a "
                f"1-D BoolTensor mask over the vocabulary")
            if self.vocab_size is not None:
                assert allowed.numel() == self.vocab_size, (
                    f"allowed() returned a mask over {allowed.numel()} ids, not vocab_size ({self.vocab_size})")
            return allowed.nonzero().flatten().tolist()
        ids = list(allowed)
        for token in ids:
            assert isinstance(token, int) and not isinstance(token, bool), (
                f"allowed() must return ints or a BoolTensor, got {token!r} ({type(token).__name__})")
            assert token >= 0, f"allowed() returned a negative id {token}"
            if self.vocab_size is not None:
                assert token < self.vocab_size, f"allowed() returned id {token}, outside [0, {self.vocab_size})"
        return sorted(set(ids))

    def _view(self, constraint: Any, state: Any) -> tuple[list[int], bool]:
        """What the loop can observe of a state: its allowed ids and whether it is complete."""
        complete = constraint.complete(state)
        assert isinstance(complete, bool), f"complete() must return a bool, got {complete!r}"
        return self._allowed(constraint, state), complete

    def _walk(self, constraint: Any, seed: int) -> list[int]:
        """A random walk under ``constraint``, checking every state on the way; returns its tokens."""
        import random

        rng = random.Random(seed)
        state = constraint.start()
        assert self._view(constraint, constraint.start()) == self._view(constraint, state), (
            "start() gave states that behave differently")
        tokens: list[int] = []
        for _ in range(self.max_steps):
            allowed, complete = self._view(constraint, state)
            if not allowed:
                assert complete, f"dead end after {tokens}: nothing is allowed, and the state is not complete"
                break
            token = rng.choice(allowed)
            before = self._view(constraint, state)
            following = constraint.advance(state, token)
            assert self._view(constraint, state) == before, (
                f"advance(state, {token}) changed the state it was given (after {tokens}): states must be values "
                f"that beam search and speculative decoding can keep and reuse")
            again = constraint.advance(state, token)
            assert self._view(constraint, again) == self._view(constraint, following), (
                f"advancing twice by {token} from one state (after {tokens}) gave states that behave differently")
            tokens.append(token)
            state = following
        return tokens

    def test_random_walks_are_well_formed(self) -> None:
        constraint = self.make()

        @self._property(seed=st.integers(0, 2**32 - 1))
        def walks(seed: int) -> None:
            self._walk(constraint, seed)

        walks()

    def test_generation_obeys_the_constraint(self) -> None:
        if self.vocab_size is None:
            pytest.skip("set `vocab_size` to run the constraint inside the decode loop")
        from arkit.tokenizers.ids import IdTokenizer

        constraint = self.make()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            V = self.vocab_size
            pipe = arkit.Pipeline(
                tokenizer=IdTokenizer(V),
                backbone=arkit.create("backbone", "core/transformer", vocab_size=V, d_model=32, n_layers=1,
                                      n_heads=2, max_seq_len=self.max_steps + 8),
                head=arkit.create("head", "core/categorical", d_model=32, vocab_size=V),
                sampler=arkit.create("sampler", "core/multinomial"),
                constraint=constraint,
            )
        out = pipe.generate(prompt_ids=[[0], [0, 0], [0]], max_new_tokens=self.max_steps, seed=0, eos_token_ids=())
        for row, (tokens, reason) in enumerate(zip(out.sequences, out.finish_reasons)):
            state = constraint.start()
            for i, token in enumerate(tokens):
                allowed = self._allowed(constraint, state)
                assert token in allowed, f"row {row} generated {token} at position {i}, which the constraint forbids"
                state = constraint.advance(state, token)
            if reason == "constraint":
                assert constraint.complete(state), f"row {row} finished for the constraint in an incomplete state"

    def assert_equivalent(self, original: Any, loaded: Any) -> None:
        super().assert_equivalent(original, loaded)
        for seed in range(8):
            tokens = self._walk(original, seed)
            a, b = original.start(), loaded.start()
            for i, token in enumerate(tokens):
                assert self._view(loaded, b) == self._view(original, a), (
                    f"the loaded constraint differs after {tokens[:i]}")
                a, b = original.advance(a, token), loaded.advance(b, token)
            assert self._view(loaded, b) == self._view(original, a), f"the loaded constraint differs after {tokens}"
