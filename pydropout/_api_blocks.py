"""The public functions of blocks (:func:`pydropout.dropout_block` and its mask), written
once: :class:`BlocksApi` is a base of :class:`pydropout._api.Api`, so ``pydropout`` and
``pydropout.reference`` both have them, over their own backend. Also the annotations'
aliases of the public API.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike

from ._checks import DOWNSCALE, UPSCALE

Array = np.ndarray
#: a ``pydropout.Generator`` or a ``pydropout.reference.Generator`` (see ``_checks``)
GeneratorLike = Any
ShapeLike = Union[int, Sequence[int]]
NoiseShape = Optional[Sequence[Optional[int]]]


class BlocksApi:
    """dropout_block and dropout_block_mask over ``self.pipeline``."""

    pipeline: Any
    #: the backend's hook for a block of few, long runs (None for anything else)
    _fast_block: Any

    def dropout_block(
        self,
        x_block: ArrayLike,
        p: float,
        *,
        full_shape: Sequence[int],
        origin: Sequence[int],
        seed: int,
        stream: int = 0,
        offset: int = 0,
        training: bool = True,
        mode: str = UPSCALE,
        out: Optional[Array] = None,
        return_mask: bool = False,
    ) -> Union[Array, Tuple[Array, Array]]:
        """Dropout of one block of a larger logical array, keyed by its place in the whole.

        Block element ``idx`` draws word ``offset + ravel_multi_index(origin + idx,
        full_shape)`` of the stream ``(seed, stream)``. Cutting an array into blocks in any
        way and dropping each block with this function gives exactly
        ``pydropout.dropout(full, p, generator=Generator(seed, stream=stream, offset=offset))``,
        whichever machine computes which block. The full array never needs to exist.

        Parameters
        ----------
        x_block : array_like of float16, float32, float64 (or ml_dtypes.bfloat16)
            The block, with as many dimensions as ``full_shape``; any memory layout.
        p : float
            Drop probability in [0, 1] (the keep rule of :func:`pydropout.dropout`).
        full_shape : tuple of int
            Shape of the logical array the block belongs to.
        origin : tuple of int
            Index in the full array of the block's first element; the block must fit:
            ``origin[i] + x_block.shape[i] <= full_shape[i]``.
        seed, stream, offset : int
            Generator state of the whole array, each in [0, 2**64); ``offset +
            prod(full_shape)`` must not pass 2**64. Take them from
            ``generator._reserve(prod(full_shape))`` or ``generator.get_state()`` (then
            advance the generator yourself) so that later calls draw fresh words.
        training : bool
            Evaluation mode draws nothing, exactly as :func:`pydropout.dropout`.
        mode : {"upscale_in_train", "downscale_in_infer"}
            Scaling convention (see :func:`pydropout.dropout`).
        out : ndarray, optional
            Destination with the block's shape and dtype.
        return_mask : bool
            Also return the block's packed keep mask (bit ``i`` is block element ``i`` in
            C order), as :func:`pydropout.dropout_with_mask` does for a whole array.

        Returns
        -------
        numpy.ndarray, or (numpy.ndarray, numpy.ndarray) with ``return_mask=True``

        Raises
        ------
        TypeError
            An unsupported dtype; a non-integer seed, stream, offset, origin or full_shape.
        ValueError
            ``p`` outside [0, 1], an unknown mode, a block whose rank differs from
            ``full_shape``'s or that does not fit at ``origin``, a seed/stream/offset outside
            [0, 2**64) or an offset whose words would pass 2**64, a bad ``out``.

        Examples
        --------
        >>> import numpy as np, pydropout
        >>> x = np.arange(1, 13, dtype=np.float32).reshape(3, 4)
        >>> whole = pydropout.dropout(x, 0.5, generator=pydropout.Generator(7))
        >>> right = pydropout.dropout_block(x[:, 2:], 0.5, full_shape=(3, 4), origin=(0, 2), seed=7)
        >>> bool((right == whole[:, 2:]).all())
        True
        """
        if out is None and training is True and (return_mask is True or return_mask is False):
            if mode == UPSCALE or mode == DOWNSCALE:
                fast = self._fast_block
                r = fast(x_block, p, full_shape, origin, seed, stream, offset, mode == UPSCALE,
                         return_mask, True)  # fmt: skip
                if r is not None:
                    return r
        place = (full_shape, origin, seed, stream, offset)  # the block's place in the whole
        return self.pipeline.dropout_block(x_block, p, place, training, mode, out, return_mask)

    def dropout_block_mask(
        self,
        shape: ShapeLike,
        p: float,
        *,
        full_shape: Sequence[int],
        origin: Sequence[int],
        seed: int,
        stream: int = 0,
        offset: int = 0,
    ) -> Array:
        """Only the packed keep mask of a block of ``shape`` at ``origin`` of ``full_shape``.

        The bits :func:`dropout_block` would keep (bit ``i`` is block element ``i`` in C order;
        ``ceil(prod(shape) / 8)`` bytes), as :func:`pydropout.dropout_mask` is for a whole array.
        """
        fast = self._fast_block
        r = fast(shape, p, full_shape, origin, seed, stream, offset, True, True, False)
        if r is not None:
            return r
        place = (full_shape, origin, seed, stream, offset)
        return self.pipeline.dropout_block_mask(shape, p, place)
