"""The candidates of the extra ops: the backward from a DropoutState, the variants
(alpha, Gaussian, channel dropout) and pydropout.torch forward + backward."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, List, Optional, Tuple

import numpy as np

import pydropout as pd
from pydropout import _core

from . import kernel, oracle
from .config import Config
from .model import Candidate, GroupKey
from .names import PUBLIC_NAMES
from .oracle import CHECK_OFFSET, CHECK_SEED, CHECK_STREAM, Arrays
from .peers import Peers, unpacked
from .plan import channel_regions, check_regions, op_bytes
from .rows import ceiling, level_rows, multiply_rows

# (timed call, timed call with out=, result at the check state given out=, raw kernel)
Calls = Tuple[
    Callable[[], Any],
    Callable[[], Any],
    Callable[[Optional[np.ndarray]], Any],
    Optional[Callable[[], Any]],
]


def build_extra_candidates(
    cfg: Config, key: GroupKey, arrs: Arrays, peers: Peers
) -> List[Candidate]:
    op, n = key.op, key.n
    if op == "torch_fwd_bwd":
        return torch_candidates(cfg, key, arrs, peers)
    nbytes = op_bytes(op, n, arrs.dt.itemsize)
    regions = check_regions(n, key.threads)
    if op == "channel":
        regions = channel_regions(regions, n)
    dest = arrs.y.reshape(arrs.shape4) if op == "channel" else arrs.y  # the out= array
    fn, out_fn, result, kernel_fn = _calls(cfg, op, arrs)

    kernel_row = None
    if kernel_fn is not None:
        kernel_row = (kernel_fn, partial(oracle.kernel_check, arrs, op, regions, kernel_fn))
    cands = [ceiling(arrs, op)]
    cands += level_rows(
        cfg,
        op,
        nbytes,
        (fn, partial(oracle.result_check, arrs, op, regions, result)),
        (out_fn, partial(oracle.result_out_check, arrs, op, regions, result, dest)),
        kernel_row,
    )
    if op == "backward_state":
        # the backward from the packed mask of the same size, for comparison
        bwd = pd.dropout_backward
        cands.append(
            Candidate(
                "pydropout.dropout_backward(mask)",
                "alt",
                "",
                cfg.default_level,
                op_bytes("backward", n, arrs.dt.itemsize),
                partial(bwd, arrs.x, arrs.mask_in, cfg.p),
                check=partial(oracle.public_check, arrs, "backward", regions, bwd),
            )
        )
    cands += _numpy_rows(cfg, op, arrs, nbytes)
    cands += _torch_rows(cfg, op, arrs, peers, nbytes)
    return cands


def _forward_calls(
    f: Callable[..., Any],
    x: np.ndarray,
    y: np.ndarray,
    p: float,
    arrs: Arrays,
    gen: Any,
    kernel_fn: Optional[Callable[[], Any]],
    **kw: Any,
) -> Calls:
    """The calls of a forward ``f(x, p, **kw, generator=...)``: timed, timed with out=y, at
    the check state, and the raw kernel."""

    def result(out: Optional[np.ndarray]) -> Any:
        return f(x, p, generator=arrs.check_gen(), out=out, **kw)

    timed = partial(f, x, p, generator=gen, **kw)
    return (timed, partial(timed, out=y), result, kernel_fn)


def _calls(cfg: Config, op: str, arrs: Arrays) -> Calls:
    x, y, p, n = arrs.x, arrs.y, cfg.p, arrs.n
    code, t, s = arrs.code, arrs.t, arrs.s
    seed, stream, off = CHECK_SEED, CHECK_STREAM, CHECK_OFFSET
    gen = pd.Generator(42)  # timing calls advance it, as a training loop does
    if op == "backward_state":
        bwd, with_state = pd.dropout_backward, pd.dropout_with_state
        _, state = with_state(x, p, generator=gen)  # the state of one forward pass

        def result(out: Optional[np.ndarray]) -> Any:
            _, st = with_state(x, p, generator=arrs.check_gen())
            return bwd(x, st, p, out=out)

        return (
            partial(bwd, x, state, p),
            partial(bwd, x, state, p, out=y),
            result,
            partial(_core.forward, x, y, None, code, t, False, s, True, seed, stream, off),
        )
    if op == "alpha":
        a_, b_, c_ = kernel.alpha_constants(p, arrs.dt)

        def alpha_kernel() -> None:
            _core.mask(arrs.mask, n, t, False, seed, stream, off)
            _core.alpha_apply(x, y, arrs.mask, code, a_, b_, c_)

        return _forward_calls(pd.alpha_dropout, x, y, p, arrs, gen, alpha_kernel, training=True)
    if op == "alpha_backward":
        abwd = pd.alpha_dropout_backward
        a_ = kernel.alpha_constants(p, arrs.dt)[0]

        def result(out: Optional[np.ndarray]) -> Any:
            return abwd(x, arrs.mask_in, p, out=out)

        return (
            partial(abwd, x, arrs.mask_in, p),
            partial(abwd, x, arrs.mask_in, p, out=y),
            result,
            partial(_core.apply, x, y, arrs.mask_in, code, a_, True),
        )
    if op == "gaussian":
        sigma = kernel.gaussian_sigma(p)
        gauss_kernel = partial(_core.gaussian, x, y, code, sigma, seed, stream, off)
        return _forward_calls(pd.gaussian_dropout, x, y, p, arrs, gen, gauss_kernel)
    if op == "channel":
        x4, y4 = x.reshape(arrs.shape4), y.reshape(arrs.shape4)
        return _forward_calls(pd.dropout2d, x4, y4, p, arrs, gen, None)
    raise ValueError(op)


def _numpy_rows(cfg: Config, op: str, arrs: Arrays, nbytes: int) -> List[Candidate]:
    x, p, n = arrs.x, cfg.p, arrs.n
    cands = multiply_rows(cfg, arrs, nbytes)
    if "numpy" not in cfg.peers:
        return cands
    rng = np.random.default_rng(5)
    fn: Callable[[], Any]
    if op == "backward_state":

        def fn() -> Any:  # NumPy's way to a mask-free backward: reseed, redraw
            return x * (np.random.default_rng(5).random(x.shape) >= p) / (1 - p)

        name = "NumPy grad * (default_rng(seed).random(n) >= p) / (1 - p)"
    elif op == "alpha":
        a_, b_, c_ = kernel.alpha_constants(p, arrs.dt)

        def fn() -> Any:
            return np.where(rng.random(x.shape) >= p, x * a_ + b_, c_)

        name = "NumPy where(rng.random(x.shape) >= p, a * x + b, c)"
    elif op == "alpha_backward":
        a_ = kernel.alpha_constants(p, arrs.dt)[0]
        keep = unpacked(arrs.mask_in, n)

        def fn() -> Any:
            return np.where(keep, x * a_, 0)

        name = "NumPy where(keep, grad * a, 0)"
    elif op == "gaussian":
        sigma = kernel.gaussian_sigma(p)
        ndt = np.float64 if arrs.dt == np.float64 else np.float32

        def fn() -> Any:
            return x * (1 + sigma * rng.standard_normal(x.shape, dtype=ndt))

        name = "NumPy x * (1 + sigma * rng.standard_normal(x.shape))"
    else:
        noise = arrs.shape4[:2] + (1, 1)
        x4 = x.reshape(arrs.shape4)

        def fn() -> Any:
            return x4 * (rng.random(noise) >= p) / (1 - p)

        name = "NumPy x * (rng.random((N, C, 1, 1)) >= p) / (1 - p)"
    cands.append(Candidate(name, "peer", "numpy", "", nbytes, fn))
    return cands


def _torch_rows(cfg: Config, op: str, arrs: Arrays, peers: Peers, nbytes: int) -> List[Candidate]:
    torch, F = peers.torch, peers.F
    if torch is None or "torch" not in cfg.peers:
        return []
    p, n = cfg.p, arrs.n
    xt = torch.from_numpy(arrs.x)
    if op == "backward_state":  # torch keeps a bool mask; it has no mask-free backward
        name = "aten.native_dropout_backward (bool mask)"
        fn = partial(
            torch.ops.aten.native_dropout_backward,
            xt,
            torch.from_numpy(unpacked(arrs.mask_in, n)),
            1.0 / (1.0 - p),
        )
    elif op == "alpha":
        name, fn = "torch F.alpha_dropout", partial(F.alpha_dropout, xt, p, True)
    elif op == "alpha_backward":
        # F.alpha_dropout is composite: autograd's backward multiplies by its float noise
        a_ = kernel.alpha_constants(p, arrs.dt)[0]
        noise_t = torch.from_numpy(unpacked(arrs.mask_in, n)).to(xt.dtype) * a_
        name = "torch grad * noise (F.alpha_dropout's backward)"
        fn = partial(torch.mul, xt, noise_t)
    elif op == "channel":
        name = "torch F.dropout2d"
        fn = partial(F.dropout2d, torch.from_numpy(arrs.x.reshape(arrs.shape4)), p, True)
    else:  # gaussian: torch has no Gaussian dropout
        return []
    return [Candidate(name, "peer", "torch", "", nbytes, fn, foreign_pool=True)]


def _copy2(x: np.ndarray, y: np.ndarray, y2: np.ndarray) -> None:
    _core.copy(x, y)
    _core.copy(x, y2)


def fwd_bwd(torch: Any, layer: Callable[[Any], Any], xt: Any, gt: Any) -> Tuple[Any, Any]:
    """One training step of a dropout layer: y = layer(x); dx = dL/dx for dL/dy = g."""
    y = layer(xt)
    (dx,) = torch.autograd.grad(y, xt, gt)
    return y, dx


def torch_candidates(cfg: Config, key: GroupKey, arrs: Arrays, peers: Peers) -> List[Candidate]:
    """pydropout.torch forward + backward against torch's, with the same threads: the
    module, the functional form and save="state" beside torch.nn.Dropout and
    torch.nn.functional.dropout."""
    n, p, x = key.n, cfg.p, arrs.x
    cands = [
        Candidate(
            "2 copies (ceiling)",
            "ceiling",
            "",
            "",
            4 * x.nbytes,
            partial(_copy2, x, arrs.y, arrs.y2),
        )
    ]
    torch = peers.torch
    if torch is None:
        return cands
    import pydropout.torch as pdt

    nbytes = op_bytes("torch_fwd_bwd", n, arrs.dt.itemsize)
    regions = check_regions(n, key.threads)
    xt = torch.from_numpy(x).requires_grad_(True)
    gt = torch.from_numpy(x)  # the incoming gradient (nothing writes either)
    gen = pd.Generator(42)

    def check(make: Callable[[Any], Callable[[Any], Any]]) -> Optional[str]:
        y, dx = fwd_bwd(torch, make(arrs.check_gen()), xt, gt)
        return oracle.check_output(arrs, "torch_fwd_bwd", regions, y=y, dx=dx)

    def module(g: Any, **kw: Any) -> Callable[[Any], Any]:
        return pdt.Dropout(p, generator=g, **kw)

    def functional(g: Any) -> Callable[[Any], Any]:
        return partial(pdt.dropout, p=p, generator=g)

    def ours(name: str, kind: str, level: str, make: Callable[..., Any]) -> Candidate:
        layer = make(gen)
        run = partial(fwd_bwd, torch, layer, xt, gt)
        return Candidate(name, kind, "", level, nbytes, run, check=partial(check, make))

    cands += [ours(PUBLIC_NAMES["torch_fwd_bwd"], "pydropout", lv, module) for lv in cfg.levels]
    state_module = partial(module, save="state")
    cands.append(ours("pydropout.torch.dropout (functional)", "alt", cfg.default_level, functional))
    cands.append(
        ours("pydropout.torch.Dropout(save='state')", "alt", cfg.default_level, state_module)
    )
    if "torch" in cfg.peers:
        # the module first: it is the row the tables compare with
        for name, layer in (
            ("torch.nn.Dropout", torch.nn.Dropout(p)),
            ("torch F.dropout (functional)", partial(peers.F.dropout, p=p, training=True)),
        ):
            run = partial(fwd_bwd, torch, layer, xt, gt)
            cands.append(Candidate(name, "peer", "torch", "", nbytes, run, foreign_pool=True))
    return cands
