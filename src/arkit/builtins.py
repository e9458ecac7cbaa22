"""arkit's own components, registered through the same hooks as any third-party plugin.

Each hook imports its components when it runs, so loading this plugin (which
``arkit --help`` does) imports neither torch nor the components.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .hookspecs import hookimpl
from .types import ExtraInput

if TYPE_CHECKING:
    from .backbones.transformer import TransformerBackbone


@hookimpl
def arkit_register_tokenizers(register: Any) -> None:
    from .tokenizers.byte import ByteTokenizer
    from .tokenizers.vectors import VectorTokenizer

    register("core/byte", ByteTokenizer, examples=("hello, world", "", "naïve — ünïcödé ✓", "\x00\n\t"))
    register("core/vectors", VectorTokenizer, examples=([[0.5], [-1.25], [3.0]], [[2.0]]))


@hookimpl
def arkit_register_backbones(register: Any) -> None:
    from .backbones.transformer import TransformerBackbone

    register("core/transformer", TransformerBackbone)


@hookimpl
def arkit_register_export_specs(register: Any) -> None:
    register("core/transformer", _transformer_inputs)


def _transformer_inputs(backbone: TransformerBackbone) -> tuple[ExtraInput, ...]:
    if backbone.cond_dim is None:
        return ()
    return (ExtraInput(name="conditioning", shape=("batch", backbone.cond_dim)),)


@hookimpl
def arkit_register_heads(register: Any) -> None:
    from .heads.categorical import CategoricalHead
    from .heads.gaussian_mixture import GaussianMixtureHead

    register("core/categorical", CategoricalHead)
    register("core/gaussian-mixture", GaussianMixtureHead)


@hookimpl
def arkit_register_samplers(register: Any) -> None:
    from .samplers.bad_tokens import BadTokens
    from .samplers.chain import SamplerChain
    from .samplers.greedy import GreedySampler
    from .samplers.logit_bias import LogitBias
    from .samplers.min_p import MinP
    from .samplers.multinomial import MultinomialSampler
    from .samplers.no_repeat_ngram import NoRepeatNgram
    from .samplers.repetition_penalty import RepetitionPenalty
    from .samplers.temperature import Temperature
    from .samplers.top_k import TopK
    from .samplers.top_p import TopP
    from .samplers.typical import Typical

    register("core/greedy", GreedySampler)
    register("core/multinomial", MultinomialSampler)
    register("core/chain", SamplerChain)
    register("core/temperature", Temperature)
    register("core/top-k", TopK)
    register("core/top-p", TopP)
    register("core/min-p", MinP)
    register("core/typical", Typical)
    register("core/repetition-penalty", RepetitionPenalty)
    register("core/no-repeat-ngram", NoRepeatNgram)
    register("core/logit-bias", LogitBias)
    register("core/bad-tokens", BadTokens)


@hookimpl
def arkit_register_drafters(register: Any) -> None:
    from .drafters.draft_model import DraftModel
    from .drafters.hierarchical import HierarchicalDrafter
    from .drafters.jacobi import JacobiDrafter
    from .drafters.medusa import MedusaHeads
    from .drafters.prompt_lookup import PromptLookup
    from .drafters.token_recycling import TokenRecycling

    register("core/prompt-lookup", PromptLookup)
    register("core/medusa", MedusaHeads)
    register("core/jacobi", JacobiDrafter)
    register("core/token-recycling", TokenRecycling)
    register("core/draft-model", DraftModel)
    register("core/hierarchical", HierarchicalDrafter)


@hookimpl
def arkit_register_acceptances(register: Any) -> None:
    from .acceptance.exact import ExactAcceptance
    from .acceptance.greedy_match import GreedyMatch
    from .acceptance.lantern import LanternAcceptance
    from .acceptance.typical import TypicalAcceptance

    register("core/exact", ExactAcceptance)
    register("core/greedy-match", GreedyMatch)
    register("core/typical-acceptance", TypicalAcceptance)
    register("core/lantern", LanternAcceptance)


@hookimpl
def arkit_register_caches(register: Any) -> None:
    from .cache.dynamic import DynamicCache
    from .cache.sliding import SlidingWindowCache
    from .cache.static import StaticCache

    register("core/dynamic", DynamicCache)
    register("core/static", StaticCache)
    register("core/sliding", SlidingWindowCache)


@hookimpl
def arkit_register_constraints(register: Any) -> None:
    from .constraints.state_machine import StateMachineConstraint
    from .constraints.trie import TrieConstraint

    register("core/trie", TrieConstraint)
    register("core/state-machine", StateMachineConstraint)


@hookimpl
def arkit_register_pipeline_presets(register: Any) -> None:
    from .tokenizers.byte import ByteTokenizer

    width, vocab = 128, ByteTokenizer().vocab_size
    register(
        "core/tiny-byte",
        {
            "tokenizer": ("core/byte", {}),
            "backbone": ("core/transformer", {"vocab_size": vocab, "d_model": width, "n_layers": 2,
                                              "n_heads": 4, "max_seq_len": 256}),
            "head": ("core/categorical", {"d_model": width, "vocab_size": vocab}),
            "sampler": ("core/multinomial", {"temperature": 0.8, "top_k": 40}),
            "cache": ("core/dynamic", {}),
        },
        description="A 0.4M-parameter byte-level transformer; `arkit demo` trains it for 600 steps in about two minutes on one CPU core.",
    )
