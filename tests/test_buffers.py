"""Where outputs live: large outputs come from pydropout's recycled buffers (64-byte
aligned, or, when streamed, at the input's offset within a cache line, so the kernel's
loads and its non-temporal stores both fall on whole lines), and every result stays equal
to pydropout.reference."""

import numpy as np
import pytest
from helpers import assert_same_bits

import pydropout
from pydropout import _core

MIB = 1 << 20
STREAM_BYTES = 8 * MIB  # outputs this large are streamed (csrc/dropout.hpp, kStreamBytes)


def _at_offset(n, dtype, offset):
    """A C-contiguous array of n elements whose data starts `offset` bytes past a line."""
    dt = np.dtype(dtype)
    raw = np.zeros(n * dt.itemsize + 128, np.uint8)
    start = (-raw.ctypes.data) % 64 + offset
    a = raw[start : start + n * dt.itemsize].view(dt)
    a[...] = (np.arange(n) % 7 - 3).astype(dt)
    assert a.ctypes.data % 64 == offset
    return a


def _calls(x):
    """Every public call that allocates an output shaped like x (name, output)."""
    gen = lambda: pydropout.Generator(5, offset=3)  # noqa: E731
    y, mask = pydropout.dropout_with_mask(x, 0.3, generator=gen())
    return [
        ("dropout", pydropout.dropout(x, 0.3, generator=gen())),
        ("dropout_with_mask", y),
        (
            "dropout downscale",
            pydropout.dropout(x, 0.3, mode="downscale_in_infer", generator=gen()),
        ),
        ("dropout_backward", pydropout.dropout_backward(x, mask, 0.3)),
        (
            "dropout_backward downscale",
            pydropout.dropout_backward(x, mask, 0.3, mode="downscale_in_infer"),
        ),
        ("alpha_dropout", pydropout.alpha_dropout(x, 0.3, training=True, generator=gen())),
        ("gaussian_dropout", pydropout.gaussian_dropout(x, 0.3, training=True, generator=gen())),
    ]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_streamed_outputs_start_at_the_inputs_line_offset(dtype):
    itemsize = np.dtype(dtype).itemsize
    n = STREAM_BYTES // itemsize + 1000
    for offset in sorted({0, itemsize, 16, 48 // itemsize * itemsize}):
        x = _at_offset(n, dtype, offset)
        for name, y in _calls(x):
            assert y.shape == x.shape and y.dtype == x.dtype and y.flags.c_contiguous, name
            assert y.flags.writeable and y.flags.aligned, name
            assert y.ctypes.data % 64 == offset, (name, offset)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_smaller_outputs_stay_line_aligned(dtype):
    """Outputs of 1 to 8 MiB are not streamed: their stores start at element 0, so the
    output stays 64-byte aligned whatever the input's offset."""
    itemsize = np.dtype(dtype).itemsize
    x = _at_offset(2 * MIB // itemsize + 3, dtype, 16)
    for name, y in _calls(x):
        assert y.ctypes.data % 64 == 0, name


def test_offset_outputs_match_the_reference():
    x = _at_offset(STREAM_BYTES // 4 + 77, np.float32, 16)
    gen = pydropout.Generator(9, offset=5)
    y, mask = pydropout.dropout_with_mask(x, 0.4, generator=gen)
    ry, rmask = pydropout.reference.dropout_with_mask(
        x, 0.4, generator=pydropout.reference.Generator(9, offset=5)
    )
    assert y.ctypes.data % 64 == 16
    assert_same_bits(y, ry, "forward")
    assert_same_bits(mask, rmask, "mask")
    dx = pydropout.dropout_backward(x, mask, 0.4)
    assert_same_bits(dx, pydropout.reference.dropout_backward(x, mask, 0.4), "backward")


def test_an_offset_256_mib_output_is_still_recycled():
    """The cache keeps up to 256 MiB of outputs; the line offset of a streamed output must
    not push a 256 MiB one out of it (then every call would pay its page faults)."""
    like = _at_offset(16, np.float32, 16)
    n = 256 * MIB // 4
    _core._buffer_trim()
    a = _core.empty([n], np.dtype(np.float32), like)  # address space only: nothing touched
    address = a.ctypes.data
    assert address % 64 == 16
    del a
    assert _core._buffer_cached_bytes() >= 256 * MIB
    b = _core.empty([n], np.dtype(np.float32), like)
    assert b.ctypes.data == address
    del b
    _core._buffer_trim()
    assert _core._buffer_cached_bytes() == 0
