"""Which groups a run times, how many rounds, the bytes each row moves, and the slices a
check compares with the reference."""

from __future__ import annotations

import math
from typing import List, Tuple

from .config import Config
from .model import GroupKey
from .names import (
    CHANNEL_HW,
    DTYPES,
    EXTRA_DTYPES,
    EXTRA_OPS,
    EXTRA_SIZES,
    FULL_SIZES,
    KI,
    MI,
    NO_DTYPE,
    OPS,
)

CHECK_FULL = MI  # up to this size the whole output is compared; above it, slices
CHECK_SLICE = 64 * KI  # elements per compared slice (a multiple of 8: whole mask bytes)


def quick_plan(cfg: Config) -> List[GroupKey]:
    """What the performance goals need: among them the mask alone (the cost of the words,
    the floor under the forward) and the mask-free backward beside the copy."""
    T = cfg.all_threads
    raw = [
        ("forward", "float32", KI, T),
        ("forward", "float32", MI, 1),
        ("forward", "float32", MI, T),
        ("mask", NO_DTYPE, MI, 1),
        ("mask", NO_DTYPE, 16 * MI, T),
    ]
    # the floor's cases (goals.floor_cases): float16, and every dtype at the AVX2 level
    raw += [("forward", d, MI, 1) for d in ("float16", "float64")]
    raw += [("forward", d, 16 * MI, T) for d in ("float16", "float32", "float64")]
    raw += [("forward_mask", d, 16 * MI, T) for d in DTYPES]
    raw += [("backward", d, 16 * MI, T) for d in DTYPES]
    raw += [("backward_state", "float32", 16 * MI, T)]
    keys = [GroupKey(*r) for r in raw]
    return [
        k
        for k in keys
        if k.op in cfg.ops
        and (k.dtype == NO_DTYPE or k.dtype in cfg.dtypes)
        and (cfg.sizes is None or k.n in cfg.sizes)
        and k.threads in cfg.threads
    ]


def plan(cfg: Config) -> List[GroupKey]:
    if cfg.quick:
        return quick_plan(cfg)
    keys: List[GroupKey] = []
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


def op_bytes(op: str, n: int, itemsize: int) -> int:
    """Bytes read + written by one call: what a fused pass must move."""
    mb = (n + 7) // 8
    if op == "mask":
        return mb
    if op in ("forward", "backward_state", "alpha", "gaussian", "channel"):
        return 2 * n * itemsize  # read x, write y
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


def channel_regions(regions: List[Tuple[int, int]], n: int) -> List[Tuple[int, int]]:
    """The check regions widened to whole channels (the reference draws per channel)."""
    _, _, h, w = channel_shape(n)
    hw = h * w
    return sorted({(a // hw * hw, min(n, -(-b // hw) * hw)) for a, b in regions})
