"""A decoder-only transformer backbone: RoPE, RMSNorm, SwiGLU, grouped-query attention.

Registered as ``core/transformer``. One file, top to bottom: config checks,
rotary embeddings, attention, MLP, block, backbone. Attention uses
``torch.nn.functional.scaled_dot_product_attention`` with an explicit mask
built from storage slots, never ``is_causal=True``: SDPA aligns its causal mask
top-left, which is wrong as soon as there is a past in the cache.
"""

from __future__ import annotations

from collections.abc import Mapping
import math
import os
from typing import Any

import torch
from torch import nn
import torch.nn.functional as F
from torch.nn.modules import module as _torch_module

from .._layout import column_major_linears
from ..errors import ConfigError, InputError
from ..protocols import Cache
from ..types import CacheSpec

__all__ = ["TransformerBackbone"]


def _rope_tables(max_len: int, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Full-width tables ``[L, Dh]``: ``cos`` twice, and ``sin`` with the first half negated."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    angles = torch.outer(torch.arange(max_len, dtype=torch.float64), inv_freq)  # [L, Dh/2]
    cos, sin = angles.cos(), angles.sin()
    return torch.cat((cos, cos), -1).float(), torch.cat((-sin, sin), -1).float()


def _apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # x: [B, H, T, Dh]; cos/sin: [B, 1, T, Dh]. Rotates the pairs (x[i], x[i + Dh/2]) (Llama's layout):
    # x * cos + rotate_half(x) * sin, where rotate_half(x) = (-x2, x1) = roll(x) with the sign kept in `sin`.
    return torch.addcmul(x * cos, x.roll(x.shape[-1] // 2, dims=-1), sin)


def _rms_norm(x: torch.Tensor, norm: nn.RMSNorm, compiling: bool) -> torch.Tensor:
    # Written out in Llama's order of operations, because on CPU F.rms_norm is a composite of
    # more ops (measured up to 10% slower per decode step at batch 8). sum().div_() is mean()
    # bit for bit at a quarter of its cost here (mean adds a dtype round trip); no module call.
    eps = norm.eps if norm.eps is not None else torch.finfo(x.dtype).eps  # nn.RMSNorm's default when eps=None
    if compiling:  # exporting: the pattern ONNX Runtime fuses into one normalisation op
        return norm.weight * (x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps))
    variance = x.pow(2).sum(-1, keepdim=True).div_(x.shape[-1])
    return norm.weight * (x * torch.rsqrt(variance + eps))


class _Attention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads = n_heads, n_kv_heads
        self.head_dim = d_model // n_heads
        # one matmul for queries, keys and values: [q (n_heads) | k (n_kv_heads) | v (n_kv_heads)] * head_dim
        self.qkv_proj = nn.Linear(d_model, (n_heads + 2 * n_kv_heads) * self.head_dim, bias=False)
        self.o_proj = nn.Linear(n_heads * self.head_dim, d_model, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor | None,
        causal: bool,
        cache: Cache | None,
        layer: int,
        compiling: bool,
    ) -> torch.Tensor:
        B, T, _ = x.shape
        qkv = F.linear(x, self.qkv_proj.weight)
        attend = getattr(cache, "attend", None)
        if attend is not None and mask is not None:  # an ONNX decode graph: onnxruntime's fused attention
            return F.linear(attend(layer, qkv, mask), self.o_proj.weight)
        qkv = qkv.view(B, T, self.n_heads + 2 * self.n_kv_heads, self.head_dim)
        # (split_with_sizes: Tensor.split's Python wrapper costs more than the split here)
        qk, v = qkv.transpose(1, 2).split_with_sizes([self.n_heads + self.n_kv_heads, self.n_kv_heads], dim=1)
        q, k = _apply_rope(qk, cos, sin).split_with_sizes([self.n_heads, self.n_kv_heads], dim=1)  # q and k at once
        if cache is not None:
            k, v = cache.update(layer, k, v)  # all stored positions: [B, Hkv, S, Dh]
        if self.n_kv_heads != self.n_heads:  # grouped-query attention: share each K/V head
            repeat = self.n_heads // self.n_kv_heads
            k, v = k.repeat_interleave(repeat, dim=1), v.repeat_interleave(repeat, dim=1)
        if compiling and not causal:
            # exporting: q @ k^T as a 4-d matmul, which ONNX Runtime fuses with the transpose (its SDPA
            # decomposition copies the whole key cache into a transposed tensor every step)
            scores = torch.matmul(q, k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)
            if mask is not None:
                scores = scores + mask
            y = torch.matmul(scores.softmax(-1), v)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        return F.linear(y.transpose(1, 2).reshape(B, T, -1), self.o_proj.weight)


class _MLP(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x)), with gate and up in one matmul."""

    def __init__(self, d_model: int, hidden: int) -> None:
        super().__init__()
        self.gate_up_proj = nn.Linear(d_model, 2 * hidden, bias=False)
        self.down_proj = nn.Linear(hidden, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = F.linear(x, self.gate_up_proj.weight).chunk(2, dim=-1)
        return F.linear(F.silu(gate) * up, self.down_proj.weight)


class _Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int, ffn_hidden: int, eps: float,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.attn_norm = nn.RMSNorm(d_model, eps=eps)
        self.attn = _Attention(d_model, n_heads, n_kv_heads)
        self.mlp_norm = nn.RMSNorm(d_model, eps=eps)
        self.mlp = _MLP(d_model, ffn_hidden)
        self.dropout = dropout  # on each residual branch, in training only (GPT-2's resid_pdrop)

    def forward(self, x, cos, sin, mask, causal, cache, layer, compiling):  # type: ignore[no-untyped-def]
        # Attention and MLP are called through .forward: an nn.Module call costs tens of
        # microseconds of hook bookkeeping on CPU, 10% of a small decode step. Hooks on the
        # block itself and on the backbone still run. ``compiling``: torch.compiler.is_compiling(),
        # asked once per forward pass rather than by every norm.
        a = self.attn.forward(_rms_norm(x, self.attn_norm, compiling), cos, sin, mask, causal, cache, layer, compiling)
        if self.dropout and self.training:
            a = F.dropout(a, self.dropout, training=True)
        x = x + a
        m = self.mlp.forward(_rms_norm(x, self.mlp_norm, compiling))
        if self.dropout and self.training:
            m = F.dropout(m, self.dropout, training=True)
        return x + m


_GLOBAL_HOOKS = ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                 "_global_backward_pre_hooks")
"""torch's registries of hooks on every module (what ``Module.__call__`` consults). A torch without one of
these names is treated as if a hook were there: a change in torch costs speed, never a skipped hook."""


def _plain_blocks(blocks: nn.ModuleList) -> bool:
    """Whether calling each block's ``forward`` does exactly what calling the block does.

    True when no hook could run: none on the blocks, none registered for every module
    (``torch.nn.modules.module.register_module_forward_hook`` and the like), no
    ``compile()`` of a block, and no ``torch.jit.trace`` in progress (the caller rules out
    exporting). A block call costs about 10k interpreter instructions of hook bookkeeping,
    a few percent of a small model's decode step; with a hook anywhere, blocks are called
    as modules.
    """
    if any(getattr(_torch_module, name, True) for name in _GLOBAL_HOOKS) or torch.jit.is_tracing():
        return False
    for block in blocks:
        if (type(block) is not _Block or block._forward_hooks or block._forward_pre_hooks or block._backward_hooks
                or block._backward_pre_hooks or getattr(block, "_compiled_call_impl", True) is not None):
            return False
    return True


def _check_memory(vocab: int, d: int, layers: int, heads: int, kv_heads: int, ffn: int, context: int, cond: int) -> None:
    """Refuse, before allocating anything, a model whose float32 weights exceed the machine's memory."""
    head = d // heads
    per_layer = d * (heads + 2 * kv_heads) * head + heads * head * d + 3 * d * ffn + 2 * d
    parameters = vocab * d + cond * d + layers * per_layer + d + context * head  # + the rope tables
    need = 4 * parameters
    try:
        have = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not a POSIX system: no check
        return
    if need > have:
        raise ConfigError(f"this transformer has {parameters:,} parameters: {need / 2**30:,.1f} GiB of float32 "
                          f"weights, more than this machine's {have / 2**30:,.1f} GiB of memory; check its config "
                          f"(n_layers={layers}, d_model={d}, vocab_size={vocab}, max_seq_len={context})")


class TransformerBackbone(nn.Module):
    """Decoder-only transformer (Llama-style) over token ids.

    ``n_kv_heads < n_heads`` gives grouped-query attention; ``ffn_hidden``
    defaults to about ``8/3 * d_model`` rounded up to a multiple of 32;
    ``sliding_window`` limits attention to that many most recent positions (pair
    it with the ``core/sliding`` cache to bound memory exactly). With
    ``input_dim`` the inputs are real vectors ``FloatTensor[B, T, input_dim]``
    (continuous tokens: values, patches, latents) instead of ids. With
    ``cond_dim`` every call takes ``conditioning``, a ``FloatTensor[B, cond_dim]``
    per row (a speaker, class or property embedding), projected and added to
    every position's input embedding; generation passes it as
    ``extra_inputs={"conditioning": ...}`` and ONNX export makes it a graph input.
    Weights are initialised with std ``init_std`` (residual projections scaled
    by ``1/sqrt(2 * n_layers)``), as GPT-2 does. ``dropout`` zeroes that share of
    each attention and MLP output before it joins the residual stream, in training
    only (``module.train()``); generation and export run in eval mode and never drop.

    Every call checks its inputs and raises :class:`arkit.InputError` for ids
    outside the vocabulary, positions outside the context, or non-finite
    vectors, unless the caller passes ``prechecked=True``
    (:class:`arkit.protocols.PrecheckedBackbone`): then the checks that read
    tensor values are skipped, those on shapes and dtypes still run.
    """

    @property
    def accepts_prechecked(self) -> bool:
        """``forward`` takes ``prechecked`` (:class:`arkit.protocols.PrecheckedBackbone`).

        A subclass that overrides ``forward`` is not assumed to take it (a plugin's backbone
        built on this one keeps working unchanged); it says so with ``accepts_prechecked = True``.
        """
        return type(self).forward is TransformerBackbone.forward

    def __init__(
        self,
        *,
        vocab_size: int = 512,
        d_model: int = 256,
        n_layers: int = 4,
        n_heads: int = 4,
        n_kv_heads: int | None = None,
        ffn_hidden: int | None = None,
        max_seq_len: int = 1024,
        rope_theta: float = 10000.0,
        norm_eps: float = 1e-5,
        init_std: float = 0.02,
        sliding_window: int | None = None,
        input_dim: int | None = None,
        cond_dim: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        n_kv_heads = n_heads if n_kv_heads is None else n_kv_heads
        if ffn_hidden is None:
            ffn_hidden = -(-int(8 * d_model / 3) // 32) * 32
        for key, value in (("vocab_size", vocab_size), ("d_model", d_model), ("n_layers", n_layers),
                           ("n_heads", n_heads), ("n_kv_heads", n_kv_heads), ("ffn_hidden", ffn_hidden),
                           ("max_seq_len", max_seq_len)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"transformer {key} must be a positive integer, got {value!r}")
        if d_model % n_heads:
            raise ConfigError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        if n_heads % n_kv_heads:
            raise ConfigError(f"n_heads ({n_heads}) must be a multiple of n_kv_heads ({n_kv_heads})")
        if sliding_window is not None and (not isinstance(sliding_window, int) or sliding_window < 1):
            raise ConfigError(f"sliding_window must be a positive integer or None, got {sliding_window!r}")
        for key, value in (("input_dim", input_dim), ("cond_dim", cond_dim)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ConfigError(f"{key} must be a positive integer or None, got {value!r}")
        if (d_model // n_heads) % 2:
            raise ConfigError(f"the head size d_model / n_heads = {d_model // n_heads} must be even for RoPE")
        if sliding_window is not None and sliding_window > max_seq_len:
            raise ConfigError(f"sliding_window ({sliding_window}) exceeds max_seq_len ({max_seq_len}): a window "
                              f"longer than the context limits nothing; use None")
        for key, value, smallest in (("rope_theta", rope_theta, 1.0), ("norm_eps", norm_eps, 0.0),
                                     ("init_std", init_std, 0.0)):
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or not math.isfinite(value) or value < smallest or (key == "norm_eps" and value == 0):
                bound = "> 0" if key == "norm_eps" else f">= {smallest:g}"
                raise ConfigError(f"transformer {key} must be a finite number {bound}, got {value!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ConfigError(f"transformer dropout must be a number in [0, 1), got {dropout!r}")
        _check_memory(vocab_size if input_dim is None else input_dim, d_model, n_layers, n_heads, n_kv_heads,
                      ffn_hidden, max_seq_len, cond_dim or 0)
        self._config = dict(
            vocab_size=vocab_size, d_model=d_model, n_layers=n_layers, n_heads=n_heads,
            n_kv_heads=n_kv_heads, ffn_hidden=ffn_hidden, max_seq_len=max_seq_len,
            rope_theta=float(rope_theta), norm_eps=float(norm_eps), init_std=float(init_std),
            sliding_window=sliding_window, input_dim=input_dim, cond_dim=cond_dim, dropout=float(dropout),
        )
        self.sliding_window, self.input_dim, self.cond_dim = sliding_window, input_dim, cond_dim
        self.vocab_size, self.d_model, self.max_seq_len = vocab_size, d_model, max_seq_len
        self.n_layers, self.n_kv_heads, self.head_dim = n_layers, n_kv_heads, d_model // n_heads

        # token ids are embedded; continuous inputs (input_dim set) are projected
        self.embed = nn.Embedding(vocab_size, d_model) if input_dim is None else nn.Linear(input_dim, d_model)
        # a per-row conditioning vector, projected and added at every position
        self.cond_proj = nn.Linear(cond_dim, d_model, bias=False) if cond_dim is not None else None
        self.layers = nn.ModuleList(
            _Block(d_model, n_heads, n_kv_heads, ffn_hidden, norm_eps, float(dropout)) for _ in range(n_layers)
        )
        self.norm = nn.RMSNorm(d_model, eps=norm_eps)
        cos, sin = _rope_tables(max_seq_len, self.head_dim, rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        # both tables side by side: a forward pass gathers its positions' rows once (one op less per decode step)
        self.register_buffer("rope_cos_sin", torch.cat((cos, sin), -1), persistent=False)
        self._init_weights(init_std)
        column_major_linears(self)

    def _init_weights(self, std: float) -> None:
        for name, param in self.named_parameters():
            if param.dim() < 2:
                continue  # norms keep their ones
            scale = (2 * self.n_layers) ** -0.5 if name.endswith(("o_proj.weight", "down_proj.weight")) else 1.0
            nn.init.normal_(param, mean=0.0, std=std * scale)

    @property
    def config(self) -> Mapping[str, Any]:
        return dict(self._config)

    def cache_spec(self) -> CacheSpec:
        return CacheSpec(num_layers=self.n_layers, num_kv_heads=self.n_kv_heads, head_dim=self.head_dim)

    def _check_inputs(self, input_ids: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor | None, past: int,
                      values: bool) -> None:
        """Shapes and dtypes; with ``values``, also ids, positions and vectors (each of those syncs with the device)."""
        if self.input_dim is not None:
            if (not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 3 or not input_ids.is_floating_point()
                    or input_ids.shape[-1] != self.input_dim):
                raise InputError(
                    f"this backbone takes continuous inputs: a float tensor [batch, seq, {self.input_dim}], got "
                    f"{getattr(input_ids, 'dtype', type(input_ids).__name__)} of shape {tuple(getattr(input_ids, 'shape', ()))}"
                )
            if values and not bool(torch.isfinite(input_ids).all()):
                raise InputError("continuous inputs must be finite (replace NaN or inf values before the backbone)")
        elif not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2 or input_ids.dtype != torch.long:
            raise InputError(
                f"input_ids must be a LongTensor of shape [batch, seq], got "
                f"{getattr(input_ids, 'dtype', type(input_ids).__name__)} of shape {tuple(getattr(input_ids, 'shape', ()))}"
            )
        if not isinstance(positions, torch.Tensor) or positions.shape != input_ids.shape[:2]:
            raise InputError(
                f"positions must be a tensor shaped like input_ids' first two dimensions "
                f"{tuple(input_ids.shape[:2])}, got {tuple(getattr(positions, 'shape', ()))}"
            )
        if values and input_ids.numel():
            if self.input_dim is None:
                low, high = (int(v) for v in torch.aminmax(input_ids))
                if low < 0 or high >= self.vocab_size:
                    raise InputError(f"token id {low if low < 0 else high} is outside the vocabulary [0, {self.vocab_size})")
            first, last = (int(v) for v in torch.aminmax(positions))
            if first < 0 or last >= self.max_seq_len:
                raise InputError(
                    f"position {first if first < 0 else last} is outside the model's context of "
                    f"{self.max_seq_len} tokens: shorten the prompt or lower max_new_tokens"
                )
        if mask is not None:
            B, T = input_ids.shape[:2]
            if mask.shape != (B, T, past + T) or mask.dtype != torch.bool:
                raise InputError(
                    f"attention_mask must be a BoolTensor of shape [batch, seq, past + seq] = "
                    f"{[B, T, past + T]}, got {mask.dtype} {list(mask.shape)}"
                )

    def _check_conditioning(self, conditioning: torch.Tensor | None, batch: int, values: bool) -> None:
        if self.cond_dim is None:
            if conditioning is not None:
                raise InputError("this backbone takes no conditioning (build it with cond_dim to condition it)")
            return
        if conditioning is None:
            raise InputError(f"this backbone is conditioned (cond_dim={self.cond_dim}): pass a conditioning vector "
                             f"per row, e.g. generate(..., extra_inputs={{'conditioning': FloatTensor[rows, "
                             f"{self.cond_dim}]}})")
        if (not isinstance(conditioning, torch.Tensor) or not conditioning.is_floating_point()
                or conditioning.shape != (batch, self.cond_dim)):
            raise InputError(f"conditioning must be a float tensor [batch, cond_dim] = [{batch}, {self.cond_dim}], "
                             f"got {getattr(conditioning, 'dtype', type(conditioning).__name__)} "
                             f"{list(getattr(conditioning, 'shape', ()))}")
        if values and not bool(torch.isfinite(conditioning).all()):
            raise InputError("conditioning must be finite (replace NaN or inf values)")

    def forward(
        self,
        input_ids: torch.Tensor,
        *,
        positions: torch.Tensor,
        cache: Cache | None = None,
        attention_mask: torch.Tensor | None = None,
        conditioning: torch.Tensor | None = None,
        prechecked: bool = False,
    ) -> torch.Tensor:
        """Hidden states ``[B, T, d_model]`` (see :class:`arkit.protocols.Backbone`).

        ``prechecked=True`` is the caller's word that every id is in ``[0, vocab_size)``
        (inputs finite, with ``input_dim``), every position in ``[0, max_seq_len)``, and
        ``conditioning`` finite: the checks that read those values are skipped.
        """
        past = cache.seq_len if cache is not None else 0
        compiling = torch.compiler.is_compiling()
        if not compiling:  # value checks would be graph breaks while exporting or compiling
            self._check_inputs(input_ids, positions, attention_mask, past, not prechecked)
            self._check_conditioning(conditioning, input_ids.shape[0], not prechecked)
        B, T = input_ids.shape[:2]
        x = self.embed.forward(input_ids)
        if self.cond_proj is not None:
            x = x + F.linear(conditioning.to(x.dtype), self.cond_proj.weight)[:, None, :]

        # Mask: True where a query may attend. Default: causal by storage slot. Two common cases
        # need no mask tensor: a single new token that sees every stored slot, and a first call
        # (empty cache) where SDPA's own causal mask is right. (With a past, SDPA's is_causal is
        # aligned top-left and wrong; an explicit mask is built instead.)
        mask, causal = None, False
        if attention_mask is None and self.sliding_window is None and (T == 1 or past == 0):
            causal = T > 1
        else:
            slots = torch.arange(past + T, device=x.device)
            if attention_mask is None:
                attention_mask = (slots[None, :] <= slots[past:, None]).expand(B, T, past + T)
            if self.sliding_window is not None:  # and only the most recent `sliding_window` slots
                attention_mask = attention_mask & (slots[past:, None] - slots[None, :] < self.sliding_window)
            # An additive float mask with finfo.min (not -inf) keeps fully masked rows finite.
            mask = torch.zeros(attention_mask.shape, dtype=x.dtype, device=x.device)
            mask = mask.masked_fill_(~attention_mask, torch.finfo(x.dtype).min).unsqueeze(1)

        cos, sin = self.rope_cos_sin[positions].unsqueeze(1).chunk(2, dim=-1)  # [B, 1, T, Dh] each
        if cos.dtype != x.dtype:
            cos, sin = cos.to(x.dtype), sin.to(x.dtype)
        blocks = self.layers
        if not compiling and _plain_blocks(blocks):  # no hook anywhere: skip the module call's bookkeeping
            for i, block in enumerate(blocks):
                x = block.forward(x, cos, sin, mask, causal, cache, i, False)
        else:  # (exporting keeps module calls: they name the graph's nodes after the blocks)
            for i, block in enumerate(blocks):
                x = block(x, cos, sin, mask, causal, cache, i, compiling)
        return _rms_norm(x, self.norm, compiling)
