"""Memory layouts: element i is the i-th element of the logical shape in C order,
whatever the strides; out= and inplace write through views and nowhere else; what is
returned (new array, out, x itself); noise shapes broadcast the mask. These tests use
the core on its own (tests/test_parity.py checks it against the reference)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import DOWN, DTYPES, IMPLS, MODES, UP, same_bits

import pydropout


def assert_layout_of(y, x):
    """``y`` in the layout the contract's section 5 gives a new array over ``x`` (test_output_layouts.py)."""
    dense = (
        x.ndim < 2
        or x.flags.c_contiguous
        or (
            min(x.strides) >= 0
            and x.transpose(np.argsort([-s for s in x.strides], kind="stable")).flags.c_contiguous
        )
    )
    if dense and not x.flags.c_contiguous:
        assert (
            np.argsort([-s for s in y.strides], kind="stable").tolist()
            == np.argsort([-s for s in x.strides], kind="stable").tolist()
        )
    else:
        assert y.flags.c_contiguous


def G(offset=0):
    return pydropout.Generator(2024, stream=1, offset=offset)


def data(shape, dtype=np.float32, seed=0):
    return np.array(np.random.default_rng(seed).standard_normal(shape) * 3 + 0.5).astype(dtype)


VIEWS = {
    "fortran": lambda a: np.asfortranarray(a),
    "transposed": lambda a: a.T,
    "swapaxes": lambda a: a.swapaxes(0, 2),
    "step2": lambda a: a[::2],
    "step3-last": lambda a: a[..., ::3],
    "negative": lambda a: a[::-1, :, ::-1],
    "negative-step": lambda a: a[:, ::-2],
    "middle": lambda a: a[1:-1, 2:5, 3:],
    "new-axis": lambda a: a[:, None, :, None, :],
    "integer-index": lambda a: a[2],
    "broadcast": lambda a: np.broadcast_to(a[:1, :1], (5, 6, 7)),
    "zero-length": lambda a: a[:, 3:3],
}


@pytest.mark.parametrize("name", IMPLS)
@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_view_equals_its_c_contiguous_copy(name, view, dtype):
    mod = IMPLS[name]
    x = VIEWS[view](data((5, 6, 7), dtype))
    c = np.array(x, order="C")
    assert same_bits(mod.dropout(x, 0.4, generator=G()), mod.dropout(c, 0.4, generator=G()))
    (y1, m1), (y2, m2) = (mod.dropout_with_mask(a, 0.4, mode=DOWN, generator=G()) for a in (x, c))
    assert same_bits(y1, y2) and same_bits(m1, m2)
    assert same_bits(mod.dropout_backward(x, m1, 0.4), mod.dropout_backward(c, m1, 0.4))
    y = mod.dropout(x, 0.4, generator=G())
    assert y.shape == x.shape and y.dtype == x.dtype and y.flags.writeable
    assert_layout_of(y, x)  # the contract's section 5: a dense input's stride order, else C order


def test_logical_order_not_memory_order():
    x = data((64, 64))
    y = pydropout.dropout(x.T, 0.5, generator=G())
    keep = np.unpackbits(pydropout.dropout_mask(x.size, 0.5, generator=G()), bitorder="little")
    np.testing.assert_array_equal(y != 0, keep.reshape(64, 64).astype(bool))
    # the mask follows x.T's logical order, so it is not the transposed mask of x
    assert not np.array_equal(y != 0, (pydropout.dropout(x, 0.5, generator=G()) != 0).T)


def test_broadcast_elements_draw_their_own_words():
    x = np.broadcast_to(np.float32(3.0), (100, 100))
    y = pydropout.dropout(x, 0.5, generator=G())
    keep = (
        np.unpackbits(pydropout.dropout_mask((100, 100), 0.5, generator=G()), bitorder="little")
        .reshape(100, 100)
        .astype(bool)
    )
    np.testing.assert_array_equal(y, np.where(keep, np.float32(6.0), np.float32(0.0)))
    assert 0.4 < keep.mean() < 0.6


