"""The benchmark harness: pydropout against the bandwidth ceiling and its peers.

Run it as ``python benchmarks/bench_dropout.py`` (or ``python -m pydropout bench``); see
benchmarks/README.md for the commands, the environment variables and how to read the
output. One *group* is one (operation, dtype, size, thread count). Inside a group every
candidate (pydropout's public call and raw kernel at each SIMD level, the threaded copy
that bounds them, NumPy, torch, JAX, ``np.multiply``) is timed round-robin, many rounds,
and its time is the minimum over rounds of the mean over an inner loop long enough to
swamp the timer. Each pydropout row is checked bit for bit against
``pydropout.reference`` once before it is timed: a fast wrong kernel is a bug, and the
harness then exits with status 1.

Beside the four operations of plain dropout (``OPS``) it times the backward from a
``DropoutState``, the variants (alpha, Gaussian, channel dropout) and ``pydropout.torch``
forward + backward against ``torch.nn.Dropout`` (``EXTRA_OPS``).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib.util
import itertools
import json
import math
import os
import platform
import random
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _common, _core, reference
from ._state import DropoutState

KI, MI = 1 << 10, 1 << 20
FULL_SIZES = (KI, 4 * KI, 64 * KI, MI, 16 * MI, 64 * MI)
DTYPES = ("float32", "float64", "float16")
OPS = ("forward", "forward_mask", "mask", "backward")  # plain dropout (issue 3)
# the state backward and the variants (issue 4), pydropout.torch (issue 5)
VARIANT_OPS = ("alpha", "alpha_backward", "gaussian", "channel")
EXTRA_OPS = ("backward_state",) + VARIANT_OPS + ("torch_fwd_bwd",)
ALL_OPS = OPS + EXTRA_OPS
EXTRA_SIZES = (MI, 16 * MI)  # the extra ops' sizes and dtypes unless --sizes / --dtypes
EXTRA_DTYPES = ("float32",)
PEERS = ("multiply", "numpy", "torch", "jax")
NO_DTYPE = "-"  # the mask does not depend on x's dtype
CHANNEL_HW = (32, 32)  # spatial shape of the channel op's (N, C, H, W) input

OP_TITLES = {
    "forward": "forward: dropout",
    "forward_mask": "forward + mask: dropout_with_mask",
    "mask": "mask only: dropout_mask",
    "backward": "backward from the mask: dropout_backward",
    "backward_state": "backward from a DropoutState: dropout_backward(grad, state, p)",
    "alpha": "alpha dropout forward: alpha_dropout(training=True)",
    "alpha_backward": "alpha dropout backward from the mask: alpha_dropout_backward",
    "gaussian": "Gaussian dropout forward: gaussian_dropout",
    "channel": "channel dropout: dropout2d on (N, C, 32, 32)",
    "torch_fwd_bwd": "pydropout.torch forward + backward through autograd",
}
OUT_NAMES = {
    "forward": "pydropout.dropout(out=y)",
    "forward_mask": "pydropout.dropout_with_mask(out=y)",
    "backward": "pydropout.dropout_backward(out=y)",
    "backward_state": "pydropout.dropout_backward(state, out=y)",
    "alpha": "pydropout.alpha_dropout(out=y)",
    "alpha_backward": "pydropout.alpha_dropout_backward(out=y)",
    "gaussian": "pydropout.gaussian_dropout(out=y)",
    "channel": "pydropout.dropout2d(out=y)",
}
PUBLIC_NAMES = {
    "forward": "pydropout.dropout",
    "forward_mask": "pydropout.dropout_with_mask",
    "mask": "pydropout.dropout_mask",
    "backward": "pydropout.dropout_backward",
    "backward_state": "pydropout.dropout_backward(state)",
    "alpha": "pydropout.alpha_dropout",
    "alpha_backward": "pydropout.alpha_dropout_backward",
    "gaussian": "pydropout.gaussian_dropout",
    "channel": "pydropout.dropout2d",
    "torch_fwd_bwd": "pydropout.torch.Dropout",
}
KERNEL_NAMES = {
    "forward": "_core.forward (kernel)",
    "forward_mask": "_core.forward (kernel)",
    "mask": "_core.mask (kernel)",
    "backward": "_core.apply (kernel)",
    "backward_state": "_core.forward on the gradient (kernel)",
    "alpha": "_core.mask + _core.alpha_apply (kernels)",
    "alpha_backward": "_core.apply (kernel)",
    "gaussian": "_core.gaussian (kernel)",
}
PEER_TITLES = {"multiply": "np.multiply", "numpy": "NumPy", "torch": "torch", "jax": "JAX"}
# the kinds of rows that compute with pydropout (checked against the reference): the
# public call, the same with out=, the raw kernel, and another pydropout call for
# comparison ("alt": the backward from the mask beside the state backward, the
# functional and save="state" forms beside pydropout.torch.Dropout)
PYDROPOUT_KINDS = ("pydropout", "out", "kernel", "alt")

# The generator state of every correctness check: odd offset just below 4 * 2**32, so the
# checked words straddle the carry of the block counter into its high word.
CHECK_SEED, CHECK_STREAM, CHECK_OFFSET = 0x0123456789ABCDEF, 7, 4 * 2**32 - 4099
SLOW_PEER = 0.05  # seconds per call
# After a torch or JAX sample the next candidates wait at least this share of the sample's
# time: a JAX call on 16 Mi elements keeps the two CPUs busy for over 10 ms after it
# returns, and pydropout's 2-thread calls in that window ran at half speed.
GAP_SHARE = 0.2
CHECK_FULL = MI  # up to this size the whole output is compared; above it, slices
CHECK_SLICE = 64 * KI  # elements per compared slice (a multiple of 8: whole mask bytes)


# --------------------------------------------------------------------------------------
# command line


def parse_size(text: str) -> int:
    t = text.strip()
    units = {"ki": KI, "k": KI, "mi": MI, "m": MI, "gi": 1 << 30, "g": 1 << 30}
    low = t.lower()
    for suffix in ("ki", "mi", "gi", "k", "m", "g"):
        if low.endswith(suffix):
            return int(float(low[: -len(suffix)]) * units[suffix])
    return int(t)


def size_label(n: int) -> str:
    if n >= MI and n % MI == 0:
        return f"{n // MI}Mi"
    if n >= KI and n % KI == 0:
        return f"{n // KI}Ki"
    return str(n)


def _csv(text: str) -> List[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


_DTYPE_ALIASES = {"f32": "float32", "f64": "float64", "f16": "float16",
                  "float32": "float32", "float64": "float64", "float16": "float16"}
_OP_ALIASES = {"forward": "forward", "fwd": "forward", "forward_mask": "forward_mask",
               "forward+mask": "forward_mask", "mask": "mask", "backward": "backward",
               "bwd": "backward", "backward_state": "backward_state",
               "state_backward": "backward_state", "alpha": "alpha",
               "alpha_backward": "alpha_backward", "gaussian": "gaussian", "channel": "channel",
               "dropout2d": "channel", "torch_fwd_bwd": "torch_fwd_bwd",
               # groups of operations
               "plain": OPS, "variants": VARIANT_OPS, "extra": EXTRA_OPS, "all": ALL_OPS}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="bench_dropout",
        description="Benchmark pydropout against the threaded copy (the bandwidth ceiling), "
        "the NumPy composition, torch and JAX. Times are minima of interleaved repetitions; "
        "every pydropout row is checked bit for bit against pydropout.reference.",
    )
    ap.add_argument("--quick", action="store_true",
                    help="only the groups the six targets need, few rounds (< 1 minute)")
    ap.add_argument("--sizes", help="comma list, e.g. 1Ki,1Mi,16Mi or 1000003 "
                    "(default 1Ki,4Ki,64Ki,1Mi,16Mi,64Mi)")
    ap.add_argument("--dtypes", help="comma list of float32,float64,float16 (default all)")
    ap.add_argument("--ops", help="comma list of forward,forward_mask,mask,backward, "
                    "backward_state,alpha,alpha_backward,gaussian,channel,torch_fwd_bwd, or "
                    "the groups plain (the first four), variants (alpha to channel), extra "
                    "(the last six), all (default all; the last six at 1Mi,16Mi float32 "
                    "unless --sizes / --dtypes say otherwise)")
    ap.add_argument("--threads", help="comma list of thread counts, 'all' = the default "
                    "thread count (default 1,all)")
    ap.add_argument("--simd", help="comma list of SIMD levels (default: every supported level "
                    "up to the one in use at start, so PYDROPOUT_SIMD caps it)")
    ap.add_argument("--peers", help="comma list of multiply,numpy,torch,jax or 'none' "
                    "(default all; torch and JAX only when installed)")
    ap.add_argument("--no-out", action="store_true",
                    help="leave out the public-API rows that write into a preallocated out=")
    ap.add_argument("--no-kernel", action="store_true",
                    help="leave out the raw _core rows (preallocated outputs, no Python checks)")
    ap.add_argument("--p", type=float, default=0.5, help="drop probability (default 0.5)")
    ap.add_argument("--rounds", type=int, help="maximum rounds per group (default: by size)")
    ap.add_argument("--min-rounds", type=int, help="minimum rounds per group (default 3)")
    ap.add_argument("--min-time", type=float,
                    help="seconds per sample; the inner loop grows to reach it (default 0.002)")
    ap.add_argument("--budget", type=float,
                    help="seconds per group after which no new round starts once the minimum "
                    "is reached (default 3, --quick 1)")
    ap.add_argument("--gap", type=float, default=0.002,
                    help="seconds of sleep after a torch or JAX sample, so their idle worker "
                    "threads stop spinning before the next candidate (default 0.002; at "
                    "least a fifth of the sample's own time)")
    ap.add_argument("--no-prime", action="store_true",
                    help="time a call of one per sample (a large array) without the untimed "
                    "call of the same candidate that otherwise comes right before it")
    ap.add_argument("--out", default="bench-out",
                    help="folder for results.md, results.json, throughput.png, readme.md "
                    "(default ./bench-out)")
    ap.add_argument("--no-plot", action="store_true", help="do not draw throughput.png")
    ap.add_argument("--require-targets", action="store_true",
                    help="exit with status 2 when a measured target fails")
    ap.add_argument("--list", action="store_true", help="print the groups and exit")
    return ap


@dataclass
class Config:
    quick: bool
    sizes: Optional[List[int]]
    dtypes: List[str]
    dtypes_given: bool
    ops: List[str]
    threads: List[int]
    all_threads: int
    levels: List[str]
    default_level: str
    peers: List[str]
    kernel: bool
    out_rows: bool
    p: float
    max_rounds: Optional[int]
    min_rounds: int
    min_time: float
    budget: float
    gap: float
    out: str
    plot: bool
    require_targets: bool
    list_only: bool
    argv: List[str]
    notes: List[str] = field(default_factory=list)
    prime: bool = True  # an untimed call of the candidate right before each one-call sample


def make_config(argv: Optional[Sequence[str]]) -> Config:
    ap = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    a = ap.parse_args(argv)
    all_threads = max(1, int(_core.get_num_threads() or os.cpu_count() or 1))

    def pick(text, allowed, aliases, what):
        if text is None:
            return list(allowed)
        out = []
        for s in _csv(text):
            v = aliases.get(s.lower())
            if v is None:
                ap.error(f"unknown {what} {s!r}; expected one of {', '.join(allowed)}")
            for one in (v if isinstance(v, tuple) else (v,)):
                if one not in out:
                    out.append(one)
        return out

    dtypes = pick(a.dtypes, DTYPES, _DTYPE_ALIASES, "dtype")
    ops = pick(a.ops, ALL_OPS, _OP_ALIASES, "op")
    notes = []
    if "torch_fwd_bwd" in ops and importlib.util.find_spec("torch") is None:
        ops.remove("torch_fwd_bwd")
        notes.append("torch_fwd_bwd left out: torch is not installed "
                     "(pip install torch==2.13.0)")
    sizes = None
    if a.sizes is not None:
        try:
            sizes = sorted({parse_size(s) for s in _csv(a.sizes)})
        except ValueError:
            ap.error(f"cannot read --sizes {a.sizes!r}")
        if any(s < 1 for s in sizes):
            ap.error("--sizes must be >= 1")
    threads = []
    for s in _csv(a.threads or "1,all"):
        try:
            t = all_threads if s.lower() == "all" else int(s)
        except ValueError:
            ap.error(f"cannot read --threads {s!r}")
        if t < 1:
            ap.error("--threads must be >= 1")
        if t not in threads:
            threads.append(t)
    threads.sort()
    supported = list(_core.supported_simd_levels())
    default_level = _core.simd_level()
    if a.simd is None:
        levels = supported[: supported.index(default_level) + 1]
    else:
        levels = []
        for s in _csv(a.simd):
            if s not in supported:
                ap.error(f"SIMD level {s!r} is not supported here; supported: {', '.join(supported)}")
            if s not in levels:
                levels.append(s)
    levels.sort(key=supported.index, reverse=True)  # best first
    if a.peers is None:
        peers = list(PEERS)
    elif a.peers.strip().lower() == "none":
        peers = []
    else:
        peers = pick(a.peers, PEERS, {k: k for k in PEERS}, "peer")
    if not 0.0 < a.p < 1.0:
        ap.error("--p must be in (0, 1)")
    min_rounds = a.min_rounds if a.min_rounds is not None else 3
    if a.rounds is not None:
        if a.rounds < 1:
            ap.error("--rounds must be >= 1")
        min_rounds = min(min_rounds, a.rounds)
    return Config(
        quick=a.quick, sizes=sizes, dtypes=dtypes, dtypes_given=a.dtypes is not None,
        ops=ops, threads=threads,
        all_threads=all_threads, levels=levels, default_level=default_level, peers=peers,
        kernel=not a.no_kernel, out_rows=not a.no_out, p=float(a.p), max_rounds=a.rounds,
        min_rounds=max(1, min_rounds),
        min_time=a.min_time if a.min_time is not None else (0.001 if a.quick else 0.002),
        budget=a.budget if a.budget is not None else (1.0 if a.quick else 3.0),
        gap=max(0.0, a.gap), out=a.out, plot=not a.no_plot,
        require_targets=a.require_targets, list_only=a.list, argv=argv, notes=notes,
        prime=not a.no_prime,
    )


# --------------------------------------------------------------------------------------
# the plan


@dataclass(frozen=True)
class GroupKey:
    op: str
    dtype: str  # NO_DTYPE for the mask
    n: int
    threads: int

    def label(self) -> str:
        d = "" if self.dtype == NO_DTYPE else f" {self.dtype}"
        return f"{self.op}{d} n={size_label(self.n)} threads={self.threads}"


def plan(cfg: Config) -> List[GroupKey]:
    T = cfg.all_threads
    if cfg.quick:
        # exactly what the six targets need, plus the mask alone (the cost of the words,
        # the floor of targets 1, 3 and 5), plus the mask-free backward beside the copy
        # (issue 4: "at copy speed")
        raw = [("forward", "float32", KI, T), ("forward", "float32", MI, 1),
               ("forward", "float32", MI, T), ("mask", NO_DTYPE, MI, 1),
               ("mask", NO_DTYPE, 16 * MI, T)]
        raw += [("forward_mask", d, 16 * MI, T) for d in DTYPES]
        raw += [("backward", d, 16 * MI, T) for d in DTYPES]
        raw += [("backward_state", "float32", 16 * MI, T)]
        keys = [GroupKey(*r) for r in raw]
        keep = [k for k in keys
                if k.op in cfg.ops and (k.dtype == NO_DTYPE or k.dtype in cfg.dtypes)
                and (cfg.sizes is None or k.n in cfg.sizes) and k.threads in cfg.threads]
        return keep
    keys = []
    plain = [op for op in OPS if op in cfg.ops]
    for n in (cfg.sizes or FULL_SIZES) if plain else ():
        if "mask" in cfg.ops:
            keys += [GroupKey("mask", NO_DTYPE, n, t) for t in cfg.threads]
        for d in cfg.dtypes:
            for op in plain:
                if op != "mask":
                    keys += [GroupKey(op, d, n, t) for t in cfg.threads]
    extra = [op for op in EXTRA_OPS if op in cfg.ops]
    for n in (cfg.sizes or EXTRA_SIZES) if extra else ():
        for d in cfg.dtypes if cfg.dtypes_given else EXTRA_DTYPES:
            for op in extra:
                keys += [GroupKey(op, d, n, t) for t in cfg.threads]
    return keys


def rounds_for(cfg: Config, n: int) -> int:
    if cfg.max_rounds is not None:
        return cfg.max_rounds
    if cfg.quick:
        return 5
    if n <= 64 * KI:
        return 20
    if n <= MI:
        return 12
    if n <= 16 * MI:
        return 6
    return 4


# --------------------------------------------------------------------------------------
# the candidates


@dataclass
class Candidate:
    name: str  # what is called
    kind: str  # "pydropout" | "out" | "kernel" | "alt" | "ceiling" | "peer"
    peer: str  # "" or one of PEERS
    simd: str  # "" when the SIMD level does not matter
    nbytes: int  # bytes read + written, for GB/s
    fn: Callable[[], Any]
    check: Optional[Callable[[], Optional[str]]] = None  # None when ok, else what is wrong
    foreign_pool: bool = False  # torch / JAX: own worker threads, sleep after a sample
    threads: Optional[int] = None  # pydropout's thread count for this row (None: the group's)
    number: int = 1
    samples: List[float] = field(default_factory=list)  # seconds per call
    check_result: str = ""  # "", "ok" or "FAILED: ..."
    dropped: bool = False

    @property
    def best(self) -> float:
        return min(self.samples) if self.samples else math.nan

    def label(self) -> str:
        return f"{self.name} [{self.simd}]" if self.simd else self.name


def op_bytes(op: str, n: int, itemsize: int) -> int:
    mb = (n + 7) // 8
    if op == "mask":
        return mb
    if op in ("forward", "backward_state", "alpha", "gaussian", "channel"):
        return 2 * n * itemsize  # read x, write y: what a fused pass must move
    if op == "torch_fwd_bwd":
        return 4 * n * itemsize  # read x, write y, read the gradient, write dx
    # forward_mask writes the mask; backward and alpha_backward read it
    return 2 * n * itemsize + mb


def channel_shape(n: int) -> Tuple[int, int, int, int]:
    """The (N, C, H, W) of the channel op over n elements: 32 x 32 planes when n is a
    multiple of 1024 (else 1 x 1), N a power of two near sqrt(N * C)."""
    h, w = CHANNEL_HW if n % (CHANNEL_HW[0] * CHANNEL_HW[1]) == 0 else (1, 1)
    nc = n // (h * w)
    batch = math.gcd(nc, 1 << (nc.bit_length() // 2))
    return batch, nc // batch, h, w


def channel_regions(regions: List[Tuple[int, int]], n: int) -> List[Tuple[int, int]]:
    """The check regions widened to whole channels (the reference draws per channel)."""
    _, _, h, w = channel_shape(n)
    hw = h * w
    return sorted({(a // hw * hw, min(n, -(-b // hw) * hw)) for a, b in regions})


class Arrays:
    """The arrays of one (dtype, n), shared by its groups, and the cached reference."""

    def __init__(self, dtype: str, n: int, p: float):
        self.dtype, self.n, self.p = dtype, n, p
        dt = np.dtype(np.float32 if dtype == NO_DTYPE else dtype)
        self.dt = dt
        rng = np.random.default_rng(1234)
        self.x = rng.standard_normal(n, dtype=np.float32).astype(dt, copy=False)
        self.y = np.empty_like(self.x)
        self.mask = np.empty((n + 7) // 8, np.uint8)
        self.mask2 = np.empty_like(self.mask)  # destination of the mask-sized copy
        self.mask_in = np.empty_like(self.mask)  # the forward mask backward reads
        # the input mask is data (any valid mask will do); the check compares against the
        # reference applied to this very mask
        _core.mask(self.mask_in, n, _common.threshold(p), False, 99, 0, 0)
        self.code = _common.dtype_code(dt)
        self.t = _common.threshold(p)
        self.s = _common.scale_value(p, dt)
        self.shape4 = channel_shape(n)
        self._y2: Optional[np.ndarray] = None
        self._ref: Dict[Tuple[str, int, int], Any] = {}

    @property
    def y2(self) -> np.ndarray:
        """A second output buffer (the two copies of the forward + backward ceiling)."""
        if self._y2 is None:
            self._y2 = np.empty_like(self.x)
        return self._y2

    def check_gen(self, a: int = 0):
        from . import Generator

        return Generator(CHECK_SEED, stream=CHECK_STREAM, offset=CHECK_OFFSET + a)

    def ref(self, what: str, a: int, b: int):
        key = (what, a, b)
        if key not in self._ref:
            p = self.p
            if what == "forward":
                self._ref[key] = reference.dropout_with_mask(self.x[a:b], p, generator=self.check_gen(a))
            elif what == "mask":
                self._ref[key] = reference.dropout_mask((b - a,), p, generator=self.check_gen(a))
            elif what == "backward":
                self._ref[key] = reference.dropout_backward(self.x[a:b], self.mask_in[a // 8:(b + 7) // 8], p)
            else:
                self._ref[key] = self._extra_ref(what, a, b)
        return self._ref[key]

    def _extra_ref(self, what: str, a: int, b: int):
        """The reference of the extra ops on elements [a, b) of the flat array, computed
        at the words the whole call gives them (the gradient is x, as for backward)."""
        x, p = self.x[a:b], self.p
        if what == "backward_state":
            state = DropoutState(CHECK_SEED, CHECK_STREAM, CHECK_OFFSET + a, (b - a,), p)
            return reference.dropout_backward(x, state, p)
        if what == "alpha":
            return reference.alpha_dropout(x, p, True, generator=self.check_gen(a))
        if what == "alpha_backward":
            return reference.alpha_dropout_backward(x, self.mask_in[a // 8:(b + 7) // 8], p)
        if what == "gaussian":
            return reference.gaussian_dropout(x, p, generator=self.check_gen(a))
        if what == "channel":
            # whole channels c0..c1 as a batch of one-channel images: they draw the words
            # c0..c1 of the whole (N, C, 1, 1) noise
            _, _, h, w = self.shape4
            c0, c1 = a // (h * w), b // (h * w)
            xs = self.x.reshape(-1, h * w)[c0:c1].reshape(c1 - c0, 1, h, w)
            return reference.dropout2d(xs, p, generator=self.check_gen(c0)).reshape(-1)
        if what == "torch_backward":
            _, rm = self.ref("forward", a, b)
            return reference.dropout_backward(x, rm, p)
        raise ValueError(what)


def check_regions(n: int, threads: int) -> List[Tuple[int, int]]:
    """Slices compared with the reference: all of it when small, else the head, the tail,
    every thread boundary of an even split, and one arbitrary interior point."""
    if n <= CHECK_FULL:
        return [(0, n)]
    L = CHECK_SLICE
    starts = {0, n - L, (n // 3) & ~63 | 8}
    blocks = (n + 63) // 64
    for k in range(1, min(threads, 16)):
        starts.add(blocks * k // threads * 64 - L // 2)
    out = []
    for a in sorted(starts):
        a = max(0, min(a, n - L)) & ~7  # whole mask bytes
        out.append((a, n if a + L > n - 8 else a + L))
    return sorted(set(out))


def _flat(a) -> np.ndarray:
    """A flat NumPy view of an array or a CPU tensor."""
    if not isinstance(a, np.ndarray):
        a = a.detach().numpy()
    return a.reshape(-1)


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint8)


def _compare(what: str, got: np.ndarray, want: np.ndarray, a: int) -> Optional[str]:
    if got.shape != want.shape or got.dtype != want.dtype:
        return f"{what}: got shape {got.shape} {got.dtype}, want {want.shape} {want.dtype}"
    if np.array_equal(_bits(got), _bits(want)):
        return None
    gb, wb = _bits(got), _bits(want)
    first = int(np.flatnonzero(gb != wb)[0]) // max(1, got.itemsize)
    return f"{what} differs from pydropout.reference first at element {a + first}"


def _check_output(arrs: Arrays, op: str, regions, y=None, mask=None, dx=None) -> Optional[str]:
    for a, b in regions:
        if op in ("forward", "forward_mask"):
            ry, rm = arrs.ref("forward", a, b)
            err = _compare("output", y[a:b], ry, a)
            if err is None and op == "forward_mask":
                err = _compare("mask", mask[a // 8:(b + 7) // 8], rm, 8 * (a // 8))
        elif op == "mask":
            err = _compare("mask", mask[a // 8:(b + 7) // 8], arrs.ref("mask", a, b), 8 * (a // 8))
        elif op == "backward":
            err = _compare("gradient", y[a:b], arrs.ref("backward", a, b), a)
        elif op == "torch_fwd_bwd":  # tensors: the output y and the gradient dx
            err = (_compare("output", _flat(y)[a:b], arrs.ref("forward", a, b)[0], a)
                   or _compare("gradient", _flat(dx)[a:b], arrs.ref("torch_backward", a, b), a))
        else:
            what = "gradient" if "backward" in op else "output"
            err = _compare(what, _flat(y)[a:b], arrs.ref(op, a, b), a)
        if err:
            return f"{err} (n={arrs.n}, slice [{a}, {b}))"
    return None


def _scramble(arrs: Arrays, regions, y: Optional[np.ndarray], mask: Optional[np.ndarray]):
    """Garbage where a raw kernel should write, so one that writes nothing fails."""
    for a, b in regions:
        if y is not None:
            y[a:b].view(np.uint8)[...] = 0xA5
        if mask is not None:
            mask[a // 8:(b + 7) // 8] = 0x5A


def _public_check(arrs: Arrays, op: str, regions, call) -> Optional[str]:
    x, p = arrs.x, arrs.p
    g = arrs.check_gen()
    if op == "forward":
        return _check_output(arrs, op, regions, y=call(x, p, generator=g))
    if op == "forward_mask":
        y, m = call(x, p, generator=g)
        return _check_output(arrs, op, regions, y=y, mask=m)
    if op == "mask":
        return _check_output(arrs, op, regions, mask=call((arrs.n,), p, generator=g))
    return _check_output(arrs, op, regions, y=call(x, arrs.mask_in, p))


def _out_check(arrs: Arrays, op: str, regions, call) -> Optional[str]:
    _scramble(arrs, regions, arrs.y, None)
    if op == "forward":
        y = call(arrs.x, arrs.p, generator=arrs.check_gen(), out=arrs.y)
        return _check_output(arrs, op, regions, y=y) or _same(y, arrs.y)
    if op == "forward_mask":
        y, m = call(arrs.x, arrs.p, generator=arrs.check_gen(), out=arrs.y)
        return _check_output(arrs, op, regions, y=y, mask=m) or _same(y, arrs.y)
    y = call(arrs.x, arrs.mask_in, arrs.p, out=arrs.y)
    return _check_output(arrs, op, regions, y=y) or _same(y, arrs.y)


def _same(got: np.ndarray, out: np.ndarray) -> Optional[str]:
    return None if got is out else "the result is not the out= array"


def _kernel_check(arrs: Arrays, op: str, regions, fn) -> Optional[str]:
    y = None if op == "mask" else arrs.y
    m = arrs.mask if op in ("forward_mask", "mask") else None
    _scramble(arrs, regions, y, m)
    fn()
    return _check_output(arrs, op, regions, y=y, mask=m)


def start_cpus() -> Optional[frozenset]:
    """The CPUs the process could use when pydropout was imported (None off Linux)."""
    import pydropout

    return getattr(pydropout, "_START_CPUS", None)


class process_cpus:
    """Within the block, the calling thread may run on every CPU of `start_cpus()`.

    Threads started inside it inherit that set, whatever CPU OpenMP bound this thread to.
    """

    def __enter__(self):
        self.saved = None
        cpus = start_cpus()
        if cpus:
            try:
                self.saved = os.sched_getaffinity(0)
                if self.saved != cpus:
                    os.sched_setaffinity(0, cpus)
            except OSError:
                self.saved = None
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            os.sched_setaffinity(0, self.saved)
        return False


class Peers:
    """Optional libraries, imported once; missing ones are left out without a word."""

    def __init__(self, wanted: Sequence[str], need_torch: bool = False):
        self.torch = self.F = self.jax = self.jnp = None
        self.torch_threads = None
        self.jax_x64 = None
        if "torch" in wanted or need_torch:  # torch_fwd_bwd runs torch with --peers none
            try:
                import torch
                import torch.nn.functional as F
            except ImportError:
                pass
            else:
                self.torch, self.F = torch, F
                self.torch_threads = torch.get_num_threads()
        self.jax_started = False
        if "jax" in wanted:
            try:  # starts no threads: its CPU client starts in start_jax()
                import jax
                import jax.numpy as jnp
            except ImportError:
                pass
            else:
                self.jax, self.jnp = jax, jnp
                self.jax_x64 = bool(jax.config.read("jax_enable_x64"))
                jax.config.update("jax_enable_x64", True)  # float64 stays float64
        self._jit: Dict[Any, Any] = {}

    def start_jax(self):
        """Start JAX's CPU client (and its worker threads) before its first row.

        Its workers are started from this thread and inherit its CPUs: under OMP_PROC_BIND
        that is the one CPU OpenMP bound it to, which ran JAX's "all threads" rows on one
        CPU (about 1.5x slower). Started inside `process_cpus()`, they get every CPU. Not
        at import: a started client makes a later os.fork() warn of deadlocks.
        """
        if self.jax is not None and not self.jax_started:
            with process_cpus():
                self.jax.block_until_ready(self.jax.jit(lambda v: v + 1)(self.jnp.zeros(8)))
            self.jax_started = True

    def restore(self):
        if self.torch is not None and self.torch_threads is not None:
            self.torch.set_num_threads(self.torch_threads)
        if self.jax is not None and self.jax_x64 is not None:
            self.jax.config.update("jax_enable_x64", self.jax_x64)

    def versions(self) -> Dict[str, str]:
        return {"torch": getattr(self.torch, "__version__", "not used"),
                "jax": getattr(self.jax, "__version__", "not used")}

    def jit(self, op: str, p: float):
        key = (op, p)
        if key not in self._jit:
            jax, jnp = self.jax, self.jnp
            keep_p = jnp.float32(1.0 - p)

            def forward(k, x):
                keep = jax.random.bernoulli(k, keep_p, x.shape)
                return jnp.where(keep, x / (1 - p), 0)

            def forward_mask(k, x):
                keep = jax.random.bernoulli(k, keep_p, x.shape)
                return jnp.where(keep, x / (1 - p), 0), keep

            def backward(g, keep):
                return jnp.where(keep, g / (1 - p), 0)

            fns = {"forward": forward, "forward_mask": forward_mask, "backward": backward}
            self._jit[key] = jax.jit(fns[op])
        return self._jit[key]


def build_candidates(cfg: Config, key: GroupKey, arrs: Arrays, peers: Peers) -> List[Candidate]:
    import pydropout

    if key.op in EXTRA_OPS:
        return build_extra_candidates(cfg, key, arrs, peers)
    op, n, p = key.op, key.n, cfg.p
    x, y, code, t, s = arrs.x, arrs.y, arrs.code, arrs.t, arrs.s
    es = arrs.dt.itemsize
    nbytes = op_bytes(op, n, es)
    regions = check_regions(n, key.threads)
    cands: List[Candidate] = []

    # the bandwidth ceiling: the threaded copy with pydropout's threads and chunking
    if op == "mask":
        cands.append(Candidate("copy (ceiling)", "ceiling", "", "", 2 * arrs.mask.nbytes,
                               partial(_core.copy, arrs.mask_in, arrs.mask2)))
    else:
        cands.append(Candidate("copy (ceiling)", "ceiling", "", "", 2 * x.nbytes,
                               partial(_core.copy, x, y)))

    gen = pydropout.Generator(42)  # timing calls advance it, as a training loop does
    public = {"forward": pydropout.dropout, "forward_mask": pydropout.dropout_with_mask,
              "mask": pydropout.dropout_mask, "backward": pydropout.dropout_backward}[op]
    if op in ("forward", "forward_mask"):
        public_fn = partial(public, x, p, generator=gen)
    elif op == "mask":
        public_fn = partial(public, (n,), p, generator=gen)
    else:
        public_fn = partial(public, x, arrs.mask_in, p)
    seed, stream, off = CHECK_SEED, CHECK_STREAM, CHECK_OFFSET
    if op == "forward":
        kernel_fn = partial(_core.forward, x, y, None, code, t, False, s, True, seed, stream, off)
    elif op == "forward_mask":
        kernel_fn = partial(_core.forward, x, y, arrs.mask, code, t, False, s, True, seed, stream, off)
    elif op == "mask":
        kernel_fn = partial(_core.mask, arrs.mask, n, t, False, seed, stream, off)
    else:
        kernel_fn = partial(_core.apply, x, y, arrs.mask_in, code, s, True)
    if op in ("forward", "forward_mask"):
        out_fn = partial(public, x, p, generator=gen, out=y)
    else:
        out_fn = partial(public, x, arrs.mask_in, p, out=y)
    for level in cfg.levels:
        cands.append(Candidate(PUBLIC_NAMES[op], "pydropout", "", level, nbytes, public_fn,
                               check=partial(_public_check, arrs, op, regions, public)))
        if cfg.out_rows and op in OUT_NAMES:
            cands.append(Candidate(OUT_NAMES[op], "out", "", level, nbytes, out_fn,
                                   check=partial(_out_check, arrs, op, regions, public)))
        if cfg.kernel:
            cands.append(Candidate(KERNEL_NAMES[op], "kernel", "", level, nbytes, kernel_fn,
                                   check=partial(_kernel_check, arrs, op, regions, kernel_fn)))
    if (op, key.dtype, n) == ("forward", "float32", MI) and key.threads == cfg.all_threads > 1:
        # target 4 is a ratio of thread counts: its 1-thread side also runs here, in the
        # same interleaved rounds as the all-thread row, so both see the same machine
        cands.append(Candidate(f"{PUBLIC_NAMES[op]}, 1 thread", "one_thread", "",
                               cfg.default_level, nbytes, public_fn, threads=1,
                               check=partial(_public_check, arrs, op, regions, public)))

    # peers
    if "multiply" in cfg.peers and op in ("forward", "backward"):
        cands.append(Candidate("np.multiply(x, 2.0, out=y)", "peer", "multiply", "", nbytes,
                               partial(np.multiply, x, 2.0, out=y)))
    if "numpy" in cfg.peers:
        rng = np.random.default_rng(5)
        if op == "forward":
            def numpy_fn(x=x, rng=rng, p=p):
                return x * (rng.random(x.shape) >= p) / (1 - p)
            name = "NumPy x * (rng.random(x.shape) >= p) / (1 - p)"
        elif op == "forward_mask":
            def numpy_fn(x=x, rng=rng, p=p):
                keep = rng.random(x.shape) >= p
                return x * keep / (1 - p), keep
            name = "NumPy keep = rng.random(x.shape) >= p; x * keep / (1 - p)"
        elif op == "mask":
            def numpy_fn(n=n, rng=rng, p=p):
                return rng.random(n) >= p
            name = "NumPy rng.random(n) >= p"
        else:
            keep_in = np.unpackbits(arrs.mask_in, count=n, bitorder="little").view(bool)

            def numpy_fn(g=x, keep=keep_in, p=p):
                return g * keep / (1 - p)
            name = "NumPy grad * keep / (1 - p)"
        cands.append(Candidate(name, "peer", "numpy", "", nbytes, numpy_fn))
    torch = peers.torch
    if torch is not None and "torch" in cfg.peers:
        xt = torch.from_numpy(x)
        if op == "forward":
            cands.append(Candidate("torch F.dropout", "peer", "torch", "", nbytes,
                                   partial(peers.F.dropout, xt, p, True), foreign_pool=True))
        elif op == "forward_mask":
            cands.append(Candidate("torch.native_dropout", "peer", "torch", "", nbytes,
                                   partial(torch.native_dropout, xt, p, True), foreign_pool=True))
        elif op == "mask":
            mt = torch.empty(n, dtype=torch.bool)
            cands.append(Candidate("torch bool.bernoulli_(1 - p)", "peer", "torch", "", nbytes,
                                   partial(mt.bernoulli_, 1.0 - p), foreign_pool=True))
        else:
            keep_t = torch.from_numpy(np.unpackbits(arrs.mask_in, count=n, bitorder="little").view(bool))
            cands.append(Candidate("aten.native_dropout_backward", "peer", "torch", "", nbytes,
                                   partial(torch.ops.aten.native_dropout_backward, xt, keep_t,
                                           1.0 / (1.0 - p)),
                                   foreign_pool=True))
    jax = peers.jax
    # XLA sizes its own thread pool at start-up: its rows run only with all threads
    if jax is not None and "jax" in cfg.peers and key.threads == cfg.all_threads:
        peers.start_jax()
        jkey = jax.random.key(0)
        if op == "mask":
            fn = jax.jit(partial(jax.random.bernoulli, p=peers.jnp.float32(1.0 - p), shape=(n,)))
            jcall = partial(_jax_call, fn, jkey)
        elif op == "backward":
            gj = jax.device_put(x)
            kj = jax.device_put(np.unpackbits(arrs.mask_in, count=n, bitorder="little").view(bool))
            jcall = partial(_jax_call, peers.jit(op, p), gj, kj)
        else:
            jcall = partial(_jax_call, peers.jit(op, p), jkey, jax.device_put(x))
        cands.append(Candidate("JAX jit(bernoulli + where)" if op != "backward" else "JAX jit(where)",
                               "peer", "jax", "", nbytes, jcall, foreign_pool=True))
    return cands


def _extra_out_check(arrs: Arrays, op: str, regions, result, dest) -> Optional[str]:
    _scramble(arrs, regions, arrs.y, None)
    got = result(dest)
    return _check_output(arrs, op, regions, y=got) or _same(got, dest)


def build_extra_candidates(cfg: Config, key: GroupKey, arrs: Arrays, peers: Peers
                           ) -> List[Candidate]:
    """The rows of the state backward, the variants and pydropout.torch (EXTRA_OPS)."""
    import pydropout as pd

    op, n, p = key.op, key.n, cfg.p
    if op == "torch_fwd_bwd":
        return _torch_candidates(cfg, key, arrs, peers)
    x, y, code, t, s = arrs.x, arrs.y, arrs.code, arrs.t, arrs.s
    nbytes = op_bytes(op, n, arrs.dt.itemsize)
    regions = check_regions(n, key.threads)
    if op == "channel":
        regions = channel_regions(regions, n)
    x4, y4 = x.reshape(arrs.shape4), y.reshape(arrs.shape4)
    dest = y4 if op == "channel" else y  # the out= array
    seed, stream, off = CHECK_SEED, CHECK_STREAM, CHECK_OFFSET
    gen = pd.Generator(42)  # timing calls advance it, as a training loop does
    a_, b_, c_ = _common.alpha_constants(p, arrs.dt)
    kernel_fn: Optional[Callable[[], Any]] = None
    alts: List[Candidate] = []

    # result(out) is the row's result at the check state (out= None or dest); fn and
    # out_fn are what is timed
    if op == "backward_state":
        bwd, with_state = pd.dropout_backward, pd.dropout_with_state
        _, state = with_state(x, p, generator=gen)  # the state of one forward pass

        def result(out):
            _, st = with_state(x, p, generator=arrs.check_gen())
            return bwd(x, st, p, out=out)
        fn, out_fn = partial(bwd, x, state, p), partial(bwd, x, state, p, out=y)
        kernel_fn = partial(_core.forward, x, y, None, code, t, False, s, True, seed, stream, off)
        # the backward from the packed mask of the same size, for comparison
        alts.append(Candidate("pydropout.dropout_backward(mask)", "alt", "",
                              cfg.default_level, op_bytes("backward", n, arrs.dt.itemsize),
                              partial(bwd, x, arrs.mask_in, p),
                              check=partial(_public_check, arrs, "backward", regions, bwd)))
    elif op == "alpha":
        f = pd.alpha_dropout

        def result(out):
            return f(x, p, True, generator=arrs.check_gen(), out=out)
        fn, out_fn = partial(f, x, p, True, generator=gen), partial(f, x, p, True, generator=gen, out=y)

        def kernel_fn(x=x, y=y, m=arrs.mask):
            _core.mask(m, n, t, False, seed, stream, off)
            _core.alpha_apply(x, y, m, code, a_, b_, c_)
    elif op == "alpha_backward":
        f = pd.alpha_dropout_backward

        def result(out):
            return f(x, arrs.mask_in, p, out=out)
        fn, out_fn = partial(f, x, arrs.mask_in, p), partial(f, x, arrs.mask_in, p, out=y)
        kernel_fn = partial(_core.apply, x, y, arrs.mask_in, code, a_, True)
    elif op == "gaussian":
        f = pd.gaussian_dropout

        def result(out):
            return f(x, p, generator=arrs.check_gen(), out=out)
        fn, out_fn = partial(f, x, p, generator=gen), partial(f, x, p, generator=gen, out=y)
        kernel_fn = partial(_core.gaussian, x, y, code, _common.gaussian_sigma(p),
                            seed, stream, off)
    else:  # channel
        f = pd.dropout2d

        def result(out):
            return f(x4, p, generator=arrs.check_gen(), out=out)
        fn, out_fn = partial(f, x4, p, generator=gen), partial(f, x4, p, generator=gen, out=y4)

    cands = [Candidate("copy (ceiling)", "ceiling", "", "", 2 * x.nbytes, partial(_core.copy, x, y))]
    for level in cfg.levels:
        cands.append(Candidate(PUBLIC_NAMES[op], "pydropout", "", level, nbytes, fn,
                               check=lambda: _check_output(arrs, op, regions, y=result(None))))
        if cfg.out_rows:
            cands.append(Candidate(OUT_NAMES[op], "out", "", level, nbytes, out_fn,
                                   check=partial(_extra_out_check, arrs, op, regions, result, dest)))
        if cfg.kernel and kernel_fn is not None:
            cands.append(Candidate(KERNEL_NAMES[op], "kernel", "", level, nbytes, kernel_fn,
                                   check=partial(_kernel_check, arrs, op, regions, kernel_fn)))
    cands += alts

    # peers
    if "multiply" in cfg.peers:
        cands.append(Candidate("np.multiply(x, 2.0, out=y)", "peer", "multiply", "", nbytes,
                               partial(np.multiply, x, 2.0, out=y)))
    keep_in = None
    if op in ("backward_state", "alpha_backward"):
        keep_in = np.unpackbits(arrs.mask_in, count=n, bitorder="little").view(bool)
    if "numpy" in cfg.peers:
        rng = np.random.default_rng(5)
        if op == "backward_state":
            def numpy_fn(g=x, p=p):  # NumPy's way to a mask-free backward: reseed, redraw
                return g * (np.random.default_rng(5).random(g.shape) >= p) / (1 - p)
            name = "NumPy grad * (default_rng(seed).random(n) >= p) / (1 - p)"
        elif op == "alpha":
            def numpy_fn(x=x, rng=rng, p=p):
                return np.where(rng.random(x.shape) >= p, x * a_ + b_, c_)
            name = "NumPy where(rng.random(x.shape) >= p, a * x + b, c)"
        elif op == "alpha_backward":
            def numpy_fn(g=x, keep=keep_in):
                return np.where(keep, g * a_, 0)
            name = "NumPy where(keep, grad * a, 0)"
        elif op == "gaussian":
            sigma = _common.gaussian_sigma(p)
            ndt = np.float64 if arrs.dt == np.float64 else np.float32

            def numpy_fn(x=x, rng=rng):
                return x * (1 + sigma * rng.standard_normal(x.shape, dtype=ndt))
            name = "NumPy x * (1 + sigma * rng.standard_normal(x.shape))"
        else:
            noise = arrs.shape4[:2] + (1, 1)

            def numpy_fn(x=x4, rng=rng, p=p):
                return x * (rng.random(noise) >= p) / (1 - p)
            name = "NumPy x * (rng.random((N, C, 1, 1)) >= p) / (1 - p)"
        cands.append(Candidate(name, "peer", "numpy", "", nbytes, numpy_fn))
    torch = peers.torch
    if torch is not None and "torch" in cfg.peers:
        xt = torch.from_numpy(x)
        if op == "backward_state":  # torch keeps a bool mask; it has no mask-free backward
            cands.append(Candidate("aten.native_dropout_backward (bool mask)", "peer", "torch",
                                   "", nbytes,
                                   partial(torch.ops.aten.native_dropout_backward, xt,
                                           torch.from_numpy(keep_in), 1.0 / (1.0 - p)),
                                   foreign_pool=True))
        elif op == "alpha":
            cands.append(Candidate("torch F.alpha_dropout", "peer", "torch", "", nbytes,
                                   partial(peers.F.alpha_dropout, xt, p, True), foreign_pool=True))
        elif op == "alpha_backward":
            # F.alpha_dropout is composite: autograd's backward multiplies by its float noise
            noise_t = torch.from_numpy(keep_in).to(xt.dtype) * a_
            cands.append(Candidate("torch grad * noise (F.alpha_dropout's backward)", "peer",
                                   "torch", "", nbytes, partial(torch.mul, xt, noise_t),
                                   foreign_pool=True))
        elif op == "channel":
            cands.append(Candidate("torch F.dropout2d", "peer", "torch", "", nbytes,
                                   partial(peers.F.dropout2d, torch.from_numpy(x4), p, True),
                                   foreign_pool=True))
        # gaussian: torch has no Gaussian dropout
    return cands


def _copy2(x: np.ndarray, y: np.ndarray, y2: np.ndarray) -> None:
    _core.copy(x, y)
    _core.copy(x, y2)


def _fwd_bwd(torch, layer, xt, gt):
    """One training step of a dropout layer: y = layer(x); dx = dL/dx for dL/dy = g."""
    y = layer(xt)
    (dx,) = torch.autograd.grad(y, xt, gt)
    return y, dx


def _torch_candidates(cfg: Config, key: GroupKey, arrs: Arrays, peers: Peers) -> List[Candidate]:
    """pydropout.torch forward + backward against torch.nn.Dropout's, same threads."""
    import pydropout as pd

    n, p, x = key.n, cfg.p, arrs.x
    cands = [Candidate("2 copies (ceiling)", "ceiling", "", "", 4 * x.nbytes,
                       partial(_copy2, x, arrs.y, arrs.y2))]
    torch = peers.torch
    if torch is None:
        return cands
    import pydropout.torch as pdt

    nbytes = op_bytes("torch_fwd_bwd", n, arrs.dt.itemsize)
    regions = check_regions(n, key.threads)
    xt = torch.from_numpy(x).requires_grad_(True)
    gt = torch.from_numpy(x)  # the incoming gradient (nothing writes either)
    gen = pd.Generator(42)

    def check(make):
        y, dx = _fwd_bwd(torch, make(arrs.check_gen()), xt, gt)
        return _check_output(arrs, "torch_fwd_bwd", regions, y=y, dx=dx)

    module = partial(pdt.Dropout, p)
    for level in cfg.levels:
        cands.append(Candidate(PUBLIC_NAMES["torch_fwd_bwd"], "pydropout", "", level, nbytes,
                               partial(_fwd_bwd, torch, module(generator=gen), xt, gt),
                               check=partial(check, lambda g: module(generator=g))))
    functional = partial(partial, pdt.dropout, p=p)
    cands.append(Candidate("pydropout.torch.dropout (functional)", "alt", "", cfg.default_level,
                           nbytes, partial(_fwd_bwd, torch, functional(generator=gen), xt, gt),
                           check=partial(check, lambda g: functional(generator=g))))
    cands.append(Candidate("pydropout.torch.Dropout(save='state')", "alt", "",
                           cfg.default_level, nbytes,
                           partial(_fwd_bwd, torch, module(generator=gen, save="state"), xt, gt),
                           check=partial(check, lambda g: module(generator=g, save="state"))))
    if "torch" in cfg.peers:
        cands.append(Candidate("torch.nn.Dropout", "peer", "torch", "", nbytes,
                               partial(_fwd_bwd, torch, torch.nn.Dropout(p), xt, gt),
                               foreign_pool=True))
    return cands


