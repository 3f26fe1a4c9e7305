"""Concurrency and processes.

- Python threads sharing one generator draw disjoint words and lose none;
- other Python threads run while a large call works (the GIL is released);
- a process that has used the OpenMP threads can fork, and the child can call pydropout
  (large arrays, where threads would be used) without hanging; spawn works too;
- a hundred thousand small calls leak nothing (tracemalloc and resident memory stay flat).
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import threading
import time
import tracemalloc

import numpy as np
import pytest
from helpers import child_dropout_work
from helpers import forced_threads as threads

import pydropout
import pydropout.reference as ref

BIG = 1 << 18  # elements: several OpenMP chunks per call


# -- threads sharing one generator ---------------------------------------------------------


def test_threads_sharing_a_generator_lose_no_words():
    """8 threads x 40 calls of mixed sizes and functions on one generator: the calls' words
    tile [offset, offset + total) exactly, each call's mask is the reference's there."""
    seed, offset0 = 0xC0FFEE, 1000
    g = pydropout.Generator(seed, stream=4, offset=offset0)
    sizes = [64, 512, 8192, 40000, 72, 16384]  # multiples of 8; >= 8192 runs without the GIL
    results = [[] for _ in range(8)]
    barrier = threading.Barrier(8)

    def work(k):
        barrier.wait()
        for j in range(40):
            n = sizes[(k + j) % len(sizes)]
            kind = (k * 7 + j) % 3
            if kind == 0:
                m = pydropout.dropout_mask(n, 0.5, generator=g)
            elif kind == 1:
                y = pydropout.dropout(np.ones(n, np.float32), 0.5, generator=g)  # fast path
                m = np.packbits(y != 0, bitorder="little")
            else:
                _, m = pydropout.dropout_with_mask(np.ones(n, np.float64), 0.5, generator=g)
            results[k].append(m)

    with threads(2):
        ts = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
    assert not any(t.is_alive() for t in ts)
    masks = [m for r in results for m in r]
    total = sum(m.size * 8 for m in masks)
    assert g.get_state() == (seed, 4, offset0 + total)  # no word lost, none drawn twice

    whole = ref.dropout_mask(
        total, 0.5, generator=pydropout.Generator(seed, stream=4, offset=offset0)
    )
    # the first 8 bytes of a call's mask locate it in the whole (2**-64 odds of a clash)
    where = {}
    for b in range(whole.size - 7):
        where.setdefault(whole[b : b + 8].tobytes(), []).append(b)
    spans = []
    for m in masks:
        starts = where.get(m[:8].tobytes(), [])
        assert len(starts) == 1
        b = starts[0]
        assert whole[b : b + m.size].tobytes() == m.tobytes()
        spans.append((b, b + m.size))
    spans.sort()
    assert spans[0][0] == 0 and spans[-1][1] == whole.size
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))  # disjoint and gap-free


# -- the GIL is released --------------------------------------------------------------------


def _blocked_fraction(call, min_total=0.4):
    """Run ``call`` repeatedly in a thread while this thread wakes up every millisecond
    (a sleeping thread needs the GIL to wake up, but hardly any CPU, so a busy machine does
    not delay it much). Returns the fraction of the calls' time in which this thread made no
    progress for more than 10 ms: about 1 when the calls hold the GIL, small when not."""
    spans, ticks = [], []
    done = threading.Event()

    def worker():
        while sum(b - a for a, b in spans) < min_total or len(spans) < 3:
            t0 = time.perf_counter()
            call()
            spans.append((t0, time.perf_counter()))
        done.set()

    t = threading.Thread(target=worker)
    t.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    t.join()
    ticks.append(time.perf_counter())
    gaps = [(a, b) for a, b in zip(ticks, ticks[1:]) if b - a > 0.010]
    spans = spans[1:]  # the first call overlaps the thread's start-up
    blocked = sum(max(0.0, min(b, s1) - max(a, s0)) for s0, s1 in spans for a, b in gaps)
    return blocked / sum(b - a for a, b in spans)


def _sized(make, cap):
    """The smallest power-of-two size up to ``cap`` whose call takes 50 ms (one thread)."""
    n = 1 << 20
    while True:
        call = make(n)
        call()  # warm up (first-touch page faults)
        t0 = time.perf_counter()
        call()
        if time.perf_counter() - t0 >= 0.05 or n >= cap:
            return call
        n *= 2


def test_gil_measure_sees_a_call_that_holds_it():
    """The measure below is meaningful: a C call that holds the GIL blocks this thread."""
    assert _blocked_fraction(lambda: sum(range(10_000_000)), min_total=0.3) > 0.6


@pytest.mark.parametrize(
    "function", ["dropout", "dropout_with_mask", "dropout_mask", "dropout_backward"]
)
def test_other_threads_run_while_a_large_call_works(function):
    g = pydropout.Generator(2)

    def make(n):
        x = np.ones(n, np.float16)
        mask = np.full((n + 7) // 8, 0x55, np.uint8)
        return {
            "dropout": lambda: pydropout.dropout(x, 0.5, generator=g),
            "dropout_with_mask": lambda: pydropout.dropout_with_mask(x, 0.5, generator=g),
            "dropout_mask": lambda: pydropout.dropout_mask(4 * n, 0.5, generator=g),
            "dropout_backward": lambda: pydropout.dropout_backward(x, mask, 0.5),
        }[function]

    with threads(1):  # one kernel thread: the calls take long enough to look inside them
        call = _sized(make, 1 << 26)
        fraction = _blocked_fraction(call)
    assert fraction < 0.5, f"this thread was blocked {fraction:.0%} of the time {function} ran"


# -- fork and spawn -------------------------------------------------------------------------


def _expected(seed):
    x = np.linspace(-1, 1, BIG, dtype=np.float32)
    y, m = ref.dropout_with_mask(x, 0.3, generator=pydropout.Generator(seed))
    return (
        y.tobytes(),
        m.tobytes(),
        y.tobytes(),
        m.tobytes(),
        ref.dropout_backward(x, m, 0.3).tobytes(),
    )


def _run_in(method, seeds):
    ctx = multiprocessing.get_context(method)
    pool = ctx.Pool(2)
    try:
        results = [pool.apply_async(child_dropout_work, (s, BIG)) for s in seeds]
        out = [r.get(timeout=120) for r in results]  # a hang fails here, not forever
        pool.close()
        pool.join()
        return out
    finally:
        pool.terminate()


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork() here")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_fork_after_the_threads_were_used():
    with threads(2):
        # the parent uses the OpenMP threads first
        for _ in range(3):
            pydropout.dropout(np.ones(BIG, np.float32), 0.5)
            pydropout.dropout_mask(8 * BIG, 0.5)
        out = _run_in("fork", [1, 2, 3])
        # and the parent's own threads still work after the fork
        assert pydropout.dropout(np.ones(BIG), 0.5, generator=pydropout.Generator(1)).size == BIG
    for seed, got in zip([1, 2, 3], out):
        assert got == _expected(seed)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forked_child_with_more_threads_requested_stays_exact():
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork() here")
    with threads(2):
        pydropout.dropout(np.ones(BIG, np.float32), 0.5)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: even asked for 4 threads, a large call completes; report its bytes
            try:
                pydropout.set_num_threads(4)
                y = pydropout.dropout(
                    np.ones(BIG, np.float32), 0.5, generator=pydropout.Generator(9)
                )
                m = pydropout.dropout_mask(16 * BIG, 0.5, generator=pydropout.Generator(9))
                os.write(
                    w,
                    f"{hashlib.sha256(y.tobytes()).hexdigest()} {m[: BIG // 8].tobytes().hex()[:64]}".encode(),
                )
            finally:
                os._exit(0)
        os.close(w)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.01)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung")
        with os.fdopen(r) as f:
            h, mh = f.read().split()
    expect = ref.dropout(np.ones(BIG, np.float32), 0.5, generator=pydropout.Generator(9))
    assert h == hashlib.sha256(expect.tobytes()).hexdigest()
    assert mh == ref.dropout_mask(BIG, 0.5, generator=pydropout.Generator(9)).tobytes().hex()[:64]


def test_spawn():
    out = _run_in("spawn", [4, 5])
    for seed, got in zip([4, 5], out):
        assert got == _expected(seed)


# -- no leaks -------------------------------------------------------------------------------


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _mixed_calls(count, g, layer):
    x = np.ones(16, np.float32)
    xd = np.ones((2, 8), np.float64)
    out = np.empty_like(x)
    for i in range(count):
        k = i % 20
        if k < 12:
            pydropout.dropout(x, 0.5, generator=g)  # the fast path
        elif k == 12:
            y, m = pydropout.dropout_with_mask(xd, 0.25, generator=g)
        elif k == 13:
            pydropout.dropout_backward(xd, m, 0.25)
        elif k == 14:
            pydropout.dropout_mask(16, 0.5, generator=g)
        elif k == 15:
            pydropout.dropout(x, 0.5, generator=g, out=out)
        elif k == 16:
            layer(xd)
            layer.backward(xd)
        elif k == 17:
            pydropout.Generator(i, stream=1).get_state()
        elif k == 18:
            try:
                pydropout.dropout(x, 2.0, generator=g)
            except ValueError:
                pass
        else:
            try:
                pydropout.Generator(-1)
            except ValueError:
                pass


SANITIZED = "sanitize" in pydropout._core.build_info().get("flags", "")


@pytest.mark.slow  # 126,000 calls, measured twice
def test_no_leak_over_100000_calls():
    g = pydropout.Generator(0)
    layer = pydropout.Dropout(0.5, generator=g)
    _mixed_calls(4000, g, layer)  # warm up caches and allocator pools
    gc.collect()
    rss0 = _rss()
    _mixed_calls(100_000, g, layer)
    gc.collect()
    grown = _rss() - rss0
    # a leak of one small array per call would be > 10 MiB. (Under AddressSanitizer freed
    # memory waits in a quarantine of up to 256 MiB, so resident memory says nothing there;
    # tracemalloc below still does.)
    if not SANITIZED:
        assert grown < 3 * 2**20, (
            f"resident memory grew by {grown / 2**20:.1f} MiB over 100000 calls"
        )

    tracemalloc.start()
    try:
        _mixed_calls(2000, g, layer)
        gc.collect()
        before = tracemalloc.take_snapshot()
        _mixed_calls(20_000, g, layer)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    diff = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert diff < 64 * 1024, f"Python allocations grew by {diff} bytes over 20000 calls"
