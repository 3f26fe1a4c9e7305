"""pydropout's torch operators (``torch.library`` custom ops) and their transforms.

Two operators carry every layer of :mod:`pydropout.torch`:

``pydropout::dropout_fwd(x, state, p, kind, mode, noise, keep_state) -> (y, token, new_state)``
    a pure function of the input and the generator state ``state`` (int64 ``[seed, stream,
    offset]``, the bit patterns of the unsigned values). ``token`` is the packed keep mask
    (uint8, one bit per mask element) or, with ``keep_state``, the state itself (the
    backward then draws the same mask again). ``new_state`` is ``state`` advanced by the
    words the call consumed; the caller copies it back into the generator.
``pydropout::dropout_bwd(grad, token, p, kind, mode, noise) -> dx``
    the backward: linear and diagonal, so it is its own adjoint and its own tangent map.

``kind`` is ``"dropout"`` or ``"alpha"``. Two small operators, ``pydropout::gen_read`` and
``pydropout::gen_write``, move a :class:`pydropout.Generator`'s state into and out of a
graph (torch.compile, torch.export), ordered by a per-generator int64 tensor that
``gen_write`` mutates. In eager mode the wrappers reserve the words from the generator
directly, which is atomic.

Autograd is registered on the operators (``register_autograd``), which is what a compiled
graph uses; eager calls go through :class:`torch.autograd.Function` subclasses that add
forward-mode AD (dynamo does not trace a ``jvp`` of an ``autograd.Function``). vmap rules
implement the randomness semantics of the contract's section 7.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch._prims_common import (
    is_non_overlapping_and_dense_or_false as is_non_overlapping_and_dense,
)

import pydropout

from ._state import DropoutState
from ._torch_common import bfloat16

_U64 = 1 << 64
_I64 = 1 << 63

RANDOMNESS_ERROR = (
    "vmap: called random operation while in randomness error mode. Please either use the "
    "'same' or 'different' randomness flags on vmap or perform the randomness operation "
    "out of vmap"
)


_bf16 = bfloat16  # ml_dtypes' bfloat16, or None


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A NumPy view (no copy) of a checked CPU tensor (bfloat16 as ml_dtypes.bfloat16)."""
    t = t.detach()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(_bf16())
    return t.numpy()


def _signed(v: int) -> int:
    return v - _U64 if v >= _I64 else v


def _unsigned(v: int) -> int:
    return v + _U64 if v < 0 else v


def state_tensor(seed: int, stream: int, offset: int) -> torch.Tensor:
    return torch.tensor([_signed(seed), _signed(stream), _signed(offset)], dtype=torch.int64)


def _state_ints(state: torch.Tensor) -> Tuple[int, int, int]:
    s, st, o = (_unsigned(int(v)) for v in state.tolist())
    return s, st, o


def _like(x: torch.Tensor) -> torch.Tensor:
    """The output buffer rule (the contract's section 5): the input's strides when it is dense and
    non-overlapping, else C order."""
    if is_non_overlapping_and_dense(x):
        return torch.empty_like(x, memory_format=torch.preserve_format)
    return x.new_empty(x.shape)


def _noise_words(shape: List[int], noise: Optional[List[int]]) -> int:
    return math.prod(noise) if noise is not None else math.prod(shape)


