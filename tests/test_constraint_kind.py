"""Constraints are components: registered by plugins, listed, built by name, held and saved by pipelines.

Also the contract kit's ``ConstraintContract``: a plugin constraint passes it, and
constraints with one bug each fail the check for that bug.
"""

from __future__ import annotations

from collections.abc import Iterator
import inspect
import json
from pathlib import Path
from typing import Any

import pytest
import torch

import arkit
from arkit import hookspecs
from arkit.testing import ConstraintContract, register_plugin
from tests.helpers import tiny_pipeline

EOS = 257  # the byte tokenizer's eos id


class Balanced:
    """Brackets ``(`` and ``)`` (bytes 40 and 41) and ``x`` (120), nested at most ``depth`` deep.

    The state is the open depth (an int): a plugin's own constraint, not a table.
    """

    OPEN, CLOSE, LETTER = 40, 41, 120

    def __init__(self, depth: int = 2, eos_token_id: int | None = None) -> None:
        if depth < 1:
            raise arkit.ConfigError(f"depth must be >= 1, got {depth}")
        self.depth = depth
        self.eos_token_id = eos_token_id

    @property
    def config(self) -> dict[str, Any]:
        return {"depth": self.depth, "eos_token_id": self.eos_token_id}

    def start(self) -> int:
        return 0

    def allowed(self, state: int) -> list[int]:
        ids = [self.LETTER]
        if state < self.depth:
            ids.append(self.OPEN)
        if state > 0:
            ids.append(self.CLOSE)
        elif self.eos_token_id is not None:
            ids.append(self.eos_token_id)
        return ids

    def advance(self, state: int, token: int) -> int:
        return state + (token == self.OPEN) - (token == self.CLOSE)

    def complete(self, state: int) -> bool:
        return state == 0


class _Plugin:
    @arkit.hookimpl
    def arkit_register_constraints(self, register: Any) -> None:
        register("brackets/balanced", Balanced)


@pytest.fixture(scope="module", autouse=True)
def brackets_plugin() -> Iterator[None]:
    with register_plugin(_Plugin(), "brackets"):
        yield


class TestBalanced(ConstraintContract):
    """A plugin author's constraint runs the whole contract."""

    component = "brackets/balanced"
    config = {"depth": 2, "eos_token_id": EOS}
    vocab_size = 259


# -- the registry ----------------------------------------------------------------------


def test_core_constraints_are_registered_and_built_by_name() -> None:
    names = {info.name for info in arkit.list_components("constraint")}
    assert {"core/trie", "core/state-machine", "brackets/balanced"} <= names
    trie = arkit.create("constraint", "core/trie", sequences=[[1, 2], [3]], eos_token_id=9)
    assert isinstance(trie, arkit.TrieConstraint) and isinstance(trie, arkit.Constraint)
    assert arkit.get_component("constraint", "balanced").plugin == "brackets"
    with pytest.raises(arkit.ConfigError, match="It accepts: sequences, eos_token_id"):
        arkit.create("constraint", "core/trie", words=[[1]])


def test_every_hook_spec_is_public() -> None:
    specs = {name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("arkit_")}
    assert specs <= set(hookspecs.__all__)
    assert {"arkit_register_acceptances", "arkit_register_constraints"} <= specs


def test_a_constraint_class_lacking_a_method_is_refused_at_registration() -> None:
    class NoComplete:
        def start(self) -> int: return 0
        def allowed(self, state: int) -> list[int]: return [1]
        def advance(self, state: int, token: int) -> int: return 0

    class Plugin:
        @arkit.hookimpl
        def arkit_register_constraints(self, register: Any) -> None:
            register("half/rule", NoComplete)

    with pytest.raises(arkit.PluginLoadError, match="lacks method.*complete"):
        with register_plugin(Plugin(), "half"):
            pass


