"""The performance goals: each a measured ratio against the copy, a peer, or another
thread count, with its limit.

1. forward + mask at 16 Mi, all threads, within 1.10x (float16: 1.15x) of the copy
2. backward from the mask at 16 Mi, all threads, within 1.05x (float16: 1.10x) of the copy
3. dropout float32 at 1 Mi, 1 thread, 10x faster than NumPy and 30x faster than torch
4. dropout float32 at 1 Mi: all threads at least 1.80x faster than 1 thread
5. at the AVX2 level, forward + mask float32 16 Mi within 1.30x of the copy
6. a 1 Ki dropout call within 3x of ``np.multiply(x, 2.0, out=y)`` (the call overhead)
7. where a pass is bound by computing the words (float16, and float32 at the AVX2 level),
   dropout within 1.10x of dropout_mask (the words alone), at 1 Mi on 1 thread and at
   16 Mi on all threads
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

from pydropout import _core

from .config import Config
from .model import Candidate, GroupKey, GroupResult
from .names import KI, MI, NO_DTYPE, PUBLIC_NAMES


@dataclass
class Goal:
    ident: str
    text: str
    limit: str
    value: Optional[float] = None
    passed: Optional[bool] = None
    detail: str = ""

    def status(self) -> str:
        if self.passed is None:
            return "n/a"
        return "PASS" if self.passed else "FAIL"


class _Index:
    def __init__(self, cfg: Config, results: List[GroupResult]):
        self.T, self.best = cfg.all_threads, cfg.default_level
        self.by: Dict[GroupKey, GroupResult] = {r.key: r for r in results}

    def group(self, op: str, dtype: str, n: int, threads: int) -> Optional[GroupResult]:
        return self.by.get(GroupKey(op, dtype, n, threads))

    def row(
        self,
        op: str,
        dtype: str,
        n: int,
        threads: int,
        kind: str = "pydropout",
        level: Optional[str] = None,
    ) -> Optional[Candidate]:
        g = self.group(op, dtype, n, threads)
        return g.find(kind, level or self.best) if g else None

    def words_alone(self, n: int, threads: int, level: str) -> Optional[Candidate]:
        """The public dropout_mask row: Philox and the compare only, no data moved."""
        return self.row("mask", NO_DTYPE, n, threads, level=level)


def _ratio_to_copy(
    ix: _Index, ident: str, text: str, op: str, dtype: str, limit: float, level: str
) -> Goal:
    goal = Goal(ident, text, f"<= {limit:.2f}x copy")
    g = ix.group(op, dtype, 16 * MI, ix.T)
    c = g.find("pydropout", level) if g else None
    ceil = g.ceiling() if g else None
    if g is None or c is None or ceil is None:
        goal.detail = f"not measured ({op} {dtype} 16Mi threads={ix.T} [{level}])"
        return goal
    goal.value = c.best / ceil.best
    goal.passed = goal.value <= limit
    goal.detail = (
        f"{PUBLIC_NAMES[op]} [{level}] {c.best * 1e3:.3f} ms vs copy {ceil.best * 1e3:.3f} ms"
    )
    for kind, what in (("out", "with out="), ("kernel", "raw kernel")):
        k = g.find(kind, level)
        if k is not None:
            goal.detail += f"; {what} {k.best / ceil.best:.2f}x copy"
    if op == "forward_mask":  # the floor: drawing the words, with no data moved
        m = ix.words_alone(16 * MI, ix.T, level)
        if m is not None:
            goal.detail += f"; the words alone (dropout_mask) {m.best / ceil.best:.2f}x copy"
    return goal


def _against_peers(ix: _Index) -> List[Goal]:
    out = []
    g1 = ix.group("forward", "float32", MI, 1)
    for peer, lim, pname in (
        ("numpy", 10.0, "the NumPy composition"),
        ("torch", 30.0, "torch F.dropout"),
    ):
        goal = Goal(
            f"3 {peer}", f"dropout float32 1Mi, 1 thread, faster than {pname}", f">= {lim:.0f}x"
        )
        c = g1.find("pydropout", ix.best) if g1 else None
        pc = g1.peer(peer) if g1 else None
        if c is None or pc is None:
            goal.detail = f"not measured (forward float32 1Mi threads=1 [{ix.best}] and {pname})"
        else:
            goal.value = pc.best / c.best
            goal.passed = goal.value >= lim
            goal.detail = (
                f"{c.best * 1e6:.1f} us vs {pc.best * 1e6:.1f} us"
                f" (the limit needs <= {pc.best / lim * 1e6:.1f} us)"
            )
            m = ix.words_alone(MI, 1, ix.best)
            if m is not None:
                goal.detail += f"; the words alone (dropout_mask) {m.best * 1e6:.1f} us"
        out.append(goal)
    return out


def _thread_scaling(ix: _Index) -> Goal:
    T = ix.T
    goal = Goal("4", f"dropout float32 1Mi: {T} threads vs 1 thread", ">= 1.80x")
    c1 = ix.row("forward", "float32", MI, 1)
    cT = ix.row("forward", "float32", MI, T)
    c1_in = ix.row("forward", "float32", MI, T, kind="one_thread")  # the same rounds as cT
    if T < 2:
        goal.detail = "one thread only on this machine"
    elif cT is None or (c1 is None and c1_in is None):
        goal.detail = f"not measured (forward float32 1Mi threads=1 and threads={T} [{ix.best}])"
    else:
        parts = []
        value = None
        if c1_in is not None:
            value = c1_in.best / cT.best
            parts.append(f"interleaved: {c1_in.best * 1e6:.1f} us vs {cT.best * 1e6:.1f} us")
        if c1 is not None:
            if value is None:
                value = c1.best / cT.best
            parts.append(f"1-thread group: {c1.best * 1e6:.1f} us ({c1.best / cT.best:.2f}x)")
        goal.value = value
        goal.passed = value is not None and value >= 1.8
        goal.detail = "; ".join(parts)
    return goal


def _call_overhead(ix: _Index) -> Goal:
    goal = Goal("6", "dropout float32 1Ki call vs np.multiply(x, 2.0, out=y)", "<= 3.00x")
    g6 = ix.group("forward", "float32", KI, ix.T) or ix.group("forward", "float32", KI, 1)
    c = g6.find("pydropout", ix.best) if g6 else None
    pc = g6.peer("multiply") if g6 else None
    if g6 is None or c is None or pc is None:
        goal.detail = f"not measured (forward float32 1Ki [{ix.best}] and np.multiply)"
    else:
        goal.value = c.best / pc.best
        goal.passed = goal.value <= 3.0
        goal.detail = f"{c.best * 1e9:.0f} ns vs {pc.best * 1e9:.0f} ns (threads={g6.key.threads})"
    return goal


FLOOR_LIMIT = 1.10


def floor_cases(best: str) -> List[tuple]:
    """(dtype, SIMD level) of the compute-bound forward passes the floor goal covers."""
    cases = [("float16", best)]
    if "avx2" in _core.supported_simd_levels():
        cases += [("float32", "avx2"), ("float16", "avx2"), ("float64", "avx2")]
    return list(dict.fromkeys(cases))


def _floor(ix: _Index) -> Goal:
    """Goal 7: the forward over the words alone, where the words' compute bounds a pass."""
    goal = Goal(
        "7",
        "compute-bound forward (float16; every dtype at AVX2) vs dropout_mask, 1Mi 1 thread and "
        f"16Mi {ix.T} threads",
        f"<= {FLOOR_LIMIT:.2f}x",
    )
    parts, worst, missing = [], None, []
    for dtype, level in floor_cases(ix.best):
        for n, threads in ((MI, 1), (16 * MI, ix.T)):
            c = ix.row("forward", dtype, n, threads, level=level)
            m = ix.words_alone(n, threads, level)
            where = f"{dtype} [{level}] {'1Mi' if n == MI else '16Mi'} t={threads}"
            if c is None or m is None:
                missing.append(where)
                continue
            r = c.best / m.best
            worst = r if worst is None else max(worst, r)
            parts.append(f"{where} {r:.3f}")
    if worst is None:
        goal.detail = "not measured (" + "; ".join(missing) + ")"
        return goal
    goal.value = worst
    goal.passed = worst <= FLOOR_LIMIT
    goal.detail = "; ".join(parts) + (
        " (not measured: " + "; ".join(missing) + ")" if missing else ""
    )
    return goal


