"""pydropout's torch operators (``torch.library`` custom ops) and the one mechanism that
gives every one of them torch's transforms.

Each random operation of :mod:`pydropout.torch` is a *draw* operator, a pure function of
its tensors and the generator state ``state`` (int64 ``[seed, stream, offset]``, the bit
patterns of the unsigned values)::

    op(*tensors, state, *constants) -> (y, token, new_state)

``token`` is what the backward needs: the packed keep mask (uint8, one bit per mask
element), or the state itself where the operation replays its draw. ``new_state`` is
``state`` advanced by the words the call consumed; the caller copies it back into the
generator. Given the token, each operation is linear in its tensors (or affine, as alpha
dropout): its Jacobian is a *linear* operator ``J(*tangents, token, *constants)`` with an
adjoint ``J.T`` that takes the same trailing arguments (a diagonal ``J`` is its own).
A :class:`Draw` names the draw operator and its ``J``; a :class:`Linear` names ``J`` and
``J.T``. From them this module registers, once for all:

* autograd on every operator (``register_autograd``: the backward is ``J.T``, the backward
  of ``J`` is ``J.T`` again), which is what compiled graphs use;
* eager autograd with forward AD (:class:`DrawFunction`, :class:`LinearFunction`: the jvp is
  ``J`` applied to the tangents, with the primal's token), because dynamo does not trace a
  ``jvp`` of an ``autograd.Function``;
* vmap rules with the randomness semantics of the contract's section 7;
* :func:`run`, the generator plumbing: in eager mode the words are reserved from the
  generator directly (atomic); under torch.compile, torch.export and torch.func the state
  enters the graph through ``pydropout::gen_read`` and leaves through ``gen_write``, ordered
  by a per-generator int64 tensor that ``gen_write`` mutates.

This module holds the dropout operators (``kind`` ``"dropout"`` or ``"alpha"``):

``pydropout::dropout_fwd(x, state, p, kind, mode, noise, keep_state) -> (y, token, new_state)``
    with ``keep_state`` the token is the state (the backward draws the same mask again);
``pydropout::dropout_bwd(grad, token, p, kind, mode, noise) -> dx``
    linear and diagonal, so it is its own adjoint and its own tangent map.

:mod:`pydropout._torch_ops_modern` holds those of DropBlock, zoneout and Gaussian noise.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.autograd.forward_ad as fwAD
from torch._prims_common import (
    is_non_overlapping_and_dense_or_false as is_non_overlapping_and_dense,
)
from torch.utils._python_dispatch import is_in_torch_dispatch_mode

import pydropout

from ._checks import check_room
from ._state import DropoutState
from ._torch_common import as_tensor, bfloat16, to_numpy

_U64 = 1 << 64
_I64 = 1 << 63

RANDOMNESS_ERROR = (
    "vmap: called random operation while in randomness error mode. Please either use the "
    "'same' or 'different' randomness flags on vmap or perform the randomness operation "
    "out of vmap"
)
BATCHED_STATE = "pydropout: a batched generator state is not supported under vmap"

_bf16 = bfloat16  # ml_dtypes' bfloat16, or None


def _signed(v: int) -> int:
    return v - _U64 if v >= _I64 else v


def _unsigned(v: int) -> int:
    return v + _U64 if v < 0 else v


def state_tensor(seed: int, stream: int, offset: int) -> torch.Tensor:
    return torch.tensor([_signed(seed), _signed(stream), _signed(offset)], dtype=torch.int64)


def state_ints(state: torch.Tensor) -> Tuple[int, int, int]:
    s, st, o = (_unsigned(int(v)) for v in state.tolist())
    return s, st, o


def generator_at(state: torch.Tensor) -> Any:
    """A :class:`pydropout.Generator` at the state the tensor holds."""
    seed, stream, offset = state_ints(state)
    return pydropout.Generator(seed, stream=stream, offset=offset)


def like(x: torch.Tensor) -> torch.Tensor:
    """The output buffer rule (the contract's section 5): the input's strides when it is dense and
    non-overlapping, else C order."""
    if is_non_overlapping_and_dense(x):
        return torch.empty_like(x, memory_format=torch.preserve_format)
    return x.new_empty(x.shape)


def _like_strides(shape: Tuple[int, ...], strides: Tuple[int, ...]) -> Tuple[int, ...]:
    """The strides of :func:`like` for a tensor of concrete ``shape`` and ``strides`` with
    elements: its own where it is non-overlapping and dense (size-1 dimensions aside, the
    strides sorted are the running products of the sizes), else C order's."""
    expected = 1
    for st, sz in sorted((st, sz) for sz, st in zip(shape, strides) if sz != 1):
        if st != expected:
            break
        expected *= sz
    else:
        return strides
    out, acc = [], 1
    for sz in reversed(shape):
        out.append(acc)
        acc *= max(sz, 1)
    return tuple(reversed(out))


def into_layout(y: np.ndarray, x: torch.Tensor) -> torch.Tensor:
    """The tensor over ``y`` (of ``x``'s dtype), in the layout :func:`like` promises (copied
    if it is not)."""
    t = as_tensor(y, x.dtype)
    if x.numel() and t.stride() == _like_strides(tuple(x.shape), tuple(x.stride())):
        return t
    out = like(x)
    if t.stride() == out.stride():
        return t
    return out.copy_(t)


def split_mask(mask: np.ndarray, b: int, nn: int) -> np.ndarray:
    """The packed mask of ``b * nn`` bits as ``b`` packed masks of ``nn`` bits each."""
    bits = np.unpackbits(mask, bitorder="little")[: b * nn].reshape(b, nn)
    return np.packbits(bits, axis=1, bitorder="little")


def join_mask(masks: np.ndarray, nn: int) -> np.ndarray:
    """The rows of ``masks`` (packed masks of ``nn`` bits each) as one packed mask."""
    bits = np.unpackbits(np.ascontiguousarray(masks), axis=1, bitorder="little")[:, :nn]
    return np.packbits(bits.reshape(-1), bitorder="little")


# -- generator state in and out of graphs -------------------------------------------------

_GENERATORS: Dict[int, Any] = {}
_TOKENS: Dict[int, torch.Tensor] = {}
_EAGER: Dict[Any, Callable[..., Any]] = {}  # operator -> its Python implementation
_PLAIN = (torch.Tensor, torch.nn.Parameter)


def custom_op(name: str) -> Callable[[Callable[..., Any]], Any]:
    """``torch.library.custom_op(name, mutates_args=())``, keeping the decorated function as
    the operator's implementation for plain eager mode (:func:`plain_eager`)."""

    def register(fn: Callable[..., Any]) -> Any:
        op = torch.library.custom_op(name, fn, mutates_args=())
        _EAGER[op] = fn
        return op

    return register


def plain_eager(tensors: Sequence[Any]) -> bool:
    """Whether the operators may run their Python implementations directly on ``tensors``:
    plain CPU tensors (no subclass, no forward-AD tangent, no batching wrapper), no torch
    function or dispatch mode, no transform and no tracing. The bits and words are those of the dispatched operator; what is skipped
    is the dispatch of a Python custom op (tens of microseconds a call)."""
    if torch._C._len_torch_function_stack() or is_in_torch_dispatch_mode():
        return False
    if in_transform() or torch.jit.is_tracing():  # in_transform: a backward under vmap
        return False
    return all(_plain(t) for t in tensors if isinstance(t, torch.Tensor))


def _plain(t: torch.Tensor) -> bool:
    if type(t) not in _PLAIN or fwAD.unpack_dual(t).tangent is not None:
        return False
    ft = torch._C._functorch  # wrappers of torch.func and of the older vmap of gradcheck
    return not (ft.is_functorch_wrapped_tensor(t) or ft.is_legacy_batchedtensor(t))


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
    _GENERATORS[key].offset = state_ints(new_state)[2]
    order.copy_(new_state)


@gen_write.register_fake
def _(order, new_state, key):
    return None


def _gen_read_vmap(info, in_dims, order, key):
    return gen_read(order, key), None


gen_read.register_vmap(_gen_read_vmap)


def in_transform() -> bool:
    """Inside torch.func (vmap, grad, jvp) or a compiled graph: the generator's state then
    travels through the graph as a tensor."""
    return torch.compiler.is_compiling() or torch._C._functorch.maybe_current_level() is not None


# ---------------------------------------------------------------------------------------
# the mechanism: linear maps, draws, their autograd, forward AD and vmap


class Linear:
    """An operator linear in its first ``n`` tensor arguments; ``T`` is its adjoint, which
    takes the same trailing arguments (the token and the constants of a forward)."""

    def __init__(self, op: Any, n: int) -> None:
        self.op = op
        self.n = n
        self.T: Linear = self  # diagonal maps are their own adjoint


def adjoints(a: Linear, b: Linear) -> None:
    a.T, b.T = b, a


class Draw:
    """A random operator ``op(*tensors, state, *constants) -> (y, token, new_state)`` over its
    first ``n`` arguments; its Jacobian is ``linear(*tangents, *rest(constants, token))``
    (``linear`` None: the identity)."""

    def __init__(
        self, op: Any, n: int, linear: Optional[Linear], rest: Callable[..., Tuple[Any, ...]]
    ) -> None:
        self.op = op
        self.n = n
        self.linear = linear
        self.rest = rest


_SAVED = object()  # the place of a saved tensor among the stashed arguments


def _stash(ctx: Any, args: Sequence[Any], forward: bool) -> None:
    """Keeps ``args`` for the backward (and forward AD): packed masks as saved tensors,
    generator states (a few integers) and constants as attributes, so that a graph keeps
    one bit per mask element, or no tensor at all."""

    def saved(a: Any) -> bool:
        return isinstance(a, torch.Tensor) and a.dtype != torch.int64

    ctx.stashed = tuple(_SAVED if saved(a) else a for a in args)
    tensors = [a for a in args if saved(a)]
    ctx.save_for_backward(*tensors)
    if forward:
        ctx.save_for_forward(*tensors)


def _unstash(ctx: Any) -> Tuple[Any, ...]:
    it = iter(ctx.saved_tensors)
    return tuple(next(it) if a is _SAVED else a for a in ctx.stashed)


def _as_tuple(t: Any) -> Tuple[Any, ...]:
    return tuple(t) if isinstance(t, (tuple, list)) else (t,)


def _fill(ts: Sequence[Any]) -> Tuple[Any, ...]:
    """Zeros for the missing ones among gradients or tangents of one shape."""
    ref = next((t for t in ts if t is not None), None)
    return tuple(torch.zeros_like(ref) if t is None and ref is not None else t for t in ts)


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


def _raw(lin: Linear, *args: Any) -> Any:
    return lin.op(*args)


def _linear_backward(ctx: Any, grads: Sequence[Any], call: Callable[..., Any]) -> Tuple[Any, ...]:
    rest = _unstash(ctx)
    dx = call(ctx.lin.T, *_fill(grads), *rest)
    return (*_as_tuple(dx), *(None,) * len(rest))


def _draw_setup(ctx: Any, spec: Draw, args: Sequence[Any], output: Any, forward: bool) -> None:
    ctx.spec = spec
    ctx.n_args = len(args)
    # the gradient of a channels_last network stays channels_last (a compiled backward
    # writes it so directly)
    ctx.memory_format = memory_format(args[0])
    if spec.linear is not None:
        _stash(ctx, spec.rest(args[spec.n + 1 :], output[1]), forward)


def _draw_backward(ctx: Any, gy: torch.Tensor, call: Callable[..., Any]) -> Tuple[Any, ...]:
    spec = ctx.spec
    if ctx.memory_format is not None:
        gy = gy.contiguous(memory_format=ctx.memory_format)
    dx = (gy,) if spec.linear is None else _as_tuple(call(spec.linear.T, gy, *_unstash(ctx)))
    return (*dx, *(None,) * (ctx.n_args - spec.n))


class LinearFunction(torch.autograd.Function):
    """A :class:`Linear` in eager mode: its backward is the adjoint, its jvp the map itself."""

    generate_vmap_rule = True

    @staticmethod
    def forward(spec, *args):
        return spec.op(*args)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.lin = inputs[0]
        _stash(ctx, inputs[1 + ctx.lin.n :], True)

    @staticmethod
    def backward(ctx, *grads):
        return (None, *_linear_backward(ctx, grads, LinearFunction.apply))

    @staticmethod
    def jvp(ctx, *tangents):
        return ctx.lin.op(*_fill(tangents[1 : 1 + ctx.lin.n]), *_unstash(ctx))


class DrawFunction(LinearFunction):
    """A :class:`Draw` in eager mode (``forward(spec, *args)`` is ``spec.op(*args)``, as a
    :class:`LinearFunction`'s): the backward applies ``J.T`` with the forward's token, the
    jvp ``J``."""

    @staticmethod
    def setup_context(ctx, inputs, output):
        _draw_setup(ctx, inputs[0], inputs[1:], output, True)
        ctx.mark_non_differentiable(output[1], output[2])

    @staticmethod
    def backward(ctx, gy, gtoken, gstate):
        return (None, *_draw_backward(ctx, gy, LinearFunction.apply))

    @staticmethod
    def jvp(ctx, *tangents):
        spec = ctx.spec
        ts = _fill(tangents[1 : 1 + spec.n])
        ty = ts[0].clone() if spec.linear is None else spec.linear.op(*ts, *_unstash(ctx))
        return ty, None, None


def _eager_linear(lin: Linear, *args: Any) -> Any:
    """``lin`` in an eager backward: its implementation directly where nothing records the
    call (no double backward, plain tensors), else :class:`LinearFunction`."""
    impl = _EAGER.get(lin.op)
    if impl is None or torch.is_grad_enabled() or not plain_eager(args):
        return LinearFunction.apply(lin, *args)
    return impl(*args)


class EagerDraw(torch.autograd.Function):
    """A :class:`Draw` in plain eager mode (:func:`plain_eager`): ``forward(spec, impl, *args)``
    calls the operator's implementation ``impl`` itself; the backward is
    :class:`DrawFunction`'s. No jvp: forward AD, like every transform, takes
    :class:`DrawFunction`."""

    @staticmethod
    def forward(ctx, spec, impl, *args):
        out = impl(*args)
        _draw_setup(ctx, spec, args, out, False)
        ctx.mark_non_differentiable(out[1], out[2])
        return out

    @staticmethod
    def backward(ctx, gy, gtoken, gstate):
        return (None, None, *_draw_backward(ctx, gy, _eager_linear))


def register_linear(lin: Linear, vmap_args: int = 0) -> None:
    """The operator's autograd and, with ``vmap_args``, a vmap rule for an operator that
    works elementwise on its first ``vmap_args`` arguments (a token with leading batch
    dimensions counts as one)."""

    def setup(ctx: Any, inputs: Tuple[Any, ...], output: Any) -> None:
        ctx.lin = lin
        _stash(ctx, inputs[lin.n :], False)

    lin.op.register_autograd(lambda ctx, *g: _linear_backward(ctx, g, _raw), setup_context=setup)
    if vmap_args:
        lin.op.register_vmap(_front_rule(lin.op, vmap_args))


def register_draw(spec: Draw) -> None:
    def setup(ctx: Any, inputs: Tuple[Any, ...], output: Any) -> None:
        _draw_setup(ctx, spec, inputs, output, False)

    spec.op.register_autograd(
        lambda ctx, gy, *_: _draw_backward(ctx, gy, _raw), setup_context=setup
    )


def _dims(out: Any, d: Optional[int]) -> Any:
    return tuple(d for _ in out) if isinstance(out, tuple) else d


def batch_front(in_dims: Sequence[Optional[int]], args: Sequence[Any]) -> Optional[List[Any]]:
    """The tensors ``args`` with the vmapped dimension in front (expanded where it is not
    batched), or None where none is batched."""
    sizes = [a.shape[d] for a, d in zip(args, in_dims) if d is not None]
    if not sizes:
        return None
    return [
        a.movedim(d, 0) if d is not None else a.expand(sizes[0], *a.shape)
        for a, d in zip(args, in_dims)
    ]


def _front_rule(op: Any, m: int) -> Callable[..., Any]:
    def rule(info: Any, in_dims: Sequence[Optional[int]], *args: Any) -> Any:
        front = batch_front(in_dims[:m], args[:m])
        if front is None:
            out = op(*args)
            return out, _dims(out, None)
        out = op(*front, *args[m:])
        return out, _dims(out, 0)

    return rule


def random_front(info: Any, in_dims: Sequence[Optional[int]], args: Sequence[Any], n: int):
    """The first ``n`` arguments of a draw with the vmapped dimension in front, or None
    where none is batched; the errors of a batched state and of randomness="error"."""
    if in_dims[n] is not None:
        raise ValueError(BATCHED_STATE)
    front = batch_front(in_dims[:n], args[:n])
    if front is not None and info.randomness == "error":
        raise RuntimeError(RANDOMNESS_ERROR)
    return front


def register_batch_vmap(spec: Draw) -> None:
    """The vmap rule of a draw whose last constant counts the leading batch dimensions of
    its tensors (the token then has them too) and whose output is its Jacobian applied to
    its tensors: "different" draws every entry as the next call would (one call over the
    entries in order), "same" draws one entry's token and applies it to all."""
    n = spec.n
    linear = spec.linear
    assert linear is not None

    def rule(info: Any, in_dims: Sequence[Optional[int]], *args: Any) -> Any:
        front = random_front(info, in_dims, args, n)
        if front is None:
            return spec.op(*args), (None, None, None)
        state, consts = args[n], args[n + 1 :]
        if info.randomness == "different":
            return spec.op(*front, state, *consts[:-1], consts[-1] + 1), (0, 0, None)
        _, token, new = spec.op(*(t[0] for t in front), state, *consts)
        rest = spec.rest(consts, token.expand(front[0].shape[0], *token.shape))
        return (linear.op(*front, *rest), token, new), (0, None, None)

    spec.op.register_vmap(rule)


def run(spec: Draw, gen: Any, words: int, tensors: Sequence[torch.Tensor], consts: Sequence[Any]):
    """``y`` of the draw ``spec`` at ``gen``'s state, which advances by ``words``."""
    if in_transform():
        key = generator_key(gen)
        order = _TOKENS[key]
        state = gen_read(order, key)
        if torch.compiler.is_compiling():
            y, _, new_state = spec.op(*tensors, state, *consts)
        else:
            y, _, new_state = DrawFunction.apply(spec, *tensors, state, *consts)
        gen_write(order, new_state, key)
        return y
    check_room(gen, words)
    impl = _EAGER.get(spec.op)
    fast = impl is not None and plain_eager(tensors)
    state = state_tensor(*gen._reserve(words))
    if impl is not None and fast:
        if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
            return EagerDraw.apply(spec, impl, *tensors, state, *consts)[0]
        return impl(*tensors, state, *consts)[0]  # nothing to differentiate
    return DrawFunction.apply(spec, *tensors, state, *consts)[0]


def apply(lin: Linear, *args: Any) -> Any:
    """The deterministic operator ``lin`` (compiled graphs call it, eager mode through
    :class:`LinearFunction`)."""
    if torch.compiler.is_compiling():
        return lin.op(*args)
    return LinearFunction.apply(lin, *args)


# ---------------------------------------------------------------------------------------
# the dropout operators


def _noise_words(shape: Sequence[int], noise: Optional[List[int]]) -> int:
    return math.prod(noise) if noise is not None else math.prod(shape)


@custom_op("pydropout::dropout_fwd")
def dropout_fwd(
    x: torch.Tensor,
    state: torch.Tensor,
    p: float,
    kind: str,
    mode: str,
    noise: Optional[List[int]],
    keep_state: bool,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = generator_at(state)
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
    return into_layout(ya, x), token, state_tensor(*gen.get_state())


@dropout_fwd.register_fake
def _(x, state, p, kind, mode, noise, keep_state):
    nn = _noise_words(list(x.shape), noise)
    if keep_state and kind != "alpha":
        token = state.new_empty(3)
    else:
        token = x.new_empty(((nn + 7) // 8,), dtype=torch.uint8)
    return like(x), token, state.new_empty(3)


@custom_op("pydropout::dropout_bwd")
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
        seed, stream, offset = state_ints(token)
        mask = DropoutState(
            seed, stream, offset, tuple(grad.shape), p, None if kind == "alpha" else mode, ns, kind
        )
    else:
        mask = token.numpy()
    if kind == "alpha":
        dx = pydropout.alpha_dropout_backward(ga, mask, p, noise_shape=ns)
    else:
        dx = pydropout.dropout_backward(ga, mask, p, mode=mode, noise_shape=ns)
    return into_layout(dx, grad)


@dropout_bwd.register_fake
def _(grad, token, p, kind, mode, noise):
    return like(grad)


DROPOUT_BWD = Linear(dropout_bwd, 1)
DROPOUT = Draw(dropout_fwd, 1, DROPOUT_BWD, lambda c, token: (token, *c[:4]))
register_linear(DROPOUT_BWD)
register_draw(DROPOUT)


# -- vmap (the contract's section 7) ------------------------------------------------------


def _fwd_vmap(info, in_dims, x, state, p, kind, mode, noise, keep_state):
    front = random_front(info, in_dims, (x, state), 1)
    if front is None:
        return dropout_fwd(x, state, p, kind, mode, noise, keep_state), (None, None, None)
    xb = front[0]
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
        tokens = torch.from_numpy(split_mask(token.numpy(), b, nn))
    return (y, tokens, new), (0, 0, None)


def _bwd_vmap(info, in_dims, grad, token, p, kind, mode, noise):
    g_bdim, t_bdim = in_dims[0], in_dims[1]
    if g_bdim is None and t_bdim is None:
        return dropout_bwd(grad, token, p, kind, mode, noise), None
    if t_bdim is None:
        gb = grad.movedim(g_bdim, 0)
        inner = list(noise) if noise is not None else list(gb.shape[1:])
        return dropout_bwd(gb, token, p, kind, mode, [1] + inner), 0
    gb, tb = batch_front(in_dims[:2], (grad, token))
    b = tb.shape[0]
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
    joined = torch.from_numpy(join_mask(tb.numpy(), nn))
    return dropout_bwd(gb, joined, p, kind, mode, [b] + inner), 0


dropout_fwd.register_vmap(_fwd_vmap)
dropout_bwd.register_vmap(_bwd_vmap)
