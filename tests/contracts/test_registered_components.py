"""The registry is the test matrix: every registered component runs its kind's contract.

New registrations are covered automatically. Components whose default config is
too big for a quick test get a small one here; tokenizers' items come from the
``examples`` they registered.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
import pytest

import arkit
from arkit.testing import (
    BackboneContract,
    CacheContract,
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
    "cache": CacheContract,
}
SMALL_CONFIGS: dict[str, dict[str, Any]] = {
    "core/transformer": {"vocab_size": 64, "d_model": 32, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "max_seq_len": 64},
    "core/categorical": {"d_model": 32, "vocab_size": 64},
    "core/chain": {"steps": [{"name": "core/top-k", "config": {"k": 5}}, {"name": "core/temperature"}]},
    "core/sliding": {"window": 6},
    "hf/causal-lm": {"config": {"model_type": "llama", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 64,
                                "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                                "max_position_embeddings": 64}},
}
NEEDS_ARGUMENTS = {"hf/tokenizer"}  # no useful default: covered by its plugin's own tests


def _contract_for(info: arkit.ComponentInfo) -> type:
    attributes: dict[str, Any] = {"component": info.name, "config": SMALL_CONFIGS.get(info.name, {})}
    if info.kind == "tokenizer" and info.examples:
        attributes["items"] = st.sampled_from(info.examples)
    return type(f"Test_{info.kind}_{info.name.replace('/', '_')}", (CONTRACTS[info.kind],), attributes)


COMPONENTS = [c for c in arkit.list_components() if c.name not in NEEDS_ARGUMENTS]
TESTS = [
    (info, name)
    for info in COMPONENTS
    for name in sorted(n for n in dir(CONTRACTS[info.kind]) if n.startswith("test_"))
]


@pytest.mark.parametrize(("info", "test"), TESTS, ids=[f"{i.kind}:{i.name}::{t}" for i, t in TESTS])
def test_contract(info: arkit.ComponentInfo, test: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    contract = _contract_for(info)()
    method = getattr(contract, test)
    if "tmp_path" in method.__code__.co_varnames[: method.__code__.co_argcount]:
        method(tmp_path_factory.mktemp("contract"))
    else:
        method()


def test_every_lossless_tokenizer_registered_examples() -> None:
    for info in arkit.list_components("tokenizer"):
        if info.name in NEEDS_ARGUMENTS:
            continue
        if arkit.create("tokenizer", info.name).lossless:
            assert info.examples, f"{info.name} is lossless but registered no examples to round-trip"