def evaluate_goals(cfg: Config, results: List[GroupResult]) -> List[Goal]:
    ix = _Index(cfg, results)
    T, best = ix.T, ix.best
    out = []
    for d, lim in (("float32", 1.10), ("float64", 1.10), ("float16", 1.15)):
        out.append(
            _ratio_to_copy(
                ix,
                f"1 {d}",
                f"forward + mask, {d}, 16Mi, {T} threads",
                "forward_mask",
                d,
                lim,
                best,
            )
        )
    for d, lim in (("float32", 1.05), ("float64", 1.05), ("float16", 1.10)):
        out.append(
            _ratio_to_copy(
                ix,
                f"2 {d}",
                f"backward from the mask, {d}, 16Mi, {T} threads",
                "backward",
                d,
                lim,
                best,
            )
        )
    out += _against_peers(ix)
    out.append(_thread_scaling(ix))
    if "avx2" in _core.supported_simd_levels():
        out.append(
            _ratio_to_copy(
                ix,
                "5",
                f"AVX2 level: forward + mask, float32, 16Mi, {T} threads",
                "forward_mask",
                "float32",
                1.30,
                "avx2",
            )
        )
    else:
        out.append(Goal("5", "AVX2 level", "<= 1.30x copy", detail="no AVX2 on this CPU"))
    out.append(_call_overhead(ix))
    out.append(_floor(ix))
    return out


def goals_table(goals: List[Goal]) -> str:
    lines = ["| goal | what | limit | measured | result | detail |", "|---|---|---|---|---|---|"]
    for t in goals:
        v = "" if t.value is None else f"{t.value:.2f}x"
        lines.append(f"| {t.ident} | {t.text} | {t.limit} | {v} | {t.status()} | {t.detail} |")
    return "\n".join(lines)
