"""The C++ fast hooks with out=, inplace, the downscale mode and noise shapes, and the
noise-shape and fused alpha kernels: bit for bit pydropout.reference at every SIMD level and
thread count, including runs whose mask bits do not start on a byte."""

import numpy as np
import pytest
from helpers import DTYPES, SIMD_LEVELS, assert_same_bits, forced_simd, forced_threads

import pydropout
import pydropout.reference as ref

MODES = ("upscale_in_train", "downscale_in_infer")
# (shape, noise shape): channel layouts, odd inner runs, several broadcast groups
CASES = [
    ((3, 5, 7, 9), (3, 5, 1, 1)),
    ((3, 7, 9, 5), (3, 1, 1, 5)),
    ((4, 6, 11), (4, 6, 1)),
    ((2, 3, 5, 7, 3), (2, 3, 1, 1, 1)),
    ((6, 13, 5), (6, 1, 5)),
    ((5, 3, 7, 2), (1, 3, 1, 2)),
    ((9, 10), (10,)),
    ((1, 70000), (1, 1)),
    ((4, 3, 128, 129), (4, 3, 1, 1)),
    ((2, 64, 64, 24), (2, 1, 1, 24)),
]


def _x(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("level", SIMD_LEVELS)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape,noise", CASES)
def test_noise_shape_forward_and_backward(level, threads, shape, noise):
    x = _x(shape, np.float32)
    with forced_simd(level), forced_threads(threads):
        for mode in MODES:
            for p in (0.0, 0.3, 1.0):
                g, r = pydropout.Generator(11, stream=2), ref.Generator(11, stream=2)
                y, m = pydropout.dropout_with_mask(x, p, mode=mode, noise_shape=noise, generator=g)
                ey, em = ref.dropout_with_mask(x, p, mode=mode, noise_shape=noise, generator=r)
                assert_same_bits(y, ey, f"{mode} p={p}")
                assert np.array_equal(m, em)
                assert g.get_state() == r.get_state()
                out = np.full_like(x, np.nan)
                dx = pydropout.dropout_backward(x, m, p, mode=mode, noise_shape=noise, out=out)
                assert dx is out
                assert_same_bits(dx, ref.dropout_backward(x, em, p, mode=mode, noise_shape=noise))


@pytest.mark.parametrize("level", SIMD_LEVELS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_out_inplace_and_downscale(level, dtype):
    for n in (1, 63, 1024, 70001):
        x = _x((n,), dtype, n)
        with forced_simd(level):
            for mode in MODES:
                expect = ref.dropout(x, 0.4, mode=mode, generator=ref.Generator(5))
                out = np.empty_like(x)
                y = pydropout.dropout(x, 0.4, mode=mode, generator=pydropout.Generator(5), out=out)
                assert y is out
                assert_same_bits(y, expect)
                xi = x.copy()
                y = pydropout.dropout(
                    xi, 0.4, inplace=True, mode=mode, generator=pydropout.Generator(5)
                )
                assert y is xi
                assert_same_bits(y, expect)
                xo = x.copy()
                y = pydropout.dropout(xo, 0.4, mode=mode, generator=pydropout.Generator(5), out=xo)
                assert y is xo
                assert_same_bits(y, expect)


def test_partly_overlapping_out_takes_the_pipeline():
    buf = _x((2000,), np.float32)
    x, out = buf[:1500], buf[500:]
    expect = ref.dropout(x.copy(), 0.5, generator=ref.Generator(3))
    y = pydropout.dropout(x, 0.5, generator=pydropout.Generator(3), out=out)
    assert y is out
    assert_same_bits(y, expect)


def test_bad_destinations_still_raise():
    x = _x((8,), np.float32)
    with pytest.raises(ValueError):
        pydropout.dropout(x, 0.5, out=np.empty(8, np.float64))
    ro = x.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError):
        pydropout.dropout(ro, 0.5, inplace=True)
    with pytest.raises(ValueError):
        pydropout.dropout(x, 0.5, out=ro)
    with pytest.raises(ValueError):
        pydropout.dropout(x, 0.5, inplace=True, out=np.empty_like(x))
    with pytest.raises(ValueError):
        pydropout.dropout(x.reshape(2, 4), 0.5, noise_shape=(3, 1))


@pytest.mark.parametrize("level", SIMD_LEVELS)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_alpha_fused_and_feature_alpha(level, threads, dtype):
    with forced_simd(level), forced_threads(threads):
        for shape in ((70001, 1), (3, 5, 7, 9), (4, 33, 2, 515)):
            x = _x(shape, dtype, 7)
            for p in (0.0, 0.2, 1.0):
                y, m = pydropout.alpha_dropout_with_mask(x, p, generator=pydropout.Generator(9))
                ey, em = ref.alpha_dropout_with_mask(x, p, generator=ref.Generator(9))
                assert_same_bits(y, ey)
                assert np.array_equal(m, em)
                for cl in (False, True):
                    y = pydropout.feature_alpha_dropout(
                        x, p, True, channels_last=cl, generator=pydropout.Generator(4)
                    )
                    ey = ref.feature_alpha_dropout(
                        x, p, True, channels_last=cl, generator=ref.Generator(4)
                    )
                    assert_same_bits(y, ey, f"channels_last={cl} p={p}")


@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=str)
def test_streamed_outputs(dtype):
    """Outputs of 8 MiB and more are written with streaming stores from a 64-byte boundary."""
    x = _x((2, 35, 33, 1021), dtype, 3)[..., 1:]  # a view: the copy's offset varies
    x = np.ascontiguousarray(x)
    ey = ref.alpha_dropout(x, 0.3, True, generator=ref.Generator(8))
    ef = ref.feature_alpha_dropout(x, 0.3, True, generator=ref.Generator(8))
    ed = ref.dropout2d(x, 0.3, channels_last=True, generator=ref.Generator(8))
    for level in SIMD_LEVELS:
        for threads in (1, 2):
            with forced_simd(level), forced_threads(threads):
                y = pydropout.alpha_dropout(x, 0.3, True, generator=pydropout.Generator(8))
                assert_same_bits(y, ey, f"alpha {level} {threads}")
                y = pydropout.feature_alpha_dropout(x, 0.3, True, generator=pydropout.Generator(8))
                assert_same_bits(y, ef, f"feature alpha {level} {threads}")
                y = pydropout.dropout2d(
                    x, 0.3, channels_last=True, generator=pydropout.Generator(8)
                )
                assert_same_bits(y, ed, f"dropout2d {level} {threads}")


