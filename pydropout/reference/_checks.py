"""Argument checks of the reference's own helpers (error messages only, no arithmetic).

These reproduce the messages of the compiled core's argument conversion, so that the
reference's ``Generator`` and helpers fail exactly as the compiled ones do. Nothing here
imports any other part of pydropout.
"""

from __future__ import annotations

import operator
from typing import Any

TWO64 = 1 << 64


def u64(value: Any, name: str) -> int:
    """An integer in [0, 2**64): TypeError if not an integer, ValueError if out of range.

    Floats (numpy's included), bools and objects without ``__index__`` are not integers.
    """
    if isinstance(value, (bool, float)) or not hasattr(type(value), "__index__"):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    v = operator.index(value)
    if not 0 <= v < TWO64:
        raise ValueError(f"{name} must be in [0, 2**64), got {v}")
    return int(v)


def state_offset(value: Any) -> int:
    """A state's offset: [0, 2**64], the end included (a generator that drew its last word)."""
    if not isinstance(value, (bool, float)) and hasattr(type(value), "__index__"):
        if operator.index(value) == TWO64:
            return TWO64
    return u64(value, "offset")
