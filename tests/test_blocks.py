"""Block keying: any tiling of an array into blocks reproduces the dropout of the whole."""

import itertools

import numpy as np
import pytest
from helpers import DTYPES, MODES, SEED, SIMD_LEVELS, THREAD_COUNTS, forced_simd, forced_threads
from hypothesis import given, settings
from hypothesis import strategies as st

import pydropout
from pydropout import _blocks, _core, reference

FUNCS = [pydropout.dropout_block, reference.dropout_block]
MASK_FUNCS = {
    pydropout.dropout_block: pydropout.dropout_block_mask,
    reference.dropout_block: reference.dropout_block_mask,
}


def whole(x, p, *, stream=0, offset=0, mode="upscale_in_train"):
    """dropout_with_mask of the whole array, the mask unpacked to x's shape."""
    gen = pydropout.Generator(SEED, stream=stream, offset=offset)
    y, mask = pydropout.dropout_with_mask(x, p, mode=mode, generator=gen)
    assert gen.offset == offset + x.size
    return y, np.unpackbits(mask, count=x.size, bitorder="little").reshape(x.shape)


def unpack(mask, shape):
    return np.unpackbits(mask, count=int(np.prod(shape)), bitorder="little").reshape(shape)


def tiles(cuts):
    """Every block of the tiling given by per-axis cut points: (origin, slices)."""
    bounds = [list(zip(c[:-1], c[1:])) for c in cuts]
    for ranges in itertools.product(*bounds):
        yield tuple(a for a, _ in ranges), tuple(slice(a, b) for a, b in ranges)


def random_cuts(shape, rng, pieces=4):
    return [sorted({0, n, *rng.integers(0, n + 1, size=pieces).tolist()}) for n in shape]


def check_tiling(fn, x, p, cuts, **kw):
    y_whole, bits = whole(
        x,
        p,
        stream=kw.get("stream", 0),
        offset=kw.get("offset", 0),
        mode=kw.get("mode", "upscale_in_train"),
    )
    y = np.full(x.shape, np.nan, x.dtype)
    seen = np.zeros(x.shape, bool)
    for origin, sl in tiles(cuts):
        blk, mask = fn(
            x[sl], p, full_shape=x.shape, origin=origin, seed=SEED, return_mask=True, **kw
        )
        assert blk.shape == x[sl].shape and blk.dtype == x.dtype
        y[sl] = blk
        np.testing.assert_array_equal(unpack(mask, blk.shape), bits[sl])
        only = MASK_FUNCS[fn](
            blk.shape,
            p,
            full_shape=x.shape,
            origin=origin,
            seed=SEED,
            stream=kw.get("stream", 0),
            offset=kw.get("offset", 0),
        )
        np.testing.assert_array_equal(only, mask)
        seen[sl] = True
    assert seen.all()
    assert y.tobytes() == y_whole.tobytes()  # bit for bit, -0.0 and NaN included


@pytest.mark.parametrize("fn", FUNCS)
@pytest.mark.parametrize("shape", [(37, 53), (9, 10, 11), (1, 70), (70, 1), (5, 1, 40)])
def test_any_tiling_reproduces_the_whole(fn, shape):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    for trial in range(3):
        check_tiling(fn, x, 0.3, random_cuts(shape, rng), stream=trial, offset=17 * trial)


