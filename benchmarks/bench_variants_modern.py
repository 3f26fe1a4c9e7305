"""Benchmark drop_path, zoneout and gaussian_noise against what a user would otherwise call.

    python benchmarks/bench_variants_modern.py                 # 1 Mi and 16 Mi float32, 1 and 2 threads
    python benchmarks/bench_variants_modern.py --sizes 1 --threads 1 --rounds 3

Rows (float32, ``N = 256`` samples for drop_path):

* drop_path: ``pydropout.drop_path`` vs timm's composition
  ``x * x.new_empty((N, 1, ...)).bernoulli_(keep).div_(keep)`` and vs plain
  ``pydropout.dropout`` of the same array (DropPath should run at plain-dropout speed);
* zoneout: ``pydropout.zoneout`` vs ``np.where(rng.random(n) < p, prev, new)`` and
  ``torch.where(torch.rand_like(prev) < p, prev, new)``;
* gaussian_noise: ``pydropout.gaussian_noise`` vs ``x + stddev * rng.standard_normal(n)``
  (float32) and ``x + stddev * torch.randn_like(x)``.

Each candidate runs in interleaved rounds (every candidate once per round, in turn) and the
best of ``--reps`` calls in each round, the minimum over rounds, is reported, with ratios
``peer / pydropout`` (> 1: pydropout is faster). After each torch timing the script waits
``--pause`` seconds: torch's OpenMP workers keep spinning for a while after a call and would
slow whatever runs next on a shared machine.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable, Dict, List, Tuple

import numpy as np

import pydropout as pd

try:
    import torch
except ImportError:  # the torch rows are left out
    torch = None


def best(fn: Callable[[], object], reps: int) -> float:
    t = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def candidates(n: int) -> Dict[str, List[Tuple[str, Callable[[], object], bool]]]:
    """Per operator: (name, call, is_torch); the first entry is pydropout's."""
    rows = 256
    shape = (rows, n // rows)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    other = rng.standard_normal(shape, dtype=np.float32)
    g = pd.Generator(1)
    p, keep, stddev = 0.1, 0.9, 0.5
    out: Dict[str, List[Tuple[str, Callable[[], object], bool]]] = {
        "drop_path": [
            ("pydropout.drop_path", lambda: pd.drop_path(x, p, generator=g), False),
            ("pydropout.dropout", lambda: pd.dropout(x, p, generator=g), False),
        ],
        "zoneout": [
            ("pydropout.zoneout", lambda: pd.zoneout(x, other, p, generator=g), False),
            (
                "numpy where(random < p)",
                lambda: np.where(rng.random(shape, np.float32) < p, x, other),
                False,
            ),
        ],
        "gaussian_noise": [
            ("pydropout.gaussian_noise", lambda: pd.gaussian_noise(x, stddev, generator=g), False),
            (
                "numpy x + s * normal",
                lambda: x + np.float32(stddev) * rng.standard_normal(shape, dtype=np.float32),
                False,
            ),
        ],
    }
    if torch is not None:
        tx, tother = torch.from_numpy(x), torch.from_numpy(other)

        def timm_drop_path() -> object:
            mask = tx.new_empty((rows, 1)).bernoulli_(keep).div_(keep)
            return tx * mask

        out["drop_path"].append(("timm composition", timm_drop_path, True))
        out["zoneout"].append(
            (
                "torch where(rand < p)",
                lambda: torch.where(torch.rand_like(tx) < p, tx, tother),
                True,
            )
        )
        out["gaussian_noise"].append(
            ("torch x + s * randn", lambda: tx + stddev * torch.randn_like(tx), True)
        )
    return out


def run(n: int, threads: int, rounds: int, reps: int, pause: float) -> None:
    pd.set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)
    for op, cands in candidates(n).items():
        times = {name: float("inf") for name, _, _ in cands}
        for _ in range(rounds):
            for name, fn, is_torch in cands:
                fn()  # warm
                times[name] = min(times[name], best(fn, reps))
                if is_torch:
                    time.sleep(pause)
        ours = cands[0][0]
        for name, _, _ in cands:
            ratio = times[name] / times[ours]
            print(
                f"{op:15s} {n // 2**20:3d} Mi  {threads} thr  {name:26s} "
                f"{times[name] * 1e3:8.3f} ms   x{ratio:5.2f}"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 16], help="Mi elements")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--pause", type=float, default=1.0, help="seconds after a torch timing")
    a = ap.parse_args()
    print(
        f"pydropout {pd.__version__}, SIMD {pd.simd_level()}, torch "
        f"{torch.__version__ if torch is not None else 'absent'}; float32; "
        "x = peer time / pydropout time (first row of each block is the reference)"
    )
    for size in a.sizes:
        for threads in a.threads:
            run(size * 2**20, threads, a.rounds, a.reps, a.pause)


if __name__ == "__main__":
    main()
