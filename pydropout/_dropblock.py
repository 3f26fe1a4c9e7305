"""DropBlock (Ghiasi et al., 2018; torchvision's ``drop_block2d/3d``), written once.

:class:`DropBlockApi` binds the public functions to a backend (the compiled one in
:mod:`pydropout._dropblock_compiled`, NumPy's in :mod:`pydropout.reference._dropblock`);
each backend supplies ``block_mask`` (the seeds, their blocks and the kept count, from a
:class:`BlockDraw`) and the pipeline backend's ``contiguous``/``empty``/``apply``. docs/CONTRACT.md section 6:

- ``gamma = p * H * W / (b**2 * (H - b + 1) * (W - b + 1))`` in float64 (3-d: with ``D``);
- seed positions ``(N, C, H - b + 1, W - b + 1)``, position ``k`` draws word ``offset + k``
  and is a seed iff the word ``< floor(min(gamma, 1) * 2**32)`` (all when ``gamma >= 1``);
- a seed at ``(n, c, i, j)`` drops ``x[n, c, i:i+b, j:j+b]``; kept elements are
  ``x * dtype(numel / (eps + K))``, ``K`` the kept count, dropped ones ``+0.0``.

The backward takes the forward's packed mask, or its :class:`DropBlockState` (a
``DropoutState`` of kind ``"drop_block"``), from which it draws the same seeds again.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Callable, NamedTuple, Optional, Tuple

import numpy as np

from . import _checks as ck
from ._state import DropoutState, check_state
from ._twins import annotated

_TWO32 = 4294967296.0

Shape = Tuple[int, ...]


def check_block_size(block_size: Any, spatial: Shape) -> int:
    """``block_size`` as an int in [1, min(spatial)], else ValueError naming it."""
    if isinstance(block_size, (bool, np.bool_)):
        raise ValueError(f"block_size must be an integer, got {block_size!r}")
    try:
        b = operator.index(block_size)
    except TypeError:
        raise ValueError(f"block_size must be an integer, got {block_size!r}") from None
    smallest = min(spatial)
    if b < 1 or b > smallest:
        raise ValueError(
            f"block_size must be in [1, {smallest}] (the smallest spatial size "
            f"of the input), got {b}"
        )
    return b


def check_eps(eps: Any) -> float:
    """``eps`` as a float >= 0 (docs/CONTRACT.md section 6; NaN is not), else ValueError naming it."""
    if isinstance(eps, (bool, np.bool_)):
        raise ValueError(f"eps must be a real number >= 0, got {eps!r}")
    try:
        e = float(eps)
    except (TypeError, ValueError):
        raise ValueError(f"eps must be a real number >= 0, got {eps!r}") from None
    if not e >= 0.0:
        raise ValueError(f"eps must be a real number >= 0, got {eps!r}")
    return e


def gamma(p: float, b: int, spatial: Shape) -> float:
    """The seed rate of docs/CONTRACT.md section 6, in float64 (torchvision's order of operations)."""
    num = p
    for size in spatial:
        num = num * size
    den = b ** len(spatial)
    for size in spatial:
        den = den * (size - b + 1)
    return num / den


def seed_rule(g: float) -> Tuple[int, bool]:
    """(t, all_seeds): a position is a seed iff its word < t; all of them when gamma >= 1."""
    if g >= 1.0:
        return 0, True
    return int(math.floor(g * _TWO32)), False


def block_scale(numel: int, kept: int, eps: float, dt: np.dtype) -> float:
    """``dtype(numel / (eps + K))``, the quotient in float64 rounded once (0 when K == 0:
    nothing is kept, so no element is scaled)."""
    if kept == 0:
        return 0.0
    q = float(numel) / (eps + float(kept))
    with np.errstate(over="ignore"):
        return float(np.array(q, dtype=np.float64).astype(dt))


def _popcount(mask: np.ndarray, n: int) -> int:
    return int(np.count_nonzero(np.unpackbits(mask, count=n, bitorder="little")))


class BlockDraw(NamedTuple):
    """What a backend's ``block_mask(draw) -> (mask, K)`` draws: the seeds of ``planes``
    planes of ``spatial`` (seed position ``k`` of all of them draws word ``offset + k`` of
    the stream ``(seed, stream)``, a seed iff it is ``< t``, all of them with
    ``all_seeds``), their ``b``-blocks dropped; the packed keep mask of the
    ``planes * prod(spatial)`` elements and ``K``, how many it keeps."""

    planes: int
    spatial: Shape
    b: int
    t: int
    all_seeds: bool
    seed: int
    stream: int
    offset: int

    @property
    def key(self) -> Tuple[int, int, int]:
        """``(seed, stream, offset)``, the first word's place in its stream."""
        return self.seed, self.stream, self.offset

    @classmethod
    def over(cls, shape: Shape, p: float, b: int, key: Tuple[int, int, int]) -> BlockDraw:
        """The draw of DropBlock over an input of ``shape`` from its first word ``key``."""
        t, all_seeds = seed_rule(gamma(p, b, shape[2:]))
        return cls(shape[0] * shape[1], shape[2:], b, t, all_seeds, *key)


def seed_words(shape: Shape, b: int) -> int:
    """The words DropBlock over ``shape`` draws: one a seed position."""
    return shape[0] * shape[1] * math.prod(s - b + 1 for s in shape[2:])


_KEY_NAMES = ("seed", "stream", "offset")


class DropBlockState(DropoutState):
    """The randomness of one DropBlock training pass: a :class:`DropoutState` of kind
    ``"drop_block"`` (``mode`` and ``noise_shape`` None) that also holds the
    ``block_size``. :func:`drop_block_backward` accepts it in place of the packed mask and
    draws the same seeds again; the other backwards refuse it by its kind."""

    __slots__ = ()

    def __init__(self, seed: Any, stream: Any, offset: Any, shape: Any, p: Any, block_size: Any):
        key = tuple(
            ck.check_u64(v, n, "an integer") for v, n in zip((seed, stream, offset), _KEY_NAMES)
        )
        shape = ck.check_shape(shape, "shape")
        if len(shape) not in (4, 5):
            raise ValueError(f"shape must be (N, C, H, W) or (N, C, D, H, W), got {shape}")
        p = ck.check_p(p)
        b = check_block_size(block_size, shape[2:])
        words = seed_words(shape, b)
        if key[2] + words > ck.U64_END:
            raise ValueError(f"offset {key[2]} + {words} words would pass 2**64")
        # DropoutState's own fields (its __init__ knows the kinds of pydropout._state only),
        # then the block size
        fields = (*key, shape, p, None, None, "drop_block", b)
        object.__setattr__(self, "_fields", fields)

    block_size = property(lambda self: self._fields[8])

    @property
    def words(self) -> int:
        """How many words the forward pass consumed (and the backward redraws)."""
        return seed_words(self.shape, self.block_size)

    def __reduce__(self):
        return (DropBlockState, (*self.key, self.shape, self.p, self.block_size))

    def __repr__(self) -> str:
        seed, stream, offset = self.key
        return (
            f"DropBlockState(seed={seed}, stream={stream}, offset={offset}, "
            f"shape={self.shape}, p={self.p!r}, block_size={self.block_size})"
        )

    @property
    def key(self) -> Tuple[int, int, int]:
        """``(seed, stream, offset)``: the forward pass's first word."""
        return self.seed, self.stream, self.offset


BlockMask = Callable[[BlockDraw], Tuple[np.ndarray, int]]


# the annotations of the public functions' parameters (their ``def``s are made below)
_PARAMETERS = {
    "x": "Any",
    "p": "float",
    "block_size": "int",
    "inplace": "bool",
    "eps": "float",
    "training": "bool",
    "generator": "Any",
}


def _named(op: Any, name: str, doc: str, returns: str) -> Any:
    return annotated(op, "DropBlockApi", name, doc, _PARAMETERS, returns)


def _drop_op(rank: int, doc: str) -> Any:
    """``DropBlockApi.drop_block{2,3}d``: DropBlock over rank-``rank`` inputs."""

    def op(self, x, p, block_size, inplace=False, eps=1e-6, training=True, *, generator=None):
        if training:
            return self._train(x, p, block_size, inplace, eps, rank, generator)[0]
        xa = self._check(x, p, block_size, inplace, eps, rank, generator)[0]
        return x if isinstance(x, np.ndarray) else xa

    return _named(op, f"drop_block{rank - 2}d", doc, "np.ndarray")


def _train_op(rank: int, keep: str, doc: str) -> Any:
    """``DropBlockApi.drop_block{2,3}d_with_{keep}``: the training forward and its packed
    mask (``keep="mask"``) or its :class:`DropBlockState` (``keep="state"``)."""
    pick = 1 if keep == "mask" else 2

    def op(self, x, p, block_size, inplace=False, eps=1e-6, *, generator=None):
        result = self._train(x, p, block_size, inplace, eps, rank, generator)
        return result[0], result[pick]

    kept = "np.ndarray" if keep == "mask" else "DropBlockState"
    return _named(op, f"drop_block{rank - 2}d_with_{keep}", doc, f"Tuple[np.ndarray, {kept}]")


_DROP_2D_DOC = """DropBlock over ``(N, C, H, W)``: zero ``block_size``-squares around random seeds.

        torchvision's ``drop_block2d`` (for odd ``block_size``; any size works here), with
        an exact kept count. Seeds lie where a whole block fits, so blocks never leave the
        array. Consumes ``N * C * (H - b + 1) * (W - b + 1)`` words in training;
        evaluation returns ``x`` itself. docs/CONTRACT.md section 6 gives every bit.
        """


class DropBlockApi:
    """drop_block2d/3d and their mask and backward over one backend (module docstring)."""

    def __init__(self, backend: Any, block_mask: BlockMask):
        self.backend = backend
        self.block_mask = block_mask

    # -- step 1: the checks --------------------------------------------------------------------
    def _check(
        self, x: Any, p: Any, block_size: Any, inplace: Any, eps: Any, rank: int, generator: Any
    ):
        xa = ck.as_float_array(x)
        if xa.ndim != rank:
            names = "(N, C, H, W)" if rank == 4 else "(N, C, D, H, W)"
            raise ValueError(f"x must be {rank}-dimensional {names}, got shape {xa.shape}")
        p = ck.check_p(p)
        b = check_block_size(block_size, xa.shape[2:])
        e = check_eps(eps)
        inplace = ck.check_inplace(x, inplace, None)
        gen = ck.check_generator(generator, ck.default_generator(self.backend.default_generator))
        return xa, p, b, e, inplace, gen

    def _train(
        self, x: Any, p: Any, block_size: Any, inplace: Any, eps: Any, rank: int, generator: Any
    ) -> Tuple[np.ndarray, np.ndarray, DropBlockState]:
        """The training forward: ``(y, mask, state)``."""
        xa, p, b, e, inplace, gen = self._check(x, p, block_size, inplace, eps, rank, generator)
        words = seed_words(xa.shape, b)
        ck.check_room(gen, words)
        backend = self.backend
        xc = backend.contiguous(xa)
        y = x if inplace and xc is x else backend.empty(xa.shape, xc.dtype, xc)
        key = gen._reserve(words)
        mask, kept = self.block_mask(BlockDraw.over(xa.shape, p, b, key))
        backend.apply(xc, y, mask, block_scale(xa.size, kept, e, xa.dtype), True)
        if inplace and y is not x:
            np.copyto(x, y)
            y = x
        seed, stream, offset = key
        return y, mask, DropBlockState(seed, stream, offset, xa.shape, p, b)

    # -- the public functions --------------------------------------------------------------------
    drop_block2d: Callable[..., np.ndarray] = _drop_op(4, _DROP_2D_DOC)
    drop_block3d: Callable[..., np.ndarray] = _drop_op(
        5, """DropBlock over ``(N, C, D, H, W)`` with ``block_size``-cubes (see drop_block2d)."""
    )
    drop_block2d_with_mask: Callable[..., Tuple[np.ndarray, np.ndarray]] = _train_op(
        4,
        "mask",
        "Training-mode ``drop_block2d`` and its packed keep mask over ``x`` (the contract's section 3).",
    )
    drop_block3d_with_mask: Callable[..., Tuple[np.ndarray, np.ndarray]] = _train_op(
        5, "mask", "Training-mode ``drop_block3d`` and its packed keep mask over ``x``."
    )
    drop_block2d_with_state: Callable[..., Tuple[np.ndarray, DropBlockState]] = _train_op(
        4,
        "state",
        """Training-mode ``drop_block2d`` and its :class:`DropBlockState`: the generator
        state it started from, the shape, ``p`` and ``block_size``, from which
        :func:`drop_block_backward` draws the same seeds again (no mask is kept). The
        result has the bits of ``drop_block2d_with_mask``.""",
    )
    drop_block3d_with_state: Callable[..., Tuple[np.ndarray, DropBlockState]] = _train_op(
        5, "state", "Training-mode ``drop_block3d`` and its :class:`DropBlockState`."
    )

    def drop_block_backward(
        self, grad: Any, mask: Any, eps: float = 1e-6, *, out: Optional[np.ndarray] = None
    ) -> np.ndarray:
        """``grad * s`` where the forward kept, ``+0.0`` where it dropped; ``s`` is the
        forward's ``dtype(numel / (eps + K))``, ``K`` counted from ``mask``: the forward's
        packed mask, or its :class:`DropBlockState` (the same seeds drawn again)."""
        ck.reject_generator(mask)
        ga = ck.as_float_array(grad, "grad")
        if isinstance(mask, DropoutState):
            state = check_state(mask, "drop_block", mask.p, ga.shape, "mask")
            assert isinstance(state, DropBlockState)  # the only state of that kind
            draw = BlockDraw.over(state.shape, state.p, state.block_size, state.key)
            m = self.block_mask(draw)[0]
        else:
            m = ck.check_mask(mask, ga.size)
        e = check_eps(eps)
        if out is not None:
            ck.check_out(out, ga.shape, ga.dtype)
        s = block_scale(ga.size, _popcount(m, ga.size), e, ga.dtype)
        backend = self.backend
        gc = backend.contiguous(ga)
        y = (
            out
            if out is not None and out.flags.c_contiguous and out.flags.aligned
            else backend.empty(ga.shape, gc.dtype, gc)
        )
        backend.apply(gc, y, m, s, True)
        if out is not None and y is not out:
            np.copyto(out, y)
            y = out
        return y