@pytest.mark.parametrize("fn", FUNCS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("p", [0.0, 1e-10, 0.5, 1.0])
@pytest.mark.parametrize("mode", MODES)
def test_dtypes_p_and_modes(fn, dtype, p, mode):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((12, 7, 10)).astype(dtype)
    x[0, 0, :3] = [np.inf, -np.inf, np.nan]
    check_tiling(fn, x, p, [[0, 5, 12], [0, 3, 7], [0, 4, 10]], mode=mode)


@pytest.mark.parametrize(
    "shape, cuts",
    [
        ((64, 48), [[0, 16, 64], [0, 8, 24, 48]]),  # whole-byte runs
        ((29, 31), [[0, 3, 29], [0, 5, 6, 31]]),  # odd runs, a 1-wide column
        ((6, 20, 12), [[0, 2, 6], [0, 9, 20], [0, 5, 12]]),  # 3-D: spans over 2 levels
        ((6, 20, 12), [[0, 6], [0, 9, 20], [0, 12]]),  # whole trailing axis
    ],
)
def test_every_plan_gives_the_same_bits(monkeypatch, shape, cuts):
    x = np.random.default_rng(5).standard_normal(shape)
    y_whole, bits = whole(x, 0.4)
    for origin, sl in tiles(cuts):
        layout = _blocks.Layout(x[sl].shape, shape, origin)
        j = layout.contiguous_level()
        plans = [("runs", j)] + [("span", k) for k in range(j + 1)]
        for plan, max_span in itertools.product(plans, [1 << 22, 16]):
            monkeypatch.setattr(_blocks.Layout, "plan", lambda self, plan=plan: plan)
            monkeypatch.setattr(_blocks, "_MAX_SPAN", max_span)  # 16: one slice per batch
            y, mask = pydropout.dropout_block(
                x[sl], 0.4, full_shape=shape, origin=origin, seed=SEED, return_mask=True
            )
            np.testing.assert_array_equal(y, y_whole[sl])
            np.testing.assert_array_equal(unpack(mask, y.shape), bits[sl])
            only = pydropout.dropout_block_mask(
                y.shape, 0.4, full_shape=shape, origin=origin, seed=SEED
            )
            np.testing.assert_array_equal(only, mask)


def test_plan_prefers_few_calls():
    # a band of whole rows is one run: one call, whatever its size
    assert _blocks.Layout((100, 4096), (4096, 4096), (7, 0)).plan() == ("runs", 0)
    # narrow tiles of a 3-D array: a mask call per slice beats a call per run
    assert _blocks.Layout((16, 64, 4), (64, 256, 8), (0, 0, 4)).plan()[0] == "span"
    # long runs far apart: a fused forward per run
    assert _blocks.Layout((64, 100_000), (64, 10**7), (0, 0)).plan() == ("runs", 1)


@pytest.mark.parametrize("level", SIMD_LEVELS)
def test_simd_levels_agree(level):
    before = _core.simd_level()
    x = np.random.default_rng(6).standard_normal((40, 70)).astype(np.float32)
    try:
        _core._set_simd(level)
        check_tiling(pydropout.dropout_block, x, 0.7, [[0, 13, 40], [0, 1, 33, 70]])
    finally:
        _core._set_simd(before)


@pytest.mark.parametrize("level", SIMD_LEVELS)
@pytest.mark.parametrize("threads", THREAD_COUNTS)
@pytest.mark.parametrize(
    "block, full, origin",
    [
        ((2, 7, 30001), (4, 9, 30001), (1, 1, 0)),  # 14 runs of an odd length
        ((3, 40000), (3, 40000), (0, 0)),  # one run
        ((2, 3, 20008), (3, 5, 20008), (1, 2, 0)),  # 6 runs of whole bytes
    ],
)
def test_few_long_runs_split_over_threads(level, threads, block, full, origin):
    """A block of a few long runs is cut inside its runs among the threads: the same bits
    (outputs and masks, runs that end mid-byte included) as the reference."""
    x = np.random.default_rng(8).standard_normal(block).astype(np.float32)
    kw = dict(full_shape=full, origin=origin, seed=SEED, offset=5)
    with forced_simd(level), forced_threads(threads):
        y, m = pydropout.dropout_block(x, 0.3, return_mask=True, **kw)
        m2 = pydropout.dropout_block_mask(block, 0.3, **kw)
    ry, rm = reference.dropout_block(x, 0.3, return_mask=True, **kw)
    np.testing.assert_array_equal(y.view(np.uint32), ry.view(np.uint32))
    np.testing.assert_array_equal(m, rm)
    np.testing.assert_array_equal(m2, rm)


@pytest.mark.parametrize("fn", FUNCS)
def test_large_offsets_and_counter_carries(fn):
    x = np.arange(1, 6 * 9 + 1, dtype=np.float64).reshape(6, 9)
    cuts = [[0, 2, 6], [0, 4, 9]]
    check_tiling(fn, x, 0.5, cuts, offset=4 * 2**32 - 20)  # block counter carries mid-array
    check_tiling(fn, x, 0.5, cuts, offset=2**64 - x.size, stream=2**64 - 1)  # the last words
    with pytest.raises(ValueError, match="offset"):
        fn(x[:1, :1], 0.5, full_shape=x.shape, origin=(0, 0), seed=SEED, offset=2**64 - x.size + 1)


@pytest.mark.parametrize("fn", FUNCS)
def test_low_ranks_and_empty_blocks(fn):
    x0 = np.array(3.0, np.float32)
    y0 = pydropout.dropout(x0, 0.5, generator=pydropout.Generator(SEED))
    assert fn(x0, 0.5, full_shape=(), origin=(), seed=SEED) == y0
    x1 = np.arange(1, 40, dtype=np.float32)
    check_tiling(fn, x1, 0.5, [[0, 0, 3, 3, 39]])  # empty blocks on the way
    empty = np.empty((0, 5), np.float32)
    y, mask = fn(empty, 0.5, full_shape=(0, 5), origin=(0, 0), seed=SEED, return_mask=True)
    assert y.shape == (0, 5) and mask.size == 0
    y = fn(np.empty((2, 0)), 0.5, full_shape=(4, 6), origin=(2, 6), seed=SEED)
    assert y.shape == (2, 0)


@pytest.mark.parametrize("fn", FUNCS)
def test_layouts_and_out(fn):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((20, 30)).astype(np.float32)
    y_whole, _ = whole(x, 0.5)
    sl = (slice(4, 16), slice(10, 25))
    want = y_whole[sl]
    kw = dict(full_shape=x.shape, origin=(4, 10), seed=SEED)
    for blk in (x[sl], np.asfortranarray(x[sl]), x[sl].T.copy().T, x[sl].astype(">f4")):
        np.testing.assert_array_equal(fn(blk, 0.5, **kw), want)
    out = np.empty((12, 15), np.float32)
    assert fn(x[sl], 0.5, out=out, **kw) is out
    np.testing.assert_array_equal(out, want)
    big = np.zeros((12, 30), np.float32)
    strided = big[:, ::2]  # not contiguous: written through a copy
    assert fn(x[sl], 0.5, out=strided, **kw) is strided
    np.testing.assert_array_equal(strided, want)
    assert not big[:, 1::2].any()
    inplace = x[sl].copy()
    assert fn(inplace, 0.5, out=inplace, **kw) is inplace
    np.testing.assert_array_equal(inplace, want)
    listed = fn(x[sl].tolist(), 0.5, **kw)  # array-like: float64
    np.testing.assert_array_equal(
        listed,
        pydropout.dropout(x.astype(np.float64), 0.5, generator=pydropout.Generator(SEED))[sl],
    )


@pytest.mark.parametrize("fn", FUNCS)
def test_evaluation_draws_nothing(fn):
    x = np.random.default_rng(9).standard_normal((6, 8)).astype(np.float32)
    kw = dict(full_shape=(10, 8), origin=(2, 0), seed=SEED)
    assert fn(x, 0.5, training=False, **kw) is x
    np.testing.assert_array_equal(
        fn(x, 0.25, training=False, mode="downscale_in_infer", **kw),
        pydropout.dropout(x, 0.25, training=False, mode="downscale_in_infer"),
    )
    out = np.empty_like(x)
    assert fn(x, 0.5, training=False, out=out, **kw) is out
    np.testing.assert_array_equal(out, x)
    with pytest.raises(ValueError, match="return_mask"):
        fn(x, 0.5, training=False, return_mask=True, **kw)


@pytest.mark.parametrize("fn", FUNCS)
@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(origin=(0,)), ValueError, "origin"),
        (dict(origin=(0, 0, 0), full_shape=(4, 5, 6)), ValueError, "x_block has 2 dimensions"),
        (dict(origin=(3, 0)), ValueError, "does not fit"),
        (dict(origin=(0, 4)), ValueError, "axis 1"),
        (dict(origin=(-1, 0)), ValueError, "origin must be non-negative"),
        (dict(origin=(0.0, 0)), TypeError, "origin"),
        (dict(origin=None), TypeError, "origin"),
        (dict(full_shape=(4, -5)), ValueError, "full_shape"),
        (dict(full_shape="ab"), TypeError, "full_shape"),
        (dict(seed=-1), ValueError, "seed"),
        (dict(seed=2**64), ValueError, "seed"),
        (dict(seed=1.5), TypeError, "seed"),
        (dict(stream=2**64), ValueError, "stream"),
        (dict(offset=-3), ValueError, "offset"),
        (dict(offset=2**64 - 19), ValueError, "would pass 2\\*\\*64"),
        (dict(p=1.5), ValueError, "p must be"),
        (dict(p=float("nan")), ValueError, "p must be"),
        (dict(mode="sideways"), ValueError, "mode"),
        (dict(out=np.empty((3, 3), np.float32)), ValueError, "out has shape"),
        (dict(out=np.empty((2, 3), np.float64)), ValueError, "out has dtype"),
        (dict(x_block=np.zeros((2, 3), np.int32)), TypeError, "dtype"),
    ],
)
def test_errors_name_the_argument(fn, kwargs, exc, match):
    args = dict(
        x_block=np.ones((2, 3), np.float32), p=0.5, full_shape=(4, 5), origin=(1, 2), seed=SEED
    )
    args.update(kwargs)
    x = args["x_block"]
    before = x.copy()
    with pytest.raises(exc, match=match):
        fn(args.pop("x_block"), args.pop("p"), **args)
    np.testing.assert_array_equal(x, before)