def test_presets_may_name_a_constraint() -> None:
    class Preset:
        @arkit.hookimpl
        def arkit_register_pipeline_presets(self, register: Any) -> None:
            register("shaped/tiny", {
                "tokenizer": ("core/byte", {}),
                "backbone": ("core/transformer", {"vocab_size": 259, "d_model": 32, "n_layers": 1, "n_heads": 2,
                                                  "max_seq_len": 64}),
                "head": ("core/categorical", {"d_model": 32, "vocab_size": 259}),
                "constraint": ("brackets/balanced", {"depth": 1}),
            })

    with register_plugin(Preset(), "shaped"):
        pipe = arkit.Pipeline.from_preset("shaped/tiny")
    assert isinstance(pipe.constraint, Balanced) and pipe.constraint.depth == 1


# -- the pipeline's constraint -----------------------------------------------------------


def _obeys(rule: Any, tokens: tuple[int, ...]) -> bool:
    state = rule.start()
    for token in tokens:
        if token not in rule.allowed(state):
            return False
        state = rule.advance(state, token)
    return True


@pytest.fixture()
def shaped() -> arkit.Pipeline:
    rule = arkit.create("constraint", "brackets/balanced", depth=2, eos_token_id=EOS)
    return tiny_pipeline("core/multinomial").replace(constraint=rule)


def test_generate_and_stream_use_the_pipeline_constraint(shaped: arkit.Pipeline) -> None:
    out = shaped.generate(["a", "b", "c"], max_new_tokens=24, seed=1)
    assert all(_obeys(shaped.constraint, row) for row in out.sequences)
    events = list(shaped.stream(["a", "b"], max_new_tokens=24, seed=1))
    for row in (0, 1):
        assert _obeys(shaped.constraint, tuple(e.token_id for e in events if e.row == row))
    beams = shaped.generate(["a"], max_new_tokens=8, num_beams=3)
    assert _obeys(shaped.constraint, beams.sequences[0])


def test_a_constraint_given_to_a_call_replaces_the_pipeline_constraint(shaped: arkit.Pipeline) -> None:
    only_ab = arkit.create("constraint", "core/trie", sequences=[[97, 98, 97, 98]], eos_token_id=EOS)
    out = shaped.generate(["a"], max_new_tokens=10, seed=0, constraint=only_ab)
    assert out.sequences[0][:4] == (97, 98, 97, 98)
    assert not _obeys(shaped.constraint, out.sequences[0])  # 'a' and 'b' are not brackets
    free = shaped.replace(constraint=None)
    assert free.constraint is None and "constraint" not in free.components


def test_the_constraint_is_saved_with_its_config_and_used_after_loading(shaped: arkit.Pipeline,
                                                                        tmp_path: Path) -> None:
    folder = shaped.save_pretrained(tmp_path / "pipe")
    entry = json.loads((folder / "pipeline.json").read_text())["components"]["constraint"]
    assert entry["name"] == "brackets/balanced" and entry["plugin"] == "brackets"
    assert entry["config"] == {"depth": 2, "eos_token_id": EOS} and entry["weights"] is None
    assert json.loads((folder / "constraint" / "config.json").read_text())["config"] == entry["config"]
    loaded = arkit.Pipeline.from_pretrained(folder)
    assert isinstance(loaded.constraint, Balanced) and loaded.constraint.config == shaped.constraint.config
    before = shaped.generate(["(", "x"], max_new_tokens=16, seed=3)
    after = loaded.generate(["(", "x"], max_new_tokens=16, seed=3)
    assert after.sequences == before.sequences


@pytest.mark.parametrize("name", ["core/trie", "core/state-machine"])
def test_core_constraints_survive_a_pipeline_round_trip(name: str, tmp_path: Path) -> None:
    config = ({"sequences": [[104, 105], [104, 97, 116]], "eos_token_id": EOS} if name == "core/trie" else
              {"transitions": {"s": {104: "t"}, "t": {105: "s"}}, "start": "s", "accept": ["s"], "eos_token_id": EOS})
    pipe = tiny_pipeline().replace(constraint=arkit.create("constraint", name, **config))
    loaded = arkit.Pipeline.from_pretrained(pipe.save_pretrained(tmp_path / "p"))
    assert loaded.constraint.config == pipe.constraint.config
    assert loaded.generate(["x"], max_new_tokens=6).sequences == pipe.generate(["x"], max_new_tokens=6).sequences


