"""Moving models between transformers and arkit."""

from __future__ import annotations

from typing import Any

import torch

import arkit

from .backbone import HFCausalLMBackbone


def from_transformers(model: Any, tokenizer: Any = None, **pipeline_components: Any) -> arkit.Pipeline:
    """An arkit pipeline around a transformers causal LM (and optionally its tokenizer).

    The base model becomes an ``hf/causal-lm`` backbone (weights copied), the LM head a
    ``core/categorical`` head. ``tokenizer`` may be a transformers tokenizer (fast), an
    arkit tokenizer, or ``None`` for arkit's byte tokenizer (the model's vocabulary must
    then have 259 entries). Other components (``sampler=``, ``cache=``) pass through.
    """
    config = model.config.to_dict()
    backbone = arkit.create("backbone", "hf/causal-lm", config=config)
    backbone.model.load_state_dict(model.base_model.state_dict())
    lm_head = model.get_output_embeddings()
    head = arkit.create(
        "head", "core/categorical", d_model=backbone.d_model, vocab_size=lm_head.weight.shape[0],
        bias=getattr(lm_head, "bias", None) is not None,
    )
    with torch.no_grad():
        head.proj.weight.copy_(lm_head.weight)
        if getattr(lm_head, "bias", None) is not None:
            head.proj.bias.copy_(lm_head.bias)
    if tokenizer is None:
        tokenizer = arkit.create("tokenizer", "core/byte")
    elif hasattr(tokenizer, "backend_tokenizer"):
        special = {name: getattr(tokenizer, f"{name}_token_id") for name in ("bos", "eos", "pad")
                   if getattr(tokenizer, f"{name}_token_id", None) is not None}
        tokenizer = arkit.create("tokenizer", "hf/tokenizer", tokenizer_json=tokenizer.backend_tokenizer.to_str(),
                                 special_tokens=special)
    backbone.eval()
    head.eval()
    return arkit.Pipeline(tokenizer=tokenizer, backbone=backbone, head=head, **pipeline_components)


def to_llama(backbone: Any, head: Any) -> Any:
    """A ``transformers.LlamaForCausalLM`` with the weights of an arkit ``core/transformer`` + head.

    The two compute the same function (same RoPE convention, RMSNorm, SwiGLU, GQA),
    so their greedy outputs match: used to compare arkit's decoding with
    transformers' ``generate`` on the same weights.
    """
    import transformers

    c = backbone.config
    config = transformers.LlamaConfig(
        vocab_size=c["vocab_size"], hidden_size=c["d_model"], intermediate_size=c["ffn_hidden"],
        num_hidden_layers=c["n_layers"], num_attention_heads=c["n_heads"], num_key_value_heads=c["n_kv_heads"],
        max_position_embeddings=c["max_seq_len"], rms_norm_eps=c["norm_eps"], rope_theta=c["rope_theta"],
        tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
    )
    config._attn_implementation = "sdpa"
    model = transformers.LlamaForCausalLM(config)
    heads, kv, dh = c["n_heads"], c["n_kv_heads"], c["d_model"] // c["n_heads"]
    state = {"model.embed_tokens.weight": backbone.embed.weight, "model.norm.weight": backbone.norm.weight}
    for i, block in enumerate(backbone.layers):
        prefix = f"model.layers.{i}."
        q, k, v = block.attn.qkv_proj.weight.split([heads * dh, kv * dh, kv * dh])
        gate, up = block.mlp.gate_up_proj.weight.chunk(2)
        state.update({
            prefix + "input_layernorm.weight": block.attn_norm.weight,
            prefix + "post_attention_layernorm.weight": block.mlp_norm.weight,
            prefix + "self_attn.q_proj.weight": q, prefix + "self_attn.k_proj.weight": k,
            prefix + "self_attn.v_proj.weight": v, prefix + "self_attn.o_proj.weight": block.attn.o_proj.weight,
            prefix + "mlp.gate_proj.weight": gate, prefix + "mlp.up_proj.weight": up,
            prefix + "mlp.down_proj.weight": block.mlp.down_proj.weight,
        })
    state["lm_head.weight"] = head.proj.weight
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if "rotary_emb" not in k]
    if missing or unexpected:
        raise arkit.ConfigError(f"weight mapping to Llama failed: missing {missing}, unexpected {unexpected}")
    return model.eval()
