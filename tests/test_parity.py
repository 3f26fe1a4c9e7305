"""Bit-exact parity of the compiled core with pydropout.reference.

Outputs are compared byte for byte (NaN payloads and -0.0 count) over dtype x size x p
x mode x layout x SIMD level x thread count, for the forward pass with and without the
mask, the mask alone, the backward pass from the mask, and noise shapes. The full cross
product is far too big; every value of every axis is covered and the axes are combined
pairwise:

- test_small_sizes: every dtype x p x SIMD level, each over every small size
  (0, 1, 3..65, 127..129, 191..193, 1000) x both modes, at varying seeds, streams and offsets;
- test_large: sizes above the threading grain (32768 elements per thread), one config per
  p value (rotating dtype and mode), each at every SIMD level x thread count;
- test_layouts / test_layouts_large: every layout x destination (new, out=, out=x,
  inplace) x dtype, the (SIMD level, threads) pairs rotating through the cases;
- test_noise_shape: noise shapes forward and backward, small and large;
- test_streaming_stores: outputs of 8 MiB and more (streamed when 64-byte aligned), with
  aligned and misaligned out= arrays, p = 0 and p = 1, at every SIMD level.
"""

from __future__ import annotations

import functools
import itertools
import math

import ml_dtypes
import numpy as np
import pytest
from helpers import DTYPES_BY_NAME, MODES, PS, SIMD_LEVELS, THREAD_COUNTS, assert_same_bits

import pydropout
import pydropout.reference as ref

GRAIN = 32768
# 127..129 and 191..193 end on either side of 2, 3 and 4 groups of 64 words (the
# kernels make groups two at a time)
SMALL_SIZES = (0, 1, *range(3, 66), 127, 128, 129, 191, 192, 193, 1000)
# (seed, stream, offset): block-misaligned offsets, a 2**32 carry of the block counter,
# high streams and the end of the stream
STATES = (
    (0x0123456789ABCDEF, 0, 0),
    (1, 0, 1),
    (2**64 - 1, 5, 3),
    (42, 2**63 + 3, 63),
    (7, 1, 4 * 2**32 - 6),
    (2**32, 2**32 - 1, 2**63 + 2),
    (3, 0, 2**64 - 2000),
)
COMBOS = tuple(itertools.product(SIMD_LEVELS, THREAD_COUNTS))

# raw NaN payloads per item size: quiet, negative, signalling
NAN_BITS = {
    2: {"float16": (0x7E55, 0xFE01, 0x7C01), "bfloat16": (0x7FC1, 0xFFA5, 0x7F81)},
    4: (0x7FC01234, 0xFFC00001, 0x7F800123),
    8: (0x7FF8000000001234, 0xFFF8000000000001, 0x7FF0000000000123),
}


