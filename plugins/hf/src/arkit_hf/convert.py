"""Moving models between transformers and arkit."""

from __future__ import annotations

import json
from pathlib import Path
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


def save_llama(backbone: Any, head: Any, directory: str | Path, *, tokenizer: Any = None) -> Path:
    """Write a Hugging Face Llama folder (``config.json``, ``model.safetensors``, tokenizer files) with the weights
    of a ``core/transformer`` + head, for tools that read such folders (onnxruntime-genai's model builder).

    The tokenizer files are ``tokenizer``'s own ``tokenizer.json`` when its config holds one (``hf/tokenizer``);
    otherwise a word-level tokenizer whose token ``t{i}`` is id ``i`` over the head's vocabulary, which such tools
    need to find but which only maps ids: feed them token ids. The bos, eos and pad ids are the tokenizer's special
    tokens; those it does not declare keep ``LlamaConfig``'s defaults (bos 1, eos 2), which tools that stop at eos
    then use. Nothing is downloaded.
    """
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    target = Path(directory)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise arkit.ConfigError(f"refusing to write a Llama folder into {target}: it exists and is not empty")
    special = dict(getattr(tokenizer, "special_tokens", {}) or {})
    content = dict(getattr(tokenizer, "config", {}) or {}).get("tokenizer_json")
    if content is not None:
        text = content if isinstance(content, str) else json.dumps(content)
        words = Tokenizer.from_str(text)
    else:
        words = Tokenizer(models.WordLevel({f"t{i}": i for i in range(head.vocab_size)}, unk_token="t0"))
    names = {f"{role}_token": words.id_to_token(special[role]) for role in ("bos", "eos", "pad", "unk")
             if role in special and words.id_to_token(special[role]) is not None}
    if content is None:
        names.setdefault("unk_token", "t0")
    model = to_llama(backbone, head)
    for role in ("bos", "eos", "pad"):  # the model's config carries the tokenizer's special ids (else Llama's)
        if role in special:
            setattr(model.config, f"{role}_token_id", special[role])
            if model.generation_config is not None:
                setattr(model.generation_config, f"{role}_token_id", special[role])
    model.save_pretrained(target)
    PreTrainedTokenizerFast(tokenizer_object=words, **names).save_pretrained(target)
    return target