# (block shape, full shape, origin): one run, whole rows, long runs under partial axes,
# short runs (the Python plans), odd lengths
BLOCKS = [
    ((2, 8, 8, 8), (2, 8, 8, 8), (0, 0, 0, 0)),
    ((3, 200), (9, 200), (4, 0)),
    ((2, 3, 100), (5, 6, 130), (1, 2, 17)),
    ((4, 70), (4, 301), (0, 99)),
    ((3, 5, 7), (6, 9, 11), (1, 2, 3)),
    ((1, 1, 1), (2, 2, 2), (1, 1, 1)),
]


@pytest.mark.parametrize("level", SIMD_LEVELS)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,full,origin", BLOCKS)
def test_block_hook(level, threads, dtype, shape, full, origin):
    x = _x(shape, dtype)
    core = pydropout._core
    with forced_simd(level), forced_threads(threads):
        for p in (0.0, 0.3, 1.0):
            for mode in MODES:
                key = dict(full_shape=full, origin=origin, seed=11, stream=2, offset=5)
                y, m = pydropout.dropout_block(x, p, mode=mode, return_mask=True, **key)
                ry, rm = ref.dropout_block(x, p, mode=mode, return_mask=True, **key)
                assert_same_bits(y, ry)
                np.testing.assert_array_equal(m, rm)
                np.testing.assert_array_equal(pydropout.dropout_block_mask(shape, p, **key), rm)
                # the hook serves the blocks of few, long runs, and only those
                fast = core.block_fast(x, p, full, origin, 11, 2, 5, mode == MODES[0], True, True)
                j = len(shape) - 1  # runs: the axes from j on, merged
                while j > 0 and shape[j] == full[j]:
                    j -= 1
                runs = int(np.prod(shape[:j]))
                long_runs = runs == 1 or np.prod(shape) // runs >= 64
                served = long_runs and np.dtype(dtype).name != "bfloat16"  # not bfloat16
                assert (fast is not None) == served
                if fast is not None:
                    assert_same_bits(fast[0], ry)
                    np.testing.assert_array_equal(fast[1], rm)


