"""Compare two builds of pydropout's compiled core in one process.

    python benchmarks/ab_builds.py OLD_CORE.so NEW_CORE.so [--levels avx2,avx512]
                                   [--sizes 65536,16777216] [--threads 1,2] [--reps 300]

Build the old commit into another build directory first (for example
``pip install --no-build-isolation -Cbuild-dir=build/old -e .`` in a second worktree)
and pass the two ``_core*.so`` files. Both are loaded side by side under different
package names and called alternately, so a noisy shared machine slows both alike; each
time is the minimum over the repetitions of the mean of three back-to-back calls.
Prints ns per element for mask, forward and forward + mask (float32, float16, float64) and the
ratio new / old (below 1: the new build is faster).
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import os
import shutil
import sys
import tempfile
import time

import numpy as np


def load(path: str, tag: str, tmp: str):
    """Import the extension at `path` as package `tag`'s _core (a copy, so two can load)."""
    base = os.path.basename(path)
    dst = os.path.join(tmp, tag, base)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copy(path, dst)
    name = f"{tag}._core"
    loader = importlib.machinery.ExtensionFileLoader(name, dst)
    spec = importlib.util.spec_from_file_location(name, dst, loader=loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def cases(n: int):
    x = np.ones(n, np.float32)
    y = np.empty_like(x)
    m = np.empty((n + 7) // 8, np.uint8)
    h = np.ones(n, np.float16)
    hy = np.empty_like(h)
    d = np.ones(n, np.float64)
    dy = np.empty_like(d)
    t = 2**31  # p = 0.5
    off = 3  # a block-misaligned offset
    return [
        ("mask", lambda c: c.mask(m, n, t, False, 1, 0, off)),
        ("forward f32", lambda c: c.forward(x, y, None, 2, t, False, 2.0, True, 1, 0, off)),
        ("forward+mask f32", lambda c: c.forward(x, y, m, 2, t, False, 2.0, True, 1, 0, off)),
        ("forward+mask f16", lambda c: c.forward(h, hy, m, 0, t, False, 2.0, True, 1, 0, off)),
        ("forward+mask f64", lambda c: c.forward(d, dy, m, 3, t, False, 2.0, True, 1, 0, off)),
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--levels", default="avx2,avx512")
    ap.add_argument("--sizes", default="65536")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--reps", type=int, default=300)
    a = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="pydropout-ab-")
    try:
        mods = {"old": load(a.old, "ab_old", tmp), "new": load(a.new, "ab_new", tmp)}
        levels = [lv for lv in a.levels.split(",") if lv in mods["old"].supported_simd_levels()]
        for tag, path in (("old", a.old), ("new", a.new)):
            # the avx512 level's kernel tier follows the IFMA and AVX512-FP16 switches
            mod = mods[tag]
            tier = mod.kernel_tier() if hasattr(mod, "kernel_tier") else "?"
            print(
                f"{tag}: {path} (tier {tier}; avx512 ifma {mod._avx512ifma()}, "
                f"fp16 {mod._avx512fp16()})"
            )
        rows = []
        for n in (int(s) for s in a.sizes.split(",")):
            for th in (int(s) for s in a.threads.split(",")):
                for lv in levels:
                    for what, fn in cases(n):
                        rows.append((f"{lv} {what} n={n} threads={th}", n, th, lv, fn))
        best = {}
        for r in range(a.reps):
            order = ("old", "new") if r % 2 == 0 else ("new", "old")
            for name, n, th, lv, fn in rows:
                for tag in order:
                    mod = mods[tag]
                    mod.set_num_threads(th)
                    mod._set_simd(lv)
                    t0 = time.perf_counter()
                    fn(mod)
                    fn(mod)
                    fn(mod)
                    t = (time.perf_counter() - t0) / 3 / n * 1e9
                    best[name, tag] = min(best.get((name, tag), float("inf")), t)
        width = max(len(r[0]) for r in rows)
        print(f"{'case':{width}}  old ns/el  new ns/el  new/old")
        for name, *_ in rows:
            o, w = best[name, "old"], best[name, "new"]
            print(f"{name:{width}}  {o:9.4f}  {w:9.4f}  {w / o:7.3f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
