"""Concurrency: many Python threads calling dropout on large arrays, sharing one
generator (each call reserves its words atomically: the drawn ranges are disjoint and
cover the stream without gaps) and not sharing one; and the GIL is released during the
work, so other Python threads make progress."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
from helpers import same_bits

import pydropout
import pydropout.reference as ref

T = 8  # Python threads


def run_threads(target, count=T):
    barrier = threading.Barrier(count)
    errors = []

    def wrapped(k):
        try:
            barrier.wait()
            target(k)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(k,)) for k in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def sizes_of(k):
    # above the threading grain, small, and odd sizes that cut bytes and Philox blocks
    return [70_001 + 37 * k, 129 + k, 150_003 + 8 * k]


def inputs(k, n):
    return np.random.default_rng([k, n]).standard_normal(n).astype(np.float32)


def locate(results, start, total, state):
    """Place every call's mask in the reference stream, greedily from `start`: the masks
    must tile [start, start + total) exactly, each at a distinct offset."""
    seed, stream = state
    whole = np.unpackbits(
        ref.dropout_mask(
            total, 0.5, generator=pydropout.Generator(seed, stream=stream, offset=start)
        ),
        count=total,
        bitorder="little",
    )
    remaining = list(results)
    placed = []
    pos = 0
    while remaining:
        for i, r in enumerate(remaining):
            n = r[0].size
            bits = np.unpackbits(r[1], count=n, bitorder="little")
            if pos + n <= total and np.array_equal(bits, whole[pos : pos + n]):
                placed.append((start + pos, r))
                del remaining[i]
                pos += n
                break
        else:
            raise AssertionError(f"no call drew the words at offset {start + pos}")
    assert pos == total
    return placed


def test_shared_generator_draws_disjoint_complete_ranges(num_threads):
    state = (0xFEEDFACE, 3)
    start = 2**40 + 1
    g = pydropout.Generator(state[0], stream=state[1], offset=start)
    results = [[] for _ in range(T)]

    def work(k):
        for n in sizes_of(k):
            x = inputs(k, n)
            y, m = pydropout.dropout_with_mask(x, 0.5, generator=g)
            results[k].append((x, m, y))

    with num_threads(3):
        run_threads(work)
    total = sum(sum(sizes_of(k)) for k in range(T))
    assert g.offset == start + total
    flat = [(x, m, y) for rs in results for (x, m, y) in rs]
    for offset, (x, _m, y) in locate(flat, start, total, state):
        expected = ref.dropout(
            x, 0.5, generator=pydropout.Generator(state[0], stream=state[1], offset=offset)
        )
        assert same_bits(y, expected)


def test_shared_default_generator_and_fast_path(num_threads):
    """generator=None: the default generator is shared; the fast path (dropout of a
    C-contiguous float array) reserves atomically too."""
    pydropout.manual_seed(31337)
    results = [[] for _ in range(T)]

    def work(k):
        for n in sizes_of(k):
            x = np.full(n, 1.0, np.float64)
            y = pydropout.dropout(x, 0.5)
            results[k].append((x, np.packbits(y != 0, bitorder="little"), y))

    with num_threads(2):
        run_threads(work)
    total = sum(sum(sizes_of(k)) for k in range(T))
    assert pydropout.default_generator.get_state() == (31337, 0, total)
    flat = [r for rs in results for r in rs]
    placed = locate(flat, 0, total, (31337, 0))
    assert len({offset for offset, _ in placed}) == len(flat)


def test_independent_generators_match_serial_reference(num_threads):
    """Each thread has its own generator: every result is exactly the serial reference."""

    def calls(mod, k, results):
        """Thread k's calls on its own generator; returns the generator."""
        g = pydropout.Generator(1000 + k, stream=k)
        for n in sizes_of(k):
            x = inputs(k, n)
            y, m = mod.dropout_with_mask(x, 0.3, mode="downscale_in_infer", generator=g)
            results[k, n] = (y, m, mod.dropout_backward(x, m, 0.3))
        return g

    expected = {}
    for k in range(T):
        calls(ref, k, expected)
    got = {}

    def work(k):
        assert calls(pydropout, k, got).offset == sum(sizes_of(k))

    for threads in (1, 8):
        got.clear()
        with num_threads(threads):
            run_threads(work)
        assert got.keys() == expected.keys()
        for key, (y, m, dx) in got.items():
            ey, em, edx = expected[key]
            assert same_bits(y, ey) and same_bits(m, em) and same_bits(dx, edx), (threads, key)


def test_gil_is_released_during_long_calls(num_threads):
    """A Python thread that needs the GIL records timestamps while the main thread is
    inside a long call; it must record some in the middle 60% of the call. With the GIL
    held it could only run before or after the call (the switch interval is set to 1 ms,
    far below the length of the calls, so it cannot run long before one starts)."""
    stamps = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            stamps.append(time.perf_counter())

    x = np.ones(8_000_000, np.float32)
    mask = pydropout.dropout_mask(x.size, 0.5, generator=pydropout.Generator(1))
    calls = {
        "dropout_mask": lambda: pydropout.dropout_mask(
            40_000_000, 0.5, generator=pydropout.Generator(1)
        ),
        "dropout": lambda: pydropout.dropout(x, 0.5, generator=pydropout.Generator(1)),
        "dropout_with_mask": lambda: pydropout.dropout_with_mask(
            x, 0.5, mode="downscale_in_infer", generator=pydropout.Generator(1)
        ),
        "dropout_backward": lambda: pydropout.dropout_backward(x, mask, 0.5),
    }
    interval = sys.getswitchinterval()
    t = threading.Thread(target=ticker)
    sys.setswitchinterval(0.001)
    try:
        with num_threads(1):
            t.start()
            for name, call in calls.items():
                for _attempt in range(5):
                    stamps.clear()
                    t0 = time.perf_counter()
                    call()
                    t1 = time.perf_counter()
                    inside = np.asarray(stamps[:])
                    lo, hi = t0 + 0.2 * (t1 - t0), t1 - 0.2 * (t1 - t0)
                    if np.count_nonzero((inside > lo) & (inside < hi)):
                        break
                else:
                    raise AssertionError(f"no other Python thread ran during {name}")
    finally:
        stop.set()
        if t.is_alive():
            t.join()
        sys.setswitchinterval(interval)