def test_read_only_out_and_mask_errors():
    x = np.ones((2, 3), np.float32)
    ro = np.zeros((2, 3), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        pydropout.dropout_block(x, 0.5, full_shape=(2, 3), origin=(0, 0), seed=1, out=ro)
    with pytest.raises(ValueError, match="shape"):
        pydropout.dropout_block_mask((3, 3), 0.5, full_shape=(2, 3), origin=(0, 0), seed=1)
    with pytest.raises(ValueError, match="shape has 1 dimensions"):
        pydropout.dropout_block_mask(4, 0.5, full_shape=(2, 3), origin=(0, 0), seed=1)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_random_blocks_match_the_reference_and_the_whole(data):
    ndim = data.draw(st.integers(1, 3))
    full = tuple(data.draw(st.lists(st.integers(1, 12), min_size=ndim, max_size=ndim)))
    origin = tuple(data.draw(st.integers(0, f - 1)) for f in full)
    shape = tuple(data.draw(st.integers(0, f - o)) for o, f in zip(origin, full))
    offset = data.draw(st.sampled_from([0, 3, 4 * 2**32 - 5, 2**64 - int(np.prod(full))]))
    p = data.draw(st.sampled_from([0.1, 0.5, 0.9]))
    x = np.random.default_rng(len(full)).standard_normal(full)
    sl = tuple(slice(o, o + b) for o, b in zip(origin, shape))
    y_whole, bits = whole(x, p, offset=offset, stream=7)
    kw = dict(full_shape=full, origin=origin, seed=SEED, stream=7, offset=offset, return_mask=True)
    y, mask = pydropout.dropout_block(x[sl], p, **kw)
    y_ref, mask_ref = reference.dropout_block(x[sl], p, **kw)
    np.testing.assert_array_equal(y, y_whole[sl])
    np.testing.assert_array_equal(y_ref, y)
    np.testing.assert_array_equal(mask_ref, mask)
    np.testing.assert_array_equal(unpack(mask, shape), bits[sl])
