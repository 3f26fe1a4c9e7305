"""drop_path, zoneout, gaussian_noise and dropout_apply (docs/CONTRACT.md section 6): bit-exact parity
with pydropout.reference over dtype x shape x p x SIMD level x threads, the words each call
consumes, statistics with stated bounds (fixed seeds: nothing here can flake), edge cases and
errors, the layers' backward passes, and the Monte Carlo dropout recipe of the README."""

import numpy as np
import pytest
from helpers import DTYPES, SEED, SIMD_LEVELS, assert_same_bits
from helpers import forced_simd as simd
from helpers import forced_threads as threads

import pydropout as pd
from pydropout import reference as ref

PS = (0.0, 1e-10, 0.1, 0.5, 0.9, 1.0)
SHAPES = ((1,), (7,), (3, 5, 67), (9, 130), (0, 4), (4, 0))


def data(shape, dtype, seed=1234):
    """Normal values with NaN, +-inf, -0.0 and +0.0 sprinkled in."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 3
    if x.size >= 8:
        flat = x.reshape(-1)
        flat[rng.choice(flat.size, 5, replace=False)] = [np.nan, np.inf, -np.inf, -0.0, 0.0]
    return x.astype(dtype)


def both(name, *args, state=(SEED, 0, 0), **kwargs):
    """pydropout.<name> and reference.<name> from the same generator state."""
    g1, g2 = (pd.Generator(state[0], stream=state[1], offset=state[2]) for _ in range(2))
    a = getattr(pd, name)(*args, generator=g1, **kwargs)
    b = getattr(ref, name)(*args, generator=g2, **kwargs)
    assert g1.get_state() == g2.get_state()
    return a, b, g1


# -- parity ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("level", SIMD_LEVELS)
def test_drop_path_parity(dtype, shape, level):
    x = data(shape, dtype)
    with simd(level):
        for p in PS:
            for mode in ("row", "batch"):
                for scale in (True, False):
                    a, b, g = both(
                        "drop_path", x, p, mode=mode, scale_by_keep=scale, state=(SEED, 3, 5)
                    )
                    assert_same_bits(a, b, f"p={p} mode={mode} scale={scale}")
                    assert g.offset == 5 + (shape[0] if mode == "row" else 1)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("level", SIMD_LEVELS)
def test_zoneout_and_gaussian_noise_parity(dtype, shape, level):
    prev, new = data(shape, dtype, 1), data(shape, dtype, 2)
    with simd(level):
        for p in PS:
            a, b, g = both("zoneout", prev, new, p, state=(SEED, 1, 3))
            assert_same_bits(a, b, f"zoneout p={p}")
            assert g.offset == 3 + prev.size
            assert_same_bits(pd.zoneout(prev, new, p, False), ref.zoneout(prev, new, p, False))
        for stddev in (0.0, 1e-3, 0.5, 7.0):
            a, b, g = both("gaussian_noise", prev, stddev, state=(SEED, 2, 1))
            assert_same_bits(a, b, f"gaussian_noise stddev={stddev}")
            assert g.offset == 1 + prev.size


@pytest.mark.parametrize("nthreads", (1, 2, 3, 8))
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_parity_over_threads(nthreads, dtype):
    # large enough for several threads; offsets that do not start a Philox block
    x, other = data((5, 80011), dtype, 3), data((5, 80011), dtype, 4)
    with threads(nthreads):
        for level in SIMD_LEVELS:
            with simd(level):
                for p in (0.0, 0.3, 1.0):
                    for mode in ("row", "batch"):
                        a, b, _ = both("drop_path", x, p, mode=mode, state=(SEED, 0, 7))
                        assert_same_bits(a, b, f"drop_path {level} {mode} p={p}")
                    a, b, _ = both("zoneout", x, other, p, state=(SEED, 0, 6))
                    assert_same_bits(a, b, f"zoneout {level} p={p}")
                a, b, _ = both("gaussian_noise", x, 0.25, state=(SEED, 0, 5))
                assert_same_bits(a, b, f"gaussian_noise {level}")


@pytest.mark.parametrize("impl", (pd, ref), ids=("core", "reference"))
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_drop_path_is_dropout_over_a_noise_shape(impl, dtype):
    for shape in ((6,), (6, 5), (11, 3, 4, 5)):
        x = data(shape, dtype)
        for p in PS:
            a = impl.drop_path(x, p, generator=pd.Generator(9, offset=2))
            noise = (shape[0],) + (1,) * (len(shape) - 1)
            b = impl.dropout(x, p, noise_shape=noise, generator=pd.Generator(9, offset=2))
            assert_same_bits(a, b, f"{shape} p={p}")


def test_noise_shape_rows_match_the_broadcast_mask():
    # the row kernel of (N, C, 1, 1) noise shapes against the explicit broadcast of the mask
    x = data((4, 6, 5, 3), np.float32)
    for p in (0.0, 0.4, 1.0):
        y, mask = pd.dropout_with_mask(x, p, noise_shape=(4, 6, 1, 1), generator=pd.Generator(1))
        keep = np.unpackbits(mask, count=24, bitorder="little").reshape(4, 6, 1, 1)
        s = np.float32(1 / (1 - p)) if p < 1 else np.float32(0)
        with np.errstate(all="ignore"):
            expect = np.where(np.broadcast_to(keep, x.shape) == 1, x * s, np.float32(0))
        assert_same_bits(y, expect)
        g = np.ones_like(x)
        dx = pd.dropout_backward(g, mask, p, noise_shape=(4, 6, 1, 1))
        assert_same_bits(dx, ref.dropout_backward(g, mask, p, noise_shape=(4, 6, 1, 1)))


# -- drop_path ------------------------------------------------------------------------------


def test_drop_path_keeps_or_drops_whole_samples():
    # 20000 samples at p = 0.3: the dropped fraction is within 6 standard deviations
    # (sqrt(0.21 / 20000) = 0.0032) of t / 2**32, and every sample is all kept or all zero
    x = np.ones((20000, 3, 4), np.float32)
    y = pd.drop_path(x, 0.3, generator=pd.Generator(11))
    rows = y.reshape(20000, -1)
    kept = (rows != 0).all(axis=1)
    assert np.array_equal(kept, (rows != 0).any(axis=1))  # whole samples only
    assert np.all(rows[kept] == np.float32(1 / 0.7))
    assert abs((1 - kept.mean()) - 0.3) < 6 * 0.0032


def test_drop_path_batch_mode_draws_one_word():
    x = data((50, 7), np.float64)
    outcomes = set()
    for offset in range(40):
        g = pd.Generator(5, offset=offset)
        y = pd.drop_path(x, 0.5, mode="batch", generator=g)
        assert g.offset == offset + 1
        w = ref.stream_words(5, 0, offset, 1)[0]
        kept = int(w) >= 2**31
        expect = x * np.float64(2.0) if kept else np.zeros_like(x)
        assert_same_bits(y, expect)
        outcomes.add(kept)
    assert outcomes == {True, False}


def test_drop_path_scale_by_keep_false_leaves_kept_samples_unchanged():
    x = data((64, 5), np.float16)
    y = pd.drop_path(x, 0.5, scale_by_keep=False, generator=pd.Generator(2))
    kept = (y != 0).any(axis=1)
    assert 0 < kept.sum() < 64
    assert_same_bits(y[kept], x[kept])
    assert_same_bits(y[~kept], np.zeros_like(x[~kept]))


def test_drop_path_edges():
    x = data((3, 4), np.float32)
    assert pd.drop_path(x, 0.5, False) is x  # evaluation: x itself
    assert pd.drop_path(x, 0.5, True, generator=pd.Generator(1)) is not x
    g = pd.Generator(1)
    assert pd.drop_path(np.ones((0, 3), np.float32), 0.5, generator=g).shape == (0, 3)
    assert g.offset == 0  # an empty batch draws nothing
    with pytest.raises(ValueError, match="at least one dimension"):
        pd.drop_path(np.float32(2.0), 0.5, generator=g)
    y = pd.drop_path(np.array(2.0, np.float32), 0.0, mode="batch", generator=g)  # 0-d: batch
    assert y.shape == () and y == 2.0 and g.offset == 1
    assert np.all(pd.drop_path(x, 1.0, generator=g) == 0)
    assert_same_bits(pd.drop_path(x, 0.0, generator=g), x)
    out = np.empty_like(x)
    y = pd.drop_path(x, 0.5, out=out, generator=pd.Generator(4))
    assert y is out
    assert_same_bits(out, pd.drop_path(x, 0.5, generator=pd.Generator(4)))


def test_drop_path_layer():
    x = data((16, 3, 2), np.float32)
    layer = pd.DropPath(0.4, generator=pd.Generator(8))
    assert repr(layer) == "DropPath(p=0.4)"
    assert repr(pd.DropPath(0.1, mode="batch", scale_by_keep=False)) == (
        "DropPath(p=0.1, mode='batch', scale_by_keep=False)"
    )
    y = layer(x)
    assert_same_bits(y, pd.drop_path(x, 0.4, generator=pd.Generator(8)))
    g = data((16, 3, 2), np.float32, 9)
    _, mask = pd.dropout_with_mask(x, 0.4, noise_shape=(16, 1, 1), generator=pd.Generator(8))
    assert_same_bits(layer.backward(g), pd.dropout_backward(g, mask, 0.4, noise_shape=(16, 1, 1)))
    assert layer.eval()(x) is x
    with pytest.raises(ValueError, match="mode"):
        pd.DropPath(0.1, mode="sample")


# -- zoneout --------------------------------------------------------------------------------


def test_zoneout_keep_rate_and_values():
    # 10**6 elements at p = 0.25: the fraction of previous values within 6 standard
    # deviations (sqrt(0.1875 / 10**6) = 0.00043) of p
    prev = np.zeros(10**6, np.float32)
    new = np.ones(10**6, np.float32)
    y = pd.zoneout(prev, new, 0.25, generator=pd.Generator(3))
    assert set(np.unique(y)) <= {0.0, 1.0}
    assert abs((y == 0).mean() - 0.25) < 6 * 0.00043
    # the bits are those of dropout_mask: 1 where `new` was taken (word >= t)
    mask = pd.dropout_mask(10**6, 0.25, generator=pd.Generator(3))
    assert np.array_equal(np.unpackbits(mask, count=10**6, bitorder="little") == 1, y == 1)


def test_zoneout_edges_and_evaluation():
    prev, new = data((5, 6), np.float32, 1), data((5, 6), np.float32, 2)
    assert_same_bits(pd.zoneout(prev, new, 0.0, generator=pd.Generator(1)), new)
    assert_same_bits(pd.zoneout(prev, new, 1.0, generator=pd.Generator(1)), prev)
    for dtype in DTYPES:
        a, b = prev.astype(dtype), new.astype(dtype)
        with np.errstate(all="ignore"):
            expect = a * np.array(0.3).astype(dtype) + b * np.array(0.7).astype(dtype)
        got = pd.zoneout(a, b, 0.3, False)
        assert got is not a and got is not b
        assert_same_bits(got, expect)
    g = pd.Generator(1)
    z = pd.zoneout(np.float64(1.0), np.float64(2.0), 0.5, generator=g)
    assert z.shape == () and g.offset == 1
    assert pd.zoneout(np.ones((0, 3)), np.ones((0, 3)), 0.5, generator=g).shape == (0, 3)
    out = new.copy()  # out may be `new` itself
    y = pd.zoneout(prev, out, 0.5, out=out, generator=pd.Generator(6))
    assert y is out
    assert_same_bits(out, pd.zoneout(prev, new, 0.5, generator=pd.Generator(6)))


@pytest.mark.parametrize("save", ("mask", "state"))
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_zoneout_layer_backward(save, dtype):
    prev, new = data((40, 9), dtype, 1), data((40, 9), dtype, 2)
    layer = pd.Zoneout(0.3, generator=pd.Generator(12), save=save)
    assert repr(layer) == ("Zoneout(p=0.3)" if save == "mask" else "Zoneout(p=0.3, save='state')")
    y = layer(prev, new)
    assert_same_bits(y, pd.zoneout(prev, new, 0.3, generator=pd.Generator(12)))
    grad = data((40, 9), dtype, 3)
    dprev, dnew = layer.backward(grad)
    took_new = pd.dropout_mask((40, 9), 0.3, generator=pd.Generator(12))
    bit = np.unpackbits(took_new, count=360, bitorder="little").reshape(40, 9) == 1
    zero = np.zeros((), dtype)
    assert_same_bits(dnew, np.where(bit, grad, zero))
    assert_same_bits(dprev, np.where(bit, zero, grad))
    layer.eval()
    layer(prev, new)
    dprev, dnew = layer.backward(grad)
    with np.errstate(all="ignore"):
        assert_same_bits(dprev, grad * np.array(0.3).astype(dtype))
        assert_same_bits(dnew, grad * np.array(0.7).astype(dtype))


# -- gaussian_noise -------------------------------------------------------------------------


def test_gaussian_noise_statistics():
    # 10**6 deviates with stddev 2: the mean within 6 standard errors (6 * 2 / 1000), the
    # standard deviation within 1 % (its standard error is 0.07 %)
    x = np.full(10**6, 5.0)
    y = pd.gaussian_noise(x, 2.0, generator=pd.Generator(21))
    n = y - 5.0
    assert abs(n.mean()) < 0.012
    assert abs(n.std() / 2.0 - 1) < 0.01
    assert np.abs(n).max() <= 2.0 * 6.34


def test_gaussian_noise_arithmetic():
    # n = dtype(stddev * z) (16-bit types via float32), then one add in the dtype
    x = data((3, 50), np.float64, 5)
    z = ref.normal_from_words(ref.stream_words(4, 0, 0, x.size)).reshape(x.shape)
    for dtype in DTYPES:
        xd = x.astype(dtype)
        n = (
            (0.7 * z).astype(np.float32).astype(dtype)
            if dtype.itemsize == 2
            else ((0.7 * z).astype(dtype))
        )
        with np.errstate(all="ignore"):
            expect = xd + n
        assert_same_bits(pd.gaussian_noise(xd, 0.7, generator=pd.Generator(4)), expect)
    assert pd.gaussian_noise(x, 0.7, False) is x
    layer = pd.GaussianNoise(0.7, generator=pd.Generator(4))
    assert repr(layer) == "GaussianNoise(stddev=0.7)"
    assert_same_bits(layer(x), pd.gaussian_noise(x, 0.7, generator=pd.Generator(4)))
    assert_same_bits(layer.backward(x), x)
    assert layer.eval()(x) is x


# -- dropout_apply --------------------------------------------------------------------------


@pytest.mark.parametrize("impl", (pd, ref), ids=("core", "reference"))
def test_dropout_apply_is_the_forward_with_a_given_mask(impl):
    x = data((6, 5, 4), np.float32)
    for p in (0.0, 0.3, 1.0):
        for mode in ("upscale_in_train", "downscale_in_infer"):
            y, mask = impl.dropout_with_mask(x, p, mode=mode, generator=pd.Generator(3))
            g = pd.Generator(0)
            assert_same_bits(impl.dropout_apply(x, mask, p, mode=mode), y)
            assert_same_bits(
                impl.dropout_apply(x, mask, p, mode=mode),
                impl.dropout_backward(x, mask, p, mode=mode),
            )
            _, state = impl.dropout_with_state(x, p, mode=mode, generator=pd.Generator(3))
            assert_same_bits(impl.dropout_apply(x, state, p, mode=mode), y)
            assert g.offset == 0
        y, mask = impl.dropout_with_mask(x, p, noise_shape=(1, 5, 4), generator=pd.Generator(3))
        for _step in range(3):  # one mask at every time step: locked dropout
            assert_same_bits(impl.dropout_apply(x, mask, p, noise_shape=(1, 5, 4)), y)


# -- errors: named, and nothing changed ---------------------------------------------------------


def test_errors_name_the_argument_and_change_nothing():
    x = data((4, 3), np.float32)
    other = data((4, 3), np.float32, 2)
    keep = x.copy(), other.copy()
    g = pd.Generator(1, offset=10)
    out = np.full_like(x, 7.0)
    cases = [
        (ValueError, "stddev", lambda: pd.gaussian_noise(x, -1.0, generator=g, out=out)),
        (ValueError, "stddev", lambda: pd.gaussian_noise(x, float("nan"), generator=g)),
        (ValueError, "stddev", lambda: pd.gaussian_noise(x, float("inf"), generator=g)),
        (TypeError, "stddev", lambda: pd.gaussian_noise(x, "1", generator=g)),
        (ValueError, "stddev", lambda: pd.GaussianNoise(-0.5)),
        (ValueError, "mode", lambda: pd.drop_path(x, 0.5, mode="rows", generator=g, out=out)),
        (ValueError, "p", lambda: pd.drop_path(x, 1.5, generator=g)),
        (ValueError, "new", lambda: pd.zoneout(x, other[:3], 0.5, generator=g, out=out)),
        (ValueError, "new", lambda: pd.zoneout(x, other.astype(np.float64), 0.5, generator=g)),
        (ValueError, "new", lambda: pd.zoneout(x, other[:3], 0.5, False)),
        (ValueError, "p", lambda: pd.zoneout(x, other, -0.1, generator=g)),
        (ValueError, "out", lambda: pd.zoneout(x, other, 0.5, generator=g, out=out[:2])),
        (TypeError, "prev", lambda: pd.zoneout(np.ones((4, 3), np.int32), other, 0.5, generator=g)),
        (ValueError, "mask", lambda: pd.dropout_apply(x, np.zeros(1, np.uint8), 0.5, out=out)),
        (
            TypeError,
            "x",
            lambda: pd.dropout_apply(np.ones((4, 3), np.int8), np.zeros(2, np.uint8), 0.5),
        ),
    ]
    for exc, name, call in cases:
        with pytest.raises(exc, match=name):
            call()
        assert g.offset == 10
        assert_same_bits(out, np.full_like(x, 7.0))
        assert_same_bits(x, keep[0])
        assert_same_bits(other, keep[1])


# -- the README's Monte Carlo dropout recipe ------------------------------------------------


def dense(x, w):
    """x @ w as a sum over the inputs in order: every row gets the same operations whatever
    the batch (a BLAS product may block a batch of 7 differently from one of 32)."""
    y = np.zeros((len(x), w.shape[1]), w.dtype)
    for k in range(w.shape[0]):
        y += x[:, k : k + 1] * w[k]
    return y


def mc_predict(x, first, params, samples=20, p=0.2, seed=99):
    """Monte Carlo dropout predictions for rows ``first .. first + len(x)`` of a data set of
    ``n_total`` rows, as (mean, variance) over ``samples`` passes. The mask of (row i, pass
    t, unit k) is word ``ravel_multi_index((i, t, k), (n_total, samples, units))`` of the
    stream: keyed by the row's index, so no batch size or order changes it."""
    w1, w2, n_total = params
    hidden = np.maximum(dense(x, w1), 0.0)
    full = (n_total, samples, w1.shape[1])
    outs = [
        dense(
            pd.dropout_block(
                hidden[:, None, :], p, full_shape=full, origin=(first, t, 0), seed=seed
            )[:, 0, :],
            w2,
        )
        for t in range(samples)
    ]
    mean = sum(outs[1:], outs[0]) / samples
    var = sum(((y - mean) ** 2 for y in outs[1:]), (outs[0] - mean) ** 2) / samples
    return mean, var


def test_mc_dropout_does_not_depend_on_the_batch():
    rng = np.random.default_rng(0)
    n = 64
    data_x = rng.standard_normal((n, 8))
    params = (rng.standard_normal((8, 16)), rng.standard_normal((16, 3)), n)
    results = {}
    for batch in (7, 32):
        starts = list(range(0, n, batch))[::-1]  # last batch first: order does not matter
        parts = {
            first: mc_predict(data_x[first : first + batch], first, params) for first in starts
        }
        results[batch] = tuple(np.concatenate([parts[f][j] for f in sorted(parts)]) for j in (0, 1))
    assert_same_bits(results[7][0], results[32][0])
    assert_same_bits(results[7][1], results[32][1])
    assert np.all(results[7][1] > 0)  # dropout did vary the passes
