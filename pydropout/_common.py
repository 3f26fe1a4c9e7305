"""Validation and array handling shared by the compiled API and ``pydropout.reference``.

Both modules run the same front end (checks, layouts, ``out=``/``inplace``, noise
shapes, generator bookkeeping) over a *backend* that does the arithmetic on flat
C-contiguous buffers: the compiled core, or plain NumPy. Every check happens before
the generator is advanced or any output is written, so a failed call changes nothing.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Optional, Sequence, Tuple

import numpy as np

UPSCALE = "upscale_in_train"
DOWNSCALE = "downscale_in_infer"
MODES = (UPSCALE, DOWNSCALE)

# dtype codes understood by the backends (and by the C++ KernelTable)
F16, BF16, F32, F64 = 0, 1, 2, 3

_TWO32 = 4294967296.0
_STREAM_END = 1 << 64


def dtype_code(dt: np.dtype, name: str = "x") -> int:
    """The backend code of a supported dtype; TypeError for any other."""
    if dt.kind == "f":
        if dt.itemsize == 2:
            return F16
        if dt.itemsize == 4:
            return F32
        if dt.itemsize == 8:
            return F64
    elif dt.itemsize == 2 and dt.name == "bfloat16":
        return BF16
    raise TypeError(
        f"{name} must have dtype float16, float32, float64 or bfloat16, got {dt}"
    )


def as_float_array(x: Any, name: str = "x") -> np.ndarray:
    """``x`` as an ndarray of a supported dtype (no copy when it already is one)."""
    if isinstance(x, np.ndarray):
        a = x
    else:
        try:
            a = np.asarray(x)
        except Exception as exc:  # ragged lists, objects numpy cannot read
            raise TypeError(f"{name} must be array-like, got {type(x).__name__}") from exc
    dtype_code(a.dtype, name)
    return a


def native(a: np.ndarray) -> np.ndarray:
    """A view or copy of ``a`` in native byte order."""
    if a.dtype.byteorder not in ("=", "|") and not a.dtype.isnative:
        return a.astype(a.dtype.newbyteorder("="))
    return a


def flat_contiguous(a: np.ndarray) -> np.ndarray:
    """Native, aligned, C-contiguous: element i is the i-th element in logical C order."""
    a = native(a)
    if a.flags.c_contiguous and a.flags.aligned:
        return a
    return np.array(a, order="C", copy=True)


def check_p(p: Any, name: str = "p") -> float:
    if isinstance(p, (bool, np.bool_)) or isinstance(p, (str, bytes)):
        raise TypeError(f"{name} must be a real number in [0, 1], got {type(p).__name__}")
    try:
        value = float(p)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number in [0, 1], got {type(p).__name__}") from exc
    if not (0.0 <= value <= 1.0):  # NaN fails too
        raise ValueError(f"{name} must be in [0, 1], got {p!r}")
    return value


def check_mode(mode: Any) -> str:
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"mode must be {UPSCALE!r} or {DOWNSCALE!r}, got {mode!r}")
    return mode


def threshold(p: float) -> int:
    """t = floor(p * 2**32): element kept iff its word >= t (p < 1)."""
    return int(math.floor(p * _TWO32))


def effective_p(p: Any) -> float:
    """The drop probability actually used for ``p``: t / 2**32 (1.0 for p == 1)."""
    p = check_p(p)
    if p == 1.0:
        return 1.0
    return threshold(p) / _TWO32


def scale_value(p: float, dt: np.dtype) -> float:
    """dtype(1 / (1 - p)) computed in float64 and rounded once to the dtype."""
    if p == 1.0:
        return 0.0
    with np.errstate(over="ignore"):
        return float(np.array(1.0 / (1.0 - p), dtype=np.float64).astype(dt))


# -- the variants' constants (SPEC.md has none of these; see README section "variants") ----

#: torch's SELU alpha * scale: dropped elements of alpha dropout sit at the SELU floor -ALPHA
ALPHA = 1.7580993408473766


def round_to(v: Any, dt: np.dtype) -> np.ndarray:
    """Float64 values rounded to ``dt``: once for float32, via float32 for 16-bit types."""
    a = np.asarray(v, dtype=np.float64)
    with np.errstate(over="ignore"):  # overflow to inf is the rounding's answer
        if dt.itemsize == 2:
            return a.astype(np.float32).astype(dt)
        return a.astype(dt)


def alpha_constants(p: float, dt: np.dtype) -> Tuple[float, float, float]:
    """(a, b, c) of alpha dropout rounded to ``dt``: kept ``x * a + b``, dropped ``c``.

    In float64, as torch computes them: ``a = 1 / sqrt((ALPHA**2 * p + 1) * (1 - p))``,
    ``b = ALPHA * a * p``, ``c = b - ALPHA * a`` (= a * alpha' + b with alpha' = -ALPHA);
    then each is rounded to the dtype (:func:`round_to`). p == 1 gives (0, 0, 0): every
    element is +0.0. p == 0 gives (1, 0, -ALPHA) (the frontends then copy x).
    """
    if p == 1.0:
        return 0.0, 0.0, 0.0
    a = 1.0 / math.sqrt((ALPHA * ALPHA * p + 1.0) * (1.0 - p))
    b = ALPHA * a * p
    c = b - ALPHA * a
    r = round_to([a, b, c], dt)
    return float(r[0]), float(r[1]), float(r[2])


def check_gaussian_p(p: Any, name: str = "p") -> float:
    """p in [0, 1): Gaussian dropout's variance p / (1 - p) is infinite at p == 1."""
    value = check_p(p, name)
    if value == 1.0:
        raise ValueError("p must be in [0, 1) for Gaussian dropout (variance p / (1 - p)), got 1")
    return value


