"""DropBlock2d against torchvision's composition of torch calls and plain dropout.

    python benchmarks/bench_dropblock.py [--shape 32 64 56 56] [--block 7] [--p 0.1]
                                         [--threads 1 2] [--rounds 7] [--min-time 0.2]

Rows, one per thread count, all candidates timed in interleaved rounds (the minimum over
rounds of the mean over an inner loop of at least --min-time seconds):

- ``pydropout.DropBlock2d`` forward on the float32 NumPy array (output and packed mask);
- ``pydropout`` DropBlock2d for torch (``pydropout._torch_dropblock``) on the same tensor;
- torchvision's ``drop_block2d`` as ``torchvision/ops/drop_block.py`` composes it: a
  Bernoulli(gamma) seed tensor, ``F.pad``, ``F.max_pool2d``, ``1 - noise``, ``sum`` and two
  multiplies (re-expressed here in torch calls: the torchvision wheel's operators do not
  load with this CPU build of torch);
- ``pydropout.dropout`` of the same array with the same p (the bandwidth reference).

Ratios are printed against torchvision's composition, from the same run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

import pydropout
from pydropout._torch_dropblock import DropBlock2d as TorchDropBlock2d


def torchvision_composition(x: torch.Tensor, p: float, block_size: int, eps: float = 1e-6):
    """torchvision/ops/drop_block.py's drop_block2d (training, not inplace), as torch calls."""
    n, c, h, w = x.size()
    gamma = (p * h * w) / ((block_size**2) * ((h - block_size + 1) * (w - block_size + 1)))
    noise = torch.empty((n, c, h - block_size + 1, w - block_size + 1), dtype=x.dtype)
    noise.bernoulli_(gamma)
    noise = F.pad(noise, [block_size // 2] * 4, value=0)
    noise = F.max_pool2d(
        noise, stride=(1, 1), kernel_size=(block_size, block_size), padding=block_size // 2
    )
    noise = 1 - noise
    normalize_scale = noise.numel() / (eps + noise.sum())
    return x * noise * normalize_scale


def _mean_time(fn, min_time: float) -> float:
    fn()
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_time:
            return dt / number
        number = max(number * 2, int(number * min_time / max(dt, 1e-9)) + 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", type=int, nargs=4, default=[32, 64, 56, 56])
    ap.add_argument("--block", type=int, default=7)
    ap.add_argument("--p", type=float, default=0.1)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=0.2)
    args = ap.parse_args()

    x = np.random.default_rng(0).standard_normal(args.shape).astype(np.float32)
    xt = torch.from_numpy(x)
    layer = pydropout.DropBlock2d(args.p, args.block, generator=pydropout.Generator(1))
    tlayer = TorchDropBlock2d(args.p, args.block, generator=pydropout.Generator(1))
    cands = {
        "pydropout.DropBlock2d (numpy)": lambda: layer(x),
        "pydropout DropBlock2d (torch)": lambda: tlayer(xt),
        "torchvision composition": lambda: torchvision_composition(xt, args.p, args.block),
        "pydropout.dropout (same p)": lambda: pydropout.dropout(x, args.p),
    }
    print(
        f"DropBlock2d {tuple(args.shape)} float32, block_size={args.block}, p={args.p}; "
        f"SIMD {pydropout.simd_level()}; torch {torch.__version__}"
    )
    for threads in args.threads:
        pydropout.set_num_threads(threads)
        torch.set_num_threads(threads)
        best = {k: float("inf") for k in cands}
        with torch.no_grad():
            for _ in range(args.rounds):
                for name, fn in cands.items():
                    t = _mean_time(fn, args.min_time)
                    best[name] = min(best[name], t)
                    # let torch's (and our) OpenMP workers stop spinning before the next
                    time.sleep(max(0.05, 0.2 * t))
        ref = best["torchvision composition"]
        print(f"threads={threads}")
        for name, t in best.items():
            print(f"  {name:32s} {t * 1e3:9.2f} ms   torchvision / this = {ref / t:7.1f}")


if __name__ == "__main__":
    main()
