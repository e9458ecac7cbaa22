"""Any transformers causal LM's base model as an arkit Backbone. Registered as ``hf/causal-lm``.

The wrapped model keeps its own architecture code; arkit supplies the inputs it
already understands (``input_ids``, ``position_ids``, a ready 4-D attention mask)
and a cache bridge, so every arkit cache (dynamic, static, sliding) stores the
model's keys and values through :meth:`arkit.protocols.Cache.update`.
"""

from __future__ import annotations

from collections.abc import Mapping
import inspect
from typing import Any

import torch
from torch import nn

import arkit
from arkit.protocols import Cache


class _CacheBridge:
    """The slice of transformers' ``Cache`` interface its attention layers call, backed by an arkit Cache."""

    is_compileable = False

    def __init__(self, cache: Cache, num_layers: int) -> None:
        self.cache = cache
        self.is_sliding = [False] * num_layers
        self.layers: list[Any] = []

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cache.update(layer_idx, key_states, value_states)

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.cache.seq_len

    def get_mask_sizes(self, cache_position: torch.Tensor, layer_idx: int = 0) -> tuple[int, int]:
        return self.cache.seq_len + cache_position.shape[0], 0


def _text_config(config: Any) -> Any:
    return config.get_text_config() if hasattr(config, "get_text_config") else config


class HFCausalLMBackbone(nn.Module):
    """The base model (everything but the LM head) of a transformers causal LM.

    ``config`` is the model's configuration as a dict (``model.config.to_dict()``);
    the architecture comes from its ``model_type``. Nothing is downloaded: build
    from a config, or wrap a model you loaded yourself with
    :func:`arkit_hf.from_transformers`.
    """

    def __init__(self, *, config: Mapping[str, Any]) -> None:
        super().__init__()
        import transformers

        config = dict(config)
        model_type = config.get("model_type")
        if not model_type:
            raise arkit.ConfigError("hf/causal-lm needs a transformers config dict with a 'model_type'")
        try:
            hf_config = transformers.AutoConfig.for_model(**config)
        except (ValueError, KeyError) as exc:
            raise arkit.ConfigError(f"transformers cannot build a config of type {model_type!r}: {exc}") from None
        hf_config._attn_implementation = "sdpa"
        self.model = transformers.AutoModel.from_config(hf_config)
        # transformers >= 5.2x names the cache argument `cache`; older releases `past_key_values`
        params = inspect.signature(self.model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        text = _text_config(hf_config)
        self._config = {"config": hf_config.to_diff_dict() | {"model_type": model_type}}
        self.vocab_size = int(text.vocab_size)
        self.d_model = int(text.hidden_size)
        self.max_seq_len = int(getattr(text, "max_position_embeddings", 2048))
        self.n_layers = int(text.num_hidden_layers)
        heads = int(text.num_attention_heads)
        self.n_kv_heads = int(getattr(text, "num_key_value_heads", None) or heads)
        self.head_dim = int(getattr(text, "head_dim", None) or self.d_model // heads)

    @property
    def config(self) -> Mapping[str, Any]:
        return {"config": dict(self._config["config"])}

    def cache_spec(self) -> arkit.CacheSpec:
        return arkit.CacheSpec(num_layers=self.n_layers, num_kv_heads=self.n_kv_heads, head_dim=self.head_dim)

    def forward(
        self,
        input_ids: torch.Tensor,
        *,
        positions: torch.Tensor,
        cache: Cache | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2 or input_ids.dtype != torch.long:
            raise arkit.InputError(f"input_ids must be a LongTensor [batch, seq], got {getattr(input_ids, 'shape', input_ids)!r}")
        if positions.shape != input_ids.shape:
            raise arkit.InputError(f"positions must be shaped like input_ids {tuple(input_ids.shape)}")
        checks = input_ids.numel() and not torch.compiler.is_compiling()  # value checks cannot be traced (ONNX export)
        if checks and (int(input_ids.min()) < 0 or int(input_ids.max()) >= self.vocab_size):
            raise arkit.InputError(f"token ids must lie in [0, {self.vocab_size})")
        if checks and int(positions.max()) >= self.max_seq_len:
            raise arkit.InputError(f"position {int(positions.max())} is beyond the model's context of {self.max_seq_len}")
        B, T = input_ids.shape
        past = cache.seq_len if cache is not None else 0
        if attention_mask is None:
            slots = torch.arange(past + T, device=input_ids.device)
            attention_mask = (slots[None, :] <= slots[past:, None]).expand(B, T, past + T)
        dtype = next(self.model.parameters()).dtype
        mask = torch.zeros(attention_mask.shape, dtype=dtype, device=input_ids.device)
        mask = mask.masked_fill_(~attention_mask, torch.finfo(dtype).min)[:, None]  # [B, 1, T, S]
        bridge = _CacheBridge(cache, self.n_layers) if cache is not None else None
        out = self.model(
            input_ids=input_ids,
            position_ids=positions,
            attention_mask=mask,
            use_cache=cache is not None,
            **{self._cache_arg: bridge},
            cache_position=torch.arange(past, past + T, device=input_ids.device),
        )
        return out.last_hidden_state
