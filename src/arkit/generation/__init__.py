"""The decode loop and its helpers."""

from .loop import decode

__all__ = ["decode"]
