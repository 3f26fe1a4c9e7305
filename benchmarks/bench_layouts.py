"""channels_last vs contiguous forward of the same logical tensor (the contract's section 5 layouts).

    python benchmarks/bench_layouts.py [--threads 2] [--reps 15]

Interleaves the candidates, reports the min over reps and the ratios in one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--shape", default="16,64,128,128", help="N,C,H,W (16 Mi elements)")
    args = ap.parse_args()
    import pydropout

    pydropout.set_num_threads(args.threads)
    shape = tuple(int(s) for s in args.shape.split(","))
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    xcl = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)  # channels_last
    g = pydropout.Generator(1)
    cands = {
        "numpy C order": lambda: pydropout.dropout(x, 0.5, generator=g),
        "numpy channels_last": lambda: pydropout.dropout(xcl, 0.5, generator=g),
    }
    try:
        import torch

        import pydropout.torch as pdt

        torch.set_num_threads(args.threads)
        tx = torch.from_numpy(x)
        tcl = tx.contiguous(memory_format=torch.channels_last)
        cands.update(
            {
                "pdt contiguous": lambda: pdt.dropout(tx, 0.5, generator=g),
                "pdt channels_last": lambda: pdt.dropout(tcl, 0.5, generator=g),
                "torch F.dropout channels_last": lambda: torch.nn.functional.dropout(tcl, 0.5),
                "pdt dropout2d contiguous": lambda: pdt.dropout2d(tx, 0.5, generator=g),
                "pdt dropout2d channels_last": lambda: pdt.dropout2d(tcl, 0.5, generator=g),
                "torch F.dropout2d channels_last": lambda: torch.nn.functional.dropout2d(tcl, 0.5),
                "torch F.dropout contiguous": lambda: torch.nn.functional.dropout(tx, 0.5),
            }
        )
        assert pdt.dropout(tcl, 0.5).is_contiguous(memory_format=torch.channels_last)
    except ImportError:
        pass
    best = {k: float("inf") for k in cands}
    for f in cands.values():
        f()
    for _ in range(args.reps):
        for k, f in cands.items():
            t0 = time.perf_counter()
            f()
            best[k] = min(best[k], time.perf_counter() - t0)
    print(f"shape {shape} float32, {args.threads} threads, min of {args.reps} interleaved reps")
    for k, v in best.items():
        print(f"  {k:32s} {v * 1e3:8.2f} ms")
    print(
        f"numpy channels_last / C order:    {best['numpy channels_last'] / best['numpy C order']:.2f}"
    )
    if "pdt channels_last" in best:
        print(
            f"pdt channels_last / contiguous:   "
            f"{best['pdt channels_last'] / best['pdt contiguous']:.2f}"
        )
        print(
            f"pdt dropout2d channels_last / contiguous: "
            f"{best['pdt dropout2d channels_last'] / best['pdt dropout2d contiguous']:.2f}"
        )
        print(
            f"pdt channels_last / torch (same): "
            f"{best['pdt channels_last'] / best['torch F.dropout channels_last']:.2f}"
        )


if __name__ == "__main__":
    main()
