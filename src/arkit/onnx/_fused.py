"""ONNX Runtime's fused ``GroupQueryAttention`` for the exported decode graph.

A torch custom op, ``arkit::group_query_attention``, stands for the contrib op
``com.microsoft.GroupQueryAttention`` while exporting; the exporter translates
it with :func:`_to_onnx`. Its eager implementation is the same computation in
torch (rotary embedding, grouped-query attention under an additive mask), so a
graph that uses it also runs in torch and can be checked there.

One node per layer does what the general step graph spells out in about twenty:
it takes the packed ``[q | k | v]`` projection, rotates queries and keys at
``position_ids`` (Llama's rotate-half layout), attends under the mask, and
writes the new keys and values into the cache. Its semantics are arkit's:
``causal=0`` and the mask as ``attention_bias``, so padding, tree masks and
sliding windows all ride on the bias, and every row holds the same number of
slots (``seqlens_k = total_sequence_length - 1`` for each).

When ``past_key`` and ``present_key`` are bound to the same memory (a buffer of
``max_len`` slots), onnxruntime writes the new position in place instead of
copying the past into a new present. onnxruntime accepts a past together with
more than one new position only at batch 1, so the fused attention is exported
only in the single-position decode graph, next to the general one.
"""

from __future__ import annotations

from typing import Any

import torch

__all__: list[str] = []


@torch.library.custom_op("arkit::group_query_attention", mutates_args=())
def _group_query_attention(qkv: torch.Tensor, past_key: torch.Tensor, past_value: torch.Tensor,
                           seqlens: torch.Tensor, total: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                           positions: torch.Tensor, bias: torch.Tensor, num_heads: int,
                           kv_num_heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """qkv ``[B, T, (H + 2 Hkv) D]``, past ``[B, Hkv, P, D]``, cos/sin ``[L, D/2]``, positions ``[B, T]``,
    bias ``[B, 1, T, P+T]`` -> output ``[B, T, H D]`` and the presents ``[B, Hkv, P+T, D]``.

    ``seqlens`` (int32 ``[B]``, slots - 1) and ``total`` (int32 scalar, slots) are
    onnxruntime's bookkeeping; the slots are the bias's width here.
    """
    B, T, _ = qkv.shape
    D = past_key.shape[-1]
    q, k, v = qkv.view(B, T, num_heads + 2 * kv_num_heads, D).transpose(1, 2).split(
        [num_heads, kv_num_heads, kv_num_heads], dim=1)
    c, s = cos[positions].unsqueeze(1), sin[positions].unsqueeze(1)  # [B, 1, T, D/2]

    def rotate(x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat((x1 * c - x2 * s, x2 * c + x1 * s), dim=-1)

    k = torch.cat([past_key, rotate(k)], 2)
    v = torch.cat([past_value, v], 2)
    repeat = num_heads // kv_num_heads
    y = torch.nn.functional.scaled_dot_product_attention(rotate(q), k.repeat_interleave(repeat, 1),
                                                         v.repeat_interleave(repeat, 1), attn_mask=bias)
    return y.transpose(1, 2).reshape(B, T, num_heads * D), k, v


@_group_query_attention.register_fake
def _(qkv, past_key, past_value, seqlens, total, cos, sin, positions, bias, num_heads,  # type: ignore[no-untyped-def]
      kv_num_heads):
    B, Hkv, P, D = past_key.shape
    present = past_key.new_empty(B, Hkv, P + qkv.shape[1], D)
    return qkv.new_empty(B, qkv.shape[1], num_heads * D), present, present.new_empty(present.shape)


def _contrib_op() -> Any:
    """``com.microsoft.GroupQueryAttention`` as an onnxscript op. The onnx package has no schemas for
    onnxruntime's contrib ops; this one declares the inputs and attributes used here, in onnxruntime's order."""
    from onnx.defs import OpSchema
    import onnxscript

    single, optional = OpSchema.FormalParameterOption.Single, OpSchema.FormalParameterOption.Optional
    inputs = [OpSchema.FormalParameter(name, kind, param_option=optional if opt else single)
              for name, kind, opt in (("query", "T", False), ("key", "T", True), ("value", "T", True),
                                      ("past_key", "T", True), ("past_value", "T", True), ("seqlens_k", "M", False),
                                      ("total_sequence_length", "M", False), ("cos_cache", "T", True),
                                      ("sin_cache", "T", True), ("position_ids", "P", True),
                                      ("attention_bias", "T", True))]
    outputs = [OpSchema.FormalParameter(name, "T") for name in ("output", "present_key", "present_value")]
    schema = OpSchema("GroupQueryAttention", "com.microsoft", 1, inputs=inputs, outputs=outputs,
                      type_constraints=[("T", ["tensor(float)", "tensor(float16)"], ""),
                                        ("M", ["tensor(int32)"], ""), ("P", ["tensor(int64)"], "")],
                      attributes=[OpSchema.Attribute(name, OpSchema.AttrType.INT, "")
                                  for name in ("num_heads", "kv_num_heads", "causal", "do_rotary")])
    return onnxscript.values.Op(onnxscript.values.Opset("com.microsoft", 1), "GroupQueryAttention", schema)


def _to_onnx(qkv: Any, past_key: Any, past_value: Any, seqlens: Any, total: Any, cos: Any, sin: Any,
             positions: Any, bias: Any, num_heads: int, kv_num_heads: int) -> Any:
    return _contrib_op()(qkv, None, None, past_key, past_value, seqlens, total, cos, sin, positions, bias,
                         num_heads=num_heads, kv_num_heads=kv_num_heads, causal=0, do_rotary=1)


TRANSLATIONS = {torch.ops.arkit.group_query_attention.default: _to_onnx}
"""What ``torch.onnx.export(custom_translation_table=...)`` needs for a graph that uses the fused attention."""