def _jax_call(fn, *args):
    import jax

    return jax.block_until_ready(fn(*args))


# --------------------------------------------------------------------------------------
# timing


def _time(fn: Callable[[], Any], number: int) -> float:
    it = itertools.repeat(None, number)
    t0 = time.perf_counter_ns()
    for _ in it:
        fn()
    t1 = time.perf_counter_ns()
    return (t1 - t0) * 1e-9 / number


def _settle(cfg: Config, seconds: float):
    """After a torch or JAX call of `seconds`: let its worker threads go idle."""
    time.sleep(max(cfg.gap, GAP_SHARE * seconds))


def _prepare(c: Candidate, threads: int):
    if c.simd:
        _core._set_simd(c.simd)
    _core.set_num_threads(c.threads or threads)


def _time_rounds(cfg: Config, key: GroupKey, cands: List[Candidate]) -> int:
    """Time the calibrated candidates in rounds; returns the number of rounds run."""
    max_rounds = rounds_for(cfg, key.n)
    min_rounds = min(cfg.min_rounds, max_rounds)
    gc_was = gc.isenabled()
    gc.disable()
    rounds = 0
    # A new order every round (seeded by the group, so a run repeats). A call's time
    # depends on what ran just before it (clock speed, cache contents: on a 2-CPU Xeon a
    # 16 Mi call after an idle gap took 10-30 % longer than after another call), and a
    # fixed cyclic order would give each candidate the same predecessor in every round.
    # For the same reason a sample of one call (a large array) is primed: an untimed call
    # of the same candidate comes right before it, so it times back-to-back calls.
    order_rng = random.Random(f"{key.op}/{key.dtype}/{key.n}/{key.threads}")
    t_rounds = time.perf_counter()
    try:
        for r in range(max_rounds):
            active = [c for c in cands if not c.dropped]
            if not active:
                break
            order_rng.shuffle(active)
            for c in active:
                _prepare(c, key.threads)
                if c.number == 1 and cfg.prime:
                    c.fn()
                c.samples.append(_time(c.fn, c.number))
                if c.foreign_pool:
                    _settle(cfg, c.samples[-1] * c.number)
                # a peer slower than SLOW_PEER per call (10 to 100 times pydropout) has
                # shown what it is after two samples; the rounds go on for the rest
                if c.kind == "peer" and len(c.samples) >= min(2, min_rounds) \
                        and c.best * c.number > SLOW_PEER:
                    c.dropped = True
            rounds = r + 1
            if rounds >= min_rounds and time.perf_counter() - t_rounds > cfg.budget:
                break
    finally:
        if gc_was:
            gc.enable()
    return rounds


