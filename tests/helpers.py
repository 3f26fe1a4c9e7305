"""What the test modules share: the lists they parametrize over (SIMD levels, thread
counts, dtypes, p values, modes), a few constants, the bit comparisons, and the context
managers that force a SIMD level or a thread count for a block.

Test modules import from here (``from helpers import assert_same_bits``); pyproject's
``pythonpath = ["tests"]`` puts this folder on ``sys.path`` however pytest is started.
Fixtures, hooks and the hypothesis profiles live in conftest.py.
"""

from __future__ import annotations

import contextlib
import pathlib
from typing import Iterator

import numpy as np

import pydropout
import pydropout.reference as ref
from pydropout import _core

try:
    import ml_dtypes
except ImportError:  # the bfloat16 extra is optional
    ml_dtypes = None

ROOT = pathlib.Path(__file__).resolve().parents[1]  # the source tree

# the compiled path and the plain-NumPy reference: the same public functions, the same bits
IMPLS = {"core": pydropout, "reference": ref}

SIMD_LEVELS = tuple(pydropout.supported_simd_levels())
THREAD_COUNTS = (1, 2, 3, 8)

BFLOAT16 = np.dtype(ml_dtypes.bfloat16) if ml_dtypes is not None else None
# every floating dtype pydropout takes, bfloat16 where ml_dtypes is installed
DTYPES = tuple(np.dtype(d) for d in (np.float16, np.float32, np.float64)) + (
    (BFLOAT16,) if BFLOAT16 is not None else ()
)
DTYPES_BY_NAME = {d.name: d for d in DTYPES}

UP, DOWN = "upscale_in_train", "downscale_in_infer"
MODES = (UP, DOWN)
# p values from both ends: 0 and 1 (drop nothing / everything) and their neighbours
PS = (0.0, 1e-10, 0.1, 0.5, 0.9, 1 - 1e-10, 1.0)

SEED = 0x0123456789ABCDEF  # SPEC's example seed
TWO32, TWO64 = 1 << 32, 1 << 64  # the block counter's carry; the end of a stream


def same_bits(a, b) -> bool:
    """Same dtype, same shape and the same bytes in C order (NaN payloads and -0.0 count)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_same_bits(actual, expected, what: str = "") -> None:
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
        f"{a[i]!r} ({a[i : i + 1].view(np.uint8).tobytes().hex()}) != "
        f"{b[i]!r} ({b[i : i + 1].view(np.uint8).tobytes().hex()})"
    )


def unpack_mask(mask, n: int) -> np.ndarray:
    """The first ``n`` keep bits of a packed mask (little bit order), as booleans."""
    return np.unpackbits(mask, count=n, bitorder="little").astype(bool)


@contextlib.contextmanager
def _restoring(get, set_, value) -> Iterator:
    previous = get()
    set_(value)
    try:
        yield value
    finally:
        set_(previous)


def forced_simd(level: str):
    """Run the block at SIMD level ``level`` and restore the previous level after."""
    return _restoring(pydropout.simd_level, _core._set_simd, level)


def forced_threads(n: int):
    """Run the block with ``n`` threads and restore the previous count after."""
    return _restoring(pydropout.get_num_threads, pydropout.set_num_threads, n)


def child_dropout_work(seed: int, n: int) -> tuple:
    """Runs in a child process (here, where a spawned child can import it by name): large
    calls of every function, with the threads in use."""
    x = np.linspace(-1, 1, n, dtype=np.float32)
    pydropout.set_num_threads(2)
    y, m = pydropout.dropout_with_mask(x, 0.3, generator=pydropout.Generator(seed))
    fast = pydropout.dropout(x, 0.3, generator=pydropout.Generator(seed))
    mk = pydropout.dropout_mask(n, 0.3, generator=pydropout.Generator(seed))
    back = pydropout.dropout_backward(x, m, 0.3)
    return y.tobytes(), m.tobytes(), fast.tobytes(), mk.tobytes(), back.tobytes()
