"""DropBlock in plain NumPy: the seeds from the reference's words, each seed's block ORed
in by slicing (one pass per offset inside a block), the kept count by counting."""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np

from .._dropblock import DropBlockApi
from ._backend import NumpyBackend
from ._philox import stream_words


def _block_mask(
    planes: int,
    spatial: Tuple[int, ...],
    b: int,
    bd: int,
    t: int,
    all_seeds: bool,
    seed: int,
    stream: int,
    offset: int,
) -> Tuple[np.ndarray, int]:
    sizes = (b,) * len(spatial)  # the block's extent on each spatial axis (bd == b in 3-d)
    seed_shape = (planes,) + tuple(s - k + 1 for s, k in zip(spatial, sizes))
    count = math.prod(seed_shape)
    if all_seeds:
        seeds = np.ones(seed_shape, dtype=bool)
    elif t == 0:
        seeds = np.zeros(seed_shape, dtype=bool)
    else:
        seeds = (stream_words(seed, stream, offset, count) < np.uint32(t)).reshape(seed_shape)
    dropped = np.zeros((planes,) + tuple(spatial), dtype=bool)
    for shift in np.ndindex(*sizes):  # the block of a seed at i covers i + shift
        window = (slice(None),) + tuple(slice(k, k + n) for k, n in zip(shift, seed_shape[1:]))
        dropped[window] |= seeds
    keep = ~dropped
    mask = np.packbits(keep.reshape(-1), bitorder="little")
    return mask, int(np.count_nonzero(keep))


api: DropBlockApi = DropBlockApi(NumpyBackend(), _block_mask)
