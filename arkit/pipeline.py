"""Pipeline: a named set of components, and what users do with it.

A pipeline holds one tokenizer, backbone, head, sampler and cache (and
optionally a drafter). It generates, streams, trains, and saves itself as a
folder any arkit with the same plugins can load. It is immutable: swap a
component with :meth:`Pipeline.replace`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
import os
from pathlib import Path
import tempfile
import time
from typing import Any

import attrs
import torch

from . import _serialization
from .errors import ConfigError, InputError, PipelineFormatError
from .registry import check_conforms, create, get_preset
from .types import GenerationConfig, GenerationEvent, GenerationOutput, TrainConfig, TrainResult

__all__ = ["Pipeline"]


def _default(kind: str, name: str) -> Any:
    return attrs.Factory(lambda: create(kind, name))  # type: ignore[arg-type]


@attrs.frozen(kw_only=True, eq=False)
class Pipeline:
    """Tokenizer -> backbone -> head -> sampler, with a cache (and optionally a drafter).

    Build one from objects (``arkit.create(...)`` or your own classes that satisfy
    the protocols), from a preset (:meth:`from_preset`) or from a saved folder
    (:meth:`from_pretrained`)::

        pipe = arkit.Pipeline(
            tokenizer=arkit.create("tokenizer", "core/byte"),
            backbone=arkit.create("backbone", "core/transformer", vocab_size=259),
            head=arkit.create("head", "core/categorical", vocab_size=259),
        )
        out = pipe.generate(["Once upon a time"], max_new_tokens=20, seed=0)
    """

    tokenizer: Any
    backbone: Any
    head: Any
    sampler: Any = _default("sampler", "core/greedy")
    cache: Any = _default("cache", "core/dynamic")
    drafter: Any = None

    def __attrs_post_init__(self) -> None:
        for role, obj in self.components.items():
            check_conforms(role, obj, what=f"the pipeline's {role} ({type(obj).__name__})")
        if self.head.d_model != self.backbone.d_model:
            raise ConfigError(
                f"head d_model ({self.head.d_model}) differs from backbone d_model ({self.backbone.d_model})"
            )
        if self.head.vocab_size != self.tokenizer.vocab_size:
            raise ConfigError(
                f"head vocab_size ({self.head.vocab_size}) differs from the tokenizer's ({self.tokenizer.vocab_size})"
            )
        if self.backbone.vocab_size < self.tokenizer.vocab_size:
            raise ConfigError(
                f"backbone vocab_size ({self.backbone.vocab_size}) is smaller than the tokenizer's "
                f"({self.tokenizer.vocab_size}): its embedding cannot take every token"
            )

    # -- composition -------------------------------------------------------------
    @property
    def components(self) -> dict[str, Any]:
        """The components by role, without empty optional ones."""
        roles = ("tokenizer", "backbone", "head", "sampler", "drafter", "cache")
        return {role: getattr(self, role) for role in roles if getattr(self, role) is not None}

    def replace(self, **components: Any) -> Pipeline:
        """A new pipeline sharing every component except those given (``drafter=None`` removes one)."""
        unknown = set(components) - {f.name for f in attrs.fields(Pipeline)}
        if unknown:
            raise ConfigError(f"Pipeline has no component(s) {sorted(unknown)}")
        return attrs.evolve(self, **components)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> Pipeline:
        """Build a registered preset. Each override is a component object, or a dict of
        config values merged into the preset's config for that role (``backbone={"n_layers": 2}``)."""
        preset = get_preset(name)
        components: dict[str, Any] = {}
        for role in set(preset.components) | set(overrides):
            override = overrides.get(role)
            if override is not None and not isinstance(override, Mapping):
                components[role] = override
                continue
            if role not in preset.components:
                raise ConfigError(f"preset {preset.name!r} has no {role}; pass a component object for it")
            ref, config = preset.components[role]
            components[role] = create(role, ref, **{**config, **(override or {})})  # type: ignore[arg-type]
        return cls(**components)

    @property
    def num_parameters(self) -> int:
        """Trainable and frozen parameters of every ``nn.Module`` component."""
        return sum(p.numel() for m in self._modules() for p in m.parameters())

    def _modules(self) -> list[torch.nn.Module]:
        return [c for c in self.components.values() if isinstance(c, torch.nn.Module)]

    def to(self, device: str | torch.device) -> Pipeline:
        """Move every module component to ``device`` (in place) and return the pipeline."""
        for module in self._modules():
            module.to(device)
        return self

    # -- tokens ------------------------------------------------------------------
    def encode(self, item: Any) -> list[int]:
        """Token ids of a prompt: the tokenizer's ids after its ``bos`` token, if it has one."""
        bos = self.tokenizer.special_tokens.get("bos")
        ids = list(self.tokenizer.encode(item))
        return ([bos] if bos is not None else []) + ids

    def _prompt_ids(self, prompts: Any, prompt_ids: Sequence[Sequence[int]] | None) -> list[list[int]]:
        if (prompts is None) == (prompt_ids is None):
            raise InputError("pass either prompts (items to encode) or prompt_ids (token ids), not both or neither")
        if prompt_ids is not None:
            return [[int(t) for t in row] for row in prompt_ids]
        if isinstance(prompts, (str, bytes)):
            prompts = [prompts]
        if not isinstance(prompts, Sequence):
            raise InputError(f"prompts must be a list of items, got {type(prompts).__name__}")
        return [self.encode(p) for p in prompts]

    # -- generation --------------------------------------------------------------
    def generate(
        self,
        prompts: Any = None,
        *,
        prompt_ids: Sequence[Sequence[int]] | None = None,
        config: GenerationConfig | None = None,
        **overrides: Any,
    ) -> GenerationOutput:
        """Generate a continuation of each prompt.

        ``prompts`` is a list of items the tokenizer encodes (a single ``str`` is
        accepted); ``prompt_ids`` gives token ids instead. ``overrides`` change
        fields of ``config`` (``max_new_tokens=64, seed=0``).
        """
        ids = self._prompt_ids(prompts, prompt_ids)
        config = self._config(config, overrides)
        start = time.perf_counter()
        sequences: list[list[int]] = [[] for _ in ids]
        logprobs: list[list[float]] = [[] for _ in ids]
        reasons: list[Any] = ["length"] * len(ids)
        events = self._decode(ids, config)
        steps = 0
        while True:
            try:
                event, lp = next(events)
            except StopIteration as stop:
                steps = stop.value
                break
            sequences[event.row].append(event.token_id)
            if lp is not None:
                logprobs[event.row].append(lp)
            if event.finish_reason is not None:
                reasons[event.row] = event.finish_reason
        return GenerationOutput(
            sequences=tuple(tuple(s) for s in sequences),
            prompt_lengths=tuple(len(p) for p in ids),
            finish_reasons=tuple(reasons),
            decoded=tuple(self.tokenizer.decode(s) for s in sequences),
            logprobs=tuple(tuple(lp) for lp in logprobs) if config.output_logprobs else None,
            num_steps=steps,
            elapsed_s=time.perf_counter() - start,
        )

    def stream(
        self,
        prompts: Any = None,
        *,
        prompt_ids: Sequence[Sequence[int]] | None = None,
        config: GenerationConfig | None = None,
        **overrides: Any,
    ) -> Iterator[GenerationEvent]:
        """Like :meth:`generate`, but yield each token of each row as soon as it exists."""
        ids = self._prompt_ids(prompts, prompt_ids)
        for event, _ in self._decode(ids, self._config(config, overrides)):
            yield event

    def _config(self, config: GenerationConfig | None, overrides: Mapping[str, Any]) -> GenerationConfig:
        config = config or GenerationConfig()
        if overrides:
            fields = {f.name for f in attrs.fields(GenerationConfig)}
            unknown = set(overrides) - fields
            if unknown:
                raise ConfigError(f"unknown generation option(s) {sorted(unknown)}; options are {sorted(fields)}")
            config = attrs.evolve(config, **overrides)
        return config

    def _decode(self, ids: list[list[int]], config: GenerationConfig) -> Any:
        from .generation.loop import decode

        for module in self._modules():
            module.eval()
        return decode(self, ids, config)

    # -- training ----------------------------------------------------------------
    def fit(self, data: Iterable[Any], config: TrainConfig | None = None, **overrides: Any) -> TrainResult:
        """Train the backbone and head on ``data`` (items the tokenizer encodes) by next-token prediction."""
        from .training.fit import fit

        config = config or TrainConfig()
        if overrides:
            config = attrs.evolve(config, **overrides)
        return fit(self, data, config)

    # -- persistence -------------------------------------------------------------
    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        """Write the pipeline to ``directory`` (created or atomically replaced); return its path."""
        return _serialization.save_pipeline(self.components, directory)

    @classmethod
    def from_pretrained(
        cls, path_or_repo_id: str | os.PathLike[str], *, revision: str | None = None, token: str | None = None
    ) -> Pipeline:
        """Load a pipeline saved by :meth:`save_pretrained`, from a folder or a Hugging Face Hub repo.

        A folder path is read directly; anything else is fetched with
        ``huggingface_hub.snapshot_download(repo_id, revision=revision)``.
        Components are rebuilt from the installed plugins; no code is loaded from the artifact.
        """
        path = Path(path_or_repo_id)
        if not path.is_dir():
            path = Path(_download(str(path_or_repo_id), revision=revision, token=token))
        return cls(**_serialization.load_components(path))

    def push_to_hub(
        self,
        repo_id: str,
        *,
        private: bool | None = None,
        token: str | None = None,
        revision: str | None = None,
        commit_message: str = "Upload arkit pipeline",
    ) -> Any:
        """Save the pipeline and upload it to a Hugging Face Hub model repo (created if missing)."""
        import huggingface_hub

        api = huggingface_hub.HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            folder = self.save_pretrained(Path(tmp) / "pipeline")
            return api.upload_folder(
                repo_id=repo_id, folder_path=str(folder), revision=revision, commit_message=commit_message
            )


def _download(repo_id: str, *, revision: str | None, token: str | None) -> str:
    import huggingface_hub
    from huggingface_hub.errors import HFValidationError

    try:
        return huggingface_hub.snapshot_download(repo_id, revision=revision, token=token)
    except HFValidationError:
        raise PipelineFormatError(
            f"{repo_id!r} is neither a folder nor a valid Hub repo id ('org/name')"
        ) from None
    except Exception as exc:  # noqa: BLE001 - network, auth, missing repo: say which and why
        raise PipelineFormatError(
            f"could not fetch {repo_id!r} (revision {revision or 'main'}) from the Hugging Face Hub: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