def run_group(cfg: Config, key: GroupKey, cands: List[Candidate]) -> Dict[str, Any]:
    """Warm up, check and calibrate every candidate, then time them in rounds."""
    t_start = time.perf_counter()
    for c in cands:
        _prepare(c, key.threads)
        warm = _time(c.fn, 1)  # warm-up: first touch, JIT compilation, thread pool start
        if c.check is not None:
            _prepare(c, key.threads)
            err = c.check()
            c.check_result = "ok" if err is None else f"FAILED: {err}"
        if warm > 10 * cfg.min_time:
            c.number = 1  # a slow call: one per sample, no need to measure it again
        else:
            one = min(_time(c.fn, 1) for _ in range(2))
            c.number = max(1, min(10**6, math.ceil(cfg.min_time / max(one, 1e-9))))
        if c.foreign_pool:
            _settle(cfg, warm)
    t_rounds = time.perf_counter()
    rounds = _time_rounds(cfg, key, cands)
    return {"rounds": rounds, "seconds": time.perf_counter() - t_start,
            "warmup_seconds": t_rounds - t_start}


# --------------------------------------------------------------------------------------
# results


@dataclass
class GroupResult:
    key: GroupKey
    cands: List[Candidate]
    info: Dict[str, Any]

    def ceiling(self) -> Optional[Candidate]:
        return next((c for c in self.cands if c.kind == "ceiling"), None)

    def peer(self, name: str) -> Optional[Candidate]:
        return next((c for c in self.cands if c.peer == name), None)

    def find(self, kind: str, simd: str) -> Optional[Candidate]:
        return next((c for c in self.cands if c.kind == kind and c.simd == simd), None)


