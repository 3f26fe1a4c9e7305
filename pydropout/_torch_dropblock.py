"""DropBlock for PyTorch with torchvision's signatures (``torchvision/ops/drop_block.py``):
``drop_block2d``/``drop_block3d`` and ``DropBlock2d``/``DropBlock3d``, backed by pydropout.

The operator ``pydropout::block_fwd`` (:mod:`pydropout._torch_ops_modern`, with torch's
transforms) views a CPU tensor as a NumPy array without a copy; :func:`pydropout.drop_block2d`
computes the output and the packed keep mask (one bit per element, all the graph keeps).
The backward applies that mask with the forward's scale (never a fresh draw) and is itself
differentiable. The result is the same bits as ``pydropout.drop_block2d`` on
``input.numpy()`` at the same generator state.

Differences from torchvision: the seeds come from a :class:`pydropout.Generator`
(``generator=``, else ``pydropout.default_generator``), not torch's; the kept count is
exact and blocks never leave the array, for odd and even ``block_size`` alike (docs/CONTRACT.md
section 6); ``p == 0`` in training scales by ``numel / (eps + numel)`` as any other ``p``
(torchvision returns the input); a ``block_size`` outside ``[1, min(spatial sizes)]``
raises ValueError.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

import pydropout

from . import _torch_ops as ops
from ._checks import check_generator, check_p
from ._dropblock import DropBlockApi, check_block_size, check_eps
from ._torch_common import check_tensor, public
from ._torch_ops_modern import BLOCK

__all__ = ["DropBlock2d", "DropBlock3d", "drop_block2d", "drop_block3d"]

_SHAPES = {4: "(N, C, H, W)", 5: "(N, C, D, H, W)"}


def _function(rank: int, doc: str) -> Callable[..., torch.Tensor]:
    """``drop_block2d`` (rank 4) or ``drop_block3d`` (rank 5), torchvision's signature: the
    checks of :func:`pydropout.drop_block2d` (its messages, in its order) on the tensor,
    then the operator."""

    def function(input, p, block_size, inplace=False, eps=1e-06, training=True, *, generator=None):
        check_tensor(input)
        if input.dim() != rank:
            raise ValueError(
                f"x must be {rank}-dimensional {_SHAPES[rank]}, got shape {tuple(input.shape)}"
            )
        p = check_p(p)
        b = check_block_size(block_size, tuple(input.shape[2:]))
        e = check_eps(eps)
        gen = check_generator(generator, pydropout.default_generator)
        if not training:
            return input
        words = input.shape[0] * input.shape[1] * math.prod([s - b + 1 for s in input.shape[2:]])
        y = ops.run(BLOCK, gen, words, (input,), (p, b, e, 0))
        return input.copy_(y) if inplace else y

    name = f"drop_block{rank - 2}d"
    tensor = "torch.Tensor"
    return public(
        function, name, doc, DropBlockApi.drop_block2d, input=tensor, **{"return": tensor}
    )


drop_block2d = _function(
    4,
    """DropBlock over ``(N, C, H, W)`` (torchvision's ``drop_block2d``): zero
    ``block_size``-squares around seeds drawn at rate ``gamma``, scale the rest by
    ``numel / (eps + kept)``. Evaluation returns ``input`` itself.""",
)
drop_block3d = _function(
    5, """DropBlock over ``(N, C, D, H, W)`` with cubes (torchvision's ``drop_block3d``)."""
)


# leaves of torch.fx graphs, as torchvision's are
torch.fx.wrap("drop_block2d")
torch.fx.wrap("drop_block3d")


class DropBlock2d(torch.nn.Module):
    """See :func:`drop_block2d` (torchvision's ``DropBlock2d``)."""

    def __init__(
        self,
        p: float,
        block_size: int,
        inplace: bool = False,
        eps: float = 1e-06,
        *,
        generator: Any = None,
    ) -> None:
        super().__init__()
        self.p = p
        self.block_size = block_size
        self.inplace = inplace
        self.eps = eps
        self.generator = generator

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return drop_block2d(input, *self._args(), generator=self.generator)

    def _args(self) -> tuple:
        """The positional arguments after ``input`` (the functions are called by their
        global names, which torch.fx.wrap patches)."""
        return (self.p, self.block_size, self.inplace, self.eps, self.training)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(p={self.p}, block_size={self.block_size}, "
            f"inplace={self.inplace})"
        )


class DropBlock3d(DropBlock2d):
    """See :func:`drop_block3d` (torchvision's ``DropBlock3d``)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return drop_block3d(input, *self._args(), generator=self.generator)
