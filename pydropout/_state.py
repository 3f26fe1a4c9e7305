"""DropoutState: what a backward needs to regenerate the randomness of a forward pass.

A forward pass is fully determined by the generator state it started from
(seed, stream, offset), the shape it drew over and its parameters, so a backward can
redraw the very same words instead of keeping a packed mask (or, for Gaussian dropout,
the noise). A state is a few Python integers and strings: immutable, hashable,
picklable, and it never draws anything by itself.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Tuple

from ._checks import MODES, U64_END, UPSCALE, check_p, check_shape, check_u64

#: what produced a state, and so which backward accepts it
KINDS = ("dropout", "alpha", "gaussian", "zoneout")


class DropoutState:
    """The randomness of one training forward pass, as a small immutable token.

    Attributes
    ----------
    seed, stream, offset : int
        The generator state the forward pass started from (its first word).
    shape : tuple of int
        The shape of the forward input (and so of the gradient).
    p : float
        The ``p`` of the forward pass.
    mode : str or None
        ``"upscale_in_train"`` or ``"downscale_in_infer"`` for plain dropout, None for
        the alpha and Gaussian variants.
    noise_shape : tuple of int or None
        The shape the words were drawn over, padded to ``len(shape)`` dims (None: the
        shape itself). It consumed ``prod(noise_shape)`` words.
    kind : {"dropout", "alpha", "gaussian", "zoneout"}
        Which forward made it: :func:`pydropout.dropout_backward`,
        :func:`pydropout.alpha_dropout_backward` and
        :func:`pydropout.gaussian_dropout_backward` each accept only their own kind.
    """

    __slots__ = ("_fields",)
    _fields: Tuple[Any, ...]  # (seed, stream, offset, shape, p, mode, noise_shape, kind)

    def __init__(
        self, seed, stream, offset, shape, p, mode=UPSCALE, noise_shape=None, kind="dropout"
    ):
        seed = check_u64(seed, "seed", "an integer")
        stream = check_u64(stream, "stream", "an integer")
        offset = check_u64(offset, "offset", "an integer")
        shape = check_shape(shape, "shape")
        p = check_p(p)
        if not isinstance(kind, str) or kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if kind == "dropout":
            if not isinstance(mode, str) or mode not in MODES:
                raise ValueError(f"mode must be one of {MODES} for kind 'dropout', got {mode!r}")
        elif mode is not None:
            raise ValueError(f"mode must be None for kind {kind!r}, got {mode!r}")
        if noise_shape is not None:
            noise_shape = check_shape(noise_shape, "noise_shape")
            if len(noise_shape) != len(shape) or any(
                d != s and d != 1 for d, s in zip(noise_shape, shape)
            ):
                raise ValueError(
                    f"noise_shape {noise_shape} does not broadcast to shape {shape} "
                    "with the same number of dimensions"
                )
            if noise_shape == shape:
                noise_shape = None
        if kind == "gaussian" and noise_shape is not None:
            raise ValueError("a Gaussian dropout state has no noise_shape")
        words = math.prod(shape if noise_shape is None else noise_shape)
        if offset + words > U64_END:
            raise ValueError(f"offset {offset} + {words} words would pass 2**64")
        object.__setattr__(
            self, "_fields", (seed, stream, offset, shape, p, mode, noise_shape, kind)
        )

    @classmethod
    def _trusted(cls, seed, stream, offset, shape, p, mode, noise_shape, kind) -> DropoutState:
        """A state of fields a forward call has just produced (ints, a shape tuple, a float p,
        no noise shape): what ``__init__`` would check already holds."""
        state = object.__new__(cls)
        object.__setattr__(
            state, "_fields", (seed, stream, offset, shape, p, mode, noise_shape, kind)
        )
        return state

    # -- read-only fields --------------------------------------------------------------
    seed = property(lambda self: self._fields[0])
    stream = property(lambda self: self._fields[1])
    offset = property(lambda self: self._fields[2])
    shape = property(lambda self: self._fields[3])
    p = property(lambda self: self._fields[4])
    mode = property(lambda self: self._fields[5])
    noise_shape = property(lambda self: self._fields[6])
    kind = property(lambda self: self._fields[7])

    @property
    def words(self) -> int:
        """How many words the forward pass consumed (and the backward redraws)."""
        return math.prod(self.shape if self.noise_shape is None else self.noise_shape)

    def __setattr__(self, name, value):
        raise AttributeError("DropoutState is immutable")

    def __delattr__(self, name):
        raise AttributeError("DropoutState is immutable")

    def __eq__(self, other):
        if not isinstance(other, DropoutState):
            return NotImplemented
        return self._fields == other._fields

    def __hash__(self):
        return hash(("DropoutState",) + self._fields)

    def __reduce__(self):
        return (DropoutState, self._fields)

    def __repr__(self):
        seed, stream, offset, shape, p, mode, noise, kind = self._fields
        s = f"DropoutState(seed={seed}, stream={stream}, offset={offset}, shape={shape}, p={p!r}"
        if mode is not None:
            s += f", mode={mode!r}"
        if noise is not None:
            s += f", noise_shape={noise}"
        return s + f", kind={kind!r})"


def check_state(
    state: Any, kind: str, p: float, shape: Tuple[int, ...], name: str = "state"
) -> DropoutState:
    """``state`` checked against the arguments of a backward call."""
    if not isinstance(state, DropoutState):
        raise TypeError(f"{name} must be a DropoutState, got {type(state).__name__}")
    if state.kind != kind:
        raise ValueError(f"{name} comes from a {state.kind!r} forward pass, not {kind!r}")
    if state.p != p:
        raise ValueError(f"p={p!r} does not match the p={state.p!r} of the forward pass")
    if tuple(shape) != state.shape:
        raise ValueError(f"grad has shape {tuple(shape)}, the forward pass had {state.shape}")
    return state


def resolve_noise(
    noise_shape: Optional[Tuple[int, ...]], state_noise: Optional[Tuple[int, ...]]
) -> None:
    """A ``noise_shape`` given with a state must be the state's."""
    if noise_shape is not None and noise_shape != state_noise:
        raise ValueError(
            f"noise_shape {noise_shape} does not match the forward pass's "
            f"{state_noise if state_noise is not None else 'None'}"
        )
