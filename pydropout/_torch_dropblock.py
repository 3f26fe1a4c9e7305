"""DropBlock for PyTorch with torchvision's signatures (``torchvision/ops/drop_block.py``):
``drop_block2d``/``drop_block3d`` and ``DropBlock2d``/``DropBlock3d``, backed by pydropout.

A CPU tensor is viewed as a NumPy array without a copy, :func:`pydropout.drop_block2d`
computes the output and the packed keep mask (one bit per element, all the graph keeps),
and the output array becomes the output tensor. The backward applies that mask with the
forward's scale (never a fresh draw) and is itself differentiable. The result is the same
bits as ``pydropout.drop_block2d`` on ``input.numpy()`` at the same generator state.

Differences from torchvision: the seeds come from a :class:`pydropout.Generator`
(``generator=``, else ``pydropout.default_generator``), not torch's; the kept count is
exact and blocks never leave the array, for odd and even ``block_size`` alike (docs/CONTRACT.md
section 6); ``p == 0`` in training scales by ``numel / (eps + numel)`` as any other ``p``
(torchvision returns the input); a ``block_size`` outside ``[1, min(spatial sizes)]``
raises ValueError.
"""

from __future__ import annotations

from typing import Any, Callable, Tuple

import numpy as np
import torch

from ._dropblock_compiled import api as _api
from ._torch_common import as_numpy

__all__ = ["DropBlock2d", "DropBlock3d", "drop_block2d", "drop_block3d"]


def _as_numpy(t: Any, name: str = "input") -> np.ndarray:
    """A NumPy view (no copy) of the CPU tensor ``t``; a clear error for anything else."""
    return as_numpy(t, name)


def _as_tensor(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    if dtype == torch.bfloat16:
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(a)


class _DropBlockFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        p: float,
        block_size: int,
        inplace: bool,
        eps: float,
        rank: int,
        generator: Any,
    ) -> torch.Tensor:
        xa = _as_numpy(x)
        run = _api.drop_block2d_with_mask if rank == 4 else _api.drop_block3d_with_mask
        y, mask = run(xa, p, block_size, inplace, eps, generator=generator)
        if inplace:
            ctx.mark_dirty(x)
            out = x
        else:
            out = _as_tensor(y, x.dtype)
        ctx.save_for_backward(torch.from_numpy(mask))
        ctx.eps = eps
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Tuple[Any, ...]:
        (mask,) = ctx.saved_tensors
        return _BlockMaskFunction.apply(grad, mask, ctx.eps), None, None, None, None, None, None


class _BlockMaskFunction(torch.autograd.Function):
    """grad * s where the forward kept, +0.0 where it dropped (linear: its own backward)."""

    @staticmethod
    def forward(ctx: Any, grad: torch.Tensor, mask: torch.Tensor, eps: float) -> torch.Tensor:
        dx = _api.drop_block_backward(_as_numpy(grad, "grad"), mask.numpy(), eps)
        ctx.save_for_backward(mask)
        ctx.eps = eps
        return _as_tensor(dx, grad.dtype)

    @staticmethod
    def backward(ctx: Any, gg: torch.Tensor) -> Tuple[Any, ...]:
        (mask,) = ctx.saved_tensors
        return _BlockMaskFunction.apply(gg, mask, ctx.eps), None, None


def _drop_block(
    input: torch.Tensor,
    p: float,
    block_size: int,
    inplace: bool,
    eps: float,
    training: bool,
    rank: int,
    generator: Any,
) -> torch.Tensor:
    if not training:
        run = _api.drop_block2d if rank == 4 else _api.drop_block3d
        run(_as_numpy(input), p, block_size, inplace, eps, False)  # the checks alone
        return input
    return _DropBlockFunction.apply(input, p, block_size, inplace, eps, rank, generator)


def drop_block2d(
    input: torch.Tensor,
    p: float,
    block_size: int,
    inplace: bool = False,
    eps: float = 1e-06,
    training: bool = True,
    *,
    generator: Any = None,
) -> torch.Tensor:
    """DropBlock over ``(N, C, H, W)`` (torchvision's ``drop_block2d``): zero
    ``block_size``-squares around seeds drawn at rate ``gamma``, scale the rest by
    ``numel / (eps + kept)``. Evaluation returns ``input`` itself."""
    return _drop_block(input, p, block_size, inplace, eps, training, 4, generator)


def drop_block3d(
    input: torch.Tensor,
    p: float,
    block_size: int,
    inplace: bool = False,
    eps: float = 1e-06,
    training: bool = True,
    *,
    generator: Any = None,
) -> torch.Tensor:
    """DropBlock over ``(N, C, D, H, W)`` with cubes (torchvision's ``drop_block3d``)."""
    return _drop_block(input, p, block_size, inplace, eps, training, 5, generator)


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
        return self._call(drop_block2d, input)

    def _call(self, function: Callable[..., torch.Tensor], input: torch.Tensor) -> torch.Tensor:
        return function(
            input,
            self.p,
            self.block_size,
            self.inplace,
            self.eps,
            self.training,
            generator=self.generator,
        )

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(p={self.p}, block_size={self.block_size}, "
            f"inplace={self.inplace})"
        )


class DropBlock3d(DropBlock2d):
    """See :func:`drop_block3d` (torchvision's ``DropBlock3d``)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self._call(drop_block3d, input)