def test_a_constraint_that_cannot_be_saved_says_how_to_use_it(tmp_path: Path) -> None:
    class Adhoc:  # satisfies the protocol, but is not registered and has no config
        def start(self) -> int: return 0
        def allowed(self, state: int) -> list[int]: return [104]
        def advance(self, state: int, token: int) -> int: return 0
        def complete(self, state: int) -> bool: return True

    pipe = tiny_pipeline().replace(constraint=Adhoc())
    assert set(pipe.generate(["x"], max_new_tokens=3).sequences[0]) == {104}
    with pytest.raises(arkit.ConfigError, match=r"not a registered component.*generate\(\.\.\., constraint="):
        pipe.save_pretrained(tmp_path / "a")
    assert not (tmp_path / "a").exists()

    class Unconfigured(Balanced):
        config = None  # type: ignore[assignment]

    class Plugin:
        @arkit.hookimpl
        def arkit_register_constraints(self, register: Any) -> None:
            register("loose/unconfigured", Unconfigured)

    with register_plugin(Plugin(), "loose"):
        pipe = tiny_pipeline().replace(constraint=arkit.create("constraint", "loose/unconfigured"))
        with pytest.raises(arkit.ConfigError, match="has no `config` mapping"):
            pipe.save_pretrained(tmp_path / "b")
    tuples = arkit.StateMachineConstraint({0: {1: 1.5}, 1.5: {2: 0}}, start=0, accept=[0])
    with pytest.raises(arkit.ConfigError, match="strings, ints or tuples"):
        tiny_pipeline().replace(constraint=tuples).save_pretrained(tmp_path / "c")


def test_an_older_pipeline_without_a_constraint_still_loads(tmp_path: Path) -> None:
    folder = tiny_pipeline().save_pretrained(tmp_path / "p")
    assert "constraint" not in json.loads((folder / "pipeline.json").read_text())["components"]
    assert arkit.Pipeline.from_pretrained(folder).constraint is None


def test_a_saved_constraint_from_a_missing_plugin_names_it(shaped: arkit.Pipeline, tmp_path: Path) -> None:
    folder = shaped.save_pretrained(tmp_path / "p")
    manifest = json.loads((folder / "pipeline.json").read_text())
    manifest["components"]["constraint"]["name"] = "gone/rule"
    manifest["components"]["constraint"]["distribution"] = "arkit-gone"
    (folder / "pipeline.json").write_text(json.dumps(manifest))
    with pytest.raises(arkit.MissingPluginError, match="arkit-gone"):
        arkit.Pipeline.from_pretrained(folder)


# -- the core constraints' configs -----------------------------------------------------------


