"""The candidates of a plain-dropout group: the copy that bounds them, pydropout's public
call, the same with out=, the raw kernel (at each SIMD level), and the peers."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

import pydropout
from pydropout import _core

from . import oracle
from .config import Config
from .model import Candidate, GroupKey
from .names import EXTRA_OPS, KERNEL_NAMES, MI, OUT_NAMES, PUBLIC_NAMES
from .oracle import CHECK_OFFSET, CHECK_SEED, CHECK_STREAM, Arrays
from .peers import Peers, unpacked
from .plan import check_regions, op_bytes


def ceiling(arrs: Arrays, op: str) -> Candidate:
    """The bandwidth ceiling: the threaded copy with pydropout's threads and chunking."""
    if op == "mask":
        return Candidate(
            "copy (ceiling)",
            "ceiling",
            "",
            "",
            2 * arrs.mask.nbytes,
            partial(_core.copy, arrs.mask_in, arrs.mask2),
        )
    return Candidate(
        "copy (ceiling)", "ceiling", "", "", 2 * arrs.x.nbytes, partial(_core.copy, arrs.x, arrs.y)
    )


#: a timed call and its correctness check
Row = Tuple[Callable[[], Any], Callable[[], Optional[str]]]


def level_rows(
    cfg: Config, op: str, nbytes: int, public: Row, out: Row, kernel: Optional[Row]
) -> List[Candidate]:
    """pydropout's rows at each SIMD level: the public call, the same with out= (where
    ``op`` has an out= form and the run wants those rows) and the raw kernel (where there
    is one and the run wants it)."""
    rows = [(PUBLIC_NAMES[op], "pydropout", public)]
    if cfg.out_rows and op in OUT_NAMES:
        rows.append((OUT_NAMES[op], "out", out))
    if cfg.kernel and kernel is not None:
        rows.append((KERNEL_NAMES[op], "kernel", kernel))
    return [
        Candidate(name, kind, "", level, nbytes, fn, check=check)
        for level in cfg.levels
        for name, kind, (fn, check) in rows
    ]


def multiply_rows(cfg: Config, arrs: Arrays, nbytes: int) -> List[Candidate]:
    """NumPy's multiply by a constant into y, one read and one write at NumPy's speed
    (where the run has that peer)."""
    if "multiply" not in cfg.peers:
        return []
    mul = partial(np.multiply, arrs.x, 2.0, out=arrs.y)
    return [Candidate("np.multiply(x, 2.0, out=y)", "peer", "multiply", "", nbytes, mul)]


def build_candidates(cfg: Config, key: GroupKey, arrs: Arrays, peers: Peers) -> List[Candidate]:
    """Every row of the group ``key``."""
    if key.op in EXTRA_OPS:
        from .rows_extra import build_extra_candidates

        return build_extra_candidates(cfg, key, arrs, peers)
    op, n = key.op, key.n
    nbytes = op_bytes(op, n, arrs.dt.itemsize)
    regions = check_regions(n, key.threads)
    cands = [ceiling(arrs, op)]
    cands += _pydropout_rows(cfg, key, arrs, nbytes, regions)
    cands += _numpy_rows(cfg, key, arrs, nbytes)
    cands += _torch_rows(cfg, key, arrs, peers, nbytes)
    cands += _jax_rows(cfg, key, arrs, peers, nbytes)
    return cands


def _pydropout_rows(
    cfg: Config, key: GroupKey, arrs: Arrays, nbytes: int, regions: List[Any]
) -> List[Candidate]:
    op, n, p = key.op, key.n, cfg.p
    x, y, code, t, s = arrs.x, arrs.y, arrs.code, arrs.t, arrs.s
    gen = pydropout.Generator(42)  # timing calls advance it, as a training loop does
    publics: Dict[str, Callable[..., Any]] = {
        "forward": pydropout.dropout,
        "forward_mask": pydropout.dropout_with_mask,
        "mask": pydropout.dropout_mask,
        "backward": pydropout.dropout_backward,
    }
    public = publics[op]
    seed, stream, off = CHECK_SEED, CHECK_STREAM, CHECK_OFFSET
    kernel_fn: Callable[[], Any]
    out_fn: Callable[[], Any]
    if op in ("forward", "forward_mask"):
        public_fn = partial(public, x, p, generator=gen)
        out_fn = partial(public, x, p, generator=gen, out=y)
        m = arrs.mask if op == "forward_mask" else None
        kernel_fn = partial(_core.forward, x, y, m, code, t, False, s, True, seed, stream, off)
    elif op == "mask":
        public_fn = partial(public, (n,), p, generator=gen)
        out_fn = public_fn  # no out= form
        kernel_fn = partial(_core.mask, arrs.mask, n, t, False, seed, stream, off)
    else:
        public_fn = partial(public, x, arrs.mask_in, p)
        out_fn = partial(public, x, arrs.mask_in, p, out=y)
        kernel_fn = partial(_core.apply, x, y, arrs.mask_in, code, s, True)
    public_check = partial(oracle.public_check, arrs, op, regions, public)
    cands = level_rows(
        cfg,
        op,
        nbytes,
        (public_fn, public_check),
        (out_fn, partial(oracle.out_check, arrs, op, regions, public)),
        (kernel_fn, partial(oracle.kernel_check, arrs, op, regions, kernel_fn)),
    )
    if (op, key.dtype, n) == ("forward", "float32", MI) and key.threads == cfg.all_threads > 1:
        # the thread-scaling goal is a ratio of thread counts: its 1-thread side also runs
        # here, in the same interleaved rounds as the all-thread row, so both see the
        # same machine
        cands.append(
            Candidate(
                f"{PUBLIC_NAMES[op]}, 1 thread",
                "one_thread",
                "",
                cfg.default_level,
                nbytes,
                public_fn,
                threads=1,
                check=public_check,
            )
        )
    return cands


