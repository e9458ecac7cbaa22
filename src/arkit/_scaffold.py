"""``arkit new-plugin NAME``: write a plugin package that installs and passes its own contract tests.

The package is what docs/writing-a-plugin.md describes: a ``pyproject.toml`` with
the ``arkit`` entry point, a ``src/`` layout, one file per component, the hooks
that register them, contract tests already wired to :mod:`arkit.testing`, a
README and a CHANGELOG. Every component is small but real (it passes its kind's
contract), so the author starts from green tests and changes one thing at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
import importlib.metadata
import os
from pathlib import Path
import re
import shutil
import tempfile

from ._version import __version__
from .errors import ConfigError

__all__ = ["KINDS", "write_plugin"]

#: The kinds a scaffold can hold, with the file and class each one writes.
KINDS: dict[str, tuple[str, str]] = {
    "tokenizer": ("tokenizer.py", "CharTokenizer"),
    "head": ("head.py", "LinearHead"),
    "sampler": ("sampler.py", "TemperatureSampler"),
    "drafter": ("drafter.py", "RepeatLastDrafter"),
    "constraint": ("constraint.py", "LengthLimit"),
}
DEFAULT_KINDS = ("tokenizer", "sampler", "constraint")

_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")

# -- components: each passes its kind's contract as written --------------------------------------

_TOKENIZER = '''"""A character tokenizer over a fixed alphabet: replace it with your domain's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import arkit


class CharTokenizer:
    """Characters of ``alphabet`` as ids ``0 .. n-1``, then ``bos``, ``eos`` and ``pad``. Lossless."""

    lossless = True

    def __init__(self, *, alphabet: str = "abcdefghijklmnopqrstuvwxyz ") -> None:
        if not isinstance(alphabet, str) or not alphabet or len(set(alphabet)) != len(alphabet):
            raise arkit.ConfigError(f"alphabet must be a non-empty string without repeats, got {{alphabet!r}}")
        self.alphabet = alphabet
        self._ids = {{ch: i for i, ch in enumerate(alphabet)}}
        n = len(alphabet)
        self.special_tokens = {{"bos": n, "eos": n + 1, "pad": n + 2}}
        self.vocab_size = n + 3

    @property
    def config(self) -> Mapping[str, Any]:
        return {{"alphabet": self.alphabet}}

    def encode(self, item: str) -> list[int]:
        if not isinstance(item, str):
            raise arkit.InputError(f"{name} tokenizer encodes strings, got {{type(item).__name__}}")
        try:
            return [self._ids[ch] for ch in item]
        except KeyError as exc:
            raise arkit.InputError(f"{{exc.args[0]!r}} is not in the alphabet {{self.alphabet!r}}") from None

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.alphabet[i] for i in ids if 0 <= i < len(self.alphabet))
'''

_HEAD = '''"""A linear head: hidden states to logits (an ``nn.Module``, so its weights are saved)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

import arkit


class LinearHead(nn.Module):
    """``logits = hidden @ W.T + b``."""

    def __init__(self, *, d_model: int, vocab_size: int) -> None:
        super().__init__()
        if d_model < 1 or vocab_size < 1:
            raise arkit.ConfigError(f"d_model and vocab_size must be >= 1, got {{d_model}} and {{vocab_size}}")
        self.d_model, self.vocab_size = d_model, vocab_size
        self.proj = nn.Linear(d_model, vocab_size)
        nn.init.normal_(self.proj.weight, std=0.02)
        nn.init.zeros_(self.proj.bias)

    @property
    def config(self) -> Mapping[str, Any]:
        return {{"d_model": self.d_model, "vocab_size": self.vocab_size}}

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.proj(hidden)
'''

_SAMPLER = '''"""Sampling at a temperature: the simplest sampler that draws from a distribution."""

from __future__ import annotations

from collections.abc import Mapping
import math
from typing import Any

import torch

import arkit


class TemperatureSampler:
    """Draws from ``softmax(logits / temperature)``."""

    deterministic = False

    def __init__(self, *, temperature: float = 1.0) -> None:
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 < temperature < math.inf:
            raise arkit.ConfigError(f"temperature must be a finite number > 0, got {{temperature!r}}")
        self.temperature = float(temperature)

    @property
    def config(self) -> Mapping[str, Any]:
        return {{"temperature": self.temperature}}

    def process(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return logits / self.temperature  # a new tensor: the logits are not modified

    def select(self, scores: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if not bool(torch.isfinite(scores).any(-1).all()):
            raise arkit.GenerationError("a row has no token left to sample (every score is -inf)")
        probs = torch.softmax(scores.float(), dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
'''

_DRAFTER = '''"""A drafter that proposes the last token again: replace it with your domain's guess of what comes next."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

