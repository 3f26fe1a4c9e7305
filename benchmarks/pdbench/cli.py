"""``main(argv)``: plan, time, check, report."""

from __future__ import annotations

import gc
import os
import sys
import time
from typing import List, Optional, Sequence

import numpy as np

import pydropout
from pydropout import _core

from .config import make_config
from .goals import evaluate_goals, goals_table
from .machine import header_md, machine_info
from .model import GroupResult
from .names import MI, NO_DTYPE, PEERS
from .oracle import Arrays
from .peers import Peers
from .plan import plan
from .report import check_md, detail_table, extras_md, readme_md, results_md, write_json
from .rows import build_candidates
from .timing import run_group


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _warm_up() -> None:
    """Wake the thread pool and the clocks."""
    warm = np.ones(4 * MI, np.float32)
    warm_out = np.empty_like(warm)
    for _ in range(5):
        _core.copy(warm, warm_out)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark; 0 on success, 1 if a correctness check failed, 2 if
    ``--require-goals`` and a measured performance goal was missed."""
    t0 = time.perf_counter()
    cfg = make_config(argv)
    keys = plan(cfg)
    if not keys:
        print(
            "nothing to run: the filters select no group"
            + "".join(f"; {note}" for note in cfg.notes),
            file=sys.stderr,
        )
        return 1
    if cfg.list_only:
        for k in keys:
            print(k.label())
        return 0
    for note in cfg.notes:
        _progress(note)
    peers = Peers(cfg.peers, need_torch=any(k.op == "torch_fwd_bwd" for k in keys))
    saved_simd, saved_threads = _core.simd_level(), _core.get_num_threads()
    results: List[GroupResult] = []
    failures: List[str] = []
    meta = machine_info(cfg, peers)
    arrs: Optional[Arrays] = None
    try:
        _warm_up()
        for i, key in enumerate(keys):
            adtype = "float32" if key.dtype == NO_DTYPE else key.dtype
            if arrs is None or (arrs.dtype, arrs.n) != (adtype, key.n):
                arrs = None
                gc.collect()
                arrs = Arrays(adtype, key.n, cfg.p)
            pydropout.set_num_threads(key.threads)
            if peers.torch is not None:
                peers.torch.set_num_threads(key.threads)
            cands = build_candidates(cfg, key, arrs, peers)
            info = run_group(cfg, key, cands)
            g = GroupResult(key, cands, info)
            results.append(g)
            failures += [
                f"{key.label()} {c.label()}: {c.check_result}"
                for c in cands
                if c.check_result.startswith("FAILED")
            ]
            ceil, row = g.ceiling(), g.main_row(cfg.default_level)
            summary = ""
            if row is not None and ceil is not None:
                summary = f"{row.best / key.n * 1e9:.3g} ns/elem, {row.best / ceil.best:.2f}x copy"
            _progress(
                f"[{i + 1}/{len(keys)}] {key.label()}: {summary} "
                f"({info['rounds']} rounds, {info['seconds']:.1f} s of which "
                f"{info['warmup_seconds']:.1f} s warm-up and checks)"
            )
    finally:
        arrs = None
        _core._set_simd(saved_simd)
        _core.set_num_threads(saved_threads)
        peers.restore()
    meta["elapsed_s"] = time.perf_counter() - t0
    goals = evaluate_goals(cfg, results)
    header = header_md(meta)

    os.makedirs(cfg.out, exist_ok=True)
    with open(os.path.join(cfg.out, "results.md"), "w") as f:
        f.write(results_md(cfg, header, results, goals, failures))
    write_json(os.path.join(cfg.out, "results.json"), meta, results, goals, failures)
    with open(os.path.join(cfg.out, "readme.md"), "w") as f:
        f.write(readme_md(cfg, meta, results, goals))
    plot_note = ""
    if cfg.plot:
        try:
            from .plot import write_plot

            write_plot(os.path.join(cfg.out, "throughput.png"), cfg, results)
        except ImportError:
            plot_note = " (no plot: matplotlib is not installed; pip install 'pydropout[bench]')"

    peers_present = [p for p in PEERS if any(g.peer(p) for g in results)]
    extras = extras_md(cfg, results)
    print("# pydropout benchmark\n")
    print(header + "\n")
    print(detail_table(results, peers_present) + "\n")
    print("## Performance goals\n")
    print(goals_table(goals) + "\n")
    if extras:
        print(extras + "\n")
    print(check_md(failures) + "\n")
    print(
        f"Files: {os.path.join(cfg.out, '')}results.md, results.json, readme.md"
        + ("" if not cfg.plot or plot_note else ", throughput.png")
        + plot_note
        + f"; {meta['elapsed_s']:.0f} s in all."
    )
    if failures:
        return 1
    if cfg.require_goals and any(t.passed is False for t in goals):
        return 2
    return 0
