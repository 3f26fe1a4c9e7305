"""The tables, results.md, results.json and the README's performance section."""

from __future__ import annotations

import json
import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .config import PROG, Config
from .goals import Goal, goals_table
from .model import Candidate, GroupKey, GroupResult
from .names import (
    EXTRA_OPS,
    NO_DTYPE,
    OP_TITLES,
    PEER_TITLES,
    PEERS,
    PYDROPOUT_KINDS,
    size_label,
    threads_label,
)

Column = Tuple[str, str, str]  # (kind, SIMD level / peer / row name, title)


def fmt(v: Optional[float], digits: int = 3) -> str:
    if v is None or not math.isfinite(v):
        return ""
    if v >= 100:
        return f"{v:.0f}"
    return f"{v:.{digits}g}"


def ratio(v: Optional[float]) -> str:
    if v is None or not math.isfinite(v):
        return ""
    return f"{v:.2f}x" if v < 100 else f"{v:.0f}x"


def detail_table(results: List[GroupResult], peers_present: Sequence[str]) -> str:
    """Every row: time per element, GB/s, the ratio to the copy and to each peer."""
    cols = (
        ["op", "dtype", "n", "threads", "implementation", "SIMD", "ns/elem", "GB/s", "x copy"]
        + [f"vs {PEER_TITLES[p]}" for p in peers_present]
        + ["check"]
    )
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for g in results:
        k = g.key
        ceil = g.ceiling()
        for c in g.cands:
            row = [
                k.op,
                k.dtype,
                size_label(k.n),
                str(c.threads or k.threads),
                c.name,
                c.simd or "",
                fmt(c.best / k.n * 1e9),
                fmt(c.nbytes / c.best / 1e9),
                ratio(c.best / ceil.best) if ceil and not c.threads else "",
            ]
            for pname in peers_present:
                pc = g.peer(pname)
                ok = c.kind in PYDROPOUT_KINDS and pc is not None
                row.append(ratio(pc.best / c.best) if ok and pc else "")
            row.append("FAILED" if c.check_result.startswith("FAILED") else c.check_result)
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def extras_table(cfg: Config, results: List[GroupResult]) -> str:
    """One line per group of the extra ops: the public row at the default SIMD level
    against the copy, the pydropout rows beside it, torch and NumPy."""
    lines = [
        "| op | dtype | n | threads | row | ns/elem | x copy | beside it (x copy) "
        "| vs torch | vs NumPy |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for g in results:
        if g.key.op not in EXTRA_OPS:
            continue
        k, ceil = g.key, g.ceiling()
        c = g.main_row(cfg.default_level)
        if c is None:
            continue
        x_copy = ratio(c.best / ceil.best) if ceil else ""
        beside = "; ".join(
            f"{a.name} {ratio(a.best / ceil.best) if ceil else ''}".strip()
            for a in g.cands
            if a.kind == "alt"
        )
        vs = []
        for peer in ("torch", "numpy"):
            pc = g.peer(peer)
            vs.append(f"{ratio(pc.best / c.best)} ({pc.name})" if pc else "")
        lines.append(
            f"| {k.op} | {k.dtype} | {size_label(k.n)} | {k.threads} | {c.label()} "
            f"| {fmt(c.best / k.n * 1e9)} | {x_copy} | {beside} | {vs[0]} | {vs[1]} |"
        )
    return "\n".join(lines) if len(lines) > 2 else ""


def pivot_columns(cfg: Config, results: Sequence[GroupResult] = ()) -> List[Column]:
    cols = [("ceiling", "", "copy (ceiling)")]
    cols += [("pydropout", lv, f"pydropout [{lv}]") for lv in cfg.levels]
    if cfg.out_rows:
        cols.append(("out", cfg.default_level, f"out= [{cfg.default_level}]"))
    if cfg.kernel:
        cols.append(("kernel", cfg.default_level, f"kernel [{cfg.default_level}]"))
    alts: List[str] = []
    for g in results:
        alts += [c.name for c in g.cands if c.kind == "alt" and c.name not in alts]
    cols += [("alt", name, name.replace("pydropout.", "")) for name in alts]
    cols += [("peer", p, PEER_TITLES[p]) for p in PEERS]
    return cols


def cell(g: GroupResult, col: Column) -> Optional[Candidate]:
    kind, which, _ = col
    if kind == "ceiling":
        return g.ceiling()
    if kind == "peer":
        return g.peer(which)
    if kind == "alt":
        return next((c for c in g.cands if c.kind == "alt" and c.name == which), None)
    return g.find(kind, which)


def pivot_tables(
    cfg: Config,
    results: List[GroupResult],
    unit: str = "GB/s",
    only: Optional[Callable[[GroupKey], bool]] = None,
) -> str:
    """Rows are sizes, columns implementations; one table per (op, dtype, threads)."""
    by: Dict[Tuple[str, str, int], List[GroupResult]] = {}
    for g in results:
        if only is None or only(g.key):
            by.setdefault((g.key.op, g.key.dtype, g.key.threads), []).append(g)
    out = []
    for (op, dtype, threads), gs in by.items():
        cols = [c for c in pivot_columns(cfg, gs) if any(cell(g, c) is not None for g in gs)]
        d = "" if dtype == NO_DTYPE else f", {dtype}"
        out.append(f"**{OP_TITLES[op]}{d}, {threads_label(threads)}** ({unit})\n")
        out.append("| n | " + " | ".join(c[2] for c in cols) + " |")
        out.append("|---|" + "---:|" * len(cols))
        for g in sorted(gs, key=lambda g: g.key.n):
            cells = []
            for col in cols:
                cand = cell(g, col)
                if cand is None:
                    cells.append("")
                elif unit == "GB/s":
                    cells.append(fmt(cand.nbytes / cand.best / 1e9))
                else:
                    cells.append(fmt(cand.best / g.key.n * 1e9))
            out.append(f"| {size_label(g.key.n)} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def check_md(failures: List[str]) -> str:
    if not failures:
        return "All pydropout rows equal pydropout.reference bit for bit."
    return "**CORRECTNESS CHECKS FAILED** (a fast wrong kernel is a bug):\n\n" + "\n".join(
        f"- {f}" for f in failures
    )


def extras_md(cfg: Config, results: List[GroupResult]) -> str:
    extras = extras_table(cfg, results)
    if not extras:
        return ""
    return (
        "## State backward, variants and pydropout.torch\n\n"
        "`vs torch`, `vs NumPy`: that peer's time / the row's time (above 1: "
        "pydropout is faster); for torch_fwd_bwd the peer is torch.nn.Dropout, "
        "forward + backward.\n\n" + extras
    )


def results_md(
    cfg: Config, header: str, results: List[GroupResult], goals: List[Goal], failures: List[str]
) -> str:
    """The whole of results.md."""
    peers_present = [p for p in PEERS if any(g.peer(p) for g in results)]
    extras = extras_md(cfg, results)
    return (
        "\n\n".join(
            [
                "# pydropout benchmark",
                header,
                "## Performance goals",
                goals_table(goals),
                *([extras] if extras else []),
                "## Correctness",
                check_md(failures),
                "## Throughput by size (GB/s: bytes read + written, mask bytes included)",
                pivot_tables(cfg, results, "GB/s"),
                "## Every row\n\n`x copy`: time / time of the threaded copy of the same array "
                "(the bandwidth ceiling). `vs X`: time of X / time of the row (above 1: pydropout "
                "is faster).",
                detail_table(results, peers_present),
            ]
        )
        + "\n"
    )


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    return str(o)


def write_json(
    path: str,
    meta: Dict[str, Any],
    results: List[GroupResult],
    goals: List[Goal],
    failures: List[str],
) -> None:
    groups = []
    for g in results:
        groups.append(
            {
                "op": g.key.op,
                "dtype": g.key.dtype,
                "n": g.key.n,
                "threads": g.key.threads,
                **g.info,
                "candidates": [
                    {
                        "name": c.name,
                        "kind": c.kind,
                        "peer": c.peer,
                        "simd": c.simd,
                        "threads": c.threads or g.key.threads,
                        "bytes": c.nbytes,
                        "number": c.number,
                        "samples_s": c.samples,
                        "best_s": c.best,
                        "check": c.check_result,
                    }
                    for c in g.cands
                ],
            }
        )
    doc = {
        "meta": meta,
        "groups": groups,
        "goals": [
            {
                "id": t.ident,
                "what": t.text,
                "limit": t.limit,
                "value": t.value,
                "status": t.status(),
                "detail": t.detail,
            }
            for t in goals
        ],
        "check_failures": failures,
    }
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, default=_json_default)


README_BEGIN, README_END = "<!-- section:performance -->", "<!-- /section:performance -->"


def readme_md(
    cfg: Config, meta: Dict[str, Any], results: List[GroupResult], goals: List[Goal]
) -> str:
    """The README's performance section, markers included: GB/s of float32 with all
    threads (every operation measured), the performance goals, the machine and the
    command. Only what the run measured; no dates."""
    T = cfg.all_threads
    if not any(g.key.threads == T for g in results):
        T = max(g.key.threads for g in results)
    tables = pivot_tables(
        cfg, results, "GB/s", only=lambda k: k.threads == T and k.dtype in ("float32", NO_DTYPE)
    )
    command = " ".join(
        [f"{k}={v}" for k, v in meta.get("env", {}).items() if v] + [PROG] + list(cfg.argv)
    )
    return "\n".join(
        [
            README_BEGIN,
            "## Performance",
            "",
            "`benchmarks/bench_dropout.py` times every call next to the bandwidth ceiling (a "
            "threaded copy of the same bytes), NumPy, torch and JAX, and checks each result bit "
            "for bit against `pydropout.reference`; `benchmarks/README.md` explains the options "
            "and columns.",
            "",
            f"Measured on {meta['cpu']} ({meta['logical_cpus']} logical CPUs), "
            f"{meta['build'].get('compiler')}, `{meta['build'].get('flags')}`, "
            f"numpy {meta['versions']['numpy']}, torch {meta['versions']['torch']}, "
            f"jax {meta['versions']['jax']}, p = {cfg.p}, with",
            "",
            "```bash",
            command,
            "```",
            "",
            "GB/s counts bytes read + written (mask bytes included); the copy is "
            "`pydropout._core.copy`, a threaded memcpy of the same array with the same threads.",
            "",
            tables,
            "Performance goals:",
            "",
            goals_table(goals),
            "",
            "The same command writes the other tables (1 thread, float16 and float64, every "
            "row) to `results.md` and a plot of throughput against size to `throughput.png`, "
            "in its output folder (`--out`, default `bench-out/`).",
            README_END,
            "",
        ]
    )
