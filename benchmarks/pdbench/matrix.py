"""The "no peer wins anywhere" matrix: every public operator, forward and backward, at
1 Ki, 64 Ki, 1 Mi and 16 Mi float32 elements with 1 and 2 threads, against the best peer
for it (torch's own operator or composition, and the NumPy composition).

Each cell times pydropout and its peers in interleaved rounds (every candidate once per
round, so a noisy machine slows them alike); a time is the minimum over the rounds of the
mean of a batch sized to about ``budget`` seconds. Inputs are ``(N, C, H, W)`` arrays (the
channel operators need the layout; the others see the same bytes).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

import pydropout

KI, MI = 1 << 10, 1 << 20
SIZES = {
    "1Ki": (2, 8, 8, 8),
    "64Ki": (4, 16, 32, 32),
    "1Mi": (16, 64, 32, 32),
    "16Mi": (64, 256, 32, 32),
}
P = 0.5
SIGMA = math.sqrt(P / (1 - P))
ALPHA = 1.7580993408473766

Fn = Callable[[], Any]
# Seconds of rest before each batch: an OpenMP pool (torch's, or pydropout's) keeps its
# threads spinning for a while after a call, and on 2 cores they would take the CPU the next
# candidate's second thread needs.
SETTLE = 0.02


@dataclass
class Cell:
    op: str
    size: str
    threads: int
    times: Dict[str, float] = field(default_factory=dict)  # candidate -> seconds per call

    @property
    def ours(self) -> float:
        return self.times["pydropout"]

    def best_peer(self) -> Tuple[Optional[str], float]:
        peers = {k: v for k, v in self.times.items() if k != "pydropout"}
        if not peers:
            return None, math.inf
        k = min(peers, key=peers.__getitem__)
        return k, peers[k]

    @property
    def speedup(self) -> float:
        """best peer's time / pydropout's (above 1: pydropout is faster)."""
        return self.best_peer()[1] / self.ours


def _batch(f: Fn, budget: float) -> int:
    f()
    t0 = time.perf_counter()
    f()
    return max(1, int(budget / max(time.perf_counter() - t0, 1e-7)))


def interleaved(cands: Dict[str, Fn], rounds: int, budget: float) -> Dict[str, float]:
    """{name: seconds per call}, min over `rounds` interleaved rounds of a batch mean."""
    batch = {k: _batch(f, budget) for k, f in cands.items()}
    best = {k: math.inf for k in cands}
    for _ in range(rounds):
        for k, f in cands.items():
            b = batch[k]
            time.sleep(SETTLE)
            f()  # untimed: the first call after a rest finds cold caches and idle cores
            t0 = time.perf_counter()
            for _ in range(b):
                f()
            best[k] = min(best[k], (time.perf_counter() - t0) / b)
    return best


def _alpha_consts() -> Tuple[np.float32, np.float32, np.float32]:
    a = 1.0 / math.sqrt((ALPHA * ALPHA * P + 1.0) * (1.0 - P))
    b = ALPHA * a * P
    return np.float32(a), np.float32(b), np.float32(b - ALPHA * a)


def candidates(op: str, shape: Tuple[int, ...], torch: Any) -> Dict[str, Fn]:
    """pydropout's call and its peers for one operator on float32 arrays of `shape`."""
    pd = pydropout
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    n = x.size
    y = np.empty_like(x)
    g = pd.Generator(1)
    s = np.float32(1 / (1 - P))
    a, b, c = _alpha_consts()
    x3 = x.reshape(shape[0], shape[1], -1)
    x5 = x.reshape(shape[0], shape[1], 2, shape[2] // 2, shape[3])
    cl = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    _, mask = pd.dropout_with_mask(x, P, generator=g)
    _, state = pd.dropout_with_state(x, P, generator=g)
    _, amask = pd.alpha_dropout_with_mask(x, P, generator=g)
    _, astate = pd.alpha_dropout_with_state(x, P, generator=g)
    _, gstate = pd.gaussian_dropout_with_state(x, P, generator=g)
    keep = np.unpackbits(mask, count=n, bitorder="little").view(bool).reshape(shape)

    def np_keep(sh: Tuple[int, ...] = shape) -> np.ndarray:
        return rng.random(sh, dtype=np.float32) >= P

    ours: Dict[str, Fn] = {
        "dropout": lambda: pd.dropout(x, P, generator=g),
        "dropout(out=)": lambda: pd.dropout(x, P, generator=g, out=y),
        "dropout(inplace)": lambda: pd.dropout(y, P, True, True, generator=g),
        "dropout(downscale)": lambda: pd.dropout(x, P, mode="downscale_in_infer", generator=g),
        "dropout_with_mask": lambda: pd.dropout_with_mask(x, P, generator=g),
        "dropout_with_state": lambda: pd.dropout_with_state(x, P, generator=g),
        "dropout_backward(mask)": lambda: pd.dropout_backward(x, mask, P),
        "dropout_backward(state)": lambda: pd.dropout_backward(x, state, P),
        "dropout_mask": lambda: pd.dropout_mask(shape, P, generator=g),
        "dropout_block": lambda: pd.dropout_block(
            x, P, full_shape=shape, origin=(0, 0, 0, 0), seed=1
        ),
        "dropout_block_mask": lambda: pd.dropout_block_mask(
            shape, P, full_shape=shape, origin=(0, 0, 0, 0), seed=1
        ),
        "dropout1d": lambda: pd.dropout1d(x3, P, generator=g),
        "dropout2d": lambda: pd.dropout2d(x, P, generator=g),
        "dropout2d(channels_last)": lambda: pd.dropout2d(cl, P, channels_last=True, generator=g),
        "dropout3d": lambda: pd.dropout3d(x5, P, generator=g),
        "alpha_dropout": lambda: pd.alpha_dropout(x, P, True, generator=g),
        "feature_alpha_dropout": lambda: pd.feature_alpha_dropout(x, P, True, generator=g),
        "alpha_dropout_with_mask": lambda: pd.alpha_dropout_with_mask(x, P, generator=g),
        "alpha_dropout_with_state": lambda: pd.alpha_dropout_with_state(x, P, generator=g),
        "alpha_dropout_backward(mask)": lambda: pd.alpha_dropout_backward(x, amask, P),
        "alpha_dropout_backward(state)": lambda: pd.alpha_dropout_backward(x, astate, P),
        "gaussian_dropout": lambda: pd.gaussian_dropout(x, P, generator=g),
        "gaussian_dropout_with_state": lambda: pd.gaussian_dropout_with_state(x, P, generator=g),
        "gaussian_dropout_backward": lambda: pd.gaussian_dropout_backward(x, gstate, P),
    }
    cands: Dict[str, Fn] = {"pydropout": ours[op]}

    # the NumPy compositions (float32 draws, as a careful NumPy user writes them)
    def np_dropout() -> Any:
        return np.where(np_keep(), x * s, np.float32(0))

    def np_mask() -> Any:
        k = np_keep()
        return np.where(k, x * s, np.float32(0)), np.packbits(k, bitorder="little")

    def np_backward() -> Any:
        k = np.unpackbits(mask, count=n, bitorder="little").view(bool).reshape(shape)
        return np.where(k, x * s, np.float32(0))

    def np_channel(xx: np.ndarray, noise: Tuple[int, ...]) -> Fn:
        return lambda: xx * (np_keep(noise) * s)

    def np_alpha(noise: Tuple[int, ...] = shape) -> Fn:
        return lambda: np.where(np_keep(noise), x * a + b, c)

    def np_gauss() -> Any:
        return x * (np.float32(1) + np.float32(SIGMA) * rng.standard_normal(shape, np.float32))

    def np_inplace() -> Any:  # y grows by 1 / (1 - p) a call: inf after enough rounds
        with np.errstate(over="ignore", invalid="ignore"):
            return np.multiply(y, np_keep() * s, out=y)

    nc = (shape[0], shape[1])
    numpy_peer: Dict[str, Fn] = {
        "dropout": np_dropout,
        "dropout(out=)": lambda: np.multiply(np_keep(), x * s, out=y),
        "dropout(inplace)": np_inplace,
        "dropout(downscale)": lambda: np.where(np_keep(), x, np.float32(0)),
        "dropout_with_mask": np_mask,
        "dropout_with_state": np_dropout,
        "dropout_backward(mask)": np_backward,
        "dropout_backward(state)": np_backward,
        "dropout_mask": lambda: np.packbits(np_keep(), bitorder="little"),
        "dropout_block": np_dropout,
        "dropout_block_mask": lambda: np.packbits(np_keep(), bitorder="little"),
        "dropout1d": np_channel(x3, nc + (1,)),
        "dropout2d": np_channel(x, nc + (1, 1)),
        "dropout2d(channels_last)": np_channel(cl, (shape[0], 1, 1, shape[1])),
        "dropout3d": np_channel(x5, nc + (1, 1, 1)),
        "alpha_dropout": np_alpha(),
        "feature_alpha_dropout": np_alpha(nc + (1, 1)),
        "alpha_dropout_with_mask": np_alpha(),
        "alpha_dropout_with_state": np_alpha(),
        "alpha_dropout_backward(mask)": lambda: np.where(keep, x * a, np.float32(0)),
        "alpha_dropout_backward(state)": lambda: np.where(keep, x * a, np.float32(0)),
        "gaussian_dropout": np_gauss,
        "gaussian_dropout_with_state": np_gauss,
        "gaussian_dropout_backward": np_gauss,
    }
    cands["numpy"] = numpy_peer[op]
    if torch is not None:
        F = torch.nn.functional
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        x3t, x5t = torch.from_numpy(x3), torch.from_numpy(x5)
        clt = torch.from_numpy(cl).permute(0, 3, 1, 2)  # channels_last memory, NCHW view
        mt = torch.from_numpy(keep)
        ts = float(s)
        tgauss = lambda: xt * (1 + SIGMA * torch.randn_like(xt))  # noqa: E731
        torch_peer: Dict[str, Fn] = {
            "dropout": lambda: F.dropout(xt, P),
            "dropout(out=)": lambda: F.dropout(xt, P),
            "dropout(inplace)": lambda: F.dropout(yt, P, inplace=True),
            "dropout(downscale)": lambda: F.dropout(xt, P),
            "dropout_with_mask": lambda: torch.native_dropout(xt, P, True),
            "dropout_with_state": lambda: torch.native_dropout(xt, P, True),
            "dropout_backward(mask)": lambda: torch.ops.aten.native_dropout_backward(xt, mt, ts),
            "dropout_backward(state)": lambda: torch.ops.aten.native_dropout_backward(xt, mt, ts),
            "dropout_mask": lambda: torch.empty(shape, dtype=torch.bool).bernoulli_(1 - P),
            "dropout_block": lambda: F.dropout(xt, P),
            "dropout_block_mask": lambda: torch.empty(shape, dtype=torch.bool).bernoulli_(1 - P),
            "dropout1d": lambda: F.dropout1d(x3t, P),
            "dropout2d": lambda: F.dropout2d(xt, P),
            "dropout2d(channels_last)": lambda: F.dropout2d(clt, P),
            "dropout3d": lambda: F.dropout3d(x5t, P),
            "alpha_dropout": lambda: F.alpha_dropout(xt, P, True),
            "feature_alpha_dropout": lambda: F.feature_alpha_dropout(xt, P, True),
            "alpha_dropout_with_mask": lambda: F.alpha_dropout(xt, P, True),
            "alpha_dropout_with_state": lambda: F.alpha_dropout(xt, P, True),
            "alpha_dropout_backward(mask)": lambda: xt * mt * float(a),
            "alpha_dropout_backward(state)": lambda: xt * mt * float(a),
            "gaussian_dropout": tgauss,
            "gaussian_dropout_with_state": tgauss,
            "gaussian_dropout_backward": tgauss,
        }
        cands["torch"] = torch_peer[op]
    return cands


OPS = (
    "dropout",
    "dropout(out=)",
    "dropout(inplace)",
    "dropout(downscale)",
    "dropout_with_mask",
    "dropout_with_state",
    "dropout_backward(mask)",
    "dropout_backward(state)",
    "dropout_mask",
    "dropout_block",
    "dropout_block_mask",
    "dropout1d",
    "dropout2d",
    "dropout2d(channels_last)",
    "dropout3d",
    "alpha_dropout",
    "feature_alpha_dropout",
    "alpha_dropout_with_mask",
    "alpha_dropout_with_state",
    "alpha_dropout_backward(mask)",
    "alpha_dropout_backward(state)",
    "gaussian_dropout",
    "gaussian_dropout_with_state",
    "gaussian_dropout_backward",
)


def set_threads(n: int, torch: Any) -> None:
    pydropout.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)


def run_matrix(
    torch: Any,
    ops=OPS,
    sizes=tuple(SIZES),
    threads=(1, 2),
    rounds: int = 5,
    budget: float = 0.01,
    log: Callable[[str], None] = print,
) -> List[Cell]:
    cells = []
    for size in sizes:
        for op in ops:
            cands = candidates(op, SIZES[size], torch)
            for nt in threads:
                set_threads(nt, torch)
                cell = Cell(op, size, nt, interleaved(cands, rounds, budget))
                cells.append(cell)
                peer, t = cell.best_peer()
                flag = "  <-- a peer is faster" if t < cell.ours else ""
                log(
                    f"{op:30s} {size:>5s} {nt}t  pydropout {cell.ours * 1e6:10.1f} us  "
                    f"best peer {peer} {t * 1e6:10.1f} us  x{cell.speedup:6.2f}{flag}"
                )
    return cells
