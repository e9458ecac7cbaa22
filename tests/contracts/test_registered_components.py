"""The registry is the test matrix: every registered component runs its kind's contract.

For each entry of ``arkit.list_components()`` (built-ins and every installed
plugin) this module defines a ``Test<Kind>_<name>`` subclass of the matching
:mod:`arkit.testing` contract, so pytest collects the full contract for it: a new
registration is covered without touching this file. The only hand-written data is
``OVERRIDES``: contract attributes (mostly small configs) for components whose
defaults are too big for a quick test or that need arguments, keyed by name, or by
``(kind, name)`` where two kinds share a name. Tokenizers' items
come from the ``examples`` they registered; a lossless tokenizer that registered
none fails its round trip, saying so.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import strategies as st

import arkit
from arkit.testing import (
    AcceptanceContract,
    BackboneContract,
    CacheContract,
    ConstraintContract,
    DrafterContract,
    HeadContract,
    SamplerContract,
    TokenizerContract,
)

CONTRACTS: dict[str, type] = {
    "tokenizer": TokenizerContract,
    "backbone": BackboneContract,
    "head": HeadContract,
    "sampler": SamplerContract,
    "drafter": DrafterContract,
    "acceptance": AcceptanceContract,
    "cache": CacheContract,
    "constraint": ConstraintContract,
}

_TINY_WORDLEVEL = {
    "version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
    "pre_tokenizer": {"type": "Whitespace"}, "post_processor": None, "decoder": None,
    "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "a": 1, "b": 2, "c": 3}, "unk_token": "[UNK]"},
}

_TINY_DRAFT_BACKBONE = {"name": "core/transformer", "config": {"vocab_size": 40, "d_model": 16, "n_layers": 1,
                                                               "n_heads": 2, "max_seq_len": 64}}
_TINY_DRAFT_HEAD = {"name": "core/categorical", "config": {"d_model": 16, "vocab_size": 40}}

#: Contract class attributes per component name (applied when that component is registered).
def _same_config_and_encodings(self: Any, original: Any, loaded: Any) -> None:
    """Save/load equivalence for a tokenizer whose decode is not a function of the ids alone: libcodec2
    draws the phases of unvoiced frames from a process-wide random generator, so two decodes of the same
    codec ids differ in their samples. Compared instead: config, vocabulary, special ids, encodings."""
    assert loaded.config == original.config and loaded.vocab_size == original.vocab_size
    assert dict(loaded.special_tokens) == dict(original.special_tokens)
    for item in arkit.get_component("tokenizer", self.component).examples:
        assert loaded.encode(item) == original.encode(item)


OVERRIDES: dict[str | tuple[str, str], dict[str, Any]] = {
    "core/transformer": {"config": {"vocab_size": 64, "d_model": 64, "n_layers": 2, "n_heads": 4,
                                    "n_kv_heads": 2, "max_seq_len": 64}},
    "core/categorical": {"config": {"d_model": 64, "vocab_size": 64}},
    "core/chain": {"config": {"steps": [{"name": "core/repetition-penalty", "config": {"penalty": 1.3}},
                                        {"name": "core/top-k", "config": {"k": 5}},
                                        {"name": "core/temperature", "config": {"temperature": 0.7}}]}},
    "core/bad-tokens": {"config": {"sequences": [[1], [0, 0]]}},
    "core/logit-bias": {"config": {"bias": {"0": 2.5, "1": -1.5}}},
    "core/sliding": {"config": {"window": 5}},
    "core/prompt-lookup": {"vocab_size": 40},  # vocabulary-free: copies ids from the context
    "core/medusa": {"config": {"d_model": 16, "vocab_size": 40, "num_heads": 3}},
    "core/jacobi": {"vocab_size": 40},  # vocabulary-free: drafts the target's own predictions
    "core/token-recycling": {"config": {"vocab_size": 40, "m": 4}},
    "core/lantern": {"config": {"neighbours": [[1, 2], [0], [3, 0, 1], [2], [5, 6], [4], [4, 5]], "delta": 0.2}},
    "core/draft-model": {"config": {"backbone": _TINY_DRAFT_BACKBONE, "head": _TINY_DRAFT_HEAD}},
    "core/hierarchical": {"config": {"drafter": {"name": "core/draft-model", "config": {
        "backbone": _TINY_DRAFT_BACKBONE, "head": _TINY_DRAFT_HEAD}}}},
    "core/trie": {"vocab_size": 8, "config": {"sequences": [[1, 2, 3], [1, 2], [4], [5, 1, 1, 6]], "eos_token_id": 7}},
    "core/state-machine": {"vocab_size": 8, "config": {  # 1 opens, 3 closes (at most two deep), 2 is a letter
        "transitions": [[0, [[1, 1], [2, 0]]], [1, [[1, 2], [2, 1], [3, 0]]], [2, [[2, 2], [3, 1]]]],
        "start": 0, "accept": [0], "eos_token_id": 7}},
    # installed plugins from this repository
    "hf/causal-lm": {"config": {"config": {"model_type": "llama", "vocab_size": 64, "hidden_size": 32,
                                           "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                                           "num_key_value_heads": 2, "max_position_embeddings": 64}}},
    "hf/tokenizer": {"config": {"tokenizer_json": _TINY_WORDLEVEL, "special_tokens": {"pad": 0}}},
    "speech/codec2": {"assert_equivalent": _same_config_and_encodings},
    "speech/tts": {"assert_equivalent": _same_config_and_encodings},
    "retrieval/id-trie": {"vocab_size": 8, "config": {"sequences": [[1, 2, 3], [1, 2], [4], [5, 1, 1, 6]],
                                                      "eos_token_id": 7, "vocab_size": 8}},
    "retrieval/substring": {"vocab_size": 8, "config": {"documents": [[1, 2, 3, 1, 2, 4], [2, 3, 5, 6]],
                                                        "eos_token_id": 7, "max_length": 4, "vocab_size": 8}},
    ("constraint", "molecules/smiles"): {"vocab_size": 14, "config": {  # the tokenizer of that name: its examples
        "alphabet": ["C", "N", "O", "F", "1", "2", "3", "=", "#", "(", ")"], "max_tokens": 32, "max_ring_size": 6}},
    ("constraint", "molecules/selfies"): {"vocab_size": 13, "config": {"max_ring_size": 5, "alphabet": [
        "[C]", "[=C]", "[N]", "[O]", "[F]", "[Branch1]", "[=Branch1]", "[Ring1]", "[=Ring1]", "[Ring2]"]}},
    "retrieval/datastore": {"vocab_size": 40, "config": {"documents": [[1, 2, 3, 4, 5, 6], [3, 4, 7, 8, 9]],
                                                         "max_ngram": 3, "min_ngram": 1}},
}


def _class_name(info: arkit.ComponentInfo) -> str:
    return f"Test{info.kind.capitalize()}_" + re.sub(r"\W", "_", info.name)


def _contract_class(info: arkit.ComponentInfo) -> type:
    """The contract subclass that runs ``info``'s kind contract over the registered component."""
    attributes: dict[str, Any] = {
        "__module__": __name__,
        "__qualname__": _class_name(info),
        "__doc__": f"The {info.kind} contract over {info.name!r} (plugin {info.plugin!r}).",
        "component": info.name,
    }
    if info.kind == "tokenizer" and info.examples:
        attributes["items"] = st.sampled_from(info.examples)
    attributes.update(OVERRIDES.get((info.kind, info.name), OVERRIDES.get(info.name, {})))
    return type(_class_name(info), (CONTRACTS[info.kind],), attributes)


COMPONENTS = arkit.list_components()
for _info in COMPONENTS:
    _cls = _contract_class(_info)
    if _cls.__name__ in globals():
        raise RuntimeError(f"two components map to the test class {_cls.__name__}; rename the class scheme")
    globals()[_cls.__name__] = _cls
del _info, _cls


def test_every_registered_component_has_its_contract() -> None:
    generated = {
        (cls.kind, cls.component)
        for cls in globals().values()
        if isinstance(cls, type) and cls.__name__.startswith("Test") and hasattr(cls, "kind")
    }
    assert generated == {(info.kind, info.name) for info in arkit.list_components()}


def test_overrides_name_only_known_contract_attributes() -> None:
    # a misspelt attribute would be silently ignored by the contract
    for name, attributes in OVERRIDES.items():
        unknown = [a for a in attributes if not any(hasattr(c, a) for c in CONTRACTS.values())]
        assert not unknown, f"OVERRIDES[{name!r}] sets unknown contract attributes {unknown}"
