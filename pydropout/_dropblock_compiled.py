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
from ._dropblock import BlockDraw, DropBlockApi
from ._load import core as _core


def _block_mask(draw: BlockDraw) -> Tuple[np.ndarray, int]:
    spatial = draw.spatial
    depth = spatial[0] if len(spatial) == 3 else 1
    height, width = spatial[-2], spatial[-1]
    bd = draw.b if len(spatial) == 3 else 1  # the block's depth (1: a 2-d square)
    mask = np.empty(ck.mask_nbytes(draw.planes * depth * height * width), np.uint8)
    kept = _core.drop_block_mask(
        mask, draw.planes, depth, height, width, draw.b, bd, *draw.key, draw.t, draw.all_seeds
    )
    return mask, int(kept)


api: DropBlockApi = DropBlockApi(CompiledBackend(), _block_mask)
