"""The torch operators of DropBlock, zoneout and Gaussian noise, on the mechanism of
:mod:`pydropout._torch_ops` (autograd, forward AD, vmap, the generator state as a tensor).

Draws (``batch``: the number of leading dimensions that vmap added, whose entries are
drawn one after the other as successive calls would; the token has them too)::

    pydropout::block_fwd(x, state, p, block_size, eps, batch) -> (y, token, new_state)
    pydropout::zoneout_fwd(prev, new, state, p, batch) -> (y, token, new_state)
    pydropout::noise_fwd(x, state, stddev, noise) -> (y, token, new_state)

``token`` is the packed keep mask of DropBlock (over every element), the packed mask of
zoneout (1 where ``new`` was taken), and empty for Gaussian noise, whose Jacobian is the
identity; ``noise`` shares one draw over the dimensions where it is 1 (vmap's "same").
Linear maps (the Jacobians and their adjoints)::

    pydropout::block_bwd(grad, token, eps) -> dx                  (diagonal: its own adjoint)
    pydropout::zoneout_mix(prev, new, token) -> y                 (new where the bit is 1)
    pydropout::zoneout_split(grad, token) -> (dprev, dnew)        (zoneout_mix's adjoint)
    pydropout::zoneout_eval(prev, new, p) -> dtype(p) * prev + dtype(1 - p) * new
    pydropout::zoneout_eval_bwd(grad, p) -> (grad * dtype(p), grad * dtype(1 - p))
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import numpy as np
import torch

import pydropout

from . import _pipeline_modern as pm
from ._checks import check_room
from ._compiled import api
from ._torch_common import to_numpy
from ._torch_ops import (
    Draw,
    Linear,
    adjoints,
    custom_op,
    generator_at,
    into_layout,
    join_mask,
    like,
    random_front,
    register_batch_vmap,
    register_draw,
    register_linear,
    split_mask,
    state_tensor,
)

Tensors = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _entries(t: torch.Tensor, batch: int) -> Tuple[int, Tuple[int, ...]]:
    """(entries, shape of one entry) of a tensor with ``batch`` leading batch dimensions."""
    return math.prod(t.shape[:batch]), tuple(t.shape[batch:])


def _mask_like(t: torch.Tensor, batch: int, bits: int) -> torch.Tensor:
    return t.new_empty(tuple(t.shape[:batch]) + ((bits + 7) // 8,), dtype=torch.uint8)


def _flat_mask(token: torch.Tensor, bits: int) -> np.ndarray:
    """One packed mask of the entries' masks in order (a token with leading batch dims)."""
    if token.dim() == 1:
        return token.numpy()
    return join_mask(token.reshape(-1, token.shape[-1]).numpy(), bits)


def _new_state(gen: pydropout.Generator) -> torch.Tensor:
    return state_tensor(*gen.get_state())


# -- DropBlock -------------------------------------------------------------------------------


def _seed_words(shape: Tuple[int, ...], b: int) -> int:
    return shape[0] * shape[1] * math.prod(s - b + 1 for s in shape[2:])


@custom_op("pydropout::block_fwd")
def block_fwd(
    x: torch.Tensor, state: torch.Tensor, p: float, block_size: int, eps: float, batch: int
) -> Tensors:
    gen = generator_at(state)
    count, shape = _entries(x, batch)
    check_room(gen, count * _seed_words(shape, block_size))
    run = pydropout.drop_block2d_with_mask if len(shape) == 4 else pydropout.drop_block3d_with_mask
    xa = to_numpy(x)
    if batch == 0:
        ya, mask = run(xa, p, block_size, False, eps, generator=gen)
        return into_layout(ya, x), torch.from_numpy(mask), _new_state(gen)
    pairs = [run(e, p, block_size, False, eps, generator=gen) for e in xa.reshape(-1, *shape)]
    ya = np.stack([y for y, _ in pairs]).reshape(xa.shape)
    masks = np.stack([m for _, m in pairs]).reshape(tuple(x.shape[:batch]) + (-1,))
    return into_layout(ya, x), torch.from_numpy(masks), _new_state(gen)


@block_fwd.register_fake
def _(x, state, p, block_size, eps, batch):
    return like(x), _mask_like(x, batch, math.prod(x.shape[batch:])), state.new_empty(3)


@custom_op("pydropout::block_bwd")
def block_bwd(grad: torch.Tensor, token: torch.Tensor, eps: float) -> torch.Tensor:
    ga = to_numpy(grad)
    if token.dim() == 1:
        return into_layout(pydropout.drop_block_backward(ga, token.numpy(), eps), grad)
    batch = token.dim() - 1
    shape = tuple(grad.shape[batch:])
    masks = token.reshape(-1, token.shape[-1]).numpy()
    entries = ga.reshape(-1, *shape)
    dx = [pydropout.drop_block_backward(g, m, eps) for g, m in zip(entries, masks)]
    return into_layout(np.stack(dx).reshape(ga.shape), grad)


@block_bwd.register_fake
def _(grad, token, eps):
    return like(grad)


BLOCK_BWD = Linear(block_bwd, 1)
BLOCK = Draw(block_fwd, 1, BLOCK_BWD, lambda c, token: (token, c[2]))


# -- zoneout ---------------------------------------------------------------------------------


