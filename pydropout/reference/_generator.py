"""The reference's own Generator: the state of a Philox4x32-10 stream, in Python.

It has the compiled ``pydropout.Generator``'s state API, validation and error messages:
``seed``, ``stream`` and ``offset`` properties, ``get_state``/``set_state``,
``manual_seed``, pickling and copying, and ``_reserve(n)``, which takes ``n`` words
atomically (a ``threading.Lock``) and raises ValueError, changing nothing, when they
would pass 2**64.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Optional, Tuple, Union, overload

from ._checks import TWO64, state_offset, u64

__all__ = ["Generator", "default_generator"]

_State = Tuple[int, int, int]


def entropy_seed() -> int:
    """A 64-bit seed from the operating system's entropy."""
    return int.from_bytes(os.urandom(8), "little")


class _Word:
    """A readable, writable field of the state (``g.seed``, ``g.stream``, ``g.offset``): an
    integer in [0, 2**64), read and written under the generator's lock."""

    def __set_name__(self, owner: Any, name: str) -> None:
        self.name, self.slot = name, "_" + name

    @overload
    def __get__(self, g: None, owner: Any) -> _Word: ...
    @overload
    def __get__(self, g: Generator, owner: Any) -> int: ...
    def __get__(self, g: Optional[Generator], owner: Any) -> Union[int, _Word]:
        if g is None:
            return self
        with g._lock:
            return getattr(g, self.slot)

    def __set__(self, g: Generator, value: Any) -> None:
        v = u64(value, self.name)
        with g._lock:
            setattr(g, self.slot, v)


class Generator:
    """Generator(seed=None, *, stream=0, offset=0)

    The state of a Philox4x32-10 stream: ``(seed, stream, offset)``, integers in [0, 2**64).

    Word ``j`` of the stream is lane ``j % 4`` of the Philox block with counter
    ``(j // 4, stream)`` and key ``seed``. A call over ``n`` elements draws words
    ``offset .. offset + n - 1`` and advances ``offset`` by ``n``, whatever ``p`` is;
    evaluation-mode calls draw nothing. ``seed=None`` seeds from the operating system's
    entropy. A generator may be shared between threads: each call reserves its words
    atomically, so concurrent calls draw disjoint words.

    Attributes ``seed``, ``stream`` and ``offset`` are readable and writable;
    ``get_state()`` returns ``(seed, stream, offset)``, ``set_state(state)`` restores it,
    ``manual_seed(seed)`` sets the seed and rewinds the offset to 0. Generators pickle and
    copy. A call whose words would pass 2**64 raises ValueError and changes nothing.
    """

    __slots__ = ("_lock", "_seed", "_stream", "_offset", "__weakref__")

    def __init__(self, seed: Any = None, *, stream: Any = 0, offset: Any = 0) -> None:
        self._lock = threading.Lock()
        self._seed = entropy_seed() if seed is None else u64(seed, "seed")
        self._stream = u64(stream, "stream")
        self._offset = u64(offset, "offset")  # [0, 2**64]: 2**64 once the last word is drawn

    # -- the state ----------------------------------------------------------------------
    seed = _Word()
    stream = _Word()
    offset = _Word()

    def get_state(self) -> _State:
        """``(seed, stream, offset)``."""
        with self._lock:
            return self._seed, self._stream, self._offset

    def set_state(self, state: Any) -> None:
        """Restore a ``(seed, stream, offset)`` sequence, or a dict with those keys."""
        if isinstance(state, dict):
            for key in ("seed", "stream", "offset"):
                if key not in state:
                    raise ValueError(
                        f"state must have the keys seed, stream and offset; {key} is missing"
                    )
            seed, stream, offset = state["seed"], state["stream"], state["offset"]
        else:
            if not _is_sequence(state):
                raise TypeError(
                    f"state must be a (seed, stream, offset) tuple, got {type(state).__name__}"
                )
            if isinstance(state, (str, bytes)) or len(state) != 3:
                raise ValueError("state must be a (seed, stream, offset) tuple of 3 integers")
            seed, stream, offset = state[0], state[1], state[2]
        self._set(u64(seed, "seed"), u64(stream, "stream"), state_offset(offset))

    def _set(self, seed: int, stream: int, offset: int) -> None:
        with self._lock:
            self._seed, self._stream, self._offset = seed, stream, offset

    def manual_seed(self, seed: Any) -> Generator:
        """Set the seed and rewind the offset to 0 (the stream is kept); returns self."""
        s = u64(seed, "seed")
        with self._lock:
            self._seed = s
            self._offset = 0
        return self

    def _reserve(self, n: Any) -> _State:
        """Take words ``offset .. offset + n - 1``: returns the state before, advances the
        offset by ``n``; ValueError, nothing changed, if they would pass 2**64."""
        n = u64(n, "n")
        with self._lock:
            offset = self._offset
            if offset + n > TWO64:
                raise ValueError(
                    f"generator offset {offset} + {n} words would pass 2**64: "
                    "the stream never wraps"
                )
            self._offset = offset + n
            # an exhausted generator (offset 2**64) reserving 0 words reports offset 0, as
            # the compiled one does (its offsets are uint64): no word is drawn either way
            return self._seed, self._stream, offset % TWO64

    # -- pickling, copying, repr ------------------------------------------------------------
    def __getstate__(self) -> _State:
        return self.get_state()

    def __setstate__(self, state: Any) -> None:
        if getattr(self, "_lock", None) is None:  # a new instance from _rebuild
            self._lock = threading.Lock()
        seed, stream, offset = tuple(state)
        self._set(u64(seed, "seed"), u64(stream, "stream"), state_offset(offset))

    def __reduce__(self):
        return (_rebuild, (type(self), self.get_state()))

    def __repr__(self) -> str:
        seed, stream, offset = self.get_state()
        return f"Generator(seed={seed}, stream={stream}, offset={offset})"


def _rebuild(cls: Any, state: _State) -> Generator:
    g = cls.__new__(cls)
    g.__setstate__(state)
    return g


def _is_sequence(obj: Any) -> bool:
    """Whether ``obj`` indexes like a sequence (as the compiled core's check sees it)."""
    from collections.abc import Mapping

    return hasattr(type(obj), "__getitem__") and not isinstance(obj, Mapping)


#: the reference's default generator, seeded from the operating system's entropy
default_generator = Generator()
