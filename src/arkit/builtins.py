"""arkit's own components, registered through the same hooks as any third-party plugin.

Components are registered by import path (``"module:Class"``) with their
descriptions, so neither loading this plugin (which ``arkit --help`` does) nor
building the registry (``arkit plugins``, ``arkit components``) imports torch or
the components: each is imported when it is first built.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .hookspecs import hookimpl
from .types import ExtraInput

if TYPE_CHECKING:
    from .backbones.transformer import TransformerBackbone


@hookimpl
def arkit_register_tokenizers(register: Any) -> None:
    register("core/byte", "arkit.tokenizers.byte:ByteTokenizer",
             examples=("hello, world", "", "naïve — ünïcödé ✓", "\x00\n\t"),
             description="Bytes in, bytes (or text) out; nothing to learn, nothing to download.")
    register("core/vectors", "arkit.tokenizers.vectors:VectorTokenizer", examples=([[0.5], [-1.25], [3.0]], [[2.0]]),
             description="``[T, dim]`` real arrays in, lists of ``dim`` floats out; checked for shape and finiteness.")


@hookimpl
def arkit_register_backbones(register: Any) -> None:
    register("core/transformer", "arkit.backbones.transformer:TransformerBackbone",
             description="Decoder-only transformer (Llama-style) over token ids.")


@hookimpl
def arkit_register_export_specs(register: Any) -> None:
    register("core/transformer", _transformer_inputs)


def _transformer_inputs(backbone: TransformerBackbone) -> tuple[ExtraInput, ...]:
    if backbone.cond_dim is None:
        return ()
    return (ExtraInput(name="conditioning", shape=("batch", backbone.cond_dim)),)


@hookimpl
def arkit_register_heads(register: Any) -> None:
    register("core/categorical", "arkit.heads.categorical:CategoricalHead",
             description="Logits over ``vocab_size`` tokens from ``d_model``-wide hidden states.")
    register("core/gaussian-mixture", "arkit.heads.gaussian_mixture:GaussianMixtureHead",
             description="Mixture weights, means and standard deviations of ``components`` Gaussians over ``dim`` "
                         "values.")


@hookimpl
def arkit_register_samplers(register: Any) -> None:
    register("core/greedy", "arkit.samplers.greedy:GreedySampler",
             description="Picks ``argmax`` of the logits; ties go to the lowest id.")
    register("core/multinomial", "arkit.samplers.multinomial:MultinomialSampler",
             description="Draws the next token from ``softmax(logits / temperature)`` restricted to top-k and top-p.")
    register("core/chain", "arkit.samplers.chain:SamplerChain",
             description="Samplers applied one after another; the last one selects.")
    register("core/temperature", "arkit.samplers.temperature:Temperature",
             description="Sharpen (``t < 1``) or flatten (``t > 1``) the distribution. ``t`` must be > 0; use greedy "
                         "for 0.")
    register("core/top-k", "arkit.samplers.top_k:TopK",
             description="Keep the ``k`` most likely ids (ties with the k-th included).")
    register("core/top-p", "arkit.samplers.top_p:TopP",
             description="Keep the smallest set of most likely ids whose probability reaches ``p`` in ``(0, 1]``.")
    register("core/min-p", "arkit.samplers.min_p:MinP",
             description="Keep ids at least ``p`` times as likely as the most likely one; ``p`` in ``(0, 1]``.")
    register("core/typical", "arkit.samplers.typical:Typical",
             description="Keep the ids whose surprisal is closest to the entropy until they hold ``mass`` in ``(0, "
                         "1]``.")
    register("core/repetition-penalty", "arkit.samplers.repetition_penalty:RepetitionPenalty",
             description="Make ids already in the row's context less likely: ``penalty > 1`` penalises, ``< 1`` "
                         "encourages.")
    register("core/no-repeat-ngram", "arkit.samplers.no_repeat_ngram:NoRepeatNgram",
             description="Forbid any id that would repeat an ``n``-gram already in the row (prompt included).")
    register("core/logit-bias", "arkit.samplers.logit_bias:LogitBias",
             description='Add ``bias[id]`` to the logit of each listed id (``float("-inf")`` is not allowed: use '
                         'core/bad-tokens).')
    register("core/bad-tokens", "arkit.samplers.bad_tokens:BadTokens",
             description="Ban single ids everywhere, and the last id of each longer sequence when the rest was just "
                         "generated.")


@hookimpl
def arkit_register_drafters(register: Any) -> None:
    register("core/prompt-lookup", "arkit.drafters.prompt_lookup:PromptLookup",
             description="Propose the continuation of the latest earlier occurrence of each row's final n-gram.")
    register("core/medusa", "arkit.drafters.medusa:MedusaHeads",
             description="``num_heads`` heads guessing the tokens 2, 3, ... places after each verified position.")
    register("core/eagle", "arkit.drafters.eagle:EagleDrafter",
             description="One transformer layer over ``[target feature, token, next token]`` pairs, drafting with "
                         "the target's head.")
    register("core/jacobi", "arkit.drafters.jacobi:JacobiDrafter",
             description="Draft the target's own predictions from the previous pass (Jacobi iteration; SJD when "
                         "probabilistic).")
    register("core/token-recycling", "arkit.drafters.token_recycling:TokenRecycling",
             description="An adjacency table of each token's latest top-``m`` successors, followed as a chain.")
    register("core/draft-model", "arkit.drafters.draft_model:DraftModel",
             description="Draft with a smaller model (backbone + head) over the target's vocabulary, keeping its own "
                         "cache.")
    register("core/hierarchical", "arkit.drafters.hierarchical:HierarchicalDrafter",
             description="A draft model (``drafter``) whose own drafting is accelerated by ``inner`` (another "
                         "drafter).")


@hookimpl
def arkit_register_acceptances(register: Any) -> None:
    register("core/exact", "arkit.acceptance.exact:ExactAcceptance",
             description="Lossless rejection sampling of drafts against the target's distribution.")
    register("core/greedy-match", "arkit.acceptance.greedy_match:GreedyMatch",
             description="Keep the longest draft prefix that agrees with the target's argmax.")
    register("core/typical-acceptance", "arkit.acceptance.typical:TypicalAcceptance",
             description="Keep draft tokens whose target probability beats an entropy-dependent threshold.")
    register("core/lantern", "arkit.acceptance.lantern:LanternAcceptance",
             description="Accept draft tokens against the target's probability pooled over their latent "
                         "neighbourhood (TV <= delta).")


@hookimpl
def arkit_register_caches(register: Any) -> None:
    register("core/dynamic", "arkit.cache.dynamic:DynamicCache",
             description="Per-layer K/V tensors ``[B, H, S, Dh]`` that grow by concatenation.")
    register("core/static", "arkit.cache.static:StaticCache",
             description="Per-layer K/V buffers of ``max_len`` positions, filled left to right.")
    register("core/sliding", "arkit.cache.sliding:SlidingWindowCache",
             description="Per-layer K/V of at most ``window`` positions; ``offset`` counts positions dropped from "
                         "the front.")


@hookimpl
def arkit_register_constraints(register: Any) -> None:
    register("core/trie", "arkit.constraints.trie:TrieConstraint",
             description="Allow exactly the continuations of ``sequences`` (lists of token ids).")
    register("core/state-machine", "arkit.constraints.state_machine:StateMachineConstraint",
             description="A deterministic finite automaton over token ids.")


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
    ref = {"d_model": 256, "n_layers": 4, "n_heads": 4, "max_seq_len": 512}
    register(
        "core/ref-text",
        {
            "tokenizer": ("core/byte", {}),
            "backbone": ("core/transformer", {"vocab_size": vocab, **ref}),
            "head": ("core/categorical", {"d_model": ref["d_model"], "vocab_size": vocab}),
            "sampler": ("core/multinomial", {"temperature": 0.8, "top_k": 40}),
            "cache": ("core/dynamic", {}),
        },
        description="A 3.3M-parameter byte-level reference model with shipped weights: it writes English and Python "
                    "and copies what its context repeats (rebuilt by scripts/train_reference.py).",
        weights=Path(__file__).parent / "checkpoints" / "ref-text",
    )
    register(
        "core/ref-text-draft",
        {"drafter": ("core/draft-model", {
            "backbone": {"name": "core/transformer", "config": {"vocab_size": vocab, "d_model": 128, "n_layers": 2,
                                                                 "n_heads": 4, "max_seq_len": 512}},
            "head": {"name": "core/categorical", "config": {"d_model": 128, "vocab_size": vocab}},
            "tokenizer": {"name": "core/byte", "config": {}}})},
        description="core/ref-text with a draft model trained for it (2 layers, d_model 128, 0.47M parameters; "
                    "rebuilt by scripts/train_reference_drafters.py).",
        weights=Path(__file__).parent / "checkpoints" / "ref-text-draft",
        base="core/ref-text",
    )
    register(
        "core/ref-text-medusa",
        {"drafter": ("core/medusa", {"d_model": ref["d_model"], "vocab_size": vocab, "num_heads": 5})},
        description="core/ref-text with five Medusa heads self-distilled on it (0.66M parameters; rebuilt by "
                    "scripts/train_reference_drafters.py).",
        weights=Path(__file__).parent / "checkpoints" / "ref-text-medusa",
        base="core/ref-text",
    )
    register(
        "core/ref-text-eagle",
        {"drafter": ("core/eagle", {"d_model": ref["d_model"], "vocab_size": vocab, "width": 128, "n_heads": 4,
                                    "max_seq_len": ref["max_seq_len"]})},
        description="core/ref-text with an EAGLE layer trained on its features (one transformer layer of width 128, "
                    "0.33M parameters; rebuilt by scripts/train_reference_drafters.py).",
        weights=Path(__file__).parent / "checkpoints" / "ref-text-eagle",
        base="core/ref-text",
    )
