"""throughput.png: GB/s against size, one panel per (operation, dtype), one line per
implementation and thread count (needs matplotlib)."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Tuple

from .config import Config
from .model import GroupResult
from .names import ALL_OPS, DTYPES, NO_DTYPE, OPS, threads_label
from .report import cell, pivot_columns

PALETTE = [
    "#222222",
    "#d62728",
    "#ff7f0e",
    "#bcbd22",
    "#8c564b",
    "#7f7f7f",
    "#1f77b4",
    "#2ca02c",
    "#9467bd",
    "#17becf",
    "#e377c2",
    "#aec7e8",
    "#98df8a",
    "#c5b0d5",
]


def write_plot(path: str, cfg: Config, results: List[GroupResult]) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ops = [o for o in ALL_OPS if any(g.key.op == o for g in results)]
    dtypes = [d for d in DTYPES if any(g.key.dtype == d for g in results)] or [NO_DTYPE]
    panels: Dict[Tuple[str, str], List[GroupResult]] = {}
    for g in results:
        panels.setdefault((g.key.op, g.key.dtype), []).append(g)
    cols = pivot_columns(cfg, results)
    ncols = len(dtypes)
    legend_rows = math.ceil(
        sum(1 for c in cols if any(cell(g, c) for g in results))
        * len({g.key.threads for g in results})
        / 3
    )
    panel_h, top_in, bottom_in = 3.0, 0.9, 0.2 + 0.16 * legend_rows  # inches
    height = panel_h * len(ops) + top_in + bottom_in
    width = max(4.4 * ncols, 7.5)  # room for the title and three legend columns
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(ops), ncols, squeeze=False)
    # the columns of plain dropout keep their colours; the "alt" rows take the last ones
    ordered = [c for c in cols if c[0] != "alt"] + [c for c in cols if c[0] == "alt"]
    color = {c[2]: PALETTE[i % len(PALETTE)] for i, c in enumerate(ordered)}
    handles: Dict[str, Any] = {}
    most = max(cfg.threads)
    for i, op in enumerate(ops):
        for j in range(ncols):
            ax = axes[i][j]
            d = dtypes[j] if j < len(dtypes) else None
            gs = panels.get((op, NO_DTYPE if op == "mask" else str(d)))
            if (op == "mask" and j > 0) or not gs:
                ax.set_visible(False)
                continue
            for threads in sorted({g.key.threads for g in gs}, reverse=True):
                sel = sorted((g for g in gs if g.key.threads == threads), key=lambda g: g.key.n)
                for col in cols:
                    pts = []
                    for g in sel:
                        c = cell(g, col)
                        if c is not None:
                            pts.append((g.key.n, c.nbytes / c.best / 1e9))
                    if not pts:
                        continue
                    label = f"{col[2]}, {threads_label(threads)}"
                    (ln,) = ax.plot(
                        [q[0] for q in pts],
                        [q[1] for q in pts],
                        "-" if threads == most else "--",
                        marker="o",
                        markersize=3,
                        color=color[col[2]],
                        label=label,
                    )
                    handles.setdefault(label, ln)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            title = op.replace("_", " + ") if op in OPS else op
            ax.set_title(title + ("" if op == "mask" else f", {d}"), fontsize=9)
            ax.set_xlabel("elements", fontsize=8)
            ax.set_ylabel("GB/s (read + written)", fontsize=8)
            ax.tick_params(which="both", labelsize=7)
            ax.grid(True, which="both", alpha=0.25)
    fig.legend(
        list(handles.values()),
        list(handles.keys()),
        loc="lower center",
        ncol=3,
        fontsize=7,
        frameon=False,
    )
    fig.suptitle(
        f"pydropout throughput, p = {cfg.p}\nsolid: {threads_label(most)}, "
        "dashed: fewer; copy = the bandwidth ceiling",
        fontsize=10,
        y=1 - 0.1 / height,
    )
    fig.subplots_adjust(
        left=0.7 / width,
        right=1 - 0.2 / width,
        top=1 - top_in / height,
        bottom=(bottom_in + 0.45) / height,
        hspace=0.55,
        wspace=0.28,
    )
    fig.savefig(path, dpi=90)
