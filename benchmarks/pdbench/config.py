"""The command line and the settings of one run."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from typing import Dict, List, NoReturn, Optional, Sequence, Tuple, Union

from pydropout import _core

from .names import ALL_OPS, DTYPE_ALIASES, DTYPES, OP_ALIASES, PEERS, parse_size

PROG = "python benchmarks/bench_dropout.py"


def _csv(text: str) -> List[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=PROG,
        description="Benchmark pydropout against the threaded copy (the bandwidth ceiling), "
        "the NumPy composition, torch and JAX. Times are minima of interleaved repetitions; "
        "every pydropout row is checked bit for bit against pydropout.reference.",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="only the groups the performance goals need, few rounds (< 1 minute)",
    )
    ap.add_argument(
        "--sizes",
        help="comma list, e.g. 1Ki,1Mi,16Mi or 1000003 (default 1Ki,4Ki,64Ki,1Mi,16Mi,64Mi)",
    )
    ap.add_argument("--dtypes", help="comma list of float32,float64,float16 (default all)")
    ap.add_argument(
        "--ops",
        help="comma list of forward,forward_mask,mask,backward, "
        "backward_state,alpha,alpha_backward,gaussian,channel,torch_fwd_bwd, or "
        "the groups plain (the first four), variants (alpha to channel), extra "
        "(the last six), all (default all; the last six at 1Mi,16Mi float32 "
        "unless --sizes / --dtypes say otherwise)",
    )
    ap.add_argument(
        "--threads",
        help="comma list of thread counts, 'all' = the default thread count (default 1,all)",
    )
    ap.add_argument(
        "--simd",
        help="comma list of SIMD levels (default: every supported level "
        "up to the one in use at start, so PYDROPOUT_SIMD caps it)",
    )
    ap.add_argument(
        "--peers",
        help="comma list of multiply,numpy,torch,jax or 'none' "
        "(default all; torch and JAX only when installed)",
    )
    ap.add_argument(
        "--no-out",
        action="store_true",
        help="leave out the public-API rows that write into a preallocated out=",
    )
    ap.add_argument(
        "--no-kernel",
        action="store_true",
        help="leave out the raw _core rows (preallocated outputs, no Python checks)",
    )
    ap.add_argument("--p", type=float, default=0.5, help="drop probability (default 0.5)")
    ap.add_argument("--rounds", type=int, help="maximum rounds per group (default: by size)")
    ap.add_argument("--min-rounds", type=int, help="minimum rounds per group (default 3)")
    ap.add_argument(
        "--min-time",
        type=float,
        help="seconds per sample; the inner loop grows to reach it (default 0.002)",
    )
    ap.add_argument(
        "--budget",
        type=float,
        help="seconds per group after which no new round starts once the minimum "
        "is reached (default 3, --quick 1)",
    )
    ap.add_argument(
        "--gap",
        type=float,
        default=0.002,
        help="seconds of sleep after a torch or JAX sample, so their idle worker "
        "threads stop spinning before the next candidate (default 0.002; at "
        "least a fifth of the sample's own time)",
    )
    ap.add_argument(
        "--no-prime",
        action="store_true",
        help="time a call of one per sample (a large array) without the untimed "
        "call of the same candidate that otherwise comes right before it",
    )
    ap.add_argument(
        "--out",
        default="bench-out",
        help="folder for results.md, results.json, throughput.png, readme.md (default ./bench-out)",
    )
    ap.add_argument("--no-plot", action="store_true", help="do not draw throughput.png")
    ap.add_argument(
        "--require-goals",
        action="store_true",
        help="exit with status 2 when a measured performance goal is missed",
    )
    ap.add_argument("--list", action="store_true", help="print the groups and exit")
    return ap


@dataclass
class Config:
    quick: bool
    sizes: Optional[List[int]]
    dtypes: List[str]
    dtypes_given: bool
    ops: List[str]
    threads: List[int]
    all_threads: int
    levels: List[str]
    default_level: str
    peers: List[str]
    kernel: bool
    out_rows: bool
    p: float
    max_rounds: Optional[int]
    min_rounds: int
    min_time: float
    budget: float
    gap: float
    out: str
    plot: bool
    require_goals: bool
    list_only: bool
    argv: List[str]
    notes: List[str] = field(default_factory=list)
    prime: bool = True  # an untimed call of the candidate right before each one-call sample


class _Picker:
    def __init__(self, ap: argparse.ArgumentParser) -> None:
        self.ap = ap

    def error(self, msg: str) -> NoReturn:
        self.ap.error(msg)

    def pick(
        self,
        text: Optional[str],
        allowed: Sequence[str],
        aliases: Dict[str, Union[str, Tuple[str, ...]]],
        what: str,
    ) -> List[str]:
        if text is None:
            return list(allowed)
        out: List[str] = []
        for s in _csv(text):
            v = aliases.get(s.lower())
            if v is None:
                self.error(f"unknown {what} {s!r}; expected one of {', '.join(allowed)}")
            for one in v if isinstance(v, tuple) else (v,):
                if one not in out:
                    out.append(one)
        return out

    def sizes(self, text: Optional[str]) -> Optional[List[int]]:
        if text is None:
            return None
        try:
            sizes = sorted({parse_size(s) for s in _csv(text)})
        except ValueError:
            self.error(f"cannot read --sizes {text!r}")
        if any(s < 1 for s in sizes):
            self.error("--sizes must be >= 1")
        return sizes

    def threads(self, text: Optional[str], all_threads: int) -> List[int]:
        threads: List[int] = []
        for s in _csv(text or "1,all"):
            try:
                t = all_threads if s.lower() == "all" else int(s)
            except ValueError:
                self.error(f"cannot read --threads {s!r}")
            if t < 1:
                self.error("--threads must be >= 1")
            if t not in threads:
                threads.append(t)
        return sorted(threads)

    def levels(self, text: Optional[str], supported: List[str], default: str) -> List[str]:
        if text is None:
            levels = supported[: supported.index(default) + 1]
        else:
            levels = []
            for s in _csv(text):
                if s not in supported:
                    self.error(
                        f"SIMD level {s!r} is not supported here; supported: {', '.join(supported)}"
                    )
                if s not in levels:
                    levels.append(s)
        return sorted(levels, key=supported.index, reverse=True)  # best first


def make_config(argv: Optional[Sequence[str]]) -> Config:
    ap = build_parser()
    args = list(sys.argv[1:] if argv is None else argv)
    a = ap.parse_args(args)
    pk = _Picker(ap)
    all_threads = max(1, int(_core.get_num_threads() or os.cpu_count() or 1))
    dtypes = pk.pick(a.dtypes, DTYPES, dict(DTYPE_ALIASES), "dtype")
    ops = pk.pick(a.ops, ALL_OPS, OP_ALIASES, "op")
    notes: List[str] = []
    if "torch_fwd_bwd" in ops and importlib.util.find_spec("torch") is None:
        ops.remove("torch_fwd_bwd")
        notes.append("torch_fwd_bwd left out: torch is not installed (pip install torch==2.13.0)")
    supported = list(_core.supported_simd_levels())
    default_level = _core.simd_level()
    if a.peers is None:
        peers = list(PEERS)
    elif a.peers.strip().lower() == "none":
        peers = []
    else:
        peers = pk.pick(a.peers, PEERS, {k: k for k in PEERS}, "peer")
    if not 0.0 < a.p < 1.0:
        pk.error("--p must be in (0, 1)")
    min_rounds = a.min_rounds if a.min_rounds is not None else 3
    if a.rounds is not None:
        if a.rounds < 1:
            pk.error("--rounds must be >= 1")
        min_rounds = min(min_rounds, a.rounds)
    return Config(
        quick=a.quick,
        sizes=pk.sizes(a.sizes),
        dtypes=dtypes,
        dtypes_given=a.dtypes is not None,
        ops=ops,
        threads=pk.threads(a.threads, all_threads),
        all_threads=all_threads,
        levels=pk.levels(a.simd, supported, default_level),
        default_level=default_level,
        peers=peers,
        kernel=not a.no_kernel,
        out_rows=not a.no_out,
        p=float(a.p),
        max_rounds=a.rounds,
        min_rounds=max(1, min_rounds),
        min_time=a.min_time if a.min_time is not None else (0.001 if a.quick else 0.002),
        budget=a.budget if a.budget is not None else (1.0 if a.quick else 3.0),
        gap=max(0.0, a.gap),
        out=a.out,
        plot=not a.no_plot,
        require_goals=a.require_goals,
        list_only=a.list,
        argv=args,
        notes=notes,
        prime=not a.no_prime,
    )
