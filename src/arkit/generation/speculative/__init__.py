"""Speculative decoding: a drafter proposes, the target checks every row's draft in one pass.

:func:`decode_speculative` is the loop (``loop.py``); its docstring says where each part lives.
"""

from __future__ import annotations

from .loop import decode_speculative

__all__ = ["decode_speculative"]
