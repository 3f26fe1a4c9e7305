"""Memory layouts of the pipeline: whether a kernel can write straight into a
destination, and the permuted (channels_last, Fortran order) layouts whose kernels run
over memory order."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ._pipeline_backend import Shape


def _direct(target: np.ndarray, src: np.ndarray) -> bool:
    """Can a kernel write straight into ``target`` while reading ``src``?"""
    if not (target.flags.c_contiguous and target.flags.aligned and target.dtype.isnative):
        return False
    if target is src:
        return True
    if np.may_share_memory(target, src):
        # the very same buffer is fine (element i reads then writes i); any other overlap
        # is not
        return (
            target.__array_interface__["data"][0] == src.__array_interface__["data"][0]
            and target.strides == src.strides
        )
    return True


def memory_order(a: np.ndarray) -> Optional[Shape]:
    """The axes of a dense, non-overlapping, not C-contiguous ``a`` from the outermost in
    memory to the innermost (``a.transpose(order)`` is C-contiguous); None for C order
    and for inputs with gaps, overlaps or negative strides (their outputs are C order)."""
    if a.ndim < 2 or a.flags.c_contiguous:
        return None
    order = tuple(sorted(range(a.ndim), key=lambda i: (-a.strides[i], i)))
    if not a.transpose(order).flags.c_contiguous:
        return None
    return order


def _inverse(order: Shape) -> Shape:
    return tuple(int(i) for i in np.argsort(order))
