"""DropBlock over the compiled core: ``api`` is what ``pydropout`` exports.

The core draws the seeds with the active tier's mask kernel, dilates them into blocks on
packed bits and counts the kept elements (csrc/core/dropblock.cpp); the scale is then one
pass of the core's ``apply`` over the data.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from . import _checks as ck
from ._compiled import CompiledBackend
from ._dropblock import DropBlockApi
from ._load import core as _core


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
    depth = spatial[0] if len(spatial) == 3 else 1
    height, width = spatial[-2], spatial[-1]
    mask = np.empty(ck.mask_nbytes(planes * depth * height * width), np.uint8)
    kept = _core.drop_block_mask(
        mask, planes, depth, height, width, b, bd, seed, stream, offset, t, all_seeds
    )
    return mask, int(kept)


api: DropBlockApi = DropBlockApi(CompiledBackend(), _block_mask)
