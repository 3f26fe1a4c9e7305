"""DropBlock in plain NumPy: the seeds from the reference's words, each seed's block ORed
in by slicing (one pass per offset inside a block), the kept count by counting."""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np

from .._dropblock import BlockDraw, DropBlockApi
from ._backend import NumpyBackend
from ._philox import stream_words


def _block_mask(draw: BlockDraw) -> Tuple[np.ndarray, int]:
    planes, spatial = draw.planes, draw.spatial
    sizes = (draw.b,) * len(spatial)  # the block's extent on each spatial axis
    seed_shape = (planes,) + tuple(s - k + 1 for s, k in zip(spatial, sizes))
    count = math.prod(seed_shape)
    if draw.all_seeds:
        seeds = np.ones(seed_shape, dtype=bool)
    elif draw.t == 0:
        seeds = np.zeros(seed_shape, dtype=bool)
    else:
        words = stream_words(draw.seed, draw.stream, draw.offset, count)
        seeds = (words < np.uint32(draw.t)).reshape(seed_shape)
    dropped = np.zeros((planes,) + tuple(spatial), dtype=bool)
    for shift in np.ndindex(*sizes):  # the block of a seed at i covers i + shift
        window = (slice(None),) + tuple(slice(k, k + n) for k, n in zip(shift, seed_shape[1:]))
        dropped[window] |= seeds
    keep = ~dropped
    mask = np.packbits(keep.reshape(-1), bitorder="little")
    return mask, int(np.count_nonzero(keep))


api: DropBlockApi = DropBlockApi(NumpyBackend(), _block_mask)
