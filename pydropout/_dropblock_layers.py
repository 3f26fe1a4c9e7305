"""The DropBlock layers over NumPy arrays, with a backward pass (like pydropout's others)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._dropblock import check_eps
from ._dropblock_compiled import api
from ._layers import _Layer

_EVAL = "eval"  # what an evaluation forward leaves for backward


class _DropBlock(_Layer):
    _rank = 4

    def __init__(
        self,
        p: float,
        block_size: int,
        inplace: bool = False,
        eps: float = 1e-6,
        *,
        generator: Any = None,
    ):
        super().__init__(p, inplace, generator, "mask")
        if (
            isinstance(block_size, bool)
            or not isinstance(block_size, (int, np.integer))
            or block_size < 1
        ):
            raise ValueError(f"block_size must be an integer >= 1, got {block_size!r}")
        self.block_size = int(block_size)
        self.eps = check_eps(eps)

    def forward(self, x: Any) -> np.ndarray:
        if not self.training:
            run = api.drop_block2d if self._rank == 4 else api.drop_block3d
            y = run(x, self.p, self.block_size, self.inplace, self.eps, False)
            self._remember(_EVAL, y.shape, self.p)
            return y
        with_mask = api.drop_block2d_with_mask if self._rank == 4 else api.drop_block3d_with_mask
        y, mask = with_mask(
            x, self.p, self.block_size, self.inplace, self.eps, generator=self.generator
        )
        self._remember(mask, y.shape, self.p)
        self._eps_forward = self.eps
        return y

    def backward(self, grad: Any) -> np.ndarray:
        """Gradient with respect to the input of the last forward (``grad`` itself after an
        evaluation forward); ValueError before any forward."""
        return self._backward_of_last(
            grad, lambda g: api.drop_block_backward(g, self._saved, self._eps_forward)
        )

    def extra_repr(self) -> str:
        return f"p={self.p}, block_size={self.block_size}, inplace={self.inplace}, eps={self.eps}"


class DropBlock2d(_DropBlock):
    """DropBlock over ``(N, C, H, W)`` (torchvision's ``DropBlock2d``), with a backward pass.

    ``forward`` in training mode is :func:`pydropout.drop_block2d` and keeps the packed
    keep mask; ``backward(grad)`` is ``grad * s`` where kept, ``+0.0`` where dropped, with
    the forward's scale. Evaluation returns the input itself.
    """

    _rank = 4


class DropBlock3d(_DropBlock):
    """DropBlock over ``(N, C, D, H, W)`` with cubes (torchvision's ``DropBlock3d``)."""

    _rank = 5
