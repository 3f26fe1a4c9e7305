"""Checks made once, when the compiled core loads: its version, and the environment variables
it reads.

The core reads ``PYDROPOUT_SIMD``, ``PYDROPOUT_NUM_THREADS``, ``PYDROPOUT_AVX512IFMA`` and
``PYDROPOUT_AVX512FP16`` itself and ignores values it cannot use; here each such value gets a
``RuntimeWarning`` that names it and says what is used instead. An empty value counts as
unset. A core built from other sources than these Python files raises ImportError.
"""

from __future__ import annotations

import os
import re
import warnings
from types import ModuleType
from typing import List, Optional

from ._checks import MAX_THREADS

LEVELS = ("scalar", "neon", "avx2", "avx512")  # PYDROPOUT_SIMD caps at a level in this order
_WHOLE_NUMBER = re.compile(r"\s*\+?[0-9]+\s*")  # what the core's strtol accepts whole


def max_threads() -> int:
    """The most threads ``set_num_threads`` accepts: ``max(256, 4 * os.cpu_count())``."""
    return MAX_THREADS


def check_version(core: ModuleType, version: str, package_dir: str) -> None:
    """ImportError unless the core was built from the same version as these Python files."""
    built = getattr(core, "__version__", None)
    if built == version:
        return
    said = "a version it does not say" if built is None else f"version {built}"
    raise ImportError(
        f"pydropout's Python files are version {version} ({package_dir}), but its compiled "
        f"core is {said} ({getattr(core, '__file__', '?')}). They come from different "
        "builds: rebuild the core from these sources (pip install --no-build-isolation "
        "-Cbuild-dir=build -ve . in the source tree), or run Python outside the source "
        "tree to use the installed package alone."
    )


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def environment_problems(core: ModuleType, environ: Optional[dict] = None) -> List[str]:
    """What is wrong with the environment variables the core read, one message each."""
    env = os.environ if environ is None else environ
    problems = []
    simd = env.get("PYDROPOUT_SIMD", "")
    if simd:
        used = core.simd_level()
        has = ", ".join(core.supported_simd_levels())
        if simd not in LEVELS:
            problems.append(
                f"PYDROPOUT_SIMD={simd!r} is not a SIMD level (expected one of "
                f"{', '.join(LEVELS)}); it is ignored and {used!r} is used, the best level "
                f"this CPU has"
            )
        elif used != simd:
            problems.append(
                f"PYDROPOUT_SIMD={simd!r} is not supported by this CPU (it has {has}): "
                f"capped at {used!r}"
            )
    threads = env.get("PYDROPOUT_NUM_THREADS", "")
    if threads:
        n = int(threads) if _WHOLE_NUMBER.fullmatch(threads) else 0
        if n < 1:
            problems.append(
                f"PYDROPOUT_NUM_THREADS={threads!r} is not a positive integer; it is ignored "
                f"and {core.get_num_threads()} threads are used (OpenMP's default)"
            )
        elif n > max_threads():
            core.set_num_threads(max_threads())
            problems.append(
                f"PYDROPOUT_NUM_THREADS={threads!r} is more than {max_threads()} "
                f"(max(256, 4 * os.cpu_count())): capped at {max_threads()} threads"
            )
    for name, what in (
        ("PYDROPOUT_AVX512IFMA", core._avx512ifma),
        ("PYDROPOUT_AVX512FP16", core._avx512fp16),
    ):
        value = env.get(name, "")
        if value and value not in ("0", "1"):
            problems.append(f"{name}={value!r} is neither 0 nor 1; it is ignored (now: {what()})")
    return problems


def check_environment(core: ModuleType) -> None:
    """Warn (RuntimeWarning) for each environment value the core could not use."""
    for message in environment_problems(core):
        _warn(message)
