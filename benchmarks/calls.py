"""Time the public calls whose cost the fast paths set, with their peers, in one process.

    PYTHONPATH=DIR python benchmarks/calls.py [--rows out,channel,planes,alpha,gaussian]
                                            [--reps 7]

Run it once with the package to compare on PYTHONPATH (e.g. a copy of main's) and once
without, alternating, and compare the ratios. Each time is the minimum over `reps` rounds of
the mean of a batch of calls; the candidates of a row are interleaved round by round, so a
noisy machine slows them alike. Prints one line per row: the time of each candidate.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import pydropout

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the torch rows are left out
    torch = None

KI, MI = 1 << 10, 1 << 20
RNG = np.random.default_rng(0)


def best(cands, reps, budget=0.02):
    """{name: seconds per call}: interleaved rounds, each a batch sized to ~budget seconds."""
    batch = {}
    for name, f in cands.items():
        f()
        t0 = time.perf_counter()
        f()
        dt = max(time.perf_counter() - t0, 1e-7)
        batch[name] = max(1, int(budget / dt))
    res = {k: float("inf") for k in cands}
    for _ in range(reps):
        for name, f in cands.items():
            k = batch[name]
            time.sleep(0.02)  # let a spinning OpenMP pool (torch's, ours) go idle
            t0 = time.perf_counter()
            for _ in range(k):
                f()
            res[name] = min(res[name], (time.perf_counter() - t0) / k)
    return res


def show(title, res, base=None):
    ref = res[base] if base else None
    cells = []
    for k, v in res.items():
        s = f"{k} {v * 1e6:9.1f} us" if v >= 1e-4 else f"{k} {v * 1e6:7.2f} us"
        if ref:
            s += f" ({v / ref:.2f}x)"
        cells.append(s)
    print(f"{title:28s} | " + " | ".join(cells), flush=True)


def threads(n):
    pydropout.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)


def rows_out(reps):
    threads(1)
    x = RNG.random(KI).astype(np.float32)
    y = np.empty_like(x)
    g = pydropout.Generator(1)
    m = pydropout.dropout_with_mask(x, 0.5, generator=g)[1]
    res = best(
        {
            "alloc": lambda: pydropout.dropout(x, 0.5, generator=g),
            "out=": lambda: pydropout.dropout(x, 0.5, generator=g, out=y),
            "inplace": lambda: pydropout.dropout(y, 0.5, True, True, generator=g),
            "downscale": lambda: pydropout.dropout(x, 0.5, mode="downscale_in_infer", generator=g),
            "mask,out=": lambda: pydropout.dropout_with_mask(x, 0.5, generator=g, out=y),
            "bwd,out=": lambda: pydropout.dropout_backward(x, m, 0.5, out=y),
            "bwd": lambda: pydropout.dropout_backward(x, m, 0.5),
            "np.multiply": lambda: np.multiply(x, 2.0, out=y),
        },
        reps,
    )
    show("1Ki float32", res, "alloc")


SHAPES = {
    "1Mi": (16, 64, 32, 32),
    "16Mi": (64, 256, 32, 32),
    "64Ki": (4, 16, 32, 32),
    "64Mi": (64, 256, 64, 64),
}


def rows_channel(reps):
    for size in ("64Ki", "1Mi", "16Mi", "64Mi"):
        x = RNG.random(SHAPES[size]).astype(np.float32)
        xt = torch.from_numpy(x) if torch is not None else None
        g = pydropout.Generator(1)
        y = np.empty_like(x)
        for nt in (1, 2):
            threads(nt)
            c = {
                "dropout2d": lambda: pydropout.dropout2d(x, 0.5, generator=g),
                "cl": lambda: pydropout.dropout2d(x, 0.5, channels_last=True, generator=g),
                "dropout": lambda: pydropout.dropout(x, 0.5, generator=g),
                "copy": lambda: pydropout._core.copy(x, y),
            }
            if xt is not None:
                c["torch2d"] = lambda: F.dropout2d(xt, 0.5)
            show(f"channel {size} {nt}t", best(c, reps), "copy")


# channel dropout over small planes (runs of one noise bit shorter than a SIMD window): 64 Ki
# and 1 Mi elements, channels first and channels last, beside torch's function of that rank
PLANES = {
    "1d L=4": ((128, 128, 4), "dropout1d"),
    "1d L=16": ((256, 16, 16), "dropout1d"),
    "2d 4x4": ((64, 64, 4, 4), "dropout2d"),
    "3d 2x2x4": ((32, 128, 2, 2, 4), "dropout3d"),
}


def rows_planes(reps):
    for label, (shape, fn) in PLANES.items():
        for scale in (1, 16):  # 64 Ki and 1 Mi elements: a larger batch
            shp = (shape[0] * scale, *shape[1:])
            x = RNG.random(shp).astype(np.float32)
            xt = torch.from_numpy(x) if torch is not None else None
            g = pydropout.Generator(1)
            f = getattr(pydropout, fn)
            y = np.empty_like(x)
            for nt in (1, 2):
                threads(nt)
                c = {
                    fn: lambda: f(x, 0.5, generator=g),
                    "cl": lambda: f(x, 0.5, channels_last=True, generator=g),
                    "copy": lambda: pydropout._core.copy(x, y),
                }
                if xt is not None:
                    tf = getattr(F, fn)
                    c["torch"] = lambda: tf(xt, 0.5)
                size = "64Ki" if scale == 1 else "1Mi"
                show(f"planes {label} {size} {nt}t", best(c, reps), fn)


def rows_alpha(reps):
    for size, nt in (("1Mi", 1), ("16Mi", 2)):
        threads(nt)
        x = RNG.random(SHAPES[size]).astype(np.float32)
        g = pydropout.Generator(1)
        m = pydropout.dropout_with_mask(x, 0.5, generator=g)[1]
        ma = pydropout.alpha_dropout_with_mask(x, 0.5, generator=g)[1]
        c = {
            "dropout": lambda: pydropout.dropout(x, 0.5, generator=g),
            "alpha": lambda: pydropout.alpha_dropout(x, 0.5, True, generator=g),
            "feat_alpha": lambda: pydropout.feature_alpha_dropout(x, 0.5, True, generator=g),
            "bwd": lambda: pydropout.dropout_backward(x, m, 0.5),
            "alpha_bwd": lambda: pydropout.alpha_dropout_backward(x, ma, 0.5),
        }
        show(f"alpha {size} {nt}t", best(c, reps), "dropout")


def rows_gaussian(reps):
    for size in ("4Ki", "64Ki", "1Mi", "16Mi"):
        n = {"4Ki": 4 * KI, "64Ki": 64 * KI, "1Mi": MI, "16Mi": 16 * MI}[size]
        x = RNG.random(n).astype(np.float32)
        xt = torch.from_numpy(x) if torch is not None else None
        g = pydropout.Generator(1)
        sigma, stddev = 1.0, 0.5
        for nt in (1, 2):
            threads(nt)
            c = {
                "dropout": lambda: pydropout.dropout(x, 0.5, generator=g),
                "gaussian": lambda: pydropout.gaussian_dropout(x, 0.5, generator=g),
                "noise": lambda: pydropout.gaussian_noise(x, stddev, generator=g),
            }
            if xt is not None:
                c["torch"] = lambda: xt * (1 + sigma * torch.randn_like(xt))
                c["torch_noise"] = lambda: xt + stddev * torch.randn_like(xt)
            show(f"gaussian {size} {nt}t", best(c, reps), "dropout")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="out,channel,planes,alpha,gaussian")
    ap.add_argument("--reps", type=int, default=7)
    a = ap.parse_args()
    print(f"pydropout from {pydropout.__file__}, simd {pydropout.simd_level()}")
    for r in a.rows.split(","):
        globals()[f"rows_{r}"](a.reps)


if __name__ == "__main__":
    main()
