"""The benchmark's output for people: one figure, one short table and docs/PERFORMANCE.md.

    python benchmarks/bench_summary.py [--quick] [--out docs]

1. the matrix (matrix.py): every public operator against its best peer, float32, at
   1 Ki .. 16 Mi with 1 and 2 threads; every cell where a peer is faster is printed;
2. plain dropout against the copy ceiling (a threaded copy of the same bytes) from 1 Ki to
   64 Mi, with torch's F.dropout for comparison;
3. writes ``bench-throughput.png`` (speed-up over the best peer at 1 Mi and 16 Mi; the ratio to
   the copy ceiling against size) and ``PERFORMANCE.md`` (the short table, the full matrix,
   the peer-faster cells, the sweep, the machine and the run log).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

import pydropout
from pydropout import _core

from . import matrix
from .matrix import Cell

SWEEP = [1 << k for k in range(10, 27, 2)]  # 1 Ki .. 64 Mi


def size_name(n: int) -> str:
    return f"{n >> 20}Mi" if n >= 1 << 20 else f"{n >> 10}Ki"


def run_sweep(torch: Any, sizes: List[int], rounds: int, log) -> Dict[Tuple[str, int, int], float]:
    """{(candidate, n, threads): seconds} for dropout, the copy and torch's F.dropout."""
    res: Dict[Tuple[str, int, int], float] = {}
    for n in sizes:
        x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
        y = np.empty_like(x)
        g = pydropout.Generator(1)
        cands = {
            "pydropout": lambda: pydropout.dropout(x, 0.5, generator=g),
            "copy": lambda: _core.copy(x, y),
        }
        if torch is not None:
            xt = torch.from_numpy(x)
            cands["torch"] = lambda: torch.nn.functional.dropout(xt, 0.5)
        for nt in (1, 2):
            matrix.set_threads(nt, torch)
            t = matrix.interleaved(cands, rounds, 0.01)
            for k, v in t.items():
                res[(k, n, nt)] = v
            log(
                f"sweep {size_name(n):>5s} {nt}t  "
                + "  ".join(
                    f"{k} {v * 1e6:.1f} us ({v / t['copy']:.2f}x copy)" for k, v in t.items()
                )
            )
    return res