def test_state_machine_config_is_json_for_int_str_and_tuple_states() -> None:
    fsm = arkit.StateMachineConstraint({(0, "a"): {5: (1, "b")}, (1, "b"): {}}, start=(0, "a"), accept=[(1, "b")],
                                       eos_token_id=9)
    config = json.loads(json.dumps(fsm.config))
    again = arkit.create("constraint", "core/state-machine", **config)
    assert again.config == config and again.transitions == fsm.transitions and again.accept == fsm.accept
    assert again.allowed((1, "b")) == [9]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"transitions": {0: {"a": 1}}, "start": 0, "accept": [1]}, "not a token id"),
        ({"transitions": [[0]], "start": 0}, "is not a pair"),
        ({"transitions": {0: {1: 0}}, "start": 0, "eos_token_id": -1}, "eos_token_id"),
        ({"transitions": {0: {1: 0}}, "start": 0, "accept": "0"}, "collection of states"),
    ],
)
def test_state_machine_refuses_bad_tables(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(arkit.ConfigError, match=message):
        arkit.StateMachineConstraint(**kwargs)


def test_trie_config_lists_each_sequence_once_and_rebuilds_it() -> None:
    trie = arkit.TrieConstraint([[1, 2], [3], [1, 4], [1, 2]], eos_token_id=9)
    assert trie.config == {"sequences": [[1, 2], [1, 4], [3]], "eos_token_id": 9}
    assert trie.num_sequences == 3
    assert arkit.TrieConstraint(**trie.config).config == trie.config
    with pytest.raises(arkit.ConfigError, match="list of token ids"):
        arkit.TrieConstraint([[1, "x"]])
    with pytest.raises(arkit.ConfigError, match="token-id lists"):
        arkit.TrieConstraint("abc")


# -- the contract catches broken constraints ------------------------------------------------


class _DeadEnd(Balanced):
    """Allows a letter it has no way past: after ``x`` nothing is allowed, incomplete."""

    def allowed(self, state: int) -> list[int]:
        return [] if state < 0 else [self.OPEN, self.LETTER]

    def advance(self, state: int, token: int) -> int:
        return -1 if token == self.LETTER else state + 1


class _MutatedState(Balanced):
    """Keeps the state in a list and appends to it: beams sharing a state would corrupt each other."""

    def start(self) -> list[int]:  # type: ignore[override]
        return []

    def allowed(self, state: list[int]) -> list[int]:  # type: ignore[override]
        return [self.LETTER] if len(state) % 2 else [self.OPEN]

    def advance(self, state: list[int], token: int) -> list[int]:  # type: ignore[override]
        state.append(token)
        return state

    def complete(self, state: list[int]) -> bool:  # type: ignore[override]
        return True


class _OutOfRange(Balanced):
    def allowed(self, state: int) -> list[int]:
        return [*super().allowed(state), 259]


def _contract(cls: type) -> ConstraintContract:
    contract = type(f"_{cls.__name__}Contract", (ConstraintContract,), {
        "make": lambda self: cls(depth=2, eos_token_id=EOS), "vocab_size": 259, "max_examples": 30,
    })
    return contract()


@pytest.mark.parametrize(
    ("broken", "message"),
    [(_DeadEnd, "dead end"), (_MutatedState, "changed the state it was given"), (_OutOfRange, r"outside \[0, 259\)")],
)
def test_the_contract_fails_a_constraint_with_one_bug(broken: type, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        _contract(broken).test_random_walks_are_well_formed()


def test_the_contract_checks_generation_inside_the_loop() -> None:
    with pytest.raises((AssertionError, arkit.ConstraintError)):
        _contract(_DeadEnd).test_generation_obeys_the_constraint()
    _contract(Balanced).test_generation_obeys_the_constraint()


def test_the_contract_compares_a_loaded_constraint_by_behaviour() -> None:
    forgetful = Balanced(depth=2)  # the same config, but it no longer allows brackets
    forgetful.allowed = lambda state: [Balanced.LETTER]  # type: ignore[method-assign]
    with pytest.raises(AssertionError, match="loaded constraint differs"):
        _contract(Balanced).assert_equivalent(Balanced(depth=2), forgetful)
    _contract(Balanced).assert_equivalent(Balanced(depth=2), Balanced(depth=2))


def test_constraint_states_are_hashable_in_the_core_constraints() -> None:
    trie = arkit.TrieConstraint([[1, 2]])
    fsm = arkit.StateMachineConstraint({0: {1: 0}}, start=0, accept=[0])
    assert hash(trie.advance(trie.start(), 1)) is not None and hash(fsm.advance(fsm.start(), 1)) is not None
    torch.manual_seed(0)  # keep the global RNG state tests leave behind predictable


@pytest.mark.slow  # one ONNX trace, about 30 s on 2 shared cores
def test_an_exported_pipeline_keeps_its_constraint(shaped: arkit.Pipeline, tmp_path: Path) -> None:
    from arkit.onnx import OrtPipeline, export

    export(shaped, tmp_path / "onnx", decode_graph=False, validate=False)
    assert "constraint" in json.loads((tmp_path / "onnx" / "onnx.json").read_text())["components"]
    ort = OrtPipeline.from_pretrained(tmp_path / "onnx")
    assert isinstance(ort.constraint, Balanced) and ort.constraint.config == shaped.constraint.config
    out = ort.generate(["(", "x"], max_new_tokens=12, seed=2)
    assert all(_obeys(ort.constraint, row) for row in out.sequences)
