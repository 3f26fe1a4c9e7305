"""Dropout over ``dask.array`` arrays, bit for bit the dropout of the computed array.

The generator is advanced by ``array.size`` words when the graph is built (exactly as
``pydropout.dropout`` would advance it); each chunk then draws, through
:func:`pydropout.dropout_block`, the words the whole array gives its elements. So the
result does not depend on the chunking (regular, irregular, rechunked), on the scheduler
or on which worker computes which chunk, and computing the graph twice gives the same
values. Importing this module imports dask; ``import pydropout`` does not.

>>> import dask.array as da, pydropout, pydropout.dask
>>> x = da.ones((6, 8), chunks=(4, 3), dtype="float32")
>>> y = pydropout.dask.dropout(x, 0.5, generator=pydropout.Generator(0))
>>> bool((y.compute() == pydropout.dropout(x.compute(), 0.5,
...                                          generator=pydropout.Generator(0))).all())
True
"""

from __future__ import annotations

import math
from typing import Any, Tuple

import numpy as np

try:
    import dask.array as da
except ImportError as exc:  # an optional extra
    raise ImportError("pydropout.dask needs dask.array: pip install 'pydropout[dask]'") from exc

import pydropout

from . import _checks as ck
from ._checks import UPSCALE

__all__ = ["dropout", "dropout_with_mask", "dropout_backward"]


def _as_dask(array: Any, name: str) -> da.Array:
    if not isinstance(array, da.Array):
        array = da.asarray(ck.as_float_array(array, name))
    ck.check_dtype(array.dtype, name)
    if any(isinstance(d, float) and math.isnan(d) for d in array.shape):
        raise ValueError(
            f"{name} has unknown chunk sizes (shape {array.shape}); "
            f"call {name}.compute_chunk_sizes() first"
        )
    return array


def _origin(block_info: dict) -> Tuple[int, ...]:
    return tuple(start for start, _ in block_info[None]["array-location"])


def _dropout_chunk(x, p, mode, full_shape, seed, stream, offset, block_info=None):
    return pydropout.dropout_block(
        x,
        p,
        full_shape=full_shape,
        origin=_origin(block_info),
        seed=seed,
        stream=stream,
        offset=offset,
        mode=mode,
    )


def _keep_chunk(p, full_shape, seed, stream, offset, block_info=None):
    shape = block_info[None]["chunk-shape"]
    mask = pydropout.dropout_block_mask(
        shape,
        p,
        full_shape=full_shape,
        origin=_origin(block_info),
        seed=seed,
        stream=stream,
        offset=offset,
    )
    return np.unpackbits(mask, count=math.prod(shape), bitorder="little").view(bool).reshape(shape)


def _eval_chunk(x, p, mode):
    return pydropout.dropout(x, p, False, mode=mode)


def _backward_chunk(grad, keep, p, mode):
    mask = np.packbits(np.asarray(keep, bool), bitorder="little")
    return pydropout.dropout_backward(grad, mask, p, mode=mode)


def _reserve(array: da.Array, p: Any, mode: Any, generator: Any):
    p = ck.check_p(p)
    mode = ck.check_mode(mode)
    gen = ck.check_generator(generator, pydropout.default_generator)
    return p, mode, gen._reserve(array.size)  # after every check: a failure changes nothing


def _meta(array: da.Array, dtype: Any) -> np.ndarray:
    return np.empty((0,) * array.ndim, dtype)


def _map_blocks(
    func: Any, like: da.Array, *args: Any, dtype: Any, token: str, **kw: Any
) -> da.Array:
    """``da.map_blocks(func, *args)`` of ``dtype`` chunks, its meta of ``like``'s rank."""
    return da.map_blocks(func, *args, dtype=dtype, meta=_meta(like, dtype), token=token, **kw)


def _dropout_blocks(array: da.Array, p: float, mode: str, key: Tuple[int, int, int]) -> da.Array:
    """The training output of ``array``, drawn from the reserved words at ``key``."""
    seed, stream, offset = key
    return _map_blocks(
        _dropout_chunk,
        array,
        array,
        p,
        mode,
        tuple(array.shape),
        seed,
        stream,
        offset,
        dtype=array.dtype,
        token="pydropout-dropout",
    )


def dropout(
    array: Any, p: float = 0.5, training: bool = True, *, mode: str = UPSCALE, generator: Any = None
) -> da.Array:
    """:func:`pydropout.dropout` of a ``dask.array``, lazily, chunk by chunk.

    Parameters
    ----------
    array : dask.array.Array (or array_like, wrapped as one chunk)
        float16, float32, float64 or bfloat16, with known chunk sizes.
    p, training, mode, generator
        As in :func:`pydropout.dropout`. In training mode the generator advances by
        ``array.size`` words now, when the graph is built.

    Returns
    -------
    dask.array.Array
        Same shape, chunks and dtype; computed, it equals ``pydropout.dropout(
        array.compute(), p, generator=<the generator before this call>)`` bit for bit.
        In evaluation mode with ``"upscale_in_train"`` it is ``array`` itself.
    """
    array = _as_dask(array, "array")
    if not training:
        p = ck.check_p(p)
        mode = ck.check_mode(mode)
        ck.check_generator(generator)
        if mode == UPSCALE:
            return array
        return _map_blocks(
            _eval_chunk, array, array, p, mode, dtype=array.dtype, token="pydropout-dropout-eval"
        )
    p, mode, key = _reserve(array, p, mode, generator)
    return _dropout_blocks(array, p, mode, key)


def dropout_with_mask(
    array: Any, p: float = 0.5, *, mode: str = UPSCALE, generator: Any = None
) -> Tuple[da.Array, da.Array]:
    """Training-mode :func:`dropout` that also returns where elements were kept.

    Returns
    -------
    (dask.array.Array, dask.array.Array)
        The output and a boolean array with the same shape and chunks, True where an
        element was kept: ``numpy.packbits(keep.compute(), bitorder="little")`` is the
        mask of :func:`pydropout.dropout_with_mask`. Both draw the same words (one
        reservation of ``array.size``); the mask's chunks need no input data.
    """
    array = _as_dask(array, "array")
    p, mode, key = _reserve(array, p, mode, generator)
    y = _dropout_blocks(array, p, mode, key)
    keep = _map_blocks(
        _keep_chunk,
        array,
        p,
        tuple(array.shape),
        *key,
        chunks=array.chunks,
        dtype=bool,
        token="pydropout-keep",
    )
    return y, keep


def dropout_backward(grad: Any, keep: Any, p: float, *, mode: str = UPSCALE) -> da.Array:
    """:func:`pydropout.dropout_backward` over dask arrays, with the ``keep`` array of
    :func:`dropout_with_mask` in place of the packed mask (rechunked to grad's chunks
    where they differ)."""
    grad = _as_dask(grad, "grad")
    p = ck.check_p(p)
    mode = ck.check_mode(mode)
    if not isinstance(keep, da.Array):
        keep = da.asarray(keep)
    if keep.dtype != bool:
        raise ValueError(f"keep must have dtype bool, got {keep.dtype}")
    if tuple(keep.shape) != tuple(grad.shape):
        raise ValueError(f"keep has shape {keep.shape}, expected grad's shape {grad.shape}")
    if keep.chunks != grad.chunks:
        keep = keep.rechunk(grad.chunks)
    return _map_blocks(
        _backward_chunk,
        grad,
        grad,
        keep,
        p,
        mode,
        dtype=grad.dtype,
        token="pydropout-dropout-backward",
    )