def gaussian_sigma(p: float) -> float:
    """sqrt(p / (1 - p)) in float64: the standard deviation of Gaussian dropout's noise."""
    return math.sqrt(p / (1.0 - p))


SAVES = ("mask", "state")


def check_save(save: Any) -> str:
    if not isinstance(save, str) or save not in SAVES:
        raise ValueError(f"save must be 'mask' or 'state', got {save!r}")
    return save


def check_generator(generator: Any, default: Any, cls: type) -> Any:
    if generator is None:
        return default
    if not isinstance(generator, cls):
        raise TypeError(
            f"generator must be a pydropout.Generator or None, got {type(generator).__name__}"
        )
    return generator


def check_room(gen: Any, n: int) -> None:
    """ValueError if ``n`` words from the generator's offset would run past 2**64.

    Checked before anything is allocated (a call over more than 2**64 elements would
    otherwise fail to allocate first); the reservation checks again, atomically.
    """
    offset = gen.offset
    if offset + n > _STREAM_END:
        raise ValueError(
            f"generator offset {offset} + {n} words would pass 2**64: the stream never wraps"
        )


def check_out(out: Any, shape: Tuple[int, ...], dt: np.dtype, name: str = "out") -> np.ndarray:
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} has shape {out.shape}, expected {tuple(shape)}")
    if out.dtype != dt:
        raise ValueError(f"{name} has dtype {out.dtype}, expected {dt}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    return out


def check_shape(shape: Any, name: str = "shape",
                negative: str = "must have non-negative dimensions") -> Tuple[int, ...]:
    """A tuple of non-negative ints (a shape, or an index such as a block's origin)."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError as exc:
        raise TypeError(f"{name} must be a tuple of ints, got {type(shape).__name__}") from exc
    out = []
    for d in dims:
        if isinstance(d, (bool, np.bool_, float, np.floating)):
            raise TypeError(f"{name} must be a tuple of ints, got {shape!r}")
        try:
            d = operator.index(d)
        except TypeError as exc:
            raise TypeError(f"{name} must be a tuple of ints, got {shape!r}") from exc
        if d < 0:
            raise ValueError(f"{name} {negative}, got {shape!r}")
        out.append(d)
    return tuple(out)


def check_noise_shape(noise_shape: Any, shape: Tuple[int, ...]) -> Tuple[int, ...]:
    """The noise shape padded to ``len(shape)`` dims; ValueError if not broadcastable.

    ``None`` entries take the dimension of ``x`` (Keras), which then needs equal ranks.
    """
    if isinstance(noise_shape, (int, np.integer)):
        noise_shape = (noise_shape,)
    try:
        dims = list(noise_shape)
    except TypeError as exc:
        raise TypeError(
            f"noise_shape must be a tuple of ints, got {type(noise_shape).__name__}"
        ) from exc
    if len(dims) > len(shape):
        raise ValueError(f"noise_shape {tuple(noise_shape)} has more dimensions than x's shape {shape}")
    lead = len(shape) - len(dims)
    resolved = []
    for i, d in enumerate(dims):
        if d is None:
            d = shape[lead + i]
        if isinstance(d, (bool, np.bool_, float, np.floating)):
            raise TypeError(f"noise_shape must be a tuple of ints, got {tuple(noise_shape)!r}")
        try:
            d = operator.index(d)
        except TypeError as exc:
            raise TypeError(f"noise_shape must be a tuple of ints, got {tuple(noise_shape)!r}") from exc
        resolved.append(d)
    padded = (1,) * lead + tuple(resolved)
    for d, s in zip(padded, shape):
        if d != s and d != 1:
            raise ValueError(f"noise_shape {tuple(noise_shape)} is not broadcastable to x's shape {shape}")
    return padded


def mask_nbytes(n: int) -> int:
    return (n + 7) // 8


def check_mask(mask: Any, n: int, out: Any = None) -> np.ndarray:
    """A packed mask of n bits, contiguous, and a private copy if it overlaps ``out``."""
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"mask must be a numpy.uint8 array, got {type(mask).__name__}")
    if mask.dtype != np.uint8:
        raise ValueError(f"mask must have dtype uint8, got {mask.dtype}")
    if mask.ndim != 1 or mask.size != mask_nbytes(n):
        raise ValueError(
            f"mask must be 1-D with ceil({n} / 8) = {mask_nbytes(n)} bytes, got shape {mask.shape}"
        )
    if isinstance(out, np.ndarray) and np.may_share_memory(mask, out):
        return mask.copy()  # the kernel would read bytes it has already overwritten
    return np.ascontiguousarray(mask)


def expand_mask(mask: np.ndarray, noise: Tuple[int, ...], shape: Tuple[int, ...]) -> np.ndarray:
    """The packed mask over ``noise`` broadcast to a packed mask over ``shape``."""
    nn = math.prod(noise)
    bits = np.unpackbits(mask, count=nn, bitorder="little").reshape(noise)
    return np.packbits(np.broadcast_to(bits, shape), bitorder="little")


def eval_dropout(x, xa, p, mode, out, inplace=False):
    """Dropout in evaluation mode, after validation: nothing is drawn. Upscale mode
    returns ``x`` itself (or copies it into ``out``); downscale mode returns
    ``xa * dtype(1 - p)``, written into ``out`` or, with ``inplace``, into ``x``."""
    if mode == UPSCALE:
        if out is not None:
            if out is not xa:
                np.copyto(out, xa)
            return out
        return x if isinstance(x, np.ndarray) else xa
    factor = np.array(1.0 - p, dtype=np.float64).astype(xa.dtype)
    target = out if out is not None else (x if inplace else None)
    with np.errstate(all="ignore"):
        y = np.multiply(xa, factor, out=target)
    return y if target is not None else np.asarray(y)  # a 0-d array stays an array


class Frontend:
    """The public functions over one backend (the compiled core or NumPy)."""

    def __init__(self, backend: Any, generator_cls: type, default_generator: Any):
        self.backend = backend
        self._empty = getattr(backend, "empty", None)
        self.generator_cls = generator_cls
        self.default_generator = default_generator

    # -- helpers -----------------------------------------------------------------
    def _output(self, shape: Sequence[int], src: np.ndarray) -> np.ndarray:
        """A new C-contiguous output for a kernel that reads the flat array ``src``."""
        if self._empty is None:
            return np.empty(shape, src.dtype)
        return self._empty(shape, src.dtype, src)

    def _generator(self, generator: Any) -> Any:
        return check_generator(generator, self.default_generator, self.generator_cls)

    @staticmethod
    def _destination(
        xa: np.ndarray, x: Any, out: Optional[np.ndarray], inplace: bool
    ) -> Optional[np.ndarray]:
        if out is not None:
            return out
        if inplace:
            return x
        return None

    @staticmethod
    def _direct(target: np.ndarray, src: np.ndarray) -> bool:
        """Can the kernel write straight into ``target`` while reading ``src``?"""
        if not (target.flags.c_contiguous and target.flags.aligned and target.dtype.isnative):
            return False
        if target is src:
            return True
        if np.may_share_memory(target, src):
            # the very same buffer is fine (element i reads then writes i); any other
            # overlap is not
            return (
                target.__array_interface__["data"][0] == src.__array_interface__["data"][0]
                and target.strides == src.strides
            )
        return True

    def _check_inplace(self, x: Any, inplace: Any, out: Any) -> bool:
        inplace = bool(inplace)
        if inplace:
            if not isinstance(x, np.ndarray):
                raise ValueError("inplace=True needs x to be a numpy.ndarray")
            if not x.flags.writeable:
                raise ValueError("inplace=True needs a writeable x, but x is read-only")
            if out is not None and out is not x:
                raise ValueError("inplace=True and out= name different arrays")
        return inplace

    def _run(
        self,
        x: Any,
        p: Any,
        *,
        inplace: Any,
        mode: Any,
        noise_shape: Any,
        generator: Any,
        out: Any,
        want_mask: bool,
        name: str = "x",
        want_state: bool = False,
    ):
        xa = as_float_array(x, name)
        p = check_p(p)
        mode = check_mode(mode)
        code = dtype_code(xa.dtype, name)
        inplace = self._check_inplace(x, inplace, out)
        if out is not None:
            check_out(out, xa.shape, xa.dtype)
        noise = None
        if noise_shape is not None:
            noise = check_noise_shape(noise_shape, xa.shape)
            if noise == xa.shape:
                noise = None
        gen = self._generator(generator)
        n = xa.size
        nn = n if noise is None else math.prod(noise)
        check_room(gen, nn)

        xc = flat_contiguous(xa)
        final = self._destination(xa, x, out, inplace)
        y = final if final is not None and self._direct(final, xc) else self._output(xa.shape, xc)
        mask = np.empty(mask_nbytes(nn), np.uint8) if (want_mask or noise is not None) else None
        drop_all = p == 1.0
        t = 0 if drop_all else threshold(p)
        apply = mode == UPSCALE
        s = scale_value(p, xc.dtype) if apply else 1.0

        seed, stream, offset = gen._reserve(nn)  # after every check and allocation
        if noise is None:
            self.backend.forward(xc, y, mask, code, t, drop_all, s, apply, seed, stream, offset)
        else:
            assert mask is not None  # allocated above whenever there is a noise shape
            self.backend.mask(mask, nn, t, drop_all, seed, stream, offset)
            full = expand_mask(mask, noise, xa.shape)
            self.backend.apply(xc, y, full, code, s, apply and not drop_all)
        if final is not None and y is not final:
            np.copyto(final, y)
            y = final
        if want_state:
            from ._state import DropoutState

            state = DropoutState(seed, stream, offset, xa.shape, p, mode, noise, "dropout")
            return y, mask, state
        return y, mask

    def _backward_from_state(self, grad, state, p, *, mode, noise_shape, out):
        """dropout_backward with a DropoutState: the forward's words drawn again."""
        from ._state import check_state, resolve_noise

        ga = as_float_array(grad, "grad")
        p = check_p(p)
        mode = check_mode(mode)
        code = dtype_code(ga.dtype, "grad")
        check_state(state, "dropout", p, ga.shape)
        if mode != state.mode:
            raise ValueError(f"mode {mode!r} does not match the forward pass's {state.mode!r}")
        if noise_shape is not None:
            noise = check_noise_shape(noise_shape, ga.shape)
            resolve_noise(None if noise == ga.shape else noise, state.noise_shape)
        if out is not None:
            check_out(out, ga.shape, ga.dtype)
        gc = flat_contiguous(ga)
        y = out if out is not None and self._direct(out, gc) else self._output(ga.shape, gc)
        drop_all = p == 1.0
        t = 0 if drop_all else threshold(p)
        apply = mode == UPSCALE
        s = scale_value(p, gc.dtype) if apply else 1.0
        self._redraw_apply(gc, y, code, state, t, drop_all, s, apply)
        if out is not None and y is not out:
            np.copyto(out, y)
            y = out
        return y

    def _redraw_apply(self, gc, y, code, state, t, drop_all, s, apply):
        """y = keep ? gc (* s) : +0 with the keep bits of ``state`` drawn again.

        Without a noise shape this is the forward kernel run on the gradient (one fused
        pass, no mask in memory); with one, the mask over the noise shape is redrawn and
        broadcast, exactly as the forward pass did.
        """
        if state.noise_shape is None:
            self.backend.forward(gc, y, None, code, t, drop_all, s, apply,
                                 state.seed, state.stream, state.offset)
        else:
            nn = state.words
            mask = np.empty(mask_nbytes(nn), np.uint8)
            self.backend.mask(mask, nn, t, drop_all, state.seed, state.stream, state.offset)
            full = expand_mask(mask, state.noise_shape, state.shape)
            self.backend.apply(gc, y, full, code, s, apply and not drop_all)

    # -- public functions -----------------------------------------------------------
    def dropout(self, x, p=0.5, training=True, inplace=False, *, mode=UPSCALE,
                noise_shape=None, generator=None, out=None):
        if training:
            return self._run(x, p, inplace=inplace, mode=mode, noise_shape=noise_shape,
                             generator=generator, out=out, want_mask=False)[0]
        # evaluation: validate exactly as in training, draw nothing
        xa = as_float_array(x)
        p = check_p(p)
        mode = check_mode(mode)
        inplace = self._check_inplace(x, inplace, out)
        if out is not None:
            check_out(out, xa.shape, xa.dtype)
        if noise_shape is not None:
            check_noise_shape(noise_shape, xa.shape)
        self._generator(generator)
        return eval_dropout(x, xa, p, mode, out, inplace)

    def dropout_with_mask(self, x, p=0.5, *, mode=UPSCALE, noise_shape=None, generator=None,
                          out=None):
        return self._run(x, p, inplace=False, mode=mode, noise_shape=noise_shape,
                         generator=generator, out=out, want_mask=True)

    def dropout_with_state(self, x, p=0.5, *, mode=UPSCALE, noise_shape=None, generator=None,
                           out=None):
        y, _, state = self._run(x, p, inplace=False, mode=mode, noise_shape=noise_shape,
                                generator=generator, out=out, want_mask=False, want_state=True)
        return y, state

    def dropout_backward(self, grad, mask, p, *, mode=UPSCALE, noise_shape=None, out=None):
        from ._state import DropoutState, reject_generator

        reject_generator(mask, self.generator_cls)
        if isinstance(mask, DropoutState):
            return self._backward_from_state(grad, mask, p, mode=mode, noise_shape=noise_shape,
                                             out=out)
        ga = as_float_array(grad, "grad")
        p = check_p(p)
        mode = check_mode(mode)
        code = dtype_code(ga.dtype, "grad")
        noise = None
        if noise_shape is not None:
            noise = check_noise_shape(noise_shape, ga.shape)
            if noise == ga.shape:
                noise = None
        nn = ga.size if noise is None else math.prod(noise)
        mask = check_mask(mask, nn, out)
        if out is not None:
            check_out(out, ga.shape, ga.dtype)
        gc = flat_contiguous(ga)
        full = mask if noise is None else expand_mask(mask, noise, ga.shape)
        y = out if out is not None and self._direct(out, gc) else self._output(ga.shape, gc)
        if mode == UPSCALE and p == 1.0:
            full = np.zeros_like(full)  # nothing survives p == 1
        apply = mode == UPSCALE
        s = scale_value(p, gc.dtype) if apply else 1.0
        self.backend.apply(gc, y, full, code, s, apply)
        if out is not None and y is not out:
            np.copyto(out, y)
            y = out
        return y

    def dropout_mask(self, shape, p, *, generator=None):
        dims = check_shape(shape)
        p = check_p(p)
        gen = self._generator(generator)
        n = math.prod(dims)
        check_room(gen, n)
        mask = np.empty(mask_nbytes(n), np.uint8)
        drop_all = p == 1.0
        seed, stream, offset = gen._reserve(n)
        self.backend.mask(mask, n, 0 if drop_all else threshold(p), drop_all, seed, stream, offset)
        return mask