import arkit


class RepeatLastDrafter:
    """Proposes each row's last token ``k`` times, deterministically (no ``probs``)."""

    def __init__(self, *, vocab_size: int) -> None:
        if vocab_size < 1:
            raise arkit.ConfigError(f"vocab_size must be >= 1, got {{vocab_size}}")
        self.vocab_size = vocab_size

    @property
    def config(self) -> Mapping[str, Any]:
        return {{"vocab_size": self.vocab_size}}

    def propose(self, tokens: torch.Tensor, k: int) -> arkit.Draft:
        last = tokens[:, -1:].clamp(min=0)  # -1 marks "no token": an empty row drafts id 0
        return arkit.Draft(tokens=last.repeat(1, k))
'''

_CONSTRAINT = '''"""A constraint: rows use only some ids, at most ``max_tokens`` of them, then may only end."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import arkit


class LengthLimit:
    """Allow ``allowed`` ids for up to ``max_tokens`` tokens; then only ``eos_token_id`` (if given).

    The state is the number of tokens so far (an int: immutable, as states must be).
    A row of at least one token is complete.
    """

    def __init__(self, *, allowed: Sequence[int], max_tokens: int = 16, eos_token_id: int | None = None) -> None:
        ids = sorted({{int(t) for t in allowed}})
        if not ids or ids[0] < 0:
            raise arkit.ConfigError(f"allowed must hold token ids >= 0, got {{list(allowed)!r}}")
        if max_tokens < 1:
            raise arkit.ConfigError(f"max_tokens must be >= 1, got {{max_tokens}}")
        if eos_token_id is not None and eos_token_id in ids:
            raise arkit.ConfigError(f"eos_token_id {{eos_token_id}} is also among the allowed ids: it ends a row")
        self.ids, self.max_tokens, self.eos_token_id = ids, max_tokens, eos_token_id

    @property
    def config(self) -> Mapping[str, Any]:
        return {{"allowed": self.ids, "max_tokens": self.max_tokens, "eos_token_id": self.eos_token_id}}

    def start(self) -> int:
        return 0

    def allowed(self, state: int) -> list[int]:
        ids = list(self.ids) if state < self.max_tokens else []
        if state >= 1 and self.eos_token_id is not None:
            ids.append(self.eos_token_id)
        return ids

    def advance(self, state: int, token: int) -> int:
        return state if token == self.eos_token_id else state + 1

    def complete(self, state: int) -> bool:
        return state >= 1
'''

_SOURCES = {"tokenizer": _TOKENIZER, "head": _HEAD, "sampler": _SAMPLER, "drafter": _DRAFTER,
            "constraint": _CONSTRAINT}

#: (hook, registration line, contract class, contract body) per kind.
_WIRING = {
    "tokenizer": ("arkit_register_tokenizers", 'register("{name}/chars", "{module}.tokenizer:CharTokenizer",\n             description="Characters as ids, then bos, eos and pad.", examples=("hello world", ""))',
                  "TokenizerContract",
                  '    component = "{name}/chars"  # the default alphabet: a-z and space\n'
                  '    items = st.text(alphabet="abcxyz ")\n    invalid_items = st.text(alphabet="XYZ", min_size=1)\n'),
    "head": ("arkit_register_heads", 'register("{name}/linear", "{module}.head:LinearHead",\n             description="A linear projection to the vocabulary.")', "HeadContract",
             '    component = "{name}/linear"\n    config = {{"d_model": 16, "vocab_size": 12}}\n'),
    "sampler": ("arkit_register_samplers", 'register("{name}/temperature", "{module}.sampler:TemperatureSampler",\n             description="Draws from softmax(logits / temperature).")', "SamplerContract",
                '    component = "{name}/temperature"\n    config = {{"temperature": 0.7}}\n'),
    "drafter": ("arkit_register_drafters", 'register("{name}/repeat-last", "{module}.drafter:RepeatLastDrafter",\n             description="Proposes the last token of each row k times.")', "DrafterContract",
                '    component = "{name}/repeat-last"\n    config = {{"vocab_size": 12}}\n'),
    "constraint": ("arkit_register_constraints", 'register("{name}/length-limit", "{module}.constraint:LengthLimit",\n             description="Allowed ids for up to max_tokens tokens, then only eos.")', "ConstraintContract",
                   '    component = "{name}/length-limit"\n'
                   '    config = {{"allowed": [0, 1, 2], "max_tokens": 8, "eos_token_id": 4}}\n'
                   '    vocab_size = 6\n'),
}


def _module(name: str) -> str:
    return "arkit_" + name.replace("-", "_")


def _title(name: str) -> str:
    return name.replace("-", " ").title()


def _arkit_range() -> str:
    """``arkit>=X.Y,<X.(Y+1)`` before 1.0, ``arkit>=X.Y,<X+1`` after: the series this arkit belongs to."""
    major, minor = (int(p) for p in re.findall(r"\d+", __version__)[:2])
    upper = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
    return f"arkit>={major}.{minor},<{upper}"


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"plugin name {name!r} is not valid: use lowercase letters, digits and single hyphens, "
                          f"starting with a letter (it becomes the namespace 'NAME/...' and the package arkit_NAME)")
    if name == "core" or name == "testing":
        raise ConfigError(f"{name!r} is arkit's own namespace: choose another name for your plugin")
    taken = {ep.name: ep.dist.name if ep.dist else "?" for ep in importlib.metadata.entry_points(group="arkit")}
    if name in taken:
        raise ConfigError(f"the plugin name {name!r} is already used by the installed distribution {taken[name]!r}: "
                          f"two plugins cannot share a namespace; choose another name")


def _kinds(kinds: Sequence[str]) -> list[str]:
    chosen = list(dict.fromkeys(kinds))
    unknown = [k for k in chosen if k not in KINDS]
    if unknown or not chosen:
        raise ConfigError(f"cannot scaffold kinds {unknown or '(none)'}: choose from {', '.join(KINDS)} (backbones "
                          f"and caches are best started from the core's: see docs/writing-a-plugin.md)")
    return chosen


def _files(name: str, kinds: list[str]) -> dict[str, str]:
    module, title = _module(name), _title(name)
    files: dict[str, str] = {}
    for kind in kinds:
        filename, _ = KINDS[kind]
        files[f"src/{module}/{filename}"] = _SOURCES[kind].format(name=name)
    hooks = "".join(
        f"\n\n@arkit.hookimpl\ndef {_WIRING[k][0]}(register: ComponentRegister) -> None:\n"
        f"    {_WIRING[k][1].format(name=name, module=module)}\n" for k in kinds
    )
    # Components are registered by import path: they (and torch) are imported on first use, so that
    # `arkit --help` and `arkit plugins` stay fast with this plugin installed.
    files[f"src/{module}/plugin.py"] = (
        f'"""The hooks arkit calls to register the {name} plugin\'s components (entry point `{name}`).\n\n'
        f'Each component is registered by its import path and imported the first time it is created."""\n\n'
        f"from __future__ import annotations\n\nimport arkit\nfrom arkit.hookspecs import ComponentRegister\n"
        f"{hooks}"
    )
    files[f"src/{module}/__init__.py"] = f'"""{title}: components for arkit."""\n\n__version__ = "0.1.0"\n'
    files[f"src/{module}/py.typed"] = ""
    contracts = sorted({_WIRING[k][2] for k in kinds})
    needs_st = "tokenizer" in kinds
    tests = "".join(f"\n\nclass Test{KINDS[k][1]}({_WIRING[k][2]}):\n{_WIRING[k][3].format(name=name)}" for k in kinds)
    files["tests/test_contracts.py"] = (
        f'"""arkit\'s contract suite over every component of the plugin, as installed (through its entry point)."""\n\n'
        f"from __future__ import annotations\n\n"
        + ("from hypothesis import strategies as st\n\n" if needs_st else "")
        + f"import arkit\nfrom arkit.testing import {', '.join(contracts)}\n{tests}"
        + "\n\ndef test_the_plugin_loads_without_errors() -> None:\n"
        + f"    plugin = next(p for p in arkit.list_plugins() if p.name == {name!r})\n"
        + "    assert plugin.error is None, plugin.error\n"
        + f"    assert len(plugin.components) == {len(kinds)}\n"
    )
    files["pyproject.toml"] = f'''[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "arkit-{name}"
version = "0.1.0"
description = "{title} components for arkit"
readme = "README.md"
requires-python = ">=3.10"
license = "Apache-2.0"
classifiers = ["Programming Language :: Python :: 3", "Typing :: Typed"]
# Before arkit 1.0, minor releases may break plugins: pin the series you test against.
dependencies = ["{_arkit_range()}"]

[project.optional-dependencies]
test = ["pytest>=8", "hypothesis>=6.100"]

# The entry point in the `arkit` group is all arkit needs to find the plugin. Its name
# ("{name}") is the plugin's namespace: every component it registers is "{name}/...".
[project.entry-points.arkit]
{name} = "{module}.plugin"

[tool.setuptools.packages.find]
where = ["src"]
include = ["{module}*"]

[tool.setuptools.package-data]
{module} = ["py.typed"]

[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = "-ra --strict-markers"
'''
    rows = "".join(f"| `{name}/{_WIRING[k][1].split(chr(34))[1].split('/')[1]}` | {k} | `{KINDS[k][1]}` in "
                   f"`src/{module}/{KINDS[k][0]}` |\n" for k in kinds)
    files["README.md"] = f'''# arkit-{name}

{title} components for arkit, registered through the
`arkit` entry point `{name}`.

| name | kind | class |
|---|---|---|
{rows}
## Develop

```console
$ pip install -e ".[test]"
$ arkit plugins --check            # the plugin loads (exit status 1 if any plugin fails)
$ arkit components --pattern '{name}/*'
$ pytest                           # arkit's contract suite over every component
```

Each component is a small working example: change it into your domain's, keep
`config` JSON (it is saved with pipelines), and keep the contract tests green. See
arkit's docs/writing-a-plugin.md and docs/hooks.md.
'''
    files["CHANGELOG.md"] = f'''# Changelog

All notable changes to `arkit-{name}` are listed here. The format follows
[Keep a Changelog](https://keepachangelog.com/en/1.1.0/) and the project uses
[Semantic Versioning](https://semver.org/spec/v2.0.0.html).

## [Unreleased]

## [0.1.0]

### Added

- {", ".join(f"`{k}`" for k in kinds)} components, written by `arkit new-plugin` (arkit {__version__}).
'''
    return files


def write_plugin(name: str, directory: str | Path | None = None, *, kinds: Sequence[str] = DEFAULT_KINDS) -> Path:
    """Write the package ``arkit-NAME`` into ``directory`` (default ``./arkit-NAME``); return its path.

    The folder must not exist or be empty. It is written to a temporary folder
    next to it and renamed into place, so a failure leaves nothing behind.
    """
    _check_name(name)
    chosen = _kinds(kinds)
    target = Path(directory) if directory is not None else Path(f"arkit-{name}")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(f"{target} already exists and is not an empty folder: choose another --out")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    try:
        for relative, text in _files(name, chosen).items():
            path = tmp / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        if target.is_dir():
            target.rmdir()  # empty, checked above
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
