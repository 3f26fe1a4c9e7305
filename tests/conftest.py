"""Test configuration only: the hypothesis profiles ("ci" by default, "thorough" with
HYPOTHESIS_PROFILE=thorough), the report header, the `isa`, `threads`, `simd`,
`num_threads` and `rng` fixtures, and a guard that restores the process-wide state (SIMD
level, thread count, default generator) after every test, so that tests never depend on
their order. What test modules import (lists, bit comparisons, context managers) is in
helpers.py.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from helpers import SIMD_LEVELS, THREAD_COUNTS, forced_simd, forced_threads
from hypothesis import HealthCheck, settings

import pydropout
from pydropout import _core

for _name, _examples in (("ci", 40), ("thorough", 1000)):
    settings.register_profile(
        _name,
        deadline=None,
        max_examples=_examples,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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
