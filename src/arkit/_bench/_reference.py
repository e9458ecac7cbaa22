"""A bare PyTorch greedy loop over ``core/transformer`` weights: the decode benchmark's ceiling.

No pipeline, no input checks, no sampler, processors or stopping rules: embedding,
blocks, head and ``argmax``, with a key/value cache preallocated for the whole
generation and written in place. It is the kind of hand-written probe the
generation-engine issue quotes, so its time is about the least an eager-PyTorch
decode step of these weights costs on this machine, and its ratio to transformers
is the most any eager loop can show there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import ConfigError


def greedy(backbone: torch.nn.Module, head: torch.nn.Module, prompts: torch.Tensor, new_tokens: int) -> torch.Tensor:
    """``new_tokens`` greedy tokens after each row of ``prompts`` (``LongTensor[B, P]``, no padding)."""
    config = backbone.config
    if config.get("sliding_window") or config.get("input_dim") or config.get("cond_dim"):
        raise ConfigError("the reference loop covers the plain core/transformer (no sliding window, "
                          "continuous inputs or conditioning)")
    B, P = prompts.shape
    H, Hkv, Dh = config["n_heads"], config["n_kv_heads"], backbone.head_dim
    eps = config["norm_eps"]
    shape = (len(backbone.layers), B, Hkv, P + new_tokens, Dh)
    keys, values = torch.zeros(shape), torch.zeros(shape)

    def rms(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def forward(ids: torch.Tensor, start: int) -> torch.Tensor:
        T = ids.shape[1]
        x = F.embedding(ids, backbone.embed.weight)
        cos, sin = backbone.rope_cos[start : start + T], backbone.rope_sin[start : start + T]
        for i, layer in enumerate(backbone.layers):
            qkv = F.linear(rms(x, layer.attn_norm.weight), layer.attn.qkv_proj.weight)
            qk, v = qkv.view(B, T, H + 2 * Hkv, Dh).transpose(1, 2).split([H + Hkv, Hkv], 1)
            q, k = torch.addcmul(qk * cos, qk.roll(Dh // 2, -1), sin).split([H, Hkv], 1)
            keys[i, :, :, start : start + T] = k
            values[i, :, :, start : start + T] = v
            K, V = keys[i, :, :, : start + T], values[i, :, :, : start + T]
            if Hkv != H:
                K, V = K.repeat_interleave(H // Hkv, 1), V.repeat_interleave(H // Hkv, 1)
            y = F.scaled_dot_product_attention(q, K, V, is_causal=T > 1)  # T > 1 only for the prompt, from slot 0
            x = x + F.linear(y.transpose(1, 2).reshape(B, T, H * Dh), layer.attn.o_proj.weight)
            gate, up = F.linear(rms(x, layer.mlp_norm.weight), layer.mlp.gate_up_proj.weight).chunk(2, -1)
            x = x + F.linear(F.silu(gate) * up, layer.mlp.down_proj.weight)
        return head.forward(rms(x[:, -1:], backbone.norm.weight)).argmax(-1)  # [B, 1]

    out = torch.empty(B, new_tokens, dtype=torch.long)
    with torch.inference_mode():
        token = forward(prompts, 0)
        for step in range(new_tokens):
            out[:, step : step + 1] = token
            if step + 1 < new_tokens:
                token = forward(token, P + step)
    return out
