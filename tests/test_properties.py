"""Property tests (hypothesis, "ci" profile from conftest.py): arbitrary shapes up to
4-D with zero-length axes, arbitrary slices and transpositions, values with NaN, inf
and -0.0. Properties: the core equals the reference bit for bit; the output is the
formula of docs/CONTRACT.md section 1 applied to the mask; results are equal across SIMD levels
and thread counts; the offset shifts the stream as documented."""

from __future__ import annotations

import math

import numpy as np
from helpers import DTYPES, MODES, PS, SIMD_LEVELS, UP, same_bits
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import pydropout
import pydropout.reference as ref
from pydropout import _core

U64 = st.integers(0, 2**64 - 1)
P = st.one_of(st.sampled_from(PS), st.floats(0.0, 1.0))
MODE = st.sampled_from(MODES)


@st.composite
def float_arrays(draw, max_dims=4, max_side=7):
    """An array of any supported dtype, then a strided, possibly transposed view of it."""
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=max_side))
    width = 32 if dtype.name == "bfloat16" else 8 * dtype.itemsize
    elements = st.floats(width=width, allow_nan=True, allow_infinity=True, allow_subnormal=True)
    base = draw(
        hnp.arrays(
            np.float32 if width == 32 and dtype.itemsize == 2 else dtype, shape, elements=elements
        )
    )
    base = base.astype(dtype)
    # a view: per axis a slice with any step (negative included), then maybe a transpose
    index = []
    for n in shape:
        step = draw(st.sampled_from([1, 1, 2, 3, -1, -2]))
        start = draw(st.integers(0, max(n - 1, 0)))
        if step < 0 and n == 0:
            start = None
        index.append(slice(start, None, step))
    view = base[tuple(index)]
    if view.ndim > 1 and draw(st.booleans()):
        view = view.transpose(draw(st.permutations(range(view.ndim))))
    return view


def draw_state(draw, n):
    seed = draw(U64)
    stream = draw(U64)
    last = min(2**64 - n, 2**64 - 1)  # the call may end exactly at 2**64
    offset = draw(
        st.one_of(st.integers(0, last), st.integers(4 * 2**32 - 70, 4 * 2**32 + 5), st.just(last))
    )
    return seed, stream, offset


def gen(state):
    return pydropout.Generator(state[0], stream=state[1], offset=state[2])


@given(data=st.data(), x=float_arrays(), p=P, mode=MODE)
def test_core_equals_reference(data, x, p, mode):
    state = draw_state(data.draw, x.size)
    y_ref, m_ref = ref.dropout_with_mask(x, p, mode=mode, generator=gen(state))
    g = gen(state)
    y, m = pydropout.dropout_with_mask(x, p, mode=mode, generator=g)
    assert g.offset == state[2] + x.size
    assert same_bits(y, y_ref) and same_bits(m, m_ref)
    assert same_bits(pydropout.dropout(x, p, mode=mode, generator=gen(state)), y_ref)
    assert same_bits(pydropout.dropout_mask(x.shape, p, generator=gen(state)), m_ref)
    grad = np.flip(x)  # another strided view with NaN, inf and -0.0
    assert same_bits(
        pydropout.dropout_backward(grad, m, p, mode=mode),
        ref.dropout_backward(grad, m, p, mode=mode),
    )


@given(data=st.data(), x=float_arrays(), p=P, mode=MODE)
def test_output_is_the_formula(data, x, p, mode):
    """y = x * s where kept and +0.0 where dropped (s = dtype(1/(1-p)) or 1), keep iff the
    word is >= floor(p * 2**32), from the reference's words; backward likewise."""
    state = draw_state(data.draw, x.size)
    y, m = pydropout.dropout_with_mask(x, p, mode=mode, generator=gen(state))
    n = x.size
    words = ref.stream_words(*state, n)
    keep = np.zeros(n, bool) if p == 1.0 else words >= math.floor(p * 2**32)
    np.testing.assert_array_equal(np.unpackbits(m, count=n, bitorder="little").astype(bool), keep)
    xf = np.array(x, order="C").reshape(-1)
    if mode == UP and p < 1.0:
        with np.errstate(all="ignore"):
            kept = xf * np.array(1.0 / (1.0 - p)).astype(x.dtype)
    else:
        kept = xf
    expected = np.where(keep, kept, np.zeros((), x.dtype)).reshape(x.shape)
    assert same_bits(y, expected)
    dropped = y.reshape(-1)[~keep]
    assert same_bits(dropped, np.zeros(dropped.shape, x.dtype))  # +0.0, never -0.0 or NaN
    assert same_bits(pydropout.dropout_backward(x, m, p, mode=mode), expected)


@given(data=st.data(), p=P, mode=MODE)
def test_same_across_simd_levels_and_threads(data, p, mode):
    """Sizes up to 300000 (above the threading grain), every level x threads 1, 2, 3, 8."""
    dtype = data.draw(st.sampled_from(DTYPES))
    n = data.draw(st.one_of(st.integers(0, 200), st.integers(60000, 300000)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = (rng.standard_normal(n) * 100).astype(dtype)
    x[rng.integers(0, max(n, 1), size=min(n, 5))] = np.nan if n else 0
    step = data.draw(st.sampled_from([1, -1, 2]))
    x = x[::step]
    state = draw_state(data.draw, x.size)
    results = []
    for level in SIMD_LEVELS:
        _core._set_simd(level)
        for threads in (1, 2, 3, 8):
            pydropout.set_num_threads(threads)
            y, m = pydropout.dropout_with_mask(x, p, mode=mode, generator=gen(state))
            results.append((level, threads, y, m))
    # conftest restores the level and the thread count after the test
    _, _, y0, m0 = results[0]
    for level, threads, y, m in results[1:]:
        assert same_bits(y, y0) and same_bits(m, m0), (level, threads)


@given(
    n=st.integers(0, 300),
    k=st.integers(0, 300),
    seed=U64,
    stream=U64,
    offset=st.one_of(st.integers(0, 2**64 - 601), st.integers(4 * 2**32 - 300, 4 * 2**32)),
    p=P,
    dtype=st.sampled_from(DTYPES),
)
def test_offset_shifts_the_stream(n, k, seed, stream, offset, p, dtype):
    """The call at offset + k gives elements k .. k + n - 1 of the call at offset."""
    x = np.linspace(-3, 3, n + k).astype(dtype)
    whole, mw = pydropout.dropout_with_mask(
        x, p, generator=pydropout.Generator(seed, stream=stream, offset=offset)
    )
    part, mp = pydropout.dropout_with_mask(
        x[k:], p, generator=pydropout.Generator(seed, stream=stream, offset=offset + k)
    )
    assert same_bits(part, whole[k:])
    np.testing.assert_array_equal(
        np.unpackbits(mp, count=n, bitorder="little"),
        np.unpackbits(mw, count=n + k, bitorder="little")[k:],
    )