def make_x(shape, dtype, rng, special=True):
    """Normal values with NaN (several payloads), +-inf, +-0.0, subnormals and huge values."""
    dtype = np.dtype(dtype)
    n = math.prod(shape)
    v = rng.standard_normal(n) * 3
    info = ml_dtypes.finfo(dtype) if dtype == DTYPES_BY_NAME["bfloat16"] else np.finfo(dtype)
    x = v.astype(dtype)
    if special and n:
        specials = np.array(
            [
                np.inf,
                -np.inf,
                -0.0,
                0.0,
                float(info.max),
                -float(info.max),
                float(info.smallest_subnormal),
                -float(info.smallest_subnormal),
                1.0,
            ],
            dtype=np.float64,
        ).astype(dtype)
        idx = rng.choice(n, size=min(n, max(1, n // 8)), replace=False)
        x[idx] = specials[rng.integers(0, specials.size, idx.size)]
        nan_bits = NAN_BITS[dtype.itemsize]
        if isinstance(nan_bits, dict):
            nan_bits = nan_bits[dtype.name]
        udt = {2: np.uint16, 4: np.uint32, 8: np.uint64}[dtype.itemsize]
        idx = rng.choice(n, size=min(n, max(1, n // 16)), replace=False)
        x.view(udt)[idx] = np.array(nan_bits, udt)[rng.integers(0, 3, idx.size)]
    return x.reshape(shape)


def gen(state):
    return pydropout.Generator(state[0], stream=state[1], offset=state[2])


# ---------------------------------------------------------------------------------------
# every small size


@functools.cache
def _small_cases(dtype_name, p):
    """Reference results for every small size and mode (shared by the SIMD levels)."""
    rng = np.random.default_rng([PS.index(p), list(DTYPES_BY_NAME).index(dtype_name)])
    cases = []
    for k, (size, mode) in enumerate(itertools.product(SMALL_SIZES, MODES)):
        state = STATES[k % len(STATES)]
        x = make_x((size,), DTYPES_BY_NAME[dtype_name], rng)
        grad = make_x((size,), DTYPES_BY_NAME[dtype_name], rng)
        g = gen(state)
        y, mask = ref.dropout_with_mask(x, p, mode=mode, generator=g)
        assert g.offset == state[2] + size
        dx = ref.dropout_backward(grad, mask, p, mode=mode)
        cases.append((size, mode, state, x, grad, y, mask, dx))
    return cases


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("dtype_name", DTYPES_BY_NAME)
def test_small_sizes(dtype_name, p, isa):
    for size, mode, state, x, grad, y_ref, mask_ref, dx_ref in _small_cases(dtype_name, p):
        what = f"{dtype_name} n={size} p={p} {mode} state={state} isa={isa}"
        g = gen(state)
        assert_same_bits(pydropout.dropout(x, p, mode=mode, generator=g), y_ref, what)
        assert g.offset == state[2] + size
        g = gen(state)
        y, mask = pydropout.dropout_with_mask(x, p, mode=mode, generator=g)
        assert_same_bits(y, y_ref, what + " with mask")
        assert_same_bits(mask, mask_ref, what + " mask")
        assert mask.shape == ((size + 7) // 8,)
        assert g.offset == state[2] + size
        if mode == MODES[0]:
            g = gen(state)
            assert_same_bits(
                pydropout.dropout_mask(size, p, generator=g), mask_ref, what + " mask only"
            )
            assert g.offset == state[2] + size
        dx = pydropout.dropout_backward(grad, mask_ref, p, mode=mode)
        assert_same_bits(dx, dx_ref, what + " backward")


@pytest.mark.parametrize("p", [0, 1, np.float64(0.5), np.float32(0.1), np.float16(0.9)])
def test_p_spellings(p, isa):
    """Python ints and NumPy scalars take other code paths; the result is the same."""
    x = make_x((1000,), np.float32, np.random.default_rng(5))
    y = pydropout.dropout(x, p, generator=pydropout.Generator(9))
    assert_same_bits(y, ref.dropout(x, float(p), generator=pydropout.Generator(9)), repr(p))


# ---------------------------------------------------------------------------------------
# large sizes: threads really split the work

LARGE = [  # (dtype, p, mode, n): every p, dtype and mode appears
    ("float32", 0.5, MODES[0], 1_000_003),
    ("float64", 0.1, MODES[1], 8 * GRAIN + 13),
    ("float16", 0.9, MODES[0], 3 * GRAIN + 7),
    ("bfloat16", 1e-10, MODES[1], 1_000_003),
    ("float32", 1 - 1e-10, MODES[0], 8 * GRAIN + 64),
    ("float16", 0.0, MODES[1], 1_000_003),
    ("float64", 1.0, MODES[0], 2 * GRAIN + 1),
    ("bfloat16", 0.5, MODES[0], 3 * GRAIN - 1),
]


@pytest.mark.parametrize("dtype_name, p, mode, n", LARGE)
def test_large(dtype_name, p, mode, n, simd, num_threads):
    rng = np.random.default_rng(n)
    x = make_x((n,), DTYPES_BY_NAME[dtype_name], rng)
    grad = make_x((n,), DTYPES_BY_NAME[dtype_name], rng)
    state = (n, 3, 2**40 + 5)
    y_ref, mask_ref = ref.dropout_with_mask(x, p, mode=mode, generator=gen(state))
    dx_ref = ref.dropout_backward(grad, mask_ref, p, mode=mode)
    for level, threads in COMBOS:
        what = f"{dtype_name} n={n} p={p} {mode} isa={level} threads={threads}"
        with simd(level), num_threads(threads):
            assert_same_bits(pydropout.dropout(x, p, mode=mode, generator=gen(state)), y_ref, what)
            y, mask = pydropout.dropout_with_mask(x, p, mode=mode, generator=gen(state))
            assert_same_bits(y, y_ref, what + " with mask")
            assert_same_bits(mask, mask_ref, what + " mask")
            mask = pydropout.dropout_mask((n,), p, generator=gen(state))
            assert_same_bits(mask, mask_ref, what + " mask only")
            dx = pydropout.dropout_backward(grad, mask_ref, p, mode=mode)
            assert_same_bits(dx, dx_ref, what + " backward")


def test_large_mask_only(simd, num_threads):
    """The mask-only path over 2.1 million elements: even with a grain 8 times larger
    for it (it writes 1 bit per element), 8 threads split the work."""
    n = 8 * 8 * GRAIN + 77
    state = (11, 2, 2**33 - 1)
    mask_ref = ref.dropout_mask(n, 0.3, generator=gen(state))
    for level, threads in COMBOS:
        with simd(level), num_threads(threads):
            g = gen(state)
            assert_same_bits(
                pydropout.dropout_mask(n, 0.3, generator=g),
                mask_ref,
                f"isa={level} threads={threads}",
            )
            assert g.offset == state[2] + n


# outputs of 8 MiB and more are written with streaming stores when they are 64-byte
# aligned (fresh outputs are; out= arrays may not be): both paths, for every dtype
STREAMING_SIZES = {
    "float16": 4_194_311,
    "float32": 2_097_157,
    "float64": 1_048_579,
    "bfloat16": 4_194_311,
}


def _aligned_empty(n, dtype, misalign=0):
    """An empty 1-D array whose data starts `misalign` bytes after a 64-byte boundary."""
    dtype = np.dtype(dtype)
    buf = np.empty(n * dtype.itemsize + 128, np.uint8)
    start = (-buf.ctypes.data) % 64 + misalign
    return buf[start : start + n * dtype.itemsize].view(dtype)


@pytest.mark.parametrize("dtype_name", DTYPES_BY_NAME)
def test_streaming_stores(dtype_name, simd, num_threads):
    dtype, n = DTYPES_BY_NAME[dtype_name], STREAMING_SIZES[dtype_name]
    assert n * dtype.itemsize > 8 << 20
    x = make_x((n,), dtype, np.random.default_rng(n))
    state = (n, 1, 2**32 * 4 - 77)
    y_ref, mask_ref = ref.dropout_with_mask(x, 0.5, generator=gen(state))
    dx_ref = ref.dropout_backward(x, mask_ref, 0.5, mode=MODES[1])
    all_kept = np.packbits(np.ones(n, bool), bitorder="little")
    y0_ref = ref.dropout_backward(x, all_kept, 0.0)  # p = 0: x * dtype(1) everywhere
    combos = [(lvl, t) for lvl in SIMD_LEVELS for t in (1, 3)] + [(SIMD_LEVELS[-1], 8)]
    for level, threads in combos:
        what = f"{dtype_name} n={n} isa={level} threads={threads}"
        with simd(level), num_threads(threads):
            y = pydropout.dropout(x, 0.5, generator=gen(state))
            assert y.ctypes.data % 64 == x.ctypes.data % 64  # streamed: x's line offset
            assert_same_bits(y, y_ref, what)
            y, mask = pydropout.dropout_with_mask(x, 0.5, generator=gen(state))
            assert_same_bits(y, y_ref, what + " with mask")
            assert_same_bits(mask, mask_ref, what + " mask")
            for misalign in (0, dtype.itemsize):
                out = _aligned_empty(n, dtype, misalign)
                assert pydropout.dropout(x, 0.5, generator=gen(state), out=out) is out
                assert_same_bits(out, y_ref, f"{what} out misaligned by {misalign}")
            assert_same_bits(pydropout.dropout(x, 0.0, generator=gen(state)), y0_ref, what + " p=0")
            assert_same_bits(
                pydropout.dropout(x, 1.0, generator=gen(state)), np.zeros(n, dtype), what + " p=1"
            )
            assert_same_bits(
                pydropout.dropout_backward(x, mask_ref, 0.5, mode=MODES[1]),
                dx_ref,
                what + " backward",
            )


def test_results_own_their_memory():
    """Large outputs come from recycled buffers: a result stays intact, and so does a view
    of it, however many calls follow."""
    x = make_x((700_001,), np.float32, np.random.default_rng(1), special=False)
    y1 = pydropout.dropout(x, 0.5, generator=gen(STATES[0]))
    keep = y1.copy()
    view = pydropout.dropout(x, 0.5, generator=gen(STATES[1]))[::-3]
    view_copy = view.copy()
    others = [pydropout.dropout(x, 0.5, generator=gen(STATES[2])) for _ in range(3)]
    for _ in range(20):
        pydropout.dropout_with_mask(x, 0.3, generator=gen(STATES[3]))
        pydropout.dropout_backward(x, pydropout.dropout_mask(x.size, 0.5), 0.5)
    assert_same_bits(y1, keep)
    assert_same_bits(view, view_copy)
    arrays = [y1, view, *others]
    assert not any(np.shares_memory(a, b) for a, b in itertools.combinations(arrays, 2))
    assert all(a.flags.writeable for a in arrays)


# ---------------------------------------------------------------------------------------
# layouts

# name -> (shape of the array that is created, view taken of it); logical shape (6, 5, 7)
LAYOUTS = {
    "C": ((6, 5, 7), lambda a: a),
    "fortran": ((6, 5, 7), np.asfortranarray),
    "transposed": ((7, 6, 5), lambda a: a.transpose(1, 2, 0)),
    "step2": ((211,), lambda a: a[::2]),
    "slices2d": ((13, 16), lambda a: a[1::2, 2::3]),
    "negative": ((6, 5, 13), lambda a: a[::-1, :, ::-2]),
    "0d": ((), lambda a: a),
    "broadcast": ((1, 5, 1), lambda a: np.broadcast_to(a, (6, 5, 7))),
}
# out= views: (shape of the backing array, view of it)
OUT_VIEWS = {
    3: ((12, 5, 15), lambda a: a[::2, ::-1, 1::2]),
    1: ((211,), lambda a: a[::-2]),
    2: ((13, 16), lambda a: a[1::2, 2::3].T.T),
    0: ((2,), lambda a: a[1, ...]),
}
DESTINATIONS = ("new", "out", "out_is_x", "inplace")
LAYOUT_CASES = [
    (layout, dest, dtype_name)
    for layout in LAYOUTS
    for dest in DESTINATIONS
    for dtype_name in DTYPES_BY_NAME
    if not (layout == "broadcast" and dest in ("out_is_x", "inplace"))  # read-only
]


def _destination_run(fn, x, dest, dtype, rng_seed, out_views):
    """Call fn(x, out=?, inplace=?) for a destination; returns (result, target, backing)."""
    if dest == "new":
        return fn(x, None, False), None, None
    if dest == "inplace":
        return fn(x, None, True), x, None
    if dest == "out_is_x":
        return fn(x, x, False), x, None
    back_shape, view = out_views[x.ndim]
    backing = make_x(back_shape, dtype, np.random.default_rng(rng_seed), special=False)
    out = view(backing)
    assert out.shape == x.shape and not out.flags.c_contiguous or x.ndim == 0
    return fn(x, out, False), out, backing


def _check_layout(
    layout,
    dest,
    dtype_name,
    make,
    p,
    mode,
    state,
    level,
    threads,
    simd,
    num_threads,
    seed,
    out_views=OUT_VIEWS,
):
    dtype = DTYPES_BY_NAME[dtype_name]
    what = f"{layout} {dest} {dtype_name} p={p} {mode} isa={level} threads={threads}"

    def fresh():
        return make(np.random.default_rng(seed))

    x0 = fresh()
    xc = np.array(x0, order="C")  # (np.ascontiguousarray would make 0-d arrays 1-d)
    assert xc.flags.c_contiguous
    # the contract: the result is the one of the C-contiguous copy (logical C order)
    y_ref, mask_ref = ref.dropout_with_mask(xc, p, mode=mode, generator=gen(state))
    grad_c = make_x(x0.shape, dtype, np.random.default_rng(seed + 1))
    dx_ref = ref.dropout_backward(grad_c, mask_ref, p, mode=mode)

    for impl_name, impl in (("core", pydropout), ("reference", ref)):
        with simd(level), num_threads(threads):
            # forward without the mask
            x = fresh()
            g = gen(state)
            y, target, backing = _destination_run(
                lambda x, out, inplace: impl.dropout(
                    x, p, inplace=inplace, mode=mode, generator=g, out=out
                ),
                x,
                dest,
                dtype,
                seed + 2,
                out_views,
            )
            assert g.offset == state[2] + x.size
            assert_same_bits(y, y_ref, f"{impl_name} {what}")
            if target is not None:
                assert y is target
            if backing is not None:  # nothing outside the out= view changed
                expect = make_x(
                    backing.shape, dtype, np.random.default_rng(seed + 2), special=False
                )
                out_views[x.ndim][1](expect)[...] = y_ref
                assert_same_bits(backing, expect, f"{impl_name} {what} out backing")
            # forward with the mask (no inplace argument there)
            if dest != "inplace":
                x = fresh()
                g = gen(state)
                (y, mask), target, _ = _destination_run(
                    lambda x, out, inplace: impl.dropout_with_mask(
                        x, p, mode=mode, generator=g, out=out
                    ),
                    x,
                    dest,
                    dtype,
                    seed + 2,
                    out_views,
                )
                assert_same_bits(y, y_ref, f"{impl_name} {what} with mask")
                assert_same_bits(mask, mask_ref, f"{impl_name} {what} mask")
                if target is not None:
                    assert y is target
            # backward: the gradient in the same layout as x, written to the destination
            grad = make(np.random.default_rng(seed + 1))
            if layout == "broadcast":
                grad = grad_c
            else:
                grad[...] = grad_c
            if dest in ("new", "out"):
                dx, target, _ = _destination_run(
                    lambda gr, out, inplace: impl.dropout_backward(
                        gr, mask_ref, p, mode=mode, out=out
                    ),
                    grad,
                    dest,
                    dtype,
                    seed + 3,
                    out_views,
                )
            else:
                dx = impl.dropout_backward(grad, mask_ref, p, mode=mode, out=grad)
                target = grad
            assert_same_bits(dx, dx_ref, f"{impl_name} {what} backward")
            if target is not None:
                assert dx is target


def _layout_maker(layout, dtype):
    shape, view = LAYOUTS[layout]

    def make(rng):
        return view(make_x(shape, dtype, rng))

    return make


@pytest.mark.parametrize("layout, dest, dtype_name", LAYOUT_CASES)
def test_layouts(layout, dest, dtype_name, simd, num_threads):
    k = LAYOUT_CASES.index((layout, dest, dtype_name))
    level, threads = COMBOS[k % len(COMBOS)]
    p = PS[k % len(PS)]
    mode = MODES[(k // len(PS)) % 2]
    _check_layout(
        layout,
        dest,
        dtype_name,
        _layout_maker(layout, DTYPES_BY_NAME[dtype_name]),
        p,
        mode,
        STATES[k % len(STATES)],
        level,
        threads,
        simd,
        num_threads,
        seed=k,
    )


# large layouts: logical shape (520, 520) = 270400 elements > 8 * 32768
LARGE_LAYOUTS = [
    ("fortran", "out", "float32", (520, 520), np.asfortranarray, 8),
    ("transposed", "new", "float16", (520, 520), lambda a: a.T, 3),
    ("negative", "inplace", "float64", (520, 1040), lambda a: a[::-1, ::-2], 8),
    ("broadcast", "new", "bfloat16", (1, 520), lambda a: np.broadcast_to(a, (520, 520)), 2),
    ("step2", "out_is_x", "float32", (540801,), lambda a: a[::2], 8),
]


# out= views of the large logical shapes
OUT_VIEWS_LARGE = {2: ((1040, 521), lambda a: a[::2, :0:-1]), 1: ((811201,), lambda a: a[::3])}


@pytest.mark.parametrize(
    "layout, dest, dtype_name, shape, view, threads",
    LARGE_LAYOUTS,
    ids=[c[0] for c in LARGE_LAYOUTS],
)
def test_layouts_large(layout, dest, dtype_name, shape, view, threads, simd, num_threads):
    k = [c[0] for c in LARGE_LAYOUTS].index(layout)
    dtype = DTYPES_BY_NAME[dtype_name]

    def make(rng):
        return view(make_x(shape, dtype, rng))

    _check_layout(
        layout,
        dest,
        dtype_name,
        make,
        (0.5, 0.1, 0.9, 1e-10, 0.3)[k],
        MODES[k % 2],
        STATES[k],
        SIMD_LEVELS[k % len(SIMD_LEVELS)],
        threads,
        simd,
        num_threads,
        seed=100 + k,
        out_views=OUT_VIEWS_LARGE,
    )


@pytest.mark.parametrize("dtype_name", ["float16", "float32", "float64"])
@pytest.mark.parametrize("kind", ["byteswapped", "unaligned"])
def test_byteswapped_and_unaligned(kind, dtype_name, isa):
    dtype = DTYPES_BY_NAME[dtype_name]
    x = make_x((5, 41), dtype, np.random.default_rng(3))
    if kind == "byteswapped":
        xv = x.astype(dtype.newbyteorder())
    else:
        buf = np.zeros(x.nbytes + 1, np.uint8)
        xv = np.ndarray(x.shape, dtype, buffer=buf, offset=1)
        xv[...] = x
        assert not xv.flags.aligned
    y_ref, mask_ref = ref.dropout_with_mask(x, 0.4, generator=pydropout.Generator(4))
    for impl in (pydropout, ref):
        y = impl.dropout(xv, 0.4, generator=pydropout.Generator(4))
        assert y.dtype.isnative
        assert_same_bits(y.astype(dtype), y_ref, kind)
        y, mask = impl.dropout_with_mask(xv, 0.4, generator=pydropout.Generator(4))
        assert_same_bits(mask, mask_ref, kind)
        dx = impl.dropout_backward(xv, mask_ref, 0.4)
        assert_same_bits(dx.astype(dtype), ref.dropout_backward(x, mask_ref, 0.4), kind)


@pytest.mark.parametrize("dtype_name", DTYPES_BY_NAME)
@pytest.mark.parametrize("mode", MODES)
def test_eval_parity(dtype_name, mode):
    x = make_x((3, 37), DTYPES_BY_NAME[dtype_name], np.random.default_rng(8))[:, ::2]
    for p in PS:
        g = pydropout.Generator(1)
        y = pydropout.dropout(x, p, training=False, mode=mode, generator=g)
        assert_same_bits(y, ref.dropout(x, p, training=False, mode=mode), f"{mode} p={p}")
        assert g.offset == 0


# ---------------------------------------------------------------------------------------
# noise shapes

NOISE_CASES = [  # (x shape, noise shape)
    ((4, 6, 5), (4, 1, 5)),
    ((4, 6, 5), (1, 6, 1)),
    ((4, 6, 5), (6, 1)),
    ((4, 6, 5), (5,)),
    ((4, 6, 5), (None, 1, None)),
    ((4, 6, 5), ()),
    ((4, 6, 5), (4, 6, 5)),
    ((0, 6, 5), (0, 1, 5)),
    ((130, 9, 33), (130, 9, 1)),
    ((600, 1000), (600, 1)),  # 600000 elements: the apply pass is threaded
    ((2, 300000), (1, 300000)),
]


@pytest.mark.parametrize("xshape, noise", NOISE_CASES)
def test_noise_shape(xshape, noise, simd, num_threads):
    k = NOISE_CASES.index((xshape, noise))
    dtype_name = list(DTYPES_BY_NAME)[k % 4]
    p, mode = PS[k % len(PS)], MODES[k % 2]
    x = make_x(xshape, DTYPES_BY_NAME[dtype_name], np.random.default_rng(k))
    state = STATES[k % len(STATES)]
    nn = math.prod(
        d if d is not None else xshape[i + len(xshape) - len(noise)] for i, d in enumerate(noise)
    )
    y_ref, mask_ref = ref.dropout_with_mask(
        x, p, mode=mode, noise_shape=noise, generator=gen(state)
    )
    assert mask_ref.shape == ((nn + 7) // 8,)
    dx_ref = ref.dropout_backward(x, mask_ref, p, mode=mode, noise_shape=noise)
    for level, threads in COMBOS[k % 3 :: 3]:
        with simd(level), num_threads(threads):
            what = f"{xshape} {noise} {dtype_name} p={p} {mode} isa={level} threads={threads}"
            g = gen(state)
            y = pydropout.dropout(x, p, mode=mode, noise_shape=noise, generator=g)
            assert g.offset == state[2] + nn
            assert_same_bits(y, y_ref, what)
            y, mask = pydropout.dropout_with_mask(
                x, p, mode=mode, noise_shape=noise, generator=gen(state)
            )
            assert_same_bits(y, y_ref, what + " with mask")
            assert_same_bits(mask, mask_ref, what + " mask")
            dx = pydropout.dropout_backward(x, mask_ref, p, mode=mode, noise_shape=noise)
            assert_same_bits(dx, dx_ref, what + " backward")


# Short runs of one bit (channels first, planes of 1 to 33 elements), short runs of bits
# under a broadcast dimension (channels last: the repeated tile), and runs that a piece
# boundary cuts: written into out= at every alignment from 0 to 7 elements, where the pieces
# end at other places of the runs.
SHORT_RUN_CASES = [  # (x shape, noise shape)
    ((128, 128, 4), (128, 128, 1)),
    ((64, 40, 16), (64, 40, 1)),
    ((300, 7, 5), (300, 7, 1)),
    ((9, 2000, 3), (9, 2000, 1)),
    ((70, 33), (70, 1)),
    ((8, 12, 33), (8, 1, 33)),
    ((40, 16, 16), (40, 1, 16)),
    ((6, 50, 7), (6, 1, 7)),
    ((3, 5, 9, 100), (3, 1, 1, 100)),
]


@pytest.mark.parametrize("xshape, noise", SHORT_RUN_CASES)
def test_noise_shape_short_runs_into_every_alignment(xshape, noise, simd, num_threads):
    k = SHORT_RUN_CASES.index((xshape, noise))
    dtype = [np.float16, np.float32, np.float64][k % 3]
    x = make_x(xshape, dtype, np.random.default_rng(100 + k))
    p, state = PS[k % len(PS)], STATES[k % len(STATES)]
    y_ref = ref.dropout(x, p, noise_shape=noise, generator=gen(state))
    a_ref = ref.alpha_dropout(x, p, True, noise_shape=noise, generator=gen(state))
    for level, threads in COMBOS[k % 2 :: 2]:
        with simd(level), num_threads(threads):
            for shift in range(8):
                what = f"{xshape} {noise} {np.dtype(dtype).name} isa={level} t={threads} +{shift}"
                buf = np.full(x.size + 8, 7, dtype)
                out = buf[shift : shift + x.size].reshape(xshape)
                y = pydropout.dropout(x, p, noise_shape=noise, generator=gen(state), out=out)
                assert y is out
                assert_same_bits(y, y_ref, what)
                assert (buf[:shift] == 7).all() and (buf[shift + x.size :] == 7).all()
                a = pydropout.alpha_dropout(
                    x, p, True, noise_shape=noise, generator=gen(state), out=out
                )
                assert_same_bits(a, a_ref, what + " alpha")