@pytest.mark.parametrize("level", SIMD_LEVELS)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7,), (2, 8, 8, 8), (3, 5, 257), (2, 3, 20000)])
def test_state_and_alpha_hooks(level, threads, dtype, shape):
    """Backwards from a DropoutState, alpha dropout and its backward from a mask: the C++
    hooks (and the pipeline where they decline) give the reference's bits."""
    x = _x(shape, dtype)
    x.flat[::29] = np.inf
    x.flat[::31] = np.nan
    core = pydropout._core
    native = np.dtype(dtype).name != "bfloat16"
    with forced_simd(level), forced_threads(threads):
        for p in (0.0, 0.3, 1.0):

            def g():
                return dict(generator=pydropout.Generator(9))

            assert_same_bits(
                pydropout.alpha_dropout(x, p, True, **g()), ref.alpha_dropout(x, p, True, **g())
            )
            if len(shape) >= 2:
                for cl in (False, True):
                    assert_same_bits(
                        pydropout.feature_alpha_dropout(x, p, True, channels_last=cl, **g()),
                        ref.feature_alpha_dropout(x, p, True, channels_last=cl, **g()),
                    )
            if p < 1.0:  # Gaussian dropout: forward, its state, the backward from it
                assert_same_bits(
                    pydropout.gaussian_dropout(x, p, **g()), ref.gaussian_dropout(x, p, **g())
                )
                y, gst = pydropout.gaussian_dropout_with_state(x, p, **g())
                ry, rst = ref.gaussian_dropout_with_state(x, p, **g())
                assert_same_bits(y, ry)
                assert gst == rst
                assert_same_bits(
                    pydropout.gaussian_dropout_backward(x, gst, p),
                    ref.gaussian_dropout_backward(x, rst, p),
                )
                served = core.gaussian_backward_fast(x, gst._fields, p, None) is not None
                assert served == native
                # into out=: the hook's destination (a C-contiguous array, or the gradient
                # itself) and the pipeline's (a strided view), the same bits as a new array
                want = ref.gaussian_dropout_backward(x, rst, p)
                out = np.full_like(x, 5)
                assert pydropout.gaussian_dropout_backward(x, gst, p, out=out) is out
                assert_same_bits(out, want)
                wide = np.full((*x.shape[:-1], 2 * x.shape[-1]), 5, x.dtype)
                view = wide[..., ::2]
                assert pydropout.gaussian_dropout_backward(x, gst, p, out=view) is view
                assert_same_bits(view, want)
                xc = x.copy()
                assert pydropout.gaussian_dropout_backward(xc, gst, p, out=xc) is xc
                assert_same_bits(xc, want)
            ay, am = ref.alpha_dropout_with_mask(x, p, generator=pydropout.Generator(4))
            cy, cm = pydropout.alpha_dropout_with_mask(x, p, generator=pydropout.Generator(4))
            assert_same_bits(cy, ay)
            np.testing.assert_array_equal(cm, am)
            sy, ast = pydropout.alpha_dropout_with_state(x, p, generator=pydropout.Generator(4))
            ry, rst = ref.alpha_dropout_with_state(x, p, generator=pydropout.Generator(4))
            assert_same_bits(sy, ay)
            assert ast == rst and type(ast.p) is float
            served = core.alpha_any_fast(x, p, pydropout.Generator(4), None, False, None, 2)
            assert (served is not None) == (native and 0.0 < p < 1.0)
            want = ref.alpha_dropout_backward(x, am, p)
            assert_same_bits(pydropout.alpha_dropout_backward(x, am, p), want)
            assert_same_bits(pydropout.alpha_dropout_backward(x, ast, p), want)
            served = core.redraw_fast(x, ast._fields, p, True, True) is not None
            assert served == (native and p < 1.0)
            for mode in MODES:
                _, m = ref.dropout_with_mask(x, p, mode=mode, generator=pydropout.Generator(5))
                _, st = pydropout.dropout_with_state(
                    x, p, mode=mode, generator=pydropout.Generator(5)
                )
                _, rst = ref.dropout_with_state(x, p, mode=mode, generator=pydropout.Generator(5))
                assert st == rst and type(st.p) is float
                hooked = core.dropout_any_fast(
                    x, p, pydropout.Generator(5), None, False, mode == MODES[0], None, 2
                )
                assert (hooked is not None) == native
                want = ref.dropout_backward(x, m, p, mode=mode)
                assert_same_bits(pydropout.dropout_backward(x, st, p, mode=mode), want)
                served = core.redraw_fast(x, st._fields, p, mode == MODES[0], False)
                assert (served is not None) == native
                # a state of the other mode or kind is declined (the pipeline raises)
                assert core.redraw_fast(x, st._fields, p, mode != MODES[0], False) is None
                assert core.redraw_fast(x, st._fields, p, True, True) is None


@pytest.mark.parametrize("level", SIMD_LEVELS)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [(), (0,), (7,), (3, 5, 7), [64, 33], (1 << 17,)])
def test_mask_hook(level, threads, shape):
    """dropout_mask through the C++ hook: the reference's bits and words, at every p."""
    with forced_simd(level), forced_threads(threads):
        for p in (0.0, 0.3, 1.0):
            g, rg = pydropout.Generator(9, offset=3), ref.Generator(9, offset=3)
            served = pydropout._core.mask_fast(shape, p, pydropout.Generator(9))
            assert served is not None
            m = pydropout.dropout_mask(shape, p, generator=g)
            np.testing.assert_array_equal(m, ref.dropout_mask(shape, p, generator=rg))
            assert g.offset == rg.offset
