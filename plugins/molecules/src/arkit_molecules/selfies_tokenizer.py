"""SELFIES tokenizer (registered as ``molecules/selfies``), built on the ``selfies`` package.

Items are SELFIES strings (:func:`to_selfies` makes them from SMILES, skipping and counting
the molecules ``selfies.encoder`` rejects). Every
sequence of SELFIES tokens decodes to a valid molecule, which is why a SELFIES
model's validity is 100 % by construction (Krenn et al., 2020). Tokens are the
bracketed symbols ``selfies.split_selfies`` yields; ``<tag>`` condition tokens may
come first. The alphabet is learned with :meth:`fit`; round trips are exact.
"""

from __future__ import annotations

from collections.abc import Iterable
import re

import selfies as sf

from arkit import InputError

from ._alphabet import _AlphabetTokenizer

__all__ = ["SelfiesTokenizer", "split_selfies", "to_selfies", "to_smiles"]

_TAGS = re.compile(r"<[^<>\s]+>")
_SYMBOL = re.compile(r"\[[^\[\]]+\]|\.")


def split_selfies(selfies: str) -> list[str]:
    """The tokens of a SELFIES string (leading ``<tag>`` tokens, then SELFIES symbols)."""
    tokens = []
    position = 0
    while (tag := _TAGS.match(selfies, position)) is not None:
        tokens.append(tag.group())
        position = tag.end()
    while position < len(selfies):
        symbol = _SYMBOL.match(selfies, position)
        if symbol is None:
            raise InputError(
                f"SELFIES {selfies!r}: character {selfies[position]!r} at position {position} is not inside a "
                f"[symbol]; SELFIES strings are sequences of bracketed symbols such as [C][=O]"
            )
        tokens.append(symbol.group())
        position = symbol.end()
    return tokens


def to_selfies(smiles: Iterable[str]) -> tuple[list[str], int]:
    """SELFIES of each SMILES, and how many were skipped because ``selfies.encoder`` rejects them.

    The encoder refuses molecules outside its valence rules (hypervalent iodine, some charged atoms).
    """
    out: list[str] = []
    skipped = 0
    for s in smiles:
        try:
            out.append(sf.encoder(s, strict=True))
        except sf.EncoderError:
            skipped += 1
    return out, skipped


def to_smiles(selfies: str) -> str:
    """The SMILES a SELFIES string decodes to, condition tags dropped ("" when it decodes to nothing)."""
    body = _TAGS.sub("", selfies)
    try:
        return sf.decoder(body) or ""
    except sf.DecoderError:
        return ""


class SelfiesTokenizer(_AlphabetTokenizer):
    """SELFIES strings <-> ids over a learned alphabet of SELFIES symbols.

    Same ids and options as :class:`arkit_molecules.SmilesTokenizer`; before
    :meth:`fit` the alphabet is ``selfies.get_semantic_robust_alphabet()`` plus the
    branch and ring symbols.
    """

    _default_alphabet = tuple(sorted(sf.get_semantic_robust_alphabet())) + tuple(
        f"[{kind}{n}]" for kind in ("Branch", "=Branch", "#Branch", "Ring", "=Ring") for n in (1, 2, 3)
        if f"[{kind}{n}]" not in sf.get_semantic_robust_alphabet()
    )
    _what = "SELFIES"

    def _split(self, item: str) -> list[str]:
        return split_selfies(item)
