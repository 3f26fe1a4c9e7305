"""Forward + backward of small torch blocks with pydropout.torch beside torch's dropout.

    python benchmarks/bench_torch_blocks.py [--threads 1 2] [--reps 5] [--no-compile]

Blocks: a CNN block (3x3 conv, ReLU, Dropout2d) in channels_last and an MLP block
(Linear, ReLU, Dropout), each eager and under ``torch.compile`` (inductor), each with
``torch.nn`` dropout and with ``pydropout.torch``. Each thread count runs in its own
process (inductor fixes its OpenMP thread count when it compiles). Candidates are
interleaved; after switching the script waits ``--pause`` seconds (torch's OpenMP pool
keeps spinning after a call), then times ``--inner`` steps; it reports the min over reps.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _blocks(torch, pdt, which):
    nn = torch.nn
    cnn_drop = nn.Dropout2d(0.2) if which == "torch" else pdt.Dropout2d(0.2)
    mlp_drop = nn.Dropout(0.5) if which == "torch" else pdt.Dropout(0.5)
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), cnn_drop)
    cnn = cnn.to(memory_format=torch.channels_last)
    mlp = nn.Sequential(nn.Linear(1024, 1024), nn.ReLU(), mlp_drop)
    x_cnn = torch.randn(32, 64, 28, 28).contiguous(memory_format=torch.channels_last)
    x_mlp = torch.randn(512, 1024)
    return {"cnn": (cnn, x_cnn), "mlp": (mlp, x_mlp)}


def _training_step(run, model, x):
    """One training step of ``model`` through ``run`` (the module itself or its compiled
    form): clear the gradients, forward, backward of the sum; returns the output."""

    def step():
        for prm in model.parameters():
            prm.grad = None
        y = run(x)
        y.sum().backward()
        return y

    return step


def _child(threads: int, reps: int, inner: int, pause: float, compile_: bool) -> None:
    sys.path.insert(0, ROOT)
    import torch

    import pydropout
    import pydropout.torch as pdt

    torch.set_num_threads(threads)
    pydropout.set_num_threads(threads)
    cands = {}
    for which in ("torch", "pydropout"):
        for block, (model, x) in _blocks(torch, pdt, which).items():
            cands[block, "eager", which] = _training_step(model, model, x)
            if compile_:
                cmodel = torch.compile(model, fullgraph=True)
                cands[block, "compiled", which] = _training_step(cmodel, model, x)
    for f in cands.values():  # compile and warm up
        f()
        f()
        y = f()
        assert y.is_contiguous(memory_format=torch.channels_last) or y.dim() == 2
    best = {k: float("inf") for k in cands}
    for _ in range(reps):
        for k, f in cands.items():
            time.sleep(pause)
            for _ in range(inner):
                t0 = time.perf_counter()
                f()
                best[k] = min(best[k], time.perf_counter() - t0)
    print(json.dumps([[list(k), v] for k, v in best.items()]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--inner", type=int, default=3)
    ap.add_argument("--pause", type=float, default=1.0)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child, args.reps, args.inner, args.pause, not args.no_compile)
        return
    rows = []
    for t in args.threads:
        cmd = [
            sys.executable,
            os.path.abspath(__file__),
            "--child",
            str(t),
            "--reps",
            str(args.reps),
            "--inner",
            str(args.inner),
            "--pause",
            str(args.pause),
        ]
        if args.no_compile:
            cmd.append("--no-compile")
        env = dict(os.environ, OMP_NUM_THREADS=str(t))
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
        res = {tuple(k): v for k, v in json.loads(out.strip().splitlines()[-1])}
        for block in ("cnn", "mlp"):
            for mode in ("eager", "compiled"):
                if (block, mode, "torch") not in res:
                    continue
                tt, tp = res[block, mode, "torch"], res[block, mode, "pydropout"]
                rows.append((block, mode, t, tt * 1e3, tp * 1e3, tp / tt))
    print(
        "block: cnn = Conv2d(64, 64, 3) + ReLU + Dropout2d(0.2) on (32, 64, 28, 28) channels_last;"
    )
    print(
        "       mlp = Linear(1024, 1024) + ReLU + Dropout(0.5) on (512, 1024); float32, "
        "forward + backward"
    )
    print(f"min of {args.reps} x {args.inner} interleaved steps\n")
    print("| block | mode | threads | torch dropout (ms) | pydropout.torch (ms) | ratio |")
    print("|---|---|---|---|---|---|")
    for block, mode, t, tt, tp, r in rows:
        print(f"| {block} | {mode} | {t} | {tt:.2f} | {tp:.2f} | {r:.2f} |")


if __name__ == "__main__":
    main()
