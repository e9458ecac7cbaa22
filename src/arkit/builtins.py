"""arkit's own components, registered through the same hooks as any third-party plugin."""

from __future__ import annotations

from typing import Any

from .acceptance.exact import ExactAcceptance
from .acceptance.greedy_match import GreedyMatch
from .acceptance.lantern import LanternAcceptance
from .acceptance.typical import TypicalAcceptance
from .backbones.transformer import TransformerBackbone
from .cache.dynamic import DynamicCache
from .drafters.draft_model import DraftModel
from .drafters.hierarchical import HierarchicalDrafter
from .drafters.jacobi import JacobiDrafter
from .drafters.medusa import MedusaHeads
from .drafters.prompt_lookup import PromptLookup
from .drafters.token_recycling import TokenRecycling
from .heads.categorical import CategoricalHead
from .heads.gaussian_mixture import GaussianMixtureHead
from .hookspecs import hookimpl
from .cache.sliding import SlidingWindowCache
from .cache.static import StaticCache
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
from .tokenizers.byte import ByteTokenizer
from .tokenizers.vectors import VectorTokenizer
from .types import ExtraInput


@hookimpl
def arkit_register_tokenizers(register: Any) -> None:
    register("core/byte", ByteTokenizer, examples=("hello, world", "", "naïve — ünïcödé ✓", "\x00\n\t"))
    register("core/vectors", VectorTokenizer, examples=([[0.5], [-1.25], [3.0]], [[2.0]]))


@hookimpl
def arkit_register_backbones(register: Any) -> None:
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
    register("core/categorical", CategoricalHead)
    register("core/gaussian-mixture", GaussianMixtureHead)


@hookimpl
def arkit_register_samplers(register: Any) -> None:
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
    register("core/prompt-lookup", PromptLookup)
    register("core/medusa", MedusaHeads)
    register("core/jacobi", JacobiDrafter)
    register("core/token-recycling", TokenRecycling)
    register("core/draft-model", DraftModel)
    register("core/hierarchical", HierarchicalDrafter)


@hookimpl
def arkit_register_acceptances(register: Any) -> None:
    register("core/exact", ExactAcceptance)
    register("core/greedy-match", GreedyMatch)
    register("core/typical-acceptance", TypicalAcceptance)
    register("core/lantern", LanternAcceptance)


@hookimpl
def arkit_register_caches(register: Any) -> None:
    register("core/dynamic", DynamicCache)
    register("core/static", StaticCache)
    register("core/sliding", SlidingWindowCache)


@hookimpl
def arkit_register_pipeline_presets(register: Any) -> None:
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
        description="A 0.4M-parameter byte-level transformer: trains in a minute on 2 CPU cores.",
    )
