"""Pipeline: a named set of components, and what users do with it.

A pipeline holds one tokenizer, backbone, head, sampler and cache (and
optionally a drafter, an acceptance rule and a constraint). It generates, streams, trains, and saves itself as a
folder any arkit with the same plugins can load. It is immutable: swap a
component with :meth:`Pipeline.replace`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
import os
from pathlib import Path
import tempfile
from typing import Any

import attrs
import torch

from . import _serialization
from .errors import ConfigError, PipelineFormatError, UnknownComponentError
from .registry import check_conforms, create, get_preset
from .protocols import Constraint
from .types import KINDS, Conditioned, GenerationConfig, GenerationEvent, GenerationOutput, TrainConfig, TrainResult

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
    acceptance: Any = None
    """How drafts are accepted; ``None`` with a drafter means ``core/exact`` (lossless)."""
    constraint: Any = None
    """The :class:`~arkit.protocols.Constraint` that ``generate`` and ``stream`` apply when a call
    passes none (``constraint=`` on a call replaces it for that call); saved with the pipeline."""

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
        drafter_vocab = getattr(self.drafter, "vocab_size", None)
        if drafter_vocab is not None and drafter_vocab != self.tokenizer.vocab_size:
            raise ConfigError(
                f"the drafter's vocab_size ({drafter_vocab}) differs from the tokenizer's ({self.tokenizer.vocab_size}): "
                f"drafter and target must share a tokenizer"
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
        return {role: getattr(self, role) for role in KINDS if getattr(self, role) is not None}

    def replace(self, **components: Any) -> Pipeline:
        """A new pipeline sharing every component except those given (``drafter=None`` removes one)."""
        unknown = set(components) - {f.name for f in attrs.fields(Pipeline)}
        if unknown:
            raise ConfigError(f"Pipeline has no component(s) {sorted(unknown)}")
        return attrs.evolve(self, **components)

    @classmethod
    def from_preset(cls, name: str, *, pretrained: bool = True, **overrides: Any) -> Pipeline:
        """Build a registered preset. Each override is a component object, or a dict of
        config values merged into the preset's config for that role (``backbone={"n_layers": 2}``).

        A preset that ships weights (``arkit presets`` lists them) loads them into its
        modules; ``pretrained=False`` gives fresh, randomly initialised ones. A preset that
        extends another (its ``base``) starts from the base's components and weights. An override
        that changes a pretrained module's shapes raises :class:`arkit.ConfigError`.
        """
        preset = get_preset(name)
        chain = _preset_chain(preset)
        recipe = {role: spec for p in chain for role, spec in p.components.items()}  # later presets win
        trained: dict[str, Any] = {}
        for p in chain if pretrained else ():
            if p.weights is not None:  # a preset with a base ships only what it adds: a partial folder
                trained.update(_serialization.load_components(p.weights, partial=p.base is not None))
        components: dict[str, Any] = {}
        # a fixed order (KINDS, then anything unknown by name), so the same torch seed gives the same weights
        roles = [k for k in KINDS if k in recipe or k in overrides]
        for role in roles + sorted(set(overrides) - set(KINDS)):
            override = overrides.get(role)
            if override is not None and not isinstance(override, Mapping):
                components[role] = override
                continue
            if role not in recipe:
                raise ConfigError(f"preset {preset.name!r} has no {role}; pass a component object for it")
            module = trained.get(role)
            if isinstance(module, torch.nn.Module) and not override:
                components[role] = module  # the shipped component, weights and all
                continue
            ref, config = recipe[role]
            components[role] = create(role, ref, **{**config, **(override or {})})  # type: ignore[arg-type]
            if isinstance(module, torch.nn.Module):
                try:
                    components[role].load_state_dict(module.state_dict())
                except RuntimeError as exc:
                    raise ConfigError(f"preset {preset.name!r} ships weights for its {role}, which the override "
                                      f"{dict(override or {})} does not fit ({str(exc).splitlines()[0]}); pass "
                                      f"pretrained=False for a freshly initialised model") from None
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

    # -- generation --------------------------------------------------------------
    def generate(
        self,
        prompts: Any = None,
        *,
        prompt_ids: Sequence[Sequence[int]] | None = None,
        config: GenerationConfig | None = None,
        constraint: Constraint | None = None,
        negative_prompts: Any = None,
        negative_prompt_ids: Sequence[Sequence[int]] | None = None,
        extra_inputs: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> GenerationOutput:
        """Generate a continuation of each prompt.

        - ``prompts``: a list of items the tokenizer encodes (a single ``str`` is
          accepted); or ``prompt_ids``: token ids, one list per row.
        - ``config`` / ``overrides``: a :class:`GenerationConfig`, or its fields as
          keywords (``max_new_tokens=64, seed=0, num_beams=4``). ``stop_sequences``
          may hold items, which are encoded with the tokenizer.
        - ``constraint``: an :class:`arkit.protocols.Constraint` every row obeys; ``None``
          uses the pipeline's own (:attr:`constraint`), if it has one.
        - ``negative_prompts`` / ``negative_prompt_ids``: the unconditional prompt of
          each row for classifier-free guidance (``guidance_scale != 1``); by default
          each row's unconditional prompt is the tokenizer's ``bos`` token alone.
        - ``extra_inputs``: tensors the backbone takes besides the tokens, by name, one
          row per prompt (``{"conditioning": FloatTensor[rows, cond_dim]}`` for a
          ``core/transformer`` built with ``cond_dim``); fed to every backbone call. With
          guidance the unconditional twins get zeros. What a backbone takes is declared
          by its export spec (:func:`arkit.hookspecs.arkit_register_export_specs`).
        """
        from .generation import run
        from .generation.request import build_request

        request = build_request(self, prompts, prompt_ids=prompt_ids, config=config, constraint=constraint,
                                negative_prompts=negative_prompts, negative_prompt_ids=negative_prompt_ids,
                                extra_inputs=extra_inputs, **overrides)
        return run.generate(self, request)

    def stream(
        self,
        prompts: Any = None,
        *,
        prompt_ids: Sequence[Sequence[int]] | None = None,
        config: GenerationConfig | None = None,
        constraint: Constraint | None = None,
        negative_prompts: Any = None,
        negative_prompt_ids: Sequence[Sequence[int]] | None = None,
        extra_inputs: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> Iterator[GenerationEvent]:
        """Like :meth:`generate`, but yield each token of each row as soon as it exists.

        Works for any batch size; events of one step come in row order, and each
        row's last event carries its ``finish_reason``. Beam search cannot stream.
        """
        from .generation import run
        from .generation.request import build_request

        request = build_request(self, prompts, prompt_ids=prompt_ids, config=config, constraint=constraint,
                                negative_prompts=negative_prompts, negative_prompt_ids=negative_prompt_ids,
                                extra_inputs=extra_inputs, **overrides)
        yield from run.stream(self, request)

    # -- training ----------------------------------------------------------------
    def fit(
        self, data: Iterable[Any], config: TrainConfig | None = None, *, eval_data: Iterable[Any] | None = None,
        schedule: Any = None, **overrides: Any,
    ) -> TrainResult:
        """Train the backbone and head on ``data`` (items the tokenizer encodes) by next-token prediction.

        ``data`` is a list (or other sequence) or any iterable of items; ``eval_data``
        (optional) is held-out data for periodic evaluation. With ``schedule`` (an
        :class:`arkit.NextScaleSchedule`) items are ``(prompt, maps)`` pairs and the
        model learns next-scale prediction: every token of a scale at once, block-causal
        over scales. With an :class:`arkit.BlockSchedule`, items are ``(prompt, blocks)``
        pairs and every block is learned at once, as :func:`arkit.generate_blocks`
        generates them. Items wrapped as :class:`arkit.Conditioned` carry the backbone's
        extra inputs (a conditioning vector per item); such items are not packed
        together. A learned tokenizer (one with ``fit`` and ``fitted = False``) is
        fitted on ``data`` first. See docs/training.md.
        """
        from .training.data import is_map_style
        from .training.fit import fit

        config = config or TrainConfig()
        if overrides:
            config = attrs.evolve(config, **overrides)
        learn = getattr(self.tokenizer, "fit", None)
        if callable(learn) and getattr(self.tokenizer, "fitted", True) is False:
            if not is_map_style(data):
                raise ConfigError("the tokenizer must learn from the data before the backbone, which reads it again: "
                                  "pass a list (or other sequence), or call tokenizer.fit(items) yourself first")
            learn([x.item if isinstance(x, Conditioned) else x for x in data])
        return fit(self, data, config, eval_data=eval_data, schedule=schedule)

    def load_checkpoint(self, path: str | os.PathLike[str]) -> int:
        """Load the backbone and head weights of a training checkpoint written by :meth:`fit`; return its step.

        ``path`` is a ``checkpoint-<step>`` folder, or a run's ``TrainConfig.out_dir`` (its newest
        checkpoint is loaded). The checkpoint must have been written for this pipeline's
        architecture (same tokenizer, backbone and head names and configs), else
        :class:`arkit.CheckpointError` says what differs. Optimiser and random states are left
        alone: to go on training, use ``TrainConfig(resume_from=...)`` instead.
        """
        from .training.checkpoint import load_model

        return load_model(self, path)

    # -- persistence -------------------------------------------------------------
    def save_pretrained(self, directory: str | os.PathLike[str], *, roles: Iterable[str] | None = None) -> Path:
        """Write the pipeline to ``directory`` (created or atomically replaced); return its path.

        ``roles`` saves only those components (a role or several: ``roles="drafter"``, heads or a draft model
        trained for a shipped model), for a preset that extends that model's preset (``base``);
        :meth:`from_pretrained` needs every role and refuses such a folder.
        """
        components = self.components
        if roles is not None:
            roles = [roles] if isinstance(roles, str) else list(roles)
            missing = [r for r in roles if r not in components]
            if missing or not roles:
                raise ConfigError(f"save_pretrained roles must name components this pipeline has "
                                  f"({sorted(components)}), got {roles}")
            components = {r: components[r] for r in roles}
        return _serialization.save_pipeline(components, directory)

    @classmethod
    def from_pretrained(
        cls, path_or_repo_id: str | os.PathLike[str], *, revision: str | None = None, token: str | None = None
    ) -> Pipeline:
        """Load a pipeline saved by :meth:`save_pretrained`, from a folder or a Hugging Face Hub repo.

        A folder path is read directly. Anything that looks like a path never goes to the
        network: a ``Path``, a string that starts with ``.``, ``/`` or ``~``, ends with a
        separator, or has a separator and an existing parent folder; a missing one raises
        :class:`arkit.PipelineFormatError` naming the folder tried. Anything else is a Hub repo
        id, fetched with ``huggingface_hub.snapshot_download(repo_id, revision=revision)``,
        or read from the local Hub cache alone when ``HF_HUB_OFFLINE`` is set.
        Components are rebuilt from the installed plugins; no code is loaded from the artifact.
        """
        path = Path(path_or_repo_id).expanduser() if isinstance(path_or_repo_id, (str, os.PathLike)) else None
        if path is None:
            raise PipelineFormatError(f"from_pretrained takes a folder path or a Hub repo id (a string), got "
                                      f"{type(path_or_repo_id).__name__}")
        if not path.is_dir() and not _serialization.recover_folder(path):  # a save killed mid-swap
            if _looks_like_path(path_or_repo_id):
                what = "is a file, not a saved pipeline folder" if path.exists() else "does not exist"
                raise PipelineFormatError(f"no saved pipeline at {str(path_or_repo_id)!r}: {path.absolute()} {what}. "
                                          f"A path is never fetched from the Hub; for a Hub repo pass its id "
                                          f"('org/name')")
            path = Path(_download(str(path_or_repo_id), revision=revision, token=token))
            # a Hub snapshot's files are links into its repo's blobs/: the repo folder is what they must stay in
            return cls(**_serialization.load_components(path, root=path.parent.parent))
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


def _preset_chain(preset: Any) -> list[Any]:
    """``preset`` and the presets it extends, the furthest base first."""
    chain = [preset]
    while chain[0].base is not None:
        if any(p.name == chain[0].base for p in chain):
            raise ConfigError(f"preset {preset.name!r} extends itself through {[p.name for p in chain]}: "
                              f"a preset's base chain must end")
        try:
            chain.insert(0, get_preset(chain[0].base))
        except UnknownComponentError:
            raise ConfigError(f"preset {chain[0].name!r} extends {chain[0].base!r}, which no installed plugin "
                              f"registers; install the plugin that provides it (arkit presets lists them)") from None
    return chain


def _looks_like_path(value: str | os.PathLike[str]) -> bool:
    """Whether ``from_pretrained``'s argument names a local path rather than a Hub repo id."""
    if not isinstance(value, str):
        return True  # a Path or other os.PathLike
    separators = tuple({"/", os.sep, *([os.altsep] if os.altsep else [])})
    if value.startswith((".", "~", *separators)) or value.endswith(separators) or Path(value).is_absolute():
        return True
    return any(sep in value for sep in separators) and Path(value).expanduser().parent.is_dir()


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _download(repo_id: str, *, revision: str | None, token: str | None) -> str:
    import huggingface_hub
    from huggingface_hub.errors import HFValidationError

    offline = _hub_offline()
    try:
        cache_only = {"local_files_only": True} if offline else {}
        return huggingface_hub.snapshot_download(repo_id, revision=revision, token=token, **cache_only)
    except HFValidationError:
        raise PipelineFormatError(
            f"{repo_id!r} is neither a folder nor a valid Hub repo id ('org/name')"
        ) from None
    except Exception as exc:  # noqa: BLE001 - network, auth, missing repo: say which and why
        if offline:
            raise PipelineFormatError(
                f"{repo_id!r} is not a local folder, and HF_HUB_OFFLINE is set, so it was looked up in the local "
                f"Hub cache only, where it is not (revision {revision or 'main'}); unset HF_HUB_OFFLINE to fetch it"
            ) from None
        raise PipelineFormatError(
            f"could not fetch {repo_id!r} (revision {revision or 'main'}) from the Hugging Face Hub: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
