"""Atom-level SMILES tokenizer (registered as ``molecules/smiles``).

SMILES is split with the regular expression of Schwaller et al. (2019), the one
MolGPT, REINVENT and the Molecular Transformer use: bracket atoms (``[nH]``,
``[C@@H]``, ``[N+]``) are one token, so are the two-letter halogens ``Cl`` and
``Br`` and two-digit ring closures ``%10``; everything else is one character.
Condition tags written in angle brackets (``<qed2>``) are tokens too, which is how
property-conditioned training data marks its prefix (see ``conditioning.py``).

The alphabet is learned from training data with :meth:`fit` (``fitted`` is false
until then; :meth:`arkit.Pipeline.fit` fits it first) and saved in the tokenizer's
config. Before fitting, a default alphabet of common organic tokens is used.
Round trips are exact: ``decode(encode(s)) == s`` for every string the regex covers.
"""

from __future__ import annotations

import re

from arkit import InputError

from ._alphabet import _AlphabetTokenizer

__all__ = ["SMILES_PATTERN", "SmilesTokenizer", "split_smiles"]

#: Schwaller et al.'s SMILES regex, with ``<tag>`` condition tokens in front.
SMILES_PATTERN = (
    r"(<[^<>\s]+>|\[[^\[\]]+\]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|/|:|~|@|\?|>|\*|\$|%[0-9]{2}|[0-9])"
)
_REGEX = re.compile(SMILES_PATTERN)

_DEFAULT_ALPHABET = (
    "C", "c", "(", ")", "1", "O", "2", "N", "=", "n", "3", "F", "[nH]", "S", "4", "Cl", "s", "o", "#", "Br",
    "-", "5", "[C@@H]", "[C@H]", "/", "\\", "[O-]", "[N+]", "I", "P", "B", "6", "[C@]", "[C@@]", "[NH+]",
    "[NH3+]", "[NH2+]", "[n+]", "[N-]", "[S+]", "p", "b", "7", "8", "9", ".", "%10",
)


def split_smiles(smiles: str) -> list[str]:
    """The tokens of a SMILES string; :class:`arkit.InputError` names the first character no token covers."""
    tokens = _REGEX.findall(smiles)
    if sum(map(len, tokens)) != len(smiles):
        position = 0
        for match in _REGEX.finditer(smiles):
            if match.start() != position:
                break
            position = match.end()
        raise InputError(
            f"SMILES {smiles!r}: character {smiles[position]!r} at position {position} is not part of any SMILES "
            f"token (atoms, [bracket atoms], bonds, branches, ring digits or %nn)"
        )
    return tokens


class SmilesTokenizer(_AlphabetTokenizer):
    """SMILES strings <-> ids over a learned alphabet of atom-level tokens.

    - ``alphabet``: the token strings (ids 3, 4, ...); ``None`` means not fitted yet
      (a default alphabet of common organic tokens is used until :meth:`fit`).
    - ``vocab_size``: the id capacity, fixed so that a model can be built before
      fitting (default 128, or exactly the alphabet plus pad/bos/eos when one is given).
    """

    _default_alphabet = _DEFAULT_ALPHABET
    _what = "SMILES"

    def _split(self, item: str) -> list[str]:
        return split_smiles(item)