@custom_op("pydropout::zoneout_fwd")
def zoneout_fwd(
    prev: torch.Tensor, new: torch.Tensor, state: torch.Tensor, p: float, batch: int
) -> Tensors:
    gen = generator_at(state)
    y, mask = pm.zoneout_train(api.pipeline, to_numpy(prev), to_numpy(new), p, gen, None, "mask")
    count, shape = _entries(prev, batch)
    if batch:
        bits = math.prod(shape)
        mask = split_mask(mask, count, bits).reshape(tuple(prev.shape[:batch]) + (-1,))
    return into_layout(y, prev), torch.from_numpy(mask), _new_state(gen)


@zoneout_fwd.register_fake
def _(prev, new, state, p, batch):
    return like(prev), _mask_like(prev, batch, math.prod(prev.shape[batch:])), state.new_empty(3)


def _bits(token: torch.Tensor, shape: Tuple[int, ...]) -> Tuple[int, np.ndarray]:
    batch = token.dim() - 1
    bits = math.prod(shape[batch:])
    return bits, _flat_mask(token, bits)


@custom_op("pydropout::zoneout_split")
def zoneout_split(grad: torch.Tensor, token: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    ga = to_numpy(grad)
    _, mask = _bits(token, tuple(grad.shape))
    dprev, dnew = pm.zoneout_backward(api.pipeline, ga, mask, 0.0, ga.shape)
    return into_layout(dprev, grad), into_layout(dnew, grad)


@zoneout_split.register_fake
def _(grad, token):
    return like(grad), like(grad)


@custom_op("pydropout::zoneout_mix")
def zoneout_mix(prev: torch.Tensor, new: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
    _, mask = _bits(token, tuple(prev.shape))
    took_new = np.unpackbits(mask, count=prev.numel(), bitorder="little").astype(bool)
    y = np.where(took_new.reshape(tuple(prev.shape)), to_numpy(new), to_numpy(prev))
    return into_layout(y, prev)


@zoneout_mix.register_fake
def _(prev, new, token):
    return like(prev)


@custom_op("pydropout::zoneout_eval")
def zoneout_eval(prev: torch.Tensor, new: torch.Tensor, p: float) -> torch.Tensor:
    y = pm.zoneout_eval(api.pipeline, to_numpy(prev), to_numpy(new), p, None, None)
    return into_layout(y, prev)


@zoneout_eval.register_fake
def _(prev, new, p):
    return like(prev)


@custom_op("pydropout::zoneout_eval_bwd")
def zoneout_eval_bwd(grad: torch.Tensor, p: float) -> Tuple[torch.Tensor, torch.Tensor]:
    ga = to_numpy(grad)
    dprev, dnew = pm.zoneout_backward(api.pipeline, ga, None, p, ga.shape)
    return into_layout(dprev, grad), into_layout(dnew, grad)


@zoneout_eval_bwd.register_fake
def _(grad, p):
    return like(grad), like(grad)


ZONEOUT_MIX = Linear(zoneout_mix, 2)
ZONEOUT_SPLIT = Linear(zoneout_split, 1)
adjoints(ZONEOUT_MIX, ZONEOUT_SPLIT)
ZONEOUT = Draw(zoneout_fwd, 2, ZONEOUT_MIX, lambda c, token: (token,))
ZONEOUT_EVAL = Linear(zoneout_eval, 2)
adjoints(ZONEOUT_EVAL, Linear(zoneout_eval_bwd, 1))


# -- Gaussian noise --------------------------------------------------------------------------


@custom_op("pydropout::noise_fwd")
def noise_fwd(
    x: torch.Tensor, state: torch.Tensor, stddev: float, noise: Optional[List[int]]
) -> Tensors:
    gen = generator_at(state)
    xa = to_numpy(x)
    if noise is None:
        y = pm.gaussian_noise_train(api.pipeline, xa, stddev, gen, None)
    else:  # -0.0 + n is n for every n: the draw over the noise shape, then one sum
        n = pm.gaussian_noise_train(api.pipeline, np.full(noise, -0.0, xa.dtype), stddev, gen, None)
        with np.errstate(all="ignore"):
            y = np.add(xa, n)
    return into_layout(y, x), state.new_empty(0, dtype=torch.uint8), _new_state(gen)


@noise_fwd.register_fake
def _(x, state, stddev, noise):
    return like(x), state.new_empty(0, dtype=torch.uint8), state.new_empty(3)


NOISE = Draw(noise_fwd, 1, None, lambda c, token: ())


def _noise_vmap(info, in_dims, x, state, stddev, noise):
    front = random_front(info, in_dims, (x, state), 1)
    if front is None:
        return noise_fwd(x, state, stddev, noise), (None, None, None)
    xb = front[0]
    inner = list(noise) if noise is not None else list(xb.shape[1:])
    if info.randomness == "same":
        return noise_fwd(xb, state, stddev, [1] + inner), (0, None, None)
    shape = None if noise is None else [xb.shape[0]] + inner
    return noise_fwd(xb, state, stddev, shape), (0, None, None)


register_linear(BLOCK_BWD, 2)
register_linear(ZONEOUT_MIX, 3)
register_linear(ZONEOUT_SPLIT, 2)
register_linear(ZONEOUT_EVAL, 2)
register_linear(ZONEOUT_EVAL.T, 1)
for _spec in (BLOCK, ZONEOUT, NOISE):
    register_draw(_spec)
register_batch_vmap(BLOCK)
register_batch_vmap(ZONEOUT)
noise_fwd.register_vmap(_noise_vmap)