@pytest.mark.parametrize("name", IMPLS)
@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (1,), (1, 1, 1)])
def test_empty_and_zero_d(name, shape):
    mod = IMPLS[name]
    x = data(shape)
    g = G(5)
    y = mod.dropout(x, 0.5, generator=g)
    assert y.shape == shape and y.dtype == np.float32 and y is not x
    assert g.offset == 5 + x.size
    y, m = mod.dropout_with_mask(x, 0.5, generator=g)
    assert y.shape == shape and m.shape == ((x.size + 7) // 8,) and m.dtype == np.uint8
    assert mod.dropout_backward(x, m, 0.5).shape == shape
    assert mod.dropout_mask(shape, 0.5, generator=g).shape == ((x.size + 7) // 8,)
    assert mod.dropout(x, 0.5, inplace=True, generator=g) is x


@pytest.mark.parametrize("name", IMPLS)
def test_scalars_and_lists(name):
    mod = IMPLS[name]
    y = mod.dropout(np.float32(3.0), 0.0, generator=G())
    assert isinstance(y, np.ndarray) and y.shape == () and y.dtype == np.float32 and y == 3.0
    y = mod.dropout(2.5, 0.0, generator=G())
    assert y.shape == () and y.dtype == np.float64
    y = mod.dropout([[1.0, 2.0], [3.0, 4.0]], 0.5, generator=G())
    assert same_bits(y, mod.dropout(np.array([[1.0, 2.0], [3.0, 4.0]]), 0.5, generator=G()))


# ---------------------------------------------------------------------------------------
# what comes back


@pytest.mark.parametrize("name", IMPLS)
@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
def test_training_returns_a_new_array(name, p):
    mod = IMPLS[name]
    x = data((4, 9))
    x0 = x.copy()
    for mode in (UP, DOWN):
        y = mod.dropout(x, p, mode=mode, generator=G())
        assert y is not x and not np.shares_memory(y, x)
        assert same_bits(x, x0)
        if p == 0.0:  # a copy even when nothing is dropped
            assert same_bits(y, x)
        if p == 1.0:
            assert same_bits(y, np.zeros_like(x))


@pytest.mark.parametrize("name", IMPLS)
def test_eval_returns(name):
    mod = IMPLS[name]
    x = data((4, 9))[:, ::2]
    assert mod.dropout(x, 0.3, training=False) is x
    assert mod.dropout(x, 0.3, training=False, inplace=True) is x
    y = mod.dropout(x, 0.3, training=False, mode=DOWN)
    assert y is not x and same_bits(y, x * np.float32(0.7))
    out = np.empty((4, 9), np.float32)[:, ::2]
    assert mod.dropout(x, 0.3, training=False, out=out) is out and same_bits(out, x)
    assert mod.dropout(x, 0.3, training=False, mode=DOWN, out=out) is out
    assert same_bits(out, x * np.float32(0.7))
    x2 = x.copy()
    assert mod.dropout(x2, 0.3, training=False, mode=DOWN, inplace=True) is x2
    assert same_bits(x2, x * np.float32(0.7))
    y = mod.dropout([1.0, 2.0], 0.3, training=False)
    assert isinstance(y, np.ndarray) and y.tolist() == [1.0, 2.0]


# ---------------------------------------------------------------------------------------
# out= and inplace through views


def assert_unchanged_outside(make_view, base, before):
    """Nothing of ``base`` outside the elements of ``make_view(base)`` differs from ``before``."""
    marks = np.ones(base.shape, bool)
    make_view(marks)[...] = False
    assert same_bits(base[marks], before[marks])


@pytest.mark.parametrize("name", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_out_view_writes_only_the_view(name, dtype):
    mod = IMPLS[name]
    x = data((6, 7), dtype)
    expected, mask = mod.dropout_with_mask(x, 0.5, generator=G())
    for make_out in (
        lambda b: b[::2, 1::2],
        lambda b: b[::-2, ::-2],
        lambda b: b[1:7, 2:9].T.T,
        lambda b: np.asfortranarray(b[:6, :7]),
    ):
        backing = np.full((12, 14), 9, dtype)
        out = make_out(backing)
        assert out.shape == x.shape
        before = backing.copy()
        y = mod.dropout(x, 0.5, generator=G(), out=out)
        assert y is out and same_bits(out, expected)
        if np.shares_memory(out, backing):
            assert_unchanged_outside(make_out, backing, before)
        y, m = mod.dropout_with_mask(x, 0.5, generator=G(), out=out)
        assert y is out and same_bits(out, expected) and same_bits(m, mask)
        assert mod.dropout_backward(x, mask, 0.5, out=out) is out
        assert same_bits(out, mod.dropout_backward(x, mask, 0.5))


@pytest.mark.parametrize("name", IMPLS)
@pytest.mark.parametrize("mode", [UP, DOWN])
def test_inplace_on_views(name, mode):
    mod = IMPLS[name]
    for make_view in (
        lambda b: b,
        lambda b: b[1::2, ::-3],
        lambda b: b.T,
        lambda b: b[3],
        lambda b: np.asfortranarray(b),
    ):
        base = data((8, 9))
        x = make_view(base)
        expected = mod.dropout(np.array(x), 0.5, mode=mode, generator=G())
        before = base.copy()
        y = mod.dropout(x, 0.5, inplace=True, mode=mode, generator=G())
        assert y is x and same_bits(x, expected)
        if np.shares_memory(x, base):
            assert_unchanged_outside(make_view, base, before)
        # out=x together with inplace=True is the same call
        x = make_view(data((8, 9)))
        assert mod.dropout(x, 0.5, inplace=True, out=x, mode=mode, generator=G()) is x
        assert same_bits(x, expected)


@pytest.mark.parametrize("name", IMPLS)
def test_overlapping_out(name):
    """out overlapping x (not the same elements) gives the result of an unaliased call."""
    mod = IMPLS[name]
    for shift in (1, 3, 64):
        base = data(1000 + shift)
        x, out = base[:-shift], base[shift:]
        expected = mod.dropout(x.copy(), 0.5, generator=G())
        assert mod.dropout(x, 0.5, generator=G(), out=out) is out
        assert same_bits(out, expected)
        base = data(1000 + shift)
        x, out = base[shift:], base[:-shift]
        expected = mod.dropout(x.copy(), 0.5, generator=G())
        assert same_bits(mod.dropout(x, 0.5, generator=G(), out=out), expected)
        base = data(1000)
        expected = mod.dropout(base[::-1].copy(), 0.5, generator=G())
        assert same_bits(mod.dropout(base[::-1], 0.5, generator=G(), out=base), expected)
        base = data((20, 20))
        grad = base.copy()
        mask = mod.dropout_mask(400, 0.5, generator=G())
        expected = mod.dropout_backward(grad.T.copy(), mask, 0.5)
        assert same_bits(mod.dropout_backward(base.T, mask, 0.5, out=base), expected)


@pytest.mark.parametrize("name", IMPLS)
def test_byte_order_and_alignment(name):
    mod = IMPLS[name]
    x = data((3, 11), np.float64)
    swapped = x.astype(">f8" if np.little_endian else "<f8")
    y = mod.dropout(swapped, 0.5, generator=G())
    assert y.dtype.isnative and same_bits(y, mod.dropout(x, 0.5, generator=G()))
    buf = np.zeros(x.nbytes + 1, np.uint8)
    unaligned = np.ndarray(x.shape, np.float64, buffer=buf, offset=1)
    unaligned[...] = x
    assert not unaligned.flags.aligned
    assert same_bits(mod.dropout(unaligned, 0.5, generator=G()), mod.dropout(x, 0.5, generator=G()))
    assert mod.dropout(unaligned, 0.5, inplace=True, generator=G()) is unaligned
    assert same_bits(unaligned, mod.dropout(x, 0.5, generator=G()))
    assert mod.dropout(swapped, 0.5, inplace=True, generator=G()) is swapped
    assert same_bits(swapped.astype(np.float64), mod.dropout(x, 0.5, generator=G()))


# ---------------------------------------------------------------------------------------
# noise shapes


@pytest.mark.parametrize("name", IMPLS)
@pytest.mark.parametrize(
    "noise, axes",
    [
        ((4, 1, 5), (1,)),
        ((1, 6, 1), (0, 2)),
        ((6, 1), (0, 2)),
        ((5,), (0, 1)),
        ((None, 1, None), (1,)),
        ((), (0, 1, 2)),
        (1, (0, 1, 2)),
    ],
)
def test_noise_shape_broadcasts_the_mask(name, noise, axes):
    mod = IMPLS[name]
    x = np.ones((4, 6, 5), np.float32)
    g = G()
    y, mask = mod.dropout_with_mask(x, 0.5, noise_shape=noise, generator=g)
    padded = (1,) * (3 - len(noise if isinstance(noise, tuple) else (noise,))) + tuple(
        (4, 6, 5)[3 - len(noise) + i] if d is None else d
        for i, d in enumerate(noise if isinstance(noise, tuple) else (noise,))
    )
    nn = int(np.prod(padded))
    assert g.offset == nn and mask.shape == ((nn + 7) // 8,)
    keep = np.unpackbits(mask, count=nn, bitorder="little").reshape(padded).astype(bool)
    np.testing.assert_array_equal(y, np.broadcast_to(np.where(keep, 2.0, 0.0), x.shape))
    # constant along the broadcast axes
    for ax in axes:
        assert (np.ptp(y, axis=ax) == 0).all()
    # the mask is dropout_mask over the noise shape
    assert same_bits(mask, mod.dropout_mask(padded, 0.5, generator=G()))
    # backward broadcasts it the same way
    dx = mod.dropout_backward(np.full(x.shape, 3.0, np.float32), mask, 0.5, noise_shape=noise)
    np.testing.assert_array_equal(dx, 3.0 * y)


@pytest.mark.parametrize("name", IMPLS)
def test_noise_shape_equal_to_shape_is_plain_dropout(name):
    mod = IMPLS[name]
    x = data((4, 6, 5))
    assert same_bits(
        mod.dropout(x, 0.3, noise_shape=(4, 6, 5), generator=G()),
        mod.dropout(x, 0.3, generator=G()),
    )
    assert same_bits(
        mod.dropout(x.T, 0.3, noise_shape=(5, 1, 4), generator=G()),
        mod.dropout(np.array(x.T), 0.3, noise_shape=(5, 1, 4), generator=G()),
    )


@pytest.mark.parametrize("mod", [pydropout, pydropout.reference], ids=["core", "reference"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("training", [True, False])
def test_zero_d_input_gives_a_zero_d_array(mod, mode, training):
    x = np.array(3.0, np.float32)
    y = mod.dropout(x, 0.5, training, mode=mode, generator=pydropout.Generator(1))
    assert isinstance(y, np.ndarray) and y.shape == () and y.dtype == np.float32