def machine() -> Dict[str, str]:
    info = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pydropout": getattr(pydropout, "__version__", "?"),
        "simd": pydropout.simd_level(),
        "cpus": str(os.cpu_count()),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = "absent"
    try:
        info["load average"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        pass
    return info


def fmt_t(t: float) -> str:
    return f"{t * 1e3:.2f} ms" if t >= 1e-3 else f"{t * 1e6:.1f} µs"


def short_table(cells: List[Cell]) -> str:
    """The operators at 1 Mi and 16 Mi: pydropout's time (1 thread) and its speed-up over the
    best peer with 1 and 2 threads."""
    by = {(c.op, c.size, c.threads): c for c in cells}
    rows = [
        "| operator (float32) | 1 Mi, 1 thread | speed-up 1 / 2 threads | 16 Mi, 1 thread "
        "| speed-up 1 / 2 threads |",
        "|---|---:|---:|---:|---:|",
    ]
    for op in matrix.OPS:
        keys = [(op, sz, nt) for sz in ("1Mi", "16Mi") for nt in (1, 2)]
        if any(k not in by for k in keys):
            continue
        a1, a2, b1, b2 = (by[k] for k in keys)
        rows.append(
            f"| `{op}` | {fmt_t(a1.ours)} | {a1.speedup:.1f}x / {a2.speedup:.1f}x "
            f"| {fmt_t(b1.ours)} | {b1.speedup:.1f}x / {b2.speedup:.1f}x |"
        )
    return "\n".join(rows)


def full_table(cells: List[Cell]) -> str:
    rows = [
        "| operator | size | threads | pydropout | torch | numpy | speed-up over best peer |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for c in cells:
        t = c.times
        rows.append(
            f"| `{c.op}` | {c.size} | {c.threads} | {fmt_t(t['pydropout'])} | "
            f"{fmt_t(t['torch']) if 'torch' in t else '-'} | {fmt_t(t['numpy'])} | "
            f"{c.speedup:.2f}x |"
        )
    return "\n".join(rows)


def losses(cells: List[Cell]) -> List[str]:
    out = []
    for c in cells:
        peer, t = c.best_peer()
        if t < c.ours:
            out.append(
                f"- `{c.op}` {c.size} {c.threads} thread(s): {peer} {fmt_t(t)}, "
                f"pydropout {fmt_t(c.ours)} ({c.ours / t:.2f}x the peer's time)"
            )
    return out


def sweep_table(sweep: Dict[Tuple[str, int, int], float]) -> str:
    sizes = sorted({k[1] for k in sweep})
    rows = [
        "| size | threads | copy | pydropout.dropout | / copy | torch F.dropout | / copy |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sizes:
        for nt in (1, 2):
            c, p, t = (sweep.get((k, n, nt)) for k in ("copy", "pydropout", "torch"))
            if c is None or p is None:
                continue
            tt = f"{fmt_t(t)} | {t / c:.2f}" if t else "- | -"
            rows.append(f"| {size_name(n)} | {nt} | {fmt_t(c)} | {fmt_t(p)} | {p / c:.2f} | {tt} |")
    return "\n".join(rows)


def write_figure(path: str, cells: List[Cell], sweep: Dict[Tuple[str, int, int], float]) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 10.5), dpi=100)  # 800 px wide, as the README shows it
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(
        2,
        2,
        height_ratios=[2.3, 1],
        hspace=0.28,
        wspace=0.05,
        left=0.30,
        right=0.98,
        top=0.94,
        bottom=0.06,
    )
    by = {(c.op, c.size, c.threads): c for c in cells}
    ops = [o for o in matrix.OPS if (o, "1Mi", 1) in by]
    ypos = np.arange(len(ops))
    colors = {1: "#9ecae1", 2: "#08519c"}
    for j, size in enumerate(("1Mi", "16Mi")):
        ax = fig.add_subplot(grid[0, j])
        for k, nt in enumerate((1, 2)):
            v = [by[(o, size, nt)].speedup if (o, size, nt) in by else np.nan for o in ops]
            ax.barh(
                ypos + (k - 0.5) * 0.4,
                v,
                height=0.4,
                color=colors[nt],
                label=f"{nt} thread{'s' if nt > 1 else ''}",
            )
        ax.axvline(1.0, color="#d62728", lw=1.2)
        ax.set_xscale("log")
        ax.set_yticks(ypos)
        ax.set_yticklabels(ops if j == 0 else [], fontsize=9)
        ax.invert_yaxis()
        ax.set_title(f"{size[:-2]} Mi elements", fontsize=10)
        ax.set_axisbelow(True)
        ax.tick_params(axis="x", labelsize=9)
        ax.grid(axis="x", which="both", alpha=0.3)
        if j == 0:  # where the bottom rows' bars are short
            ax.legend(fontsize=9, loc="lower right")
    ax = fig.add_subplot(grid[1, :])
    sizes = sorted({k[1] for k in sweep})
    styles = {
        ("pydropout", 1): ("#08519c", "--"),
        ("pydropout", 2): ("#08519c", "-"),
        ("torch", 1): ("#ff7f0e", "--"),
        ("torch", 2): ("#ff7f0e", "-"),
    }
    for (who, nt), (colr, ls) in styles.items():
        pts = [
            (n, sweep[(who, n, nt)] / sweep[("copy", n, nt)])
            for n in sizes
            if (who, n, nt) in sweep and ("copy", n, nt) in sweep
        ]
        if pts:
            name = "pydropout.dropout" if who == "pydropout" else "torch F.dropout"
            ax.plot(
                *zip(*pts),
                color=colr,
                ls=ls,
                marker="o",
                ms=3,
                label=f"{name}, {nt} thread{'s' if nt > 1 else ''}",
            )
    ax.axhline(1.0, color="#222222", lw=1)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sizes)
    ax.set_xticklabels([size_name(n) for n in sizes], fontsize=9)
    ax.tick_params(axis="y", labelsize=9)
    ax.set_xlabel("float32 elements", fontsize=9)
    ax.set_ylabel("time / threaded copy", fontsize=9)
    ax.set_title("plain dropout against the copy ceiling (1 = the copy's time)", fontsize=10)
    ax.grid(which="both", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(fontsize=8, ncol=2, loc="center right")  # between the two families of lines
    fig.suptitle(
        "float32: speed-up over the best peer (torch or NumPy); right of the red line = "
        "pydropout faster",
        fontsize=10,
        y=0.985,
    )
    fig.savefig(path)


def save(
    path: str,
    cells: List[Cell],
    sweep: Dict[Tuple[str, int, int], float],
    log_lines: List[str],
    cmd: str,
    t0: float,
    seconds: float,
) -> None:
    data = {
        "cells": [
            {"op": c.op, "size": c.size, "threads": c.threads, "times": c.times} for c in cells
        ],
        "sweep": [[k[0], k[1], k[2], v] for k, v in sweep.items()],
        "log": log_lines,
        "command": cmd,
        "start": t0,
        "seconds": seconds,
        "machine": machine(),
    }
    with open(path, "w") as f:
        json.dump(data, f, indent=1)


def load(path: str) -> Dict[str, Any]:
    with open(path) as f:
        data = json.load(f)
    data["cells"] = [Cell(c["op"], c["size"], c["threads"], c["times"]) for c in data["cells"]]
    data["sweep"] = {(k, n, t): v for k, n, t, v in data["sweep"]}
    return data


def retime_losses(torch: Any, cells: List[Any], rounds: int, log) -> List[Any]:
    """Cells where a peer was faster, timed again on their own: every candidate keeps the
    minimum over both runs (more rounds of the same interleaving, for pydropout and its
    peers alike), so that one slow batch on a shared machine does not decide a cell."""
    out = []
    for c in cells:
        if c.best_peer()[1] < c.ours:
            again = matrix.run_matrix(
                torch,
                ops=(c.op,),
                sizes=(c.size,),
                threads=(c.threads,),
                rounds=rounds,
                log=lambda s: log("re-timed " + s),
            )[0]
            c = matrix.Cell(
                c.op,
                c.size,
                c.threads,
                {k: min(v, again.times.get(k, v)) for k, v in c.times.items()},
            )
        out.append(c)
    return out


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two rounds, 1 Ki and 1 Mi only")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default="docs")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--from-json", help="write the outputs from a saved run's results.json")
    a = ap.parse_args(argv)
    torch: Any = None
    if not a.no_torch:
        try:
            torch = importlib.import_module("torch")
        except ImportError:
            pass
    log_lines: List[str] = []

    def log(s: str) -> None:
        log_lines.append(s)
        print(s, flush=True)

    t0 = time.time()
    cmd = "python benchmarks/bench_summary.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    rounds = 2 if a.quick else a.rounds
    m = machine()
    if a.from_json:
        data = load(a.from_json)
        cells, sweep, log_lines = data["cells"], data["sweep"], data["log"]
        cmd, t0, seconds, m = data["command"], data["start"], data["seconds"], data["machine"]
    else:
        # the sweep first: torch's pool keeps spinning after its calls (FINDINGS)
        sweep = run_sweep(torch, SWEEP[:5] if a.quick else SWEEP, rounds, log)
        sizes = ("1Ki", "1Mi") if a.quick else tuple(matrix.SIZES)
        cells = matrix.run_matrix(torch, sizes=sizes, rounds=rounds, log=log)
        cells = retime_losses(torch, cells, rounds, log)
        seconds = time.time() - t0
        os.makedirs(a.out, exist_ok=True)
        save(os.path.join(a.out, "bench-results.json"), cells, sweep, log_lines, cmd, t0, seconds)
    lost = losses(cells)
    print("\ncells where a peer is faster:" if lost else "\nno peer is faster in any cell")
    for line in lost:
        print(line)
    os.makedirs(a.out, exist_ok=True)
    try:
        write_figure(os.path.join(a.out, "bench-throughput.png"), cells, sweep)
    except ImportError:
        print("matplotlib is missing: no figure", file=sys.stderr)
    md = [
        "# Performance",
        "",
        f"Made by `{cmd}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(t0))}, "
        f"{seconds:.0f} s). float32, p = 0.5, inputs `(N, C, H, W)`. Each time is the "
        f"minimum over {rounds} interleaved rounds (every candidate once per round) of the mean "
        "of a batch of about 10 ms; a cell where a peer was faster is timed again on its own "
        "and every candidate of it keeps the minimum of both runs (the log has both). The "
        "machine is shared and noisy: ratios within one "
        "round are meaningful, absolute times less so; repeat a run before believing a "
        "change under 10 %.",
        "",
        "![throughput](bench-throughput.png)",
        "",
        "## The operators at 1 Mi and 16 Mi",
        "",
        short_table(cells),
        "",
        "## Cells where a peer is faster",
        "",
        *(lost or ["None."]),
        "",
        "## Plain dropout against the copy ceiling",
        "",
        sweep_table(sweep),
        "",
        "## The full matrix",
        "",
        "Peers: torch (its operator, or the composition a torch user writes: "
        "`x * (1 + sigma * randn_like(x))`, `grad * mask * a`) and the NumPy composition "
        "(float32 draws, `np.where`, `np.packbits`).",
        "",
        full_table(cells),
        "",
        "## Machine",
        "",
        *(f"- {k}: {v}" for k, v in m.items()),
        "",
        "## Run log",
        "",
        "```",
        *log_lines,
        "```",
        "",
    ]
    with open(os.path.join(a.out, "PERFORMANCE.md"), "w") as f:
        f.write("\n".join(md))
    print("\n" + short_table(cells))
    return 0
