"""The arrays of one (dtype, size) and the bit-for-bit checks of every pydropout row
against the public functions of ``pydropout.reference``.

Every check runs the row at one generator state (``CHECK_*``) and compares slices of its
output with the reference computed at the words those slices draw in the whole call."""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np

import pydropout
from pydropout import reference

from . import kernel
from .names import NO_DTYPE
from .plan import channel_shape

Regions = Sequence[Tuple[int, int]]

# The generator state of every correctness check: odd offset just below 4 * 2**32, so the
# checked words straddle the carry of the block counter into its high word.
CHECK_SEED, CHECK_STREAM, CHECK_OFFSET = 0x0123456789ABCDEF, 7, 4 * 2**32 - 4099


class Arrays:
    """The arrays of one (dtype, n), shared by its groups, and the cached reference."""

    def __init__(self, dtype: str, n: int, p: float):
        self.dtype, self.n, self.p = dtype, n, p
        dt = np.dtype(np.float32 if dtype == NO_DTYPE else dtype)
        self.dt = dt
        rng = np.random.default_rng(1234)
        self.x: np.ndarray = rng.standard_normal(n, dtype=np.float32).astype(dt, copy=False)
        self.y = np.empty_like(self.x)
        self.mask = np.empty((n + 7) // 8, np.uint8)
        self.mask2 = np.empty_like(self.mask)  # destination of the mask-sized copy
        # the forward mask backward reads: data (any valid mask will do); the check
        # compares against the reference applied to this very mask
        self.mask_in: np.ndarray = pydropout.dropout_mask(
            (n,), p, generator=pydropout.Generator(99)
        )
        self.code = kernel.dtype_code(dt)
        self.t = kernel.threshold(p)
        self.s = kernel.scale(p, dt)
        self.shape4 = channel_shape(n)
        self._y2: Optional[np.ndarray] = None
        self._ref: Dict[Tuple[str, int, int], Any] = {}

    @property
    def y2(self) -> np.ndarray:
        """A second output buffer (the two copies of the forward + backward ceiling)."""
        if self._y2 is None:
            self._y2 = np.empty_like(self.x)
        return self._y2

    def check_gen(self, a: int = 0) -> pydropout.Generator:
        """The generator of a checked pydropout call (``a``: words further on)."""
        return pydropout.Generator(CHECK_SEED, stream=CHECK_STREAM, offset=CHECK_OFFSET + a)

    def ref_gen(self, a: int = 0) -> Any:
        """The reference's own generator at the same state."""
        return reference.Generator(CHECK_SEED, stream=CHECK_STREAM, offset=CHECK_OFFSET + a)

    def mask_slice(self, a: int, b: int) -> np.ndarray:
        return self.mask_in[a // 8 : (b + 7) // 8]

    def ref(self, what: str, a: int, b: int) -> Any:
        """The reference of ``what`` on elements [a, b) of the flat array, computed at the
        words the whole call gives them (the gradient is x)."""
        key = (what, a, b)
        if key not in self._ref:
            self._ref[key] = self._compute(what, a, b)
        return self._ref[key]

    def _compute(self, what: str, a: int, b: int) -> Any:
        x, p = self.x[a:b], self.p
        if what == "forward":
            return reference.dropout_with_mask(x, p, generator=self.ref_gen(a))
        if what == "mask":
            return reference.dropout_mask((b - a,), p, generator=self.ref_gen(a))
        if what == "backward":
            return reference.dropout_backward(x, self.mask_slice(a, b), p)
        if what in ("backward_state", "torch_backward"):
            # the state regenerates the forward's mask: the backward from that mask
            _, rm = self.ref("forward", a, b)
            return reference.dropout_backward(x, rm, p)
        if what == "alpha":
            return reference.alpha_dropout(x, p, True, generator=self.ref_gen(a))
        if what == "alpha_backward":
            return reference.alpha_dropout_backward(x, self.mask_slice(a, b), p)
        if what == "gaussian":
            return reference.gaussian_dropout(x, p, generator=self.ref_gen(a))
        if what == "channel":
            # whole channels c0..c1 as a batch of one-channel images: they draw the words
            # c0..c1 of the whole (N, C, 1, 1) noise
            _, _, h, w = self.shape4
            c0, c1 = a // (h * w), b // (h * w)
            xs = self.x.reshape(-1, h * w)[c0:c1].reshape(c1 - c0, 1, h, w)
            return reference.dropout2d(xs, p, generator=self.ref_gen(c0)).reshape(-1)
        raise ValueError(what)


def _flat(a: Any) -> np.ndarray:
    """A flat NumPy view of an array or a CPU tensor."""
    if not isinstance(a, np.ndarray):
        a = a.detach().numpy()
    return a.reshape(-1)


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint8)


def compare(what: str, got: np.ndarray, want: np.ndarray, a: int) -> Optional[str]:
    """None when ``got`` has the bits of ``want``, else where they first differ."""
    if got.shape != want.shape or got.dtype != want.dtype:
        return f"{what}: got shape {got.shape} {got.dtype}, want {want.shape} {want.dtype}"
    gb, wb = _bits(got), _bits(want)
    if np.array_equal(gb, wb):
        return None
    first = int(np.flatnonzero(gb != wb)[0]) // max(1, got.itemsize)
    return f"{what} differs from pydropout.reference first at element {a + first}"


def check_output(
    arrs: Arrays,
    op: str,
    regions: Regions,
    y: Any = None,
    mask: Optional[np.ndarray] = None,
    dx: Any = None,
) -> Optional[str]:
    """Compare a row's output(s) with the reference on every region."""
    for a, b in regions:
        err: Optional[str]
        if op in ("forward", "forward_mask"):
            ry, rm = arrs.ref("forward", a, b)
            err = compare("output", y[a:b], ry, a)
            if err is None and op == "forward_mask":
                assert mask is not None
                err = compare("mask", mask[a // 8 : (b + 7) // 8], rm, 8 * (a // 8))
        elif op == "mask":
            assert mask is not None
            err = compare("mask", mask[a // 8 : (b + 7) // 8], arrs.ref("mask", a, b), 8 * (a // 8))
        elif op == "torch_fwd_bwd":  # tensors: the output y and the gradient dx
            err = compare("output", _flat(y)[a:b], arrs.ref("forward", a, b)[0], a) or compare(
                "gradient", _flat(dx)[a:b], arrs.ref("torch_backward", a, b), a
            )
        else:
            what = "gradient" if "backward" in op else "output"
            err = compare(what, _flat(y)[a:b], arrs.ref(op, a, b), a)
        if err:
            return f"{err} (n={arrs.n}, slice [{a}, {b}))"
    return None


def scramble(regions: Regions, y: Optional[np.ndarray], mask: Optional[np.ndarray]) -> None:
    """Garbage where a raw kernel should write, so one that writes nothing fails."""
    for a, b in regions:
        if y is not None:
            y[a:b].view(np.uint8)[...] = 0xA5
        if mask is not None:
            mask[a // 8 : (b + 7) // 8] = 0x5A


def same(got: Any, out: np.ndarray) -> Optional[str]:
    return None if got is out else "the result is not the out= array"


def public_check(
    arrs: Arrays, op: str, regions: Regions, call: Callable[..., Any]
) -> Optional[str]:
    """A plain-dropout public call at the check state."""
    x, p = arrs.x, arrs.p
    g = arrs.check_gen()
    if op == "forward":
        return check_output(arrs, op, regions, y=call(x, p, generator=g))
    if op == "forward_mask":
        y, m = call(x, p, generator=g)
        return check_output(arrs, op, regions, y=y, mask=m)
    if op == "mask":
        return check_output(arrs, op, regions, mask=call((arrs.n,), p, generator=g))
    return check_output(arrs, op, regions, y=call(x, arrs.mask_in, p))


def out_check(arrs: Arrays, op: str, regions: Regions, call: Callable[..., Any]) -> Optional[str]:
    """A plain-dropout public call with out=: the bits, and the out= array returned."""
    scramble(regions, arrs.y, None)
    if op == "forward":
        y = call(arrs.x, arrs.p, generator=arrs.check_gen(), out=arrs.y)
        return check_output(arrs, op, regions, y=y) or same(y, arrs.y)
    if op == "forward_mask":
        y, m = call(arrs.x, arrs.p, generator=arrs.check_gen(), out=arrs.y)
        return check_output(arrs, op, regions, y=y, mask=m) or same(y, arrs.y)
    y = call(arrs.x, arrs.mask_in, arrs.p, out=arrs.y)
    return check_output(arrs, op, regions, y=y) or same(y, arrs.y)


def kernel_check(arrs: Arrays, op: str, regions: Regions, fn: Callable[[], Any]) -> Optional[str]:
    """A raw kernel call at the check state, into scrambled buffers."""
    y = None if op == "mask" else arrs.y
    m = arrs.mask if op in ("forward_mask", "mask") else None
    scramble(regions, y, m)
    fn()
    return check_output(arrs, op, regions, y=y, mask=m)


def result_check(
    arrs: Arrays, op: str, regions: Regions, result: Callable[[Optional[np.ndarray]], Any]
) -> Optional[str]:
    """An extra op's public call at the check state (``result(None)``)."""
    return check_output(arrs, op, regions, y=result(None))


def result_out_check(
    arrs: Arrays,
    op: str,
    regions: Regions,
    result: Callable[[Optional[np.ndarray]], Any],
    dest: np.ndarray,
) -> Optional[str]:
    """An extra op's public call with out=dest at the check state."""
    scramble(regions, arrs.y, None)
    got = result(dest)
    return check_output(arrs, op, regions, y=got) or same(got, dest)