def _fmt(v: float, digits: int = 3) -> str:
    if v is None or not math.isfinite(v):
        return ""
    if v >= 100:
        return f"{v:.0f}"
    return f"{v:.{digits}g}"


def _ratio(v: Optional[float]) -> str:
    if v is None or not math.isfinite(v):
        return ""
    return f"{v:.2f}x" if v < 100 else f"{v:.0f}x"


def detail_table(results: List[GroupResult], peers_present: Sequence[str]) -> str:
    cols = ["op", "dtype", "n", "threads", "implementation", "SIMD", "ns/elem", "GB/s",
            "x copy"] + [f"vs {PEER_TITLES[p]}" for p in peers_present] + ["check"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for g in results:
        k = g.key
        ceil = g.ceiling()
        for c in g.cands:
            ns = c.best / k.n * 1e9
            gbs = c.nbytes / c.best / 1e9
            row = [k.op, k.dtype, size_label(k.n), str(c.threads or k.threads), c.name, c.simd or "",
                   _fmt(ns), _fmt(gbs),
                   _ratio(c.best / ceil.best) if ceil and not c.threads else ""]
            for pname in peers_present:
                pc = g.peer(pname)
                ok = c.kind in PYDROPOUT_KINDS and pc is not None
                row.append(_ratio(pc.best / c.best) if ok else "")
            row.append("FAILED" if c.check_result.startswith("FAILED") else c.check_result)
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def extras_table(cfg: Config, results: List[GroupResult]) -> str:
    """One line per group of the extra ops: the public row at the default SIMD level
    against the copy, the pydropout rows beside it, torch and NumPy."""
    lines = ["| op | dtype | n | threads | row | ns/elem | x copy | beside it (x copy) "
             "| vs torch | vs NumPy |", "|---|---|---|---|---|---|---|---|---|---|"]
    for g in results:
        if g.key.op not in EXTRA_OPS:
            continue
        k, ceil = g.key, g.ceiling()
        c = g.find("pydropout", cfg.default_level) or next(
            (c for c in g.cands if c.kind == "pydropout"), None)
        if c is None:
            continue
        x_copy = _ratio(c.best / ceil.best) if ceil else ""
        beside = "; ".join(f"{a.name} {_ratio(a.best / ceil.best) if ceil else ''}".strip()
                           for a in g.cands if a.kind == "alt")
        vs = []
        for peer in ("torch", "numpy"):
            pc = g.peer(peer)
            vs.append(f"{_ratio(pc.best / c.best)} ({pc.name})" if pc else "")
        lines.append(f"| {k.op} | {k.dtype} | {size_label(k.n)} | {k.threads} | {c.label()} "
                     f"| {_fmt(c.best / k.n * 1e9)} | {x_copy} | {beside} | {vs[0]} | {vs[1]} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def _pivot_columns(cfg: Config, results: Sequence[GroupResult] = ()
                   ) -> List[Tuple[str, str, str]]:
    cols = [("ceiling", "", "copy (ceiling)")]
    cols += [("pydropout", lv, f"pydropout [{lv}]") for lv in cfg.levels]
    if cfg.out_rows:
        cols.append(("out", cfg.default_level, f"out= [{cfg.default_level}]"))
    if cfg.kernel:
        cols.append(("kernel", cfg.default_level, f"kernel [{cfg.default_level}]"))
    alts: List[str] = []
    for g in results:
        alts += [c.name for c in g.cands if c.kind == "alt" and c.name not in alts]
    cols += [("alt", name, name.replace("pydropout.", "")) for name in alts]
    cols += [("peer", p, PEER_TITLES[p]) for p in PEERS]
    return cols


def pivot_tables(cfg: Config, results: List[GroupResult], unit: str = "GB/s",
                 only: Optional[Callable[[GroupKey], bool]] = None) -> str:
    """Rows are sizes, columns implementations; one table per (op, dtype, threads)."""
    by: Dict[Tuple[str, str, int], List[GroupResult]] = {}
    for g in results:
        if only is None or only(g.key):
            by.setdefault((g.key.op, g.key.dtype, g.key.threads), []).append(g)
    out = []
    for (op, dtype, threads), gs in by.items():
        cols = [c for c in _pivot_columns(cfg, gs) if any(_cell(g, c) is not None for g in gs)]
        d = "" if dtype == NO_DTYPE else f", {dtype}"
        out.append(f"**{OP_TITLES[op]}{d}, {threads} thread{'s' if threads > 1 else ''}** ({unit})\n")
        out.append("| n | " + " | ".join(c[2] for c in cols) + " |")
        out.append("|---|" + "---:|" * len(cols))
        for g in sorted(gs, key=lambda g: g.key.n):
            cells = []
            for c in cols:
                cand = _cell(g, c)
                if cand is None:
                    cells.append("")
                elif unit == "GB/s":
                    cells.append(_fmt(cand.nbytes / cand.best / 1e9))
                else:
                    cells.append(_fmt(cand.best / g.key.n * 1e9))
            out.append(f"| {size_label(g.key.n)} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def _cell(g: GroupResult, col: Tuple[str, str, str]) -> Optional[Candidate]:
    kind, which, _ = col
    if kind == "ceiling":
        return g.ceiling()
    if kind == "peer":
        return g.peer(which)
    if kind == "alt":
        return next((c for c in g.cands if c.kind == "alt" and c.name == which), None)
    return g.find(kind, which)


# --------------------------------------------------------------------------------------
# the six targets of issue 3


@dataclass
class Target:
    ident: str
    text: str
    limit: str
    value: Optional[float] = None
    passed: Optional[bool] = None
    detail: str = ""

    def status(self) -> str:
        if self.passed is None:
            return "n/a"
        return "PASS" if self.passed else "FAIL"


def evaluate_targets(cfg: Config, results: List[GroupResult]) -> List[Target]:
    T, best = cfg.all_threads, cfg.default_level
    index = {r.key: r for r in results}

    def group(op, dtype, n, threads):
        return index.get(GroupKey(op, dtype, n, threads))

    def words_alone(n, threads, level):  # the public dropout_mask row: Philox and compare only
        g = group("mask", NO_DTYPE, n, threads)
        return g.find("pydropout", level) if g else None

    def ratio_to_copy(ident, text, op, dtype, limit, level=best):
        tg = Target(ident, text, f"<= {limit:.2f}x copy")
        g = group(op, dtype, 16 * MI, T)
        c = g.find("pydropout", level) if g else None
        if c is None or g.ceiling() is None:
            tg.detail = f"not measured ({op} {dtype} 16Mi threads={T} [{level}])"
            return tg
        tg.value = c.best / g.ceiling().best
        tg.passed = tg.value <= limit
        tg.detail = f"{PUBLIC_NAMES[op]} [{level}] {c.best * 1e3:.3f} ms vs copy {g.ceiling().best * 1e3:.3f} ms"
        for kind, what in (("out", "with out="), ("kernel", "raw kernel")):
            k = g.find(kind, level)
            if k is not None:
                tg.detail += f"; {what} {k.best / g.ceiling().best:.2f}x copy"
        if op == "forward_mask":  # the floor: drawing the words, with no data moved
            m = words_alone(16 * MI, T, level)
            if m is not None:
                tg.detail += f"; the words alone (dropout_mask) {m.best / g.ceiling().best:.2f}x copy"
        return tg

    out = []
    for d, lim in (("float32", 1.10), ("float64", 1.10), ("float16", 1.15)):
        out.append(ratio_to_copy(f"1 {d}", f"forward + mask, {d}, 16Mi, {T} threads",
                                 "forward_mask", d, lim))
    for d, lim in (("float32", 1.05), ("float64", 1.05), ("float16", 1.10)):
        out.append(ratio_to_copy(f"2 {d}", f"backward from the mask, {d}, 16Mi, {T} threads",
                                 "backward", d, lim))
    g1 = group("forward", "float32", MI, 1)
    for peer, lim, pname in (("numpy", 10.0, "the NumPy composition"), ("torch", 30.0, "torch F.dropout")):
        tg = Target(f"3 {peer}", f"dropout float32 1Mi, 1 thread, faster than {pname}",
                    f">= {lim:.0f}x")
        c = g1.find("pydropout", best) if g1 else None
        pc = g1.peer(peer) if g1 else None
        if c is None or pc is None:
            tg.detail = f"not measured (forward float32 1Mi threads=1 [{best}] and {pname})"
        else:
            tg.value = pc.best / c.best
            tg.passed = tg.value >= lim
            tg.detail = (f"{c.best * 1e6:.1f} us vs {pc.best * 1e6:.1f} us"
                         f" (the limit needs <= {pc.best / lim * 1e6:.1f} us)")
            m = words_alone(MI, 1, best)
            if m is not None:
                tg.detail += f"; the words alone (dropout_mask) {m.best * 1e6:.1f} us"
        out.append(tg)
    tg = Target("4", f"dropout float32 1Mi: {T} threads vs 1 thread", ">= 1.80x")
    gT = group("forward", "float32", MI, T)
    c1 = g1.find("pydropout", best) if g1 else None
    cT = gT.find("pydropout", best) if gT else None
    c1_in = gT.find("one_thread", best) if gT else None  # the same rounds as cT
    if T < 2:
        tg.detail = "one thread only on this machine"
    elif cT is None or (c1 is None and c1_in is None):
        tg.detail = f"not measured (forward float32 1Mi threads=1 and threads={T} [{best}])"
    else:
        parts = []
        if c1_in is not None:
            tg.value = c1_in.best / cT.best
            parts.append(f"interleaved: {c1_in.best * 1e6:.1f} us vs {cT.best * 1e6:.1f} us")
        if c1 is not None:
            if tg.value is None:
                tg.value = c1.best / cT.best
            parts.append(f"1-thread group: {c1.best * 1e6:.1f} us ({c1.best / cT.best:.2f}x)")
        tg.passed = tg.value >= 1.8
        tg.detail = "; ".join(parts)
    out.append(tg)
    if "avx2" in _core.supported_simd_levels():
        out.append(ratio_to_copy("5", f"AVX2 level: forward + mask, float32, 16Mi, {T} threads",
                                 "forward_mask", "float32", 1.30, level="avx2"))
    else:
        out.append(Target("5", "AVX2 level", "<= 1.30x copy", detail="no AVX2 on this CPU"))
    tg = Target("6", "dropout float32 1Ki call vs np.multiply(x, 2.0, out=y)", "<= 3.00x")
    g6 = group("forward", "float32", KI, T) or group("forward", "float32", KI, 1)
    c = g6.find("pydropout", best) if g6 else None
    pc = g6.peer("multiply") if g6 else None
    if c is None or pc is None:
        tg.detail = f"not measured (forward float32 1Ki [{best}] and np.multiply)"
    else:
        tg.value = c.best / pc.best
        tg.passed = tg.value <= 3.0
        tg.detail = f"{c.best * 1e9:.0f} ns vs {pc.best * 1e9:.0f} ns (threads={g6.key.threads})"
    out.append(tg)
    return out


def targets_table(targets: List[Target]) -> str:
    lines = ["| target | what | limit | measured | result | detail |", "|---|---|---|---|---|---|"]
    for t in targets:
        v = "" if t.value is None else f"{t.value:.2f}x"
        lines.append(f"| {t.ident} | {t.text} | {t.limit} | {v} | {t.status()} | {t.detail} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# the machine


def _cpuinfo() -> Dict[str, str]:
    info: Dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if ":" not in line:
                    if info:
                        break  # the first processor is enough
                    continue
                k, v = (s.strip() for s in line.split(":", 1))
                info.setdefault(k, v)
    except OSError:
        pass
    return info


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def machine_info(cfg: Config, peers: Peers) -> Dict[str, Any]:
    import pydropout

    ci = _cpuinfo()
    model = ci.get("model name") or platform.processor() or platform.machine()
    ident = ", ".join(f"{k} {ci[k]}" for k in ("cpu family", "model", "stepping") if k in ci)
    flags = set(ci.get("flags", "").split())
    simd_flags = [f for f in ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw",
                              "avx512dq", "avx512vl", "avx512_bf16", "avx512_fp16")
                  if f in flags]
    mem = ""
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal"):
            mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    cpus = start_cpus()  # not this thread's CPUs: OMP_PROC_BIND binds it to one
    affinity = len(cpus) if cpus else os.cpu_count()
    return {
        "cpu": model + (f" ({ident})" if ident else ""),
        "cpu_flags": " ".join(simd_flags),
        "logical_cpus": os.cpu_count(),
        "cpus_usable": affinity,
        "l2_per_core": _read("/sys/devices/system/cpu/cpu0/cache/index2/size"),
        "l3": _read("/sys/devices/system/cpu/cpu0/cache/index3/size"),
        "memory": mem,
        "simd_supported": list(_core.supported_simd_levels()),
        "simd_default": cfg.default_level,
        "avx512fp16": _core._avx512fp16(),
        "avx512ifma": _core._avx512ifma(),
        "simd_benchmarked": cfg.levels,
        "threads_all": cfg.all_threads,
        "threads_benchmarked": cfg.threads,
        "build": dict(_core.build_info()),
        "versions": {"pydropout": pydropout.__version__, "numpy": np.__version__,
                     **peers.versions(), "python": platform.python_version()},
        "platform": platform.platform(),
        "env": {k: os.environ.get(k, "") for k in ("PYDROPOUT_SIMD", "PYDROPOUT_NUM_THREADS",
                                                    "PYDROPOUT_AVX512FP16", "PYDROPOUT_AVX512IFMA",
                                                    "OMP_NUM_THREADS", "OMP_PROC_BIND",
                                                    "OMP_PLACES")},
        "p": cfg.p,
        "command": "bench_dropout " + " ".join(cfg.argv),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "timing": {"quick": cfg.quick, "min_rounds": cfg.min_rounds,
                   "max_rounds": cfg.max_rounds, "min_time_s": cfg.min_time,
                   "budget_s": cfg.budget, "gap_s": cfg.gap},
    }


def header_md(m: Dict[str, Any]) -> str:
    b = m["build"]
    v = m["versions"]
    env = ", ".join(f"{k}={val}" for k, val in m["env"].items() if val) or "none set"
    return "\n".join([
        f"- machine: {m['cpu']}; {m['logical_cpus']} logical CPUs ({m['cpus_usable']} usable), "
        f"L2 {m['l2_per_core'] or '?'} per core, L3 {m['l3'] or '?'}, {m['memory']} RAM",
        f"- CPU SIMD flags: {m['cpu_flags'] or 'none found'}",
        f"- SIMD levels: supported {', '.join(m['simd_supported'])}; default {m['simd_default']}; "
        f"benchmarked {', '.join(m['simd_benchmarked'])}"
        + (f"; float16 at avx512 with AVX512-FP16 arithmetic: {m['avx512fp16']}"
           if m.get("avx512fp16", "unsupported") != "unsupported" else "")
        + (f"; Philox at avx512 with IFMA high halves: {m['avx512ifma']}"
           if m.get("avx512ifma", "unsupported") != "unsupported" else ""),
        f"- threads: all = {m['threads_all']}; benchmarked {', '.join(map(str, m['threads_benchmarked']))}",
        f"- build: {b.get('compiler')}, flags `{b.get('flags')}`, OpenMP {b.get('openmp')}",
        f"- versions: pydropout {v['pydropout']}, numpy {v['numpy']}, torch {v['torch']}, "
        f"jax {v['jax']}, python {v['python']} ({m['platform']})",
        f"- environment: {env}",
        f"- p = {m['p']}; times are minima over interleaved rounds "
        f"(min {m['timing']['min_rounds']} rounds, samples >= {m['timing']['min_time_s'] * 1e3:g} ms)",
        f"- command: `{m['command']}` ({m['date']})",
    ])


# --------------------------------------------------------------------------------------
# output files


def write_json(path: str, meta, results: List[GroupResult], targets: List[Target], failures):
    groups = []
    for g in results:
        groups.append({
            "op": g.key.op, "dtype": g.key.dtype, "n": g.key.n, "threads": g.key.threads,
            **g.info,
            "candidates": [{
                "name": c.name, "kind": c.kind, "peer": c.peer, "simd": c.simd,
                "threads": c.threads or g.key.threads,
                "bytes": c.nbytes, "number": c.number, "samples_s": c.samples,
                "best_s": c.best, "check": c.check_result,
            } for c in g.cands],
        })
    doc = {"meta": meta, "groups": groups,
           "targets": [{"id": t.ident, "what": t.text, "limit": t.limit, "value": t.value,
                        "status": t.status(), "detail": t.detail} for t in targets],
           "check_failures": failures}
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, default=_json_default)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    return str(o)


def write_plot(path: str, cfg: Config, results: List[GroupResult]) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ops = [o for o in ALL_OPS if any(g.key.op == o for g in results)]
    dtypes = [d for d in DTYPES if any(g.key.dtype == d for g in results)] or [NO_DTYPE]
    panels = {}
    for g in results:
        panels.setdefault((g.key.op, g.key.dtype), []).append(g)
    cols = _pivot_columns(cfg, results)
    ncols = max(2, len(dtypes))
    legend_rows = math.ceil(sum(1 for c in cols if any(_cell(g, c) for g in results))
                            * len({g.key.threads for g in results}) / 3)
    panel_h, top_in, bottom_in = 3.0, 0.9, 0.2 + 0.16 * legend_rows  # inches
    height = panel_h * len(ops) + top_in + bottom_in
    fig = Figure(figsize=(4.4 * ncols, height))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(ops), ncols, squeeze=False)
    palette = ["#222222", "#d62728", "#ff7f0e", "#bcbd22", "#8c564b", "#7f7f7f",
               "#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#e377c2", "#aec7e8",
               "#98df8a", "#c5b0d5"]
    # the columns of plain dropout keep their colours; the "alt" rows take the last ones
    ordered = [c for c in cols if c[0] != "alt"] + [c for c in cols if c[0] == "alt"]
    color = {c[2]: palette[i % len(palette)] for i, c in enumerate(ordered)}
    handles = {}
    for i, op in enumerate(ops):
        for j in range(ncols):
            ax = axes[i][j]
            d = dtypes[j] if j < len(dtypes) else None
            gs = panels.get((op, NO_DTYPE if op == "mask" else d))
            if (op == "mask" and j > 0) or not gs:
                ax.set_visible(False)
                continue
            for threads in sorted({g.key.threads for g in gs}, reverse=True):
                sel = sorted((g for g in gs if g.key.threads == threads), key=lambda g: g.key.n)
                for col in cols:
                    pts = [(g.key.n, _cell(g, col)) for g in sel]
                    pts = [(n, c.nbytes / c.best / 1e9) for n, c in pts if c is not None]
                    if not pts:
                        continue
                    style = "-" if threads == max(cfg.threads) else "--"
                    label = f"{col[2]}, {threads} thread{'s' if threads > 1 else ''}"
                    (ln,) = ax.plot([q[0] for q in pts], [q[1] for q in pts], style,
                                    marker="o", markersize=3, color=color[col[2]], label=label)
                    handles.setdefault(label, ln)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            title = op.replace("_", " + ") if op in OPS else op
            ax.set_title(title + ("" if op == "mask" else f", {d}"), fontsize=9)
            ax.set_xlabel("elements", fontsize=8)
            ax.set_ylabel("GB/s (read + written)", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(True, which="both", alpha=0.25)
    fig.legend(list(handles.values()), list(handles.keys()), loc="lower center",
               ncol=3, fontsize=7, frameon=False)
    fig.suptitle(f"pydropout throughput, p = {cfg.p}: solid {max(cfg.threads)} threads, "
                 "dashed fewer; copy = bandwidth ceiling", fontsize=10)
    fig.subplots_adjust(left=0.55 / (4.4 * ncols) * ncols * 0.9, right=0.98,
                        top=1 - top_in / height, bottom=(bottom_in + 0.45) / height,
                        hspace=0.55, wspace=0.28)
    fig.savefig(path, dpi=90)


def readme_md(cfg: Config, meta, results: List[GroupResult], targets: List[Target]) -> str:
    """What the README's performance section carries: GB/s of float32 with all threads
    (every operation measured), the targets, and the machine and command."""
    T = cfg.all_threads
    if not any(g.key.threads == T for g in results):
        T = max(g.key.threads for g in results)
    tables = pivot_tables(cfg, results, "GB/s",
                          only=lambda k: k.threads == T and k.dtype in ("float32", NO_DTYPE))
    return "\n".join([
        f"Measured on {meta['cpu']} ({meta['logical_cpus']} logical CPUs), "
        f"{meta['build'].get('compiler')}, `{meta['build'].get('flags')}`, "
        f"numpy {meta['versions']['numpy']}, torch {meta['versions']['torch']}, "
        f"jax {meta['versions']['jax']}, p = {cfg.p}, {meta['date']}, with",
        "",
        "```bash",
        " ".join([f"{k}={v}" for k, v in meta.get("env", {}).items() if v]
                 + ["python benchmarks/bench_dropout.py"] + list(cfg.argv)),
        "```",
        "",
        "GB/s counts bytes read + written (mask bytes included); the copy is "
        "`pydropout._core.copy`, a threaded memcpy of the same array with the same threads.",
        "",
        tables,
        "Issue 3's targets:",
        "",
        targets_table(targets),
        "",
    ])


# --------------------------------------------------------------------------------------
# main


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark; 0 on success, 1 if a correctness check failed, 2 if
    ``--require-targets`` and a measured target failed."""
    t0 = time.perf_counter()
    cfg = make_config(argv)
    keys = plan(cfg)
    if not keys:
        print("nothing to run: the filters select no group"
              + "".join(f"; {note}" for note in cfg.notes), file=sys.stderr)
        return 1
    if cfg.list_only:
        for k in keys:
            print(k.label())
        return 0
    import pydropout

    for note in cfg.notes:
        _progress(note)
    peers = Peers(cfg.peers, need_torch=any(k.op == "torch_fwd_bwd" for k in keys))
    saved_simd, saved_threads = _core.simd_level(), _core.get_num_threads()
    results: List[GroupResult] = []
    failures: List[str] = []
    meta = machine_info(cfg, peers)
    arrs: Optional[Arrays] = None
    try:
        # wake the thread pool and the clocks
        warm = np.ones(4 * MI, np.float32)
        warm_out = np.empty_like(warm)
        for _ in range(5):
            _core.copy(warm, warm_out)
        del warm, warm_out
        for i, key in enumerate(keys):
            adtype = "float32" if key.dtype == NO_DTYPE else key.dtype
            if arrs is None or (arrs.dtype, arrs.n) != (adtype, key.n):
                arrs = None
                gc.collect()
                arrs = Arrays(adtype, key.n, cfg.p)
            pydropout.set_num_threads(key.threads)
            if peers.torch is not None:
                peers.torch.set_num_threads(key.threads)
            cands = build_candidates(cfg, key, arrs, peers)
            info = run_group(cfg, key, cands)
            g = GroupResult(key, cands, info)
            results.append(g)
            for c in cands:
                if c.check_result.startswith("FAILED"):
                    failures.append(f"{key.label()} {c.label()}: {c.check_result}")
            ceil = g.ceiling()
            main_row = g.find("pydropout", cfg.default_level) or next(
                (c for c in cands if c.kind == "pydropout"), None)
            summary = ""
            if main_row is not None and ceil is not None:
                summary = (f"{main_row.best / key.n * 1e9:.3g} ns/elem, "
                           f"{main_row.best / ceil.best:.2f}x copy")
            _progress(f"[{i + 1}/{len(keys)}] {key.label()}: {summary} "
                      f"({info['rounds']} rounds, {info['seconds']:.1f} s of which "
                      f"{info['warmup_seconds']:.1f} s warm-up and checks)")
    finally:
        arrs = None
        _core._set_simd(saved_simd)
        _core.set_num_threads(saved_threads)
        peers.restore()
    meta["elapsed_s"] = time.perf_counter() - t0
    targets = evaluate_targets(cfg, results)
    peers_present = [p for p in PEERS if any(g.peer(p) for g in results)]

    header = header_md(meta)
    detail = detail_table(results, peers_present)
    pivots = pivot_tables(cfg, results, "GB/s")
    tgt = targets_table(targets)
    extras = extras_table(cfg, results)
    extras_md = ("## State backward, variants and pydropout.torch (issues 4 and 5)\n\n"
                 "`vs torch`, `vs NumPy`: that peer's time / the row's time (above 1: "
                 "pydropout is faster); for torch_fwd_bwd the peer is torch.nn.Dropout, "
                 "forward + backward.\n\n" + extras) if extras else ""
    check_md = ("All pydropout rows equal pydropout.reference bit for bit."
                if not failures else
                "**CORRECTNESS CHECKS FAILED** (a fast wrong kernel is a bug):\n\n"
                + "\n".join(f"- {f}" for f in failures))
    doc = "\n\n".join([
        "# pydropout benchmark", header,
        "## Targets (issue 3)", tgt,
        *([extras_md] if extras_md else []),
        "## Correctness", check_md,
        "## Throughput by size (GB/s: bytes read + written, mask bytes included)", pivots,
        "## Every row\n\n`x copy`: time / time of the threaded copy of the same array "
        "(the bandwidth ceiling). `vs X`: time of X / time of the row (above 1: pydropout "
        "is faster).", detail,
    ]) + "\n"

    os.makedirs(cfg.out, exist_ok=True)
    with open(os.path.join(cfg.out, "results.md"), "w") as f:
        f.write(doc)
    write_json(os.path.join(cfg.out, "results.json"), meta, results, targets, failures)
    with open(os.path.join(cfg.out, "readme.md"), "w") as f:
        f.write(readme_md(cfg, meta, results, targets))
    plot_note = ""
    if cfg.plot:
        try:
            write_plot(os.path.join(cfg.out, "throughput.png"), cfg, results)
        except ImportError:
            plot_note = " (no plot: matplotlib is not installed; pip install 'pydropout[bench]')"

    print("# pydropout benchmark\n")
    print(header + "\n")
    print(detail + "\n")
    print("## Targets (issue 3)\n")
    print(tgt + "\n")
    if extras_md:
        print(extras_md + "\n")
    print(check_md + "\n")
    print(f"Files: {os.path.join(cfg.out, '')}results.md, results.json, readme.md"
          + ("" if not cfg.plot or plot_note else ", throughput.png") + plot_note
          + f"; {meta['elapsed_s']:.0f} s in all.")
    if failures:
        return 1
    if cfg.require_targets and any(t.passed is False for t in targets):
        return 2
    return 0
