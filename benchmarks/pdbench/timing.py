"""Warm-up, check and calibration of every candidate of a group, then interleaved rounds.

A candidate's time is the minimum over rounds of the mean over an inner loop long enough
to swamp the timer (``--min-time``)."""

from __future__ import annotations

import gc
import itertools
import math
import random
import time
from typing import Any, Callable, Dict, List

from pydropout import _core

from .config import Config
from .model import Candidate, GroupKey
from .plan import rounds_for

SLOW_PEER = 0.05  # seconds per call
# After a torch or JAX sample the next candidates wait at least this share of the sample's
# time: a JAX call on 16 Mi elements keeps the two CPUs busy for over 10 ms after it
# returns, and pydropout's 2-thread calls in that window ran at half speed.
GAP_SHARE = 0.2


def _time(fn: Callable[[], Any], number: int) -> float:
    it = itertools.repeat(None, number)
    t0 = time.perf_counter_ns()
    for _ in it:
        fn()
    t1 = time.perf_counter_ns()
    return (t1 - t0) * 1e-9 / number


def _settle(cfg: Config, seconds: float) -> None:
    """After a torch or JAX call of `seconds`: let its worker threads go idle."""
    time.sleep(max(cfg.gap, GAP_SHARE * seconds))


def _prepare(c: Candidate, threads: int) -> None:
    if c.simd:
        _core._set_simd(c.simd)
    _core.set_num_threads(c.threads or threads)


def _time_rounds(cfg: Config, key: GroupKey, cands: List[Candidate]) -> int:
    """Time the calibrated candidates in rounds; returns the number of rounds run."""
    max_rounds = rounds_for(cfg, key.n)
    min_rounds = min(cfg.min_rounds, max_rounds)
    gc_was = gc.isenabled()
    gc.disable()
    rounds = 0
    # A new order every round (seeded by the group, so a run repeats). A call's time
    # depends on what ran just before it (clock speed, cache contents: on a 2-CPU Xeon a
    # 16 Mi call after an idle gap took 10-30 % longer than after another call), and a
    # fixed cyclic order would give each candidate the same predecessor in every round.
    # For the same reason a sample of one call (a large array) is primed: an untimed call
    # of the same candidate comes right before it, so it times back-to-back calls.
    order_rng = random.Random(f"{key.op}/{key.dtype}/{key.n}/{key.threads}")
    t_rounds = time.perf_counter()
    try:
        for r in range(max_rounds):
            active = [c for c in cands if not c.dropped]
            if not active:
                break
            order_rng.shuffle(active)
            for c in active:
                _prepare(c, key.threads)
                if c.number == 1 and cfg.prime:
                    c.fn()
                c.samples.append(_time(c.fn, c.number))
                if c.foreign_pool:
                    _settle(cfg, c.samples[-1] * c.number)
                # a peer slower than SLOW_PEER per call (10 to 100 times pydropout) has
                # shown what it is after two samples; the rounds go on for the rest
                if (
                    c.kind == "peer"
                    and len(c.samples) >= min(2, min_rounds)
                    and c.best * c.number > SLOW_PEER
                ):
                    c.dropped = True
            rounds = r + 1
            if rounds >= min_rounds and time.perf_counter() - t_rounds > cfg.budget:
                break
    finally:
        if gc_was:
            gc.enable()
    return rounds


def run_group(cfg: Config, key: GroupKey, cands: List[Candidate]) -> Dict[str, Any]:
    """Warm up, check and calibrate every candidate, then time them in rounds."""
    t_start = time.perf_counter()
    for c in cands:
        _prepare(c, key.threads)
        warm = _time(c.fn, 1)  # warm-up: first touch, JIT compilation, thread pool start
        if c.check is not None:
            _prepare(c, key.threads)
            err = c.check()
            c.check_result = "ok" if err is None else f"FAILED: {err}"
        if warm > 10 * cfg.min_time:
            c.number = 1  # a slow call: one per sample, no need to measure it again
        else:
            one = min(_time(c.fn, 1) for _ in range(2))
            c.number = max(1, min(10**6, math.ceil(cfg.min_time / max(one, 1e-9))))
        if c.foreign_pool:
            _settle(cfg, warm)
    t_rounds = time.perf_counter()
    rounds = _time_rounds(cfg, key, cands)
    return {
        "rounds": rounds,
        "seconds": time.perf_counter() - t_start,
        "warmup_seconds": t_rounds - t_start,
    }
