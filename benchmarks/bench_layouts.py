"""Permuted layouts (channels_last, Fortran order, a 3-D permutation) vs C order of the same
logical tensor, forward, backward from a mask and dropout2d (the contract's section 5).

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
    xf = np.asfortranarray(x)
    # a 3-D permutation: memory order (1, 2, 0) of the same elements as (A, B, C)
    x3 = x.reshape(shape[0] * shape[1], shape[2], shape[3])
    x3p = np.ascontiguousarray(x3.transpose(1, 2, 0)).transpose(2, 0, 1)
    g = pydropout.Generator(1)
    _, mask = pydropout.dropout_with_mask(x, 0.5, generator=g)
    cands = {
        "numpy C order": lambda: pydropout.dropout(x, 0.5, generator=g),
        "numpy channels_last": lambda: pydropout.dropout(xcl, 0.5, generator=g),
        "numpy Fortran order": lambda: pydropout.dropout(xf, 0.5, generator=g),
        "numpy 3-D C order": lambda: pydropout.dropout(x3, 0.5, generator=g),
        "numpy 3-D permuted": lambda: pydropout.dropout(x3p, 0.5, generator=g),
        "numpy with_mask C order": lambda: pydropout.dropout_with_mask(x, 0.5, generator=g),
        "numpy with_mask channels_last": lambda: pydropout.dropout_with_mask(xcl, 0.5, generator=g),
        "numpy backward C order": lambda: pydropout.dropout_backward(x, mask, 0.5),
        "numpy backward channels_last": lambda: pydropout.dropout_backward(xcl, mask, 0.5),
        "numpy backward Fortran order": lambda: pydropout.dropout_backward(xf, mask, 0.5),
        "numpy dropout2d C order": lambda: pydropout.dropout2d(x, 0.5, generator=g),
        "numpy dropout2d channels_last": lambda: pydropout.dropout2d(xcl, 0.5, generator=g),
    }
    pairs = [
        ("numpy channels_last / C order", "numpy channels_last", "numpy C order"),
        ("numpy Fortran order / C order", "numpy Fortran order", "numpy C order"),
        ("numpy 3-D permuted / C order", "numpy 3-D permuted", "numpy 3-D C order"),
        (
            "with_mask channels_last / C order",
            "numpy with_mask channels_last",
            "numpy with_mask C order",
        ),
        (
            "backward channels_last / C order",
            "numpy backward channels_last",
            "numpy backward C order",
        ),
        ("backward Fortran / C order", "numpy backward Fortran order", "numpy backward C order"),
        (
            "dropout2d channels_last / C order",
            "numpy dropout2d channels_last",
            "numpy dropout2d C order",
        ),
    ]
    try:
        import torch

        import pydropout.torch as pdt

        torch.set_num_threads(args.threads)
        tx = torch.from_numpy(x)
        tcl = tx.contiguous(memory_format=torch.channels_last)
        keep = torch.from_numpy(np.unpackbits(mask, bitorder="little")[: x.size].reshape(shape))
        keep_cl = keep.bool().contiguous(memory_format=torch.channels_last)
        bwd = torch.ops.aten.native_dropout_backward
        cands.update(
            {
                "pdt contiguous": lambda: pdt.dropout(tx, 0.5, generator=g),
                "pdt channels_last": lambda: pdt.dropout(tcl, 0.5, generator=g),
                "torch F.dropout channels_last": lambda: torch.nn.functional.dropout(tcl, 0.5),
                "pdt dropout2d contiguous": lambda: pdt.dropout2d(tx, 0.5, generator=g),
                "pdt dropout2d channels_last": lambda: pdt.dropout2d(tcl, 0.5, generator=g),
                "torch F.dropout2d channels_last": lambda: torch.nn.functional.dropout2d(tcl, 0.5),
                "torch F.dropout contiguous": lambda: torch.nn.functional.dropout(tx, 0.5),
                "torch backward channels_last": lambda: bwd(tcl, keep_cl, 2.0),
            }
        )
        pairs += [
            ("pdt channels_last / contiguous", "pdt channels_last", "pdt contiguous"),
            (
                "pdt dropout2d channels_last / contiguous",
                "pdt dropout2d channels_last",
                "pdt dropout2d contiguous",
            ),
            (
                "pdt channels_last / torch (same)",
                "pdt channels_last",
                "torch F.dropout channels_last",
            ),
            (
                "numpy channels_last / torch (same)",
                "numpy channels_last",
                "torch F.dropout channels_last",
            ),
            (
                "pdt dropout2d cl / torch (same)",
                "pdt dropout2d channels_last",
                "torch F.dropout2d channels_last",
            ),
            (
                "backward cl / torch's (same)",
                "numpy backward channels_last",
                "torch backward channels_last",
            ),
        ]
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
    for label, a, b in pairs:
        print(f"{label + ':':42s} {best[a] / best[b]:.2f}")


if __name__ == "__main__":
    main()
