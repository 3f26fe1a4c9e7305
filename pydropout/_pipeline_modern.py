"""The call pipeline of the variants of modern networks (docs/CONTRACT.md section 6).

drop_path, zoneout and gaussian_noise: step 1 (every check, before anything is allocated,
drawn or written) of each operator, then :meth:`pydropout._pipeline.Pipeline.execute` with
a kernel of the backend (``row_apply``, ``zoneout``, ``gaussian_add``). The functions take
the :class:`~pydropout._pipeline.Pipeline` of their API as first argument.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Tuple

import numpy as np

from . import _checks as ck
from ._state import DropoutState, check_state

Shape = Tuple[int, ...]
PATH_MODES = ("row", "batch")


# -- checks ----------------------------------------------------------------------------------
def check_path_mode(mode: Any) -> str:
    if not isinstance(mode, str) or mode not in PATH_MODES:
        raise ValueError(f"mode must be 'row' or 'batch', got {mode!r}")
    return mode


def check_stddev(stddev: Any) -> float:
    if isinstance(stddev, (bool, np.bool_, str, bytes)):
        raise TypeError(f"stddev must be a real number >= 0, got {type(stddev).__name__}")
    try:
        value = float(stddev)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"stddev must be a real number >= 0, got {type(stddev).__name__}") from exc
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"stddev must be a finite real number >= 0, got {stddev!r}")
    return value


def path_rows(shape: Shape, mode: str) -> Tuple[int, int]:
    """(words drawn, rows of the data): row mode one word per sample (axis 0), batch one."""
    if mode == "batch":
        return 1, 1
    if len(shape) == 0:
        raise ValueError("x must have at least one dimension for mode='row' (axis 0 is the batch)")
    return shape[0], shape[0]


def _pair(prev: Any, new: Any) -> Tuple[np.ndarray, np.ndarray]:
    pa = ck.as_float_array(prev, "prev")
    na = ck.as_float_array(new, "new")
    if na.shape != pa.shape:
        raise ValueError(f"new has shape {na.shape}, prev has {pa.shape}: they must match")
    if na.dtype != pa.dtype:
        raise ValueError(f"new has dtype {na.dtype}, prev has {pa.dtype}: they must match")
    return pa, na


def _identity(x: Any, xa: np.ndarray, out: Optional[np.ndarray]) -> np.ndarray:
    if out is not None:
        np.copyto(out, xa)
        return out
    return x if isinstance(x, np.ndarray) else xa


def _separate(backend: Any, a: np.ndarray, out: Optional[np.ndarray]) -> np.ndarray:
    """``a`` contiguous, and copied when ``out`` overlaps it other than as the same buffer."""
    ac = backend.contiguous(a)
    if out is not None and np.may_share_memory(out, ac):
        same = (
            out.__array_interface__["data"][0] == ac.__array_interface__["data"][0]
            and out.strides == ac.strides
        )
        if not same:
            ac = ac.copy()
    return ac


# -- drop_path -------------------------------------------------------------------------------
def _kernel_rows(
    pl: Any,
    xc: np.ndarray,
    y: np.ndarray,
    key: Any,
    mask: np.ndarray,
    words: int,
    rows: int,
    t: int,
    drop_all: bool,
    s: float,
    apply: bool,
) -> None:
    backend = pl.backend
    if key is not None:  # a forward draws the rows' bits; a backward has them
        backend.mask(mask, words, t, drop_all, *key)
    backend.row_apply(xc, y, mask, rows, s, apply and not drop_all)


def drop_path_train(
    pl: Any, x: Any, p: Any, mode: Any, scale_by_keep: Any, generator: Any, out: Any
) -> Tuple[np.ndarray, np.ndarray]:
    """``(y, mask)``: the mask has one bit per sample (row mode) or one bit (batch mode)."""
    xa = ck.as_float_array(x)
    p = ck.check_p(p)
    mode = check_path_mode(mode)
    words, rows = path_rows(xa.shape, mode)
    if out is not None:
        ck.check_out(out, xa.shape, xa.dtype)
    gen = pl._generator(generator)
    ck.check_room(gen, words)
    mask = np.empty(ck.mask_nbytes(words), np.uint8)
    t, drop_all = pl._keep_rule(p)
    apply = bool(scale_by_keep)
    s = pl.backend.scale(p, xa.dtype) if apply else 1.0
    y, _ = pl.execute(
        x,
        xa,
        out,
        False,
        gen,
        words,
        lambda *a: _kernel_rows(pl, *a),
        mask,
        words,
        rows,
        t,
        drop_all,
        s,
        apply,
    )
    return y, mask


def drop_path_eval(pl: Any, x: Any, p: Any, mode: Any, generator: Any, out: Any) -> np.ndarray:
    xa = ck.as_float_array(x)
    ck.check_p(p)
    path_rows(xa.shape, check_path_mode(mode))
    if out is not None:
        ck.check_out(out, xa.shape, xa.dtype)
    pl._generator(generator)
    return _identity(x, xa, out)


def drop_path_backward(
    pl: Any, grad: Any, mask: np.ndarray, p: float, mode: str, scale_by_keep: bool, shape: Shape
) -> np.ndarray:
    """``grad`` through the rows kept by the forward whose ``mask`` this is."""
    ga = ck.as_float_array(grad, "grad")
    if ga.shape != shape:
        raise ValueError(f"grad has shape {ga.shape}, the last forward had {shape}")
    words, rows = path_rows(ga.shape, mode)
    apply = bool(scale_by_keep)
    s = pl.backend.scale(p, ga.dtype) if apply else 1.0
    drop_all = p == 1.0

    def rows_kernel(*a: Any) -> None:
        _kernel_rows(pl, *a)

    return pl._replay(grad, ga, None, rows_kernel, mask, words, rows, 0, drop_all, s, apply)


# -- zoneout ---------------------------------------------------------------------------------
def _kernel_zoneout(
    pl: Any,
    pc: np.ndarray,
    y: np.ndarray,
    key: Any,
    nc: np.ndarray,
    mask: Optional[np.ndarray],
    t: int,
    drop_all: bool,
) -> None:
    pl.backend.zoneout(pc, nc, y, mask, t, drop_all, *key)


def zoneout_train(
    pl: Any, prev: Any, new: Any, p: Any, generator: Any, out: Any, keep: Optional[str]
) -> Tuple[np.ndarray, Any]:
    """``(y, token)``: the packed bits (1 where ``new`` was taken), a DropoutState or None."""
    pa, na = _pair(prev, new)
    p = ck.check_p(p)
    if out is not None:
        ck.check_out(out, pa.shape, pa.dtype)
    gen = pl._generator(generator)
    n = pa.size
    ck.check_room(gen, n)
    mask = np.empty(ck.mask_nbytes(n), np.uint8) if keep == "mask" else None
    t, drop_all = pl._keep_rule(p)
    nc = _separate(pl.backend, na, out)
    y, key = pl.execute(
        prev, pa, out, False, gen, n, lambda *a: _kernel_zoneout(pl, *a), nc, mask, t, drop_all
    )
    if keep == "state":
        seed, stream, offset = key
        return y, DropoutState(seed, stream, offset, pa.shape, p, None, None, "zoneout")
    return y, mask


def zoneout_eval(pl: Any, prev: Any, new: Any, p: Any, generator: Any, out: Any) -> np.ndarray:
    """``dtype(p) * prev + dtype(1 - p) * new``: three rounded operations in the dtype."""
    pa, na = _pair(prev, new)
    p = ck.check_p(p)
    if out is not None:
        ck.check_out(out, pa.shape, pa.dtype)
    pl._generator(generator)
    backend = pl.backend
    a = backend.multiply(backend.contiguous(pa), p, None)
    b = backend.multiply(backend.contiguous(na), 1.0 - p, None)
    with np.errstate(all="ignore"):
        y = np.add(a, b, out=a)
    if out is not None:
        np.copyto(out, y)
        return out
    return np.asarray(y)


def zoneout_backward(
    pl: Any, grad: Any, token: Any, p: float, shape: Shape
) -> Tuple[np.ndarray, np.ndarray]:
    """``(dprev, dnew)`` from the forward's bits (or its state, drawn again); ``token``
    None: the evaluation forward's ``(grad * dtype(p), grad * dtype(1 - p))``."""
    ga = ck.as_float_array(grad, "grad")
    if ga.shape != shape:
        raise ValueError(f"grad has shape {ga.shape}, the last forward had {shape}")
    backend = pl.backend
    gc = backend.contiguous(ga)
    if token is None:
        return backend.multiply(gc, p, None), backend.multiply(gc, 1.0 - p, None)
    if isinstance(token, DropoutState):
        check_state(token, "zoneout", p, ga.shape)
        t, drop_all = pl._keep_rule(p)
        mask = np.empty(ck.mask_nbytes(ga.size), np.uint8)
        backend.mask(mask, ga.size, t, drop_all, token.seed, token.stream, token.offset)
    else:
        mask = token
    dnew = backend.empty(ga.shape, gc.dtype, gc)
    backend.apply(gc, dnew, mask, 1.0, False)
    dprev = backend.empty(ga.shape, gc.dtype, gc)
    backend.apply(gc, dprev, np.invert(mask), 1.0, False)
    return dprev, dnew


# -- gaussian_noise --------------------------------------------------------------------------
def _kernel_noise(pl: Any, xc: np.ndarray, y: np.ndarray, key: Any, stddev: float) -> None:
    pl.backend.gaussian_add(xc, y, stddev, *key)


def gaussian_noise_train(pl: Any, x: Any, stddev: Any, generator: Any, out: Any) -> np.ndarray:
    xa = ck.as_float_array(x)
    stddev = check_stddev(stddev)
    if out is not None:
        ck.check_out(out, xa.shape, xa.dtype)
    gen = pl._generator(generator)
    ck.check_room(gen, xa.size)
    return pl.execute(x, xa, out, False, gen, xa.size, lambda *a: _kernel_noise(pl, *a), stddev)[0]


def gaussian_noise_eval(pl: Any, x: Any, stddev: Any, generator: Any, out: Any) -> np.ndarray:
    xa = ck.as_float_array(x)
    check_stddev(stddev)
    if out is not None:
        ck.check_out(out, xa.shape, xa.dtype)
    pl._generator(generator)
    return _identity(x, xa, out)