def _into_layout(y: np.ndarray, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The tensor over ``y``, in the layout :func:`_like` promises (copied if it is not)."""
    if dtype == torch.bfloat16:
        t = torch.from_numpy(y.view(np.int16)).view(torch.bfloat16)
    else:
        t = torch.from_numpy(y)
    want = _like(x)
    if t.stride() == want.stride():
        return t
    return want.copy_(t)


# ---------------------------------------------------------------------------------------
# the operators


@torch.library.custom_op("pydropout::dropout_fwd", mutates_args=())
def dropout_fwd(
    x: torch.Tensor,
    state: torch.Tensor,
    p: float,
    kind: str,
    mode: str,
    noise: Optional[List[int]],
    keep_state: bool,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    seed, stream, offset = _state_ints(state)
    gen = pydropout.Generator(seed, stream=stream, offset=offset)
    xa = to_numpy(x)
    ns = tuple(noise) if noise is not None else None
    if kind == "alpha":
        ya, mask = pydropout.alpha_dropout_with_mask(xa, p, noise_shape=ns, generator=gen)
        token = torch.from_numpy(mask)
    elif keep_state:
        ya, _ = pydropout.dropout_with_state(xa, p, mode=mode, noise_shape=ns, generator=gen)
        token = state.clone()
    else:
        ya, mask = pydropout.dropout_with_mask(xa, p, mode=mode, noise_shape=ns, generator=gen)
        token = torch.from_numpy(mask)
    return _into_layout(ya, x, x.dtype), token, state_tensor(seed, stream, gen.offset)


@dropout_fwd.register_fake
def _(x, state, p, kind, mode, noise, keep_state):
    nn = _noise_words(list(x.shape), noise)
    if keep_state and kind != "alpha":
        token = state.new_empty(3)
    else:
        token = x.new_empty(((nn + 7) // 8,), dtype=torch.uint8)
    return _like(x), token, state.new_empty(3)


@torch.library.custom_op("pydropout::dropout_bwd", mutates_args=())
def dropout_bwd(
    grad: torch.Tensor,
    token: torch.Tensor,
    p: float,
    kind: str,
    mode: str,
    noise: Optional[List[int]],
) -> torch.Tensor:
    ga = to_numpy(grad)
    ns = tuple(noise) if noise is not None else None
    mask: Any
    if token.dtype == torch.int64:
        seed, stream, offset = _state_ints(token)
        mask = DropoutState(
            seed, stream, offset, tuple(grad.shape), p, None if kind == "alpha" else mode, ns, kind
        )
    else:
        mask = token.numpy()
    if kind == "alpha":
        dx = pydropout.alpha_dropout_backward(ga, mask, p, noise_shape=ns)
    else:
        dx = pydropout.dropout_backward(ga, mask, p, mode=mode, noise_shape=ns)
    return _into_layout(dx, grad, grad.dtype)


@dropout_bwd.register_fake
def _(grad, token, p, kind, mode, noise):
    return _like(grad)


# -- generator state in and out of graphs -------------------------------------------------

_GENERATORS: Dict[int, Any] = {}
_TOKENS: Dict[int, torch.Tensor] = {}


@torch.compiler.assume_constant_result
def generator_key(gen: Any) -> int:
    """A key for ``gen`` (registered on first use; generators are few and long-lived).

    Run as plain Python even while dynamo traces, so that the registration is real."""
    k = id(gen)
    if _GENERATORS.get(k) is not gen:
        _GENERATORS[k] = gen
        _TOKENS[k] = torch.zeros(3, dtype=torch.int64)
    return k


@torch.library.custom_op("pydropout::gen_read", mutates_args=())
def gen_read(order: torch.Tensor, key: int) -> torch.Tensor:
    return state_tensor(*_GENERATORS[key].get_state())


@gen_read.register_fake
def _(order, key):
    return order.new_empty(3)


@torch.library.custom_op("pydropout::gen_write", mutates_args=("order",))
def gen_write(order: torch.Tensor, new_state: torch.Tensor, key: int) -> None:
    gen = _GENERATORS[key]
    seed, stream, offset = _state_ints(new_state)
    gen.offset = offset
    order.copy_(new_state)


@gen_write.register_fake
def _(order, new_state, key):
    return None


# ---------------------------------------------------------------------------------------
# autograd (the operators' own, used by compiled graphs)


def memory_format(x: torch.Tensor) -> Optional[torch.memory_format]:
    """``channels_last`` or ``channels_last_3d`` when ``x`` has that layout (and is not
    also C-contiguous), else None."""
    if x.dim() == 4 and not x.is_contiguous():
        if x.is_contiguous(memory_format=torch.channels_last):
            return torch.channels_last
    if x.dim() == 5 and not x.is_contiguous():
        if x.is_contiguous(memory_format=torch.channels_last_3d):
            return torch.channels_last_3d
    return None


def grad_in_layout(ctx: Any, gy: torch.Tensor) -> torch.Tensor:
    """The incoming gradient in the forward input's channels-last layout, so that the
    gradient of a channels_last network stays channels_last (a compiled backward writes
    it so directly)."""
    if ctx.memory_format is not None:
        return gy.contiguous(memory_format=ctx.memory_format)
    return gy


def _fwd_setup(ctx: Any, inputs: Tuple[Any, ...], output: Tuple[Any, ...]) -> None:
    _, _, ctx.p, ctx.kind, ctx.mode, ctx.noise, _ = inputs
    ctx.memory_format = memory_format(inputs[0])
    token = output[1]
    if token.dtype == torch.int64:
        ctx.token = token  # a few integers: the graph keeps no saved tensor
        ctx.save_for_backward()
    else:
        ctx.token = None
        ctx.save_for_backward(token)


def _token(ctx: Any) -> torch.Tensor:
    return ctx.token if ctx.token is not None else ctx.saved_tensors[0]


def _fwd_backward(ctx: Any, gy: torch.Tensor, gtoken: Any, gstate: Any):
    dx = dropout_bwd(grad_in_layout(ctx, gy), _token(ctx), ctx.p, ctx.kind, ctx.mode, ctx.noise)
    return dx, None, None, None, None, None, None


def _bwd_setup(ctx: Any, inputs: Tuple[Any, ...], output: Any) -> None:
    _, token, ctx.p, ctx.kind, ctx.mode, ctx.noise = inputs
    ctx.token = None
    ctx.save_for_backward(token)


def _bwd_backward(ctx: Any, gg: torch.Tensor):
    dgrad = dropout_bwd(gg, ctx.saved_tensors[0], ctx.p, ctx.kind, ctx.mode, ctx.noise)
    return dgrad, None, None, None, None, None


dropout_fwd.register_autograd(_fwd_backward, setup_context=_fwd_setup)
dropout_bwd.register_autograd(_bwd_backward, setup_context=_bwd_setup)


# ---------------------------------------------------------------------------------------
# eager autograd with forward AD


class FwdFunction(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, state, p, kind, mode, noise, keep_state):
        return dropout_fwd(x, state, p, kind, mode, noise, keep_state)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, _, ctx.p, ctx.kind, ctx.mode, ctx.noise, _ = inputs
        ctx.memory_format = memory_format(inputs[0])
        token = output[1]
        ctx.mark_non_differentiable(output[1], output[2])
        if token.dtype == torch.int64:
            ctx.token = token
            ctx.save_for_backward()
        else:
            ctx.token = None
            ctx.save_for_backward(token)
            ctx.save_for_forward(token)

    @staticmethod
    def backward(ctx, gy, gtoken, gstate):
        dx = BwdFunction.apply(
            grad_in_layout(ctx, gy), _token(ctx), ctx.p, ctx.kind, ctx.mode, ctx.noise
        )
        return dx, None, None, None, None, None, None

    @staticmethod
    def jvp(ctx, tx, *_):
        token = ctx.token if ctx.token is not None else ctx.saved_tensors[0]
        return dropout_bwd(tx, token, ctx.p, ctx.kind, ctx.mode, ctx.noise), None, None


class BwdFunction(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(grad, token, p, kind, mode, noise):
        return dropout_bwd(grad, token, p, kind, mode, noise)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, token, ctx.p, ctx.kind, ctx.mode, ctx.noise = inputs
        ctx.save_for_backward(token)
        ctx.save_for_forward(token)

    @staticmethod
    def backward(ctx, gg):
        dgrad = BwdFunction.apply(gg, ctx.saved_tensors[0], ctx.p, ctx.kind, ctx.mode, ctx.noise)
        return dgrad, None, None, None, None, None

    @staticmethod
    def jvp(ctx, tg, *_):
        return dropout_bwd(tg, ctx.saved_tensors[0], ctx.p, ctx.kind, ctx.mode, ctx.noise)


# ---------------------------------------------------------------------------------------
# vmap (the contract's section 7)


def _split_mask(mask: torch.Tensor, b: int, nn: int) -> torch.Tensor:
    """The packed mask of ``b * nn`` bits as ``b`` packed masks of ``nn`` bits each."""
    bits = np.unpackbits(mask.numpy(), bitorder="little")[: b * nn].reshape(b, nn)
    return torch.from_numpy(np.packbits(bits, axis=1, bitorder="little"))


def _join_mask(masks: torch.Tensor, nn: int) -> torch.Tensor:
    bits = np.unpackbits(masks.numpy(), axis=1, bitorder="little")[:, :nn]
    return torch.from_numpy(np.packbits(bits.reshape(-1), bitorder="little"))


def _fwd_vmap(info, in_dims, x, state, p, kind, mode, noise, keep_state):
    x_bdim, state_bdim = in_dims[0], in_dims[1]
    if state_bdim is not None:
        raise ValueError("pydropout: a batched generator state is not supported under vmap")
    if x_bdim is None:
        return dropout_fwd(x, state, p, kind, mode, noise, keep_state), (None, None, None)
    if info.randomness == "error":
        raise RuntimeError(RANDOMNESS_ERROR)
    xb = x.movedim(x_bdim, 0)
    b = xb.shape[0]
    inner = list(noise) if noise is not None else list(xb.shape[1:])
    nn = math.prod(inner)
    if info.randomness == "same":
        y, token, new = dropout_fwd(xb, state, p, kind, mode, [1] + inner, keep_state)
        return (y, token, new), (0, None, None)
    y, token, new = dropout_fwd(
        xb, state, p, kind, mode, None if noise is None else [b] + inner, keep_state
    )
    if token.dtype == torch.int64:  # entry i's words start i * nn words later
        step = torch.zeros(b, 3, dtype=torch.int64)
        step[:, 2] = torch.arange(b, dtype=torch.int64) * nn
        tokens = token.unsqueeze(0) + step
    else:
        tokens = _split_mask(token, b, nn)
    return (y, tokens, new), (0, 0, None)


def _bwd_vmap(info, in_dims, grad, token, p, kind, mode, noise):
    g_bdim, t_bdim = in_dims[0], in_dims[1]
    if g_bdim is None and t_bdim is None:
        return dropout_bwd(grad, token, p, kind, mode, noise), None
    if t_bdim is None:
        gb = grad.movedim(g_bdim, 0)
        inner = list(noise) if noise is not None else list(gb.shape[1:])
        return dropout_bwd(gb, token, p, kind, mode, [1] + inner), 0
    tb = token.movedim(t_bdim, 0)
    b = tb.shape[0]
    if g_bdim is None:
        gb = grad.unsqueeze(0).expand((b,) + tuple(grad.shape))
    else:
        gb = grad.movedim(g_bdim, 0)
    inner = list(noise) if noise is not None else list(gb.shape[1:])
    nn = math.prod(inner)
    if tb.dtype == torch.int64:
        first = tb[0]
        expect = first.unsqueeze(0).repeat(b, 1)
        expect[:, 2] += torch.arange(b, dtype=torch.int64) * nn
        if not torch.equal(expect, tb):
            outs = [dropout_bwd(gb[i], tb[i], p, kind, mode, noise) for i in range(b)]
            return torch.stack(outs), 0
        return dropout_bwd(gb, first, p, kind, mode, [b] + inner), 0
    return dropout_bwd(gb, _join_mask(tb.contiguous(), nn), p, kind, mode, [b] + inner), 0


def _gen_read_vmap(info, in_dims, order, key):
    return gen_read(order, key), None


dropout_fwd.register_vmap(_fwd_vmap)
dropout_bwd.register_vmap(_bwd_vmap)
gen_read.register_vmap(_gen_read_vmap)
