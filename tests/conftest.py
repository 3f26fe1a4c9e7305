"""Shared test configuration: the hypothesis "ci" profile, the `isa` and `threads`
fixtures, the bit comparisons and context managers that test modules import
(`from conftest import same_bits`), and a guard that restores the process-wide state
(SIMD level, thread count, default generator) after every test, so that tests never
depend on their order.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import pydropout
from pydropout import _core

settings.register_profile(
    "ci",
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    deadline=None,
    max_examples=1000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SIMD_LEVELS = tuple(pydropout.supported_simd_levels())
THREAD_COUNTS = (1, 2, 3, 8)


def pytest_configure(config):
    # When a property fails, hypothesis imports libcst to suggest a patch; old
    # mypy_extensions releases warn on that import, which filterwarnings=error would turn
    # into an internal error that hides the failing example.
    config.addinivalue_line(
        "filterwarnings", "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
    )


def pytest_report_header(config):
    info = _core.build_info()
    return [
        f"pydropout {pydropout.__version__}: simd_level={pydropout.simd_level()}, "
        f"supported_simd_levels={list(SIMD_LEVELS)}, threads={pydropout.get_num_threads()}",
        f"pydropout build: compiler={info.get('compiler')}, openmp={info.get('openmp')}",
    ]


def same_bits(a, b) -> bool:
    """Same dtype, same shape and the same bytes in C order (NaN payloads and -0.0 count)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_same_bits(actual, expected, what=""):
    """Assert :func:`same_bits`, naming the first differing element when they differ."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    a = np.ascontiguousarray(actual).reshape(-1)
    b = np.ascontiguousarray(expected).reshape(-1)
    if a.view(np.uint8).tobytes() == b.view(np.uint8).tobytes():
        return
    if a.dtype == np.uint8:
        diff = np.flatnonzero(a != b)
    else:
        udt = {2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize]
        diff = np.flatnonzero(a.view(udt) != b.view(udt))
    i = int(diff[0])
    raise AssertionError(
        f"{what}: {diff.size} of {a.size} elements differ; first at flat index {i}: "
        f"{a[i]!r} ({a[i:i + 1].view(np.uint8).tobytes().hex()}) != "
        f"{b[i]!r} ({b[i:i + 1].view(np.uint8).tobytes().hex()})"
    )


@contextlib.contextmanager
def forced_simd(level: str):
    """Run the block at SIMD level ``level`` and restore the previous level after."""
    previous = pydropout.simd_level()
    _core._set_simd(level)
    try:
        yield level
    finally:
        _core._set_simd(previous)


@contextlib.contextmanager
def forced_threads(n: int):
    """Run the block with ``n`` threads and restore the previous count after."""
    previous = pydropout.get_num_threads()
    pydropout.set_num_threads(n)
    try:
        yield n
    finally:
        pydropout.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _restore_global_state():
    level = pydropout.simd_level()
    variants = {"fp16": _core._avx512fp16(), "ifma": _core._avx512ifma()}
    threads = pydropout.get_num_threads()
    state = pydropout.default_generator.get_state()
    yield
    _core._set_simd(level)
    for name, was in variants.items():
        if was != "unsupported":
            getattr(_core, f"_set_avx512{name}")(was == "on")
    pydropout.set_num_threads(threads)
    pydropout.default_generator.set_state(state)


@pytest.fixture(params=SIMD_LEVELS)
def isa(request):
    """Each SIMD level this CPU supports, forced for the test and restored after."""
    with forced_simd(request.param):
        yield request.param


@pytest.fixture(params=THREAD_COUNTS)
def threads(request):
    """Thread counts 1, 2, 3 and 8, set for the test and restored after."""
    with forced_threads(request.param):
        yield request.param


@pytest.fixture
def simd():
    """``simd(level)``: a context manager forcing a level inside a test."""
    return forced_simd


@pytest.fixture
def num_threads():
    """``num_threads(n)``: a context manager setting the thread count inside a test."""
    return forced_threads


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