def _numpy_rows(cfg: Config, key: GroupKey, arrs: Arrays, nbytes: int) -> List[Candidate]:
    op, n, p, x = key.op, key.n, cfg.p, arrs.x
    cands = multiply_rows(cfg, arrs, nbytes) if op in ("forward", "backward") else []
    if "numpy" not in cfg.peers:
        return cands
    rng = np.random.default_rng(5)
    fn: Callable[[], Any]
    if op == "forward":

        def fn() -> Any:
            return x * (rng.random(x.shape) >= p) / (1 - p)

        name = "NumPy x * (rng.random(x.shape) >= p) / (1 - p)"
    elif op == "forward_mask":

        def fn() -> Any:
            keep = rng.random(x.shape) >= p
            return x * keep / (1 - p), keep

        name = "NumPy keep = rng.random(x.shape) >= p; x * keep / (1 - p)"
    elif op == "mask":

        def fn() -> Any:
            return rng.random(n) >= p

        name = "NumPy rng.random(n) >= p"
    else:
        keep_in = unpacked(arrs.mask_in, n)

        def fn() -> Any:
            return x * keep_in / (1 - p)

        name = "NumPy grad * keep / (1 - p)"
    cands.append(Candidate(name, "peer", "numpy", "", nbytes, fn))
    return cands


def _torch_rows(
    cfg: Config, key: GroupKey, arrs: Arrays, peers: Peers, nbytes: int
) -> List[Candidate]:
    torch = peers.torch
    if torch is None or "torch" not in cfg.peers:
        return []
    op, n, p = key.op, key.n, cfg.p
    xt = torch.from_numpy(arrs.x)
    if op == "forward":
        name, fn = "torch F.dropout", partial(peers.F.dropout, xt, p, True)
    elif op == "forward_mask":
        name, fn = "torch.native_dropout", partial(torch.native_dropout, xt, p, True)
    elif op == "mask":
        mt = torch.empty(n, dtype=torch.bool)
        name, fn = "torch bool.bernoulli_(1 - p)", partial(mt.bernoulli_, 1.0 - p)
    else:
        keep_t = torch.from_numpy(unpacked(arrs.mask_in, n))
        name = "aten.native_dropout_backward"
        fn = partial(torch.ops.aten.native_dropout_backward, xt, keep_t, 1.0 / (1.0 - p))
    return [Candidate(name, "peer", "torch", "", nbytes, fn, foreign_pool=True)]


def _jax_rows(
    cfg: Config, key: GroupKey, arrs: Arrays, peers: Peers, nbytes: int
) -> List[Candidate]:
    jax = peers.jax
    # XLA sizes its own thread pool at start-up: its rows run only with all threads
    if jax is None or "jax" not in cfg.peers or key.threads != cfg.all_threads:
        return []
    op, n, p = key.op, key.n, cfg.p
    peers.start_jax()
    jkey = jax.random.key(0)
    if op == "mask":
        fn = jax.jit(partial(jax.random.bernoulli, p=peers.jnp.float32(1.0 - p), shape=(n,)))
        call = partial(peers.jax_call, fn, jkey)
    elif op == "backward":
        gj = jax.device_put(arrs.x)
        kj = jax.device_put(unpacked(arrs.mask_in, n))
        call = partial(peers.jax_call, peers.jit(op, p), gj, kj)
    else:
        call = partial(peers.jax_call, peers.jit(op, p), jkey, jax.device_put(arrs.x))
    name = "JAX jit(bernoulli + where)" if op != "backward" else "JAX jit(where)"
    return [Candidate(name, "peer", "jax", "", nbytes, call, foreign_pool=True)]
