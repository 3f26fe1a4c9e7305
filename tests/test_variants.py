"""Channel, alpha, feature alpha and Gaussian dropout: bit-exact parity with
pydropout.reference, and the statistical and structural properties that PyTorch's and
Keras's own dropout tests check (with fixed seeds, so nothing here can flake)."""

import math
import statistics

import numpy as np
import pytest
from helpers import DTYPES, SEED, assert_same_bits
from helpers import forced_simd as simd
from helpers import forced_threads as threads

import pydropout as pd
from pydropout import _checks, _core, _spec
from pydropout import reference as ref


def bits(a):
    a = np.ascontiguousarray(a)
    return a.view(f"u{a.dtype.itemsize}")


def data(shape, dtype, seed=1234, specials=True):
    """Standard normal values with NaN, +-inf, -0.0 and +0.0 sprinkled in."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 3
    if specials and x.size >= 8:
        flat = x.reshape(-1)
        flat[rng.choice(flat.size, 5, replace=False)] = [np.nan, np.inf, -np.inf, -0.0, 0.0]
    return x.astype(dtype)


def both(name, *args, state=(SEED, 0, 0), **kwargs):
    """Call pydropout.<name> and reference.<name> from the same generator state."""
    g1 = pd.Generator(state[0], stream=state[1], offset=state[2])
    g2 = pd.Generator(state[0], stream=state[1], offset=state[2])
    a = getattr(pd, name)(*args, generator=g1, **kwargs)
    b = getattr(ref, name)(*args, generator=g2, **kwargs)
    assert g1.get_state() == g2.get_state()
    return a, b, g1


# -- the normal transform ---------------------------------------------------------------------


def transform_words():
    mid, split = 2147483647.5, 0.425 * 2**32
    edges = [0, 1, 2, 3, 2**31 - 2, 2**31 - 1, 2**31, 2**31 + 1, 2**32 - 2, 2**32 - 1]
    for centre in (mid - split, mid + split):  # the switch between AS241's two branches
        edges += [int(centre) + k for k in range(-4, 5)]
    strided = np.arange(0, 2**32, 65537, dtype=np.uint64)  # 65537 covers every low bit pattern
    return np.concatenate([np.array(edges, np.uint64), strided]).astype(np.uint32)


def test_normal_from_words_core_equals_reference():
    w = transform_words()
    assert_same_bits(_core.normal_from_words(w), ref.normal_from_words(w))


def test_normal_from_words_is_symmetric_and_bounded():
    w = transform_words()
    z = ref.normal_from_words(w)
    np.testing.assert_array_equal(ref.normal_from_words(~w), -z)
    assert np.all(z != 0)
    assert np.abs(z).max() == ref.normal_from_words(np.array([0], np.uint32))[0] * -1
    assert 6.33 < np.abs(z).max() < 6.34
    u = np.unique(w)
    assert np.all(np.diff(ref.normal_from_words(u)) > 0)  # monotone, across the branch switch


def test_normal_from_words_is_the_normal_quantile():
    # within 8 ulp of CPython's statistics.NormalDist (AS241 with the platform's log)
    w = transform_words()[::16]
    z = ref.normal_from_words(w)
    nd = statistics.NormalDist()
    exact = np.array([nd.inv_cdf((int(v) + 0.5) / 2**32) for v in w])
    np.testing.assert_array_max_ulp(z, exact, maxulp=8)


# -- parity with the reference ------------------------------------------------------------------

LAYOUTS = ["c", "transposed", "strided", "fortran"]


def layout(x, kind):
    if kind == "c":
        return x
    if kind == "transposed":  # logical shape kept, memory permuted
        return np.ascontiguousarray(np.moveaxis(x, 0, -1)).transpose(
            (x.ndim - 1,) + tuple(range(x.ndim - 1))
        )
    if kind == "strided":
        big = np.zeros((x.shape[0] * 2,) + x.shape[1:], x.dtype)
        big[::2] = x
        return big[::2]
    return np.asfortranarray(x)


CHANNEL = [
    ("dropout1d", (3, 5, 7)),
    ("dropout1d", (5, 7)),
    ("dropout2d", (2, 3, 4, 5)),
    ("dropout2d", (3, 4, 5)),
    ("dropout3d", (2, 3, 2, 3, 4)),
    ("dropout3d", (3, 2, 3, 4)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("kind", LAYOUTS)
@pytest.mark.parametrize("name,shape", CHANNEL)
@pytest.mark.parametrize("channels_last", [False, True])
def test_channel_dropout_parity(dtype, kind, name, shape, channels_last):
    x = layout(data(shape, dtype), kind)
    a, b, g = both(name, x, 0.4, channels_last=channels_last)
    assert_same_bits(a, b)
    noise = _checks.channel_noise_shape(shape, int(name[7]), channels_last)
    assert g.offset == math.prod(noise)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("kind", LAYOUTS)
@pytest.mark.parametrize("p", [0.0, 1e-10, 0.2, 0.5, 0.8, 1.0])
def test_alpha_dropout_parity(dtype, kind, p):
    x = layout(data((5, 6, 7), dtype), kind)
    a, b, g = both("alpha_dropout", x, p, True)
    assert_same_bits(a, b)
    assert g.offset == x.size
    (a, ma), (b, mb), _ = both("alpha_dropout_with_mask", x, p)
    assert_same_bits(a, b)
    np.testing.assert_array_equal(ma, mb)
    a, b, g = both("feature_alpha_dropout", x, p, True)
    assert_same_bits(a, b)
    assert g.offset == 5 * 6
    a, b, _ = both("feature_alpha_dropout", x, p, True, channels_last=True)
    assert_same_bits(a, b)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("kind", LAYOUTS)
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9])
def test_gaussian_dropout_parity(dtype, kind, p):
    x = layout(data((5, 6, 7), dtype), kind)
    a, b, g = both("gaussian_dropout", x, p)
    assert_same_bits(a, b)
    assert g.offset == x.size
    noise = ref.gaussian_dropout_noise(x.size, p, SEED, dtype=dtype).reshape(x.shape)
    with np.errstate(all="ignore"):
        assert_same_bits(a, np.ascontiguousarray(x) * noise)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_parity_every_simd_level_and_thread_count(dtype):
    # large enough for the threaded path (grain 32768), odd to leave a tail, and at an
    # offset that is not a multiple of 4 (the first Philox block is partly used)
    x = data((100_003,), dtype)
    state = (SEED, 3, 2**32 * 4 - 6)
    expect = {
        "alpha": ref.alpha_dropout(
            x, 0.3, True, generator=pd.Generator(SEED, stream=3, offset=state[2])
        ),
        "gauss": ref.gaussian_dropout(
            x, 0.3, generator=pd.Generator(SEED, stream=3, offset=state[2])
        ),
        "chan": ref.dropout1d(
            x.reshape(-1, 1), 0.3, generator=pd.Generator(SEED, stream=3, offset=state[2])
        ),
    }
    for level in pd.supported_simd_levels():
        for n in (1, 2):
            with simd(level), threads(n):
                g = lambda: pd.Generator(SEED, stream=3, offset=state[2])  # noqa: E731
                assert_same_bits(pd.alpha_dropout(x, 0.3, True, generator=g()), expect["alpha"])
                assert_same_bits(pd.gaussian_dropout(x, 0.3, generator=g()), expect["gauss"])
                assert_same_bits(pd.dropout1d(x.reshape(-1, 1), 0.3, generator=g()), expect["chan"])


@pytest.mark.parametrize("name", ["alpha_dropout", "gaussian_dropout", "dropout2d"])
def test_parity_with_out_and_inplace(name):
    x = data((2, 3, 4, 5), np.float32)
    args = (x, 0.3, True)
    expect = getattr(ref, name)(*args, generator=pd.Generator(9))
    out = np.empty((4, 3, 4, 5), np.float32)[::2]  # a strided destination
    y = getattr(pd, name)(*args, generator=pd.Generator(9), out=out)
    assert y is out
    assert_same_bits(out, expect)
    if name != "gaussian_dropout":  # no inplace (Keras has none)
        xi = x.copy()
        y = getattr(pd, name)(xi, 0.3, True, True, generator=pd.Generator(9))
        assert y is xi
        assert_same_bits(xi, expect)


# -- arithmetic ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_alpha_dropout_values(dtype, p):
    x = data((4000,), dtype, specials=False)
    y, mask = pd.alpha_dropout_with_mask(x, p, generator=pd.Generator(4))
    keep = np.unpackbits(mask, count=x.size, bitorder="little").astype(bool)
    a, b, c = (np.array(v, dtype) for v in pd.reference.alpha_constants(p, dtype))
    assert_same_bits(y[keep], (x[keep] * a) + b)
    assert np.all(bits(y[~keep]) == bits(c))
    # the float64 definition, as torch writes it
    alpha = 1.7580993408473766
    a64 = 1.0 / math.sqrt((alpha * alpha * p + 1.0) * (1.0 - p))
    assert float(a) == float(_spec.round_to(a64, dtype))
    assert float(c) == float(_spec.round_to(alpha * a64 * p - alpha * a64, dtype))


def test_alpha_dropout_dropped_ignores_nan_and_inf():
    x = np.array([np.nan, np.inf, -np.inf, -0.0] * 16, np.float32)
    y, mask = pd.alpha_dropout_with_mask(x, 0.5, generator=pd.Generator(1))
    keep = np.unpackbits(mask, count=x.size, bitorder="little").astype(bool)
    _, _, c = pd.reference.alpha_constants(0.5, np.dtype(np.float32))
    assert not keep.all() and keep.any()
    assert np.all(y[~keep] == np.float32(c))


def test_alpha_dropout_p0_copies_and_p1_zeroes():
    x = data((50,), np.float32)
    g = pd.Generator(2)
    y = pd.alpha_dropout(x, 0.0, True, generator=g)
    assert y is not x
    assert_same_bits(y, x)  # -0.0 and NaN included
    assert g.offset == 50  # consumed like any training call
    y = pd.alpha_dropout(x, 1.0, True, generator=g)
    assert_same_bits(y, np.zeros_like(x))
    assert g.offset == 100


def test_gaussian_dropout_p0_is_identity_values():
    x = data((50,), np.float64)
    y = pd.gaussian_dropout(x, 0.0, generator=pd.Generator(2))
    assert y is not x
    assert_same_bits(y, x)


def test_channel_dropout_kept_values_exact():
    # Keras: kept values are exactly x / (1 - p) (where that is a dtype value)
    x = data((8, 16, 9), np.float32, specials=False)
    for p in (0.5, 0.75):
        y = pd.dropout1d(x, p, generator=pd.Generator(3))
        kept = (y != 0).any(axis=2)
        np.testing.assert_array_equal(y[kept], x[kept] / np.float32(1 - p))
    y = pd.dropout1d(x, 0.3, generator=pd.Generator(3))
    kept = (y != 0).any(axis=2)
    np.testing.assert_array_equal(y[kept], x[kept] * np.float32(1 / 0.7))


# -- PyTorch's test properties --------------------------------------------------------------


@pytest.mark.parametrize(
    "name,shape",
    [("dropout1d", (64, 64, 8)), ("dropout2d", (64, 64, 4, 4)), ("dropout3d", (64, 64, 2, 2, 2))],
)
@pytest.mark.parametrize("channels_last", [False, True])
def test_channel_dropout_whole_channels_and_mean(name, shape, channels_last):
    x = np.ones(shape, np.float32)
    y = getattr(pd, name)(x, 0.2, channels_last=channels_last, generator=pd.Generator(5))
    spatial = tuple(range(1, len(shape) - 1)) if channels_last else tuple(range(2, len(shape)))
    zero = (y == 0).all(axis=spatial)
    kept = (y == np.float32(1.25)).all(axis=spatial)
    assert np.all(zero | kept)  # every channel zeroed or kept as a whole
    assert abs(y.mean() - 1.0) < 0.05
    assert abs(zero.mean() - 0.2) < 0.05


@pytest.mark.parametrize(
    "name,batched",
    [("dropout1d", (1, 4, 6)), ("dropout2d", (1, 4, 3, 5)), ("dropout3d", (1, 4, 2, 3, 2))],
)
@pytest.mark.parametrize("channels_last", [False, True])
def test_unbatched_equals_batched(name, batched, channels_last):
    x = data(batched, np.float32)
    if channels_last:
        x = np.moveaxis(x, 1, -1)
    y1 = getattr(pd, name)(x, 0.5, channels_last=channels_last, generator=pd.Generator(8))
    y0 = getattr(pd, name)(x[0], 0.5, channels_last=channels_last, generator=pd.Generator(8))
    assert_same_bits(y1[0], y0)


def test_channels_last_is_a_transpose():
    x = data((3, 5, 4, 6), np.float64)
    first = pd.dropout2d(x, 0.5, generator=pd.Generator(6))
    last = pd.dropout2d(np.moveaxis(x, 1, -1), 0.5, channels_last=True, generator=pd.Generator(6))
    assert_same_bits(np.moveaxis(last, -1, 1), first)


@pytest.mark.parametrize(
    "call",
    [
        lambda x, **k: pd.dropout1d(x, 0.5, False, **k),
        lambda x, **k: pd.dropout2d(x, 0.5, False, **k),
        lambda x, **k: pd.alpha_dropout(x, 0.5, **k),  # training=False by default, as torch
        lambda x, **k: pd.feature_alpha_dropout(x, 0.5, **k),
        lambda x, **k: pd.gaussian_dropout(x, 0.5, False, **k),
    ],
)
def test_eval_returns_input_and_draws_nothing(call):
    x = data((2, 3, 4), np.float32)  # (N, C, L) for dropout1d, (C, H, W) for dropout2d
    g = pd.Generator(1)
    y = call(x, generator=g)
    assert y is x
    assert g.offset == 0


@pytest.mark.parametrize(
    "layer",
    [
        pd.Dropout1d(0.5),
        pd.Dropout2d(0.5),
        pd.Dropout3d(0.5),
        pd.AlphaDropout(0.5),
        pd.FeatureAlphaDropout(0.5),
        pd.GaussianDropout(0.5),
    ],
)
def test_layers_eval_return_input(layer):
    x = data((2, 3, 2, 2, 2) if isinstance(layer, pd.Dropout3d) else (2, 3, 4), np.float32)
    if isinstance(layer, pd.Dropout2d):
        x = x[..., None]
    layer.eval()
    assert layer(x) is x
    layer.train()
    assert layer(x) is not x


BAD_P = [-0.1, 1.5, float("nan")]


@pytest.mark.parametrize("p", BAD_P)
@pytest.mark.parametrize(
    "call",
    [
        lambda x, p, g: pd.dropout1d(x, p, generator=g),
        lambda x, p, g: pd.dropout2d(x[..., None], p, generator=g),
        lambda x, p, g: pd.dropout3d(x[..., None, None], p, generator=g),
        lambda x, p, g: pd.alpha_dropout(x, p, True, generator=g),
        lambda x, p, g: pd.alpha_dropout(x, p, False, generator=g),
        lambda x, p, g: pd.feature_alpha_dropout(x, p, True, generator=g),
        lambda x, p, g: pd.gaussian_dropout(x, p, generator=g),
        lambda x, p, g: pd.gaussian_dropout(x, p, False, generator=g),
    ],
)
def test_invalid_p_raises_and_changes_nothing(call, p):
    x = data((2, 3, 4), np.float32)
    before = x.copy()
    g = pd.Generator(1)
    with pytest.raises(ValueError, match="p must be"):
        call(x, p, g)
    assert g.offset == 0
    assert_same_bits(x, before)


def test_gaussian_p1_raises():
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        pd.gaussian_dropout(np.ones(3), 1.0)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        pd.GaussianDropout(1.0)


@pytest.mark.parametrize(
    "name,shape",
    [
        ("dropout1d", (5,)),
        ("dropout1d", (2, 3, 4, 5)),
        ("dropout2d", (3, 4)),
        ("dropout2d", (1, 2, 3, 4, 5)),
        ("dropout3d", (3, 4, 5)),
        ("dropout3d", (1,) * 6),
    ],
)
def test_channel_dropout_other_ranks_raise(name, shape):
    g = pd.Generator(1)
    with pytest.raises(ValueError, match=name):
        getattr(pd, name)(np.ones(shape), 0.5, generator=g)
    with pytest.raises(ValueError, match=name):
        getattr(pd, name)(np.ones(shape), 0.5, False, generator=g)
    assert g.offset == 0
    with pytest.raises(ValueError, match="at least 2"):
        pd.feature_alpha_dropout(np.ones(4), 0.5, True, generator=g)


def test_failed_calls_change_nothing():
    x = data((2, 3, 4), np.float32)
    g = pd.Generator(1)
    bad_out = np.zeros((2, 3, 5), np.float32)
    for call in (
        lambda: pd.dropout1d(x, 0.5, out=bad_out, generator=g),
        lambda: pd.alpha_dropout(x, 0.5, True, out=bad_out, generator=g),
        lambda: pd.gaussian_dropout(x, 0.5, out=bad_out, generator=g),
        lambda: pd.alpha_dropout(np.arange(24).reshape(2, 3, 4), 0.5, True, generator=g),
    ):
        with pytest.raises((ValueError, TypeError)):
            call()
    ro = x.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        pd.alpha_dropout(ro, 0.5, True, True, generator=g)
    with pytest.raises(TypeError, match="dtype"):
        pd.gaussian_dropout(np.arange(4), 0.5, generator=g)
    assert g.offset == 0
    assert np.all(bad_out == 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda x, g: pd.dropout1d(x, 0.5, generator=g),
        lambda x, g: pd.dropout2d(x[..., None], 0.5, generator=g),
        lambda x, g: pd.dropout3d(x[..., None, None], 0.5, generator=g),
        lambda x, g: pd.alpha_dropout(x, 0.5, True, generator=g),
        lambda x, g: pd.feature_alpha_dropout(x, 0.5, True, generator=g),
        lambda x, g: pd.gaussian_dropout(x, 0.5, generator=g),
    ],
)
@pytest.mark.parametrize("shape", [(0, 3, 4), (2, 0, 4), (2, 3, 0)])
def test_empty_inputs(call, shape):
    x = np.ones(shape, np.float32)
    y = call(x, pd.Generator(1))
    assert y.shape[:3] == shape and y.size == 0 and y.dtype == x.dtype


def test_discontiguous_and_permuted_inputs_keep_working():
    x = data((6, 4, 5, 3), np.float32)
    for view in (x.transpose(1, 0, 2, 3), x[::2], x[:, ::-1], np.asfortranarray(x)):
        c = np.ascontiguousarray(view)
        for name, args in [
            ("dropout2d", (0.5,)),
            ("alpha_dropout", (0.5, True)),
            ("feature_alpha_dropout", (0.5, True)),
            ("gaussian_dropout", (0.5,)),
        ]:
            fn = getattr(pd, name)
            assert_same_bits(
                fn(view, *args, generator=pd.Generator(3)), fn(c, *args, generator=pd.Generator(3))
            )


# -- Keras's test properties ------------------------------------------------------------------


def test_noise_shape_rows_identical():
    x = np.ones((40, 30), np.float32)
    y = pd.dropout(x, 0.5, noise_shape=(1, 30), generator=pd.Generator(11))
    assert np.all(y == y[0])
    assert 0 < (y[0] == 0).sum() < 30


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_alpha_dropout_keeps_mean_and_std(p):
    x = np.random.default_rng(7).standard_normal(200_000)
    y = pd.alpha_dropout(x, p, True, generator=pd.Generator(12))
    assert abs(y.mean() - x.mean()) < 0.1
    assert abs(y.std() - x.std()) < 0.1
    y = pd.feature_alpha_dropout(x.reshape(2000, 100), p, True, generator=pd.Generator(12))
    assert abs(y.mean() - x.mean()) < 0.1
    assert abs(y.std() - x.std()) < 0.1


@pytest.mark.parametrize("p", [0.1, 0.2, 0.5, 0.7])
def test_gaussian_dropout_std(p):
    x = np.ones(200_000)
    y = pd.gaussian_dropout(x, p, generator=pd.Generator(13))
    sigma = math.sqrt(p / (1 - p))
    assert abs(y.std() - sigma) < 0.02
    assert abs(y.mean() - 1.0) < 0.02


# -- layers ---------------------------------------------------------------------------------


def test_layer_repr_and_effective_p():
    assert repr(pd.Dropout1d()) == "Dropout1d(p=0.5, inplace=False)"
    assert repr(pd.Dropout2d(0.3, True)) == "Dropout2d(p=0.3, inplace=True)"
    assert repr(pd.Dropout3d(0.3, channels_last=True, save="state")) == (
        "Dropout3d(p=0.3, inplace=False, save='state', channels_last=True)"
    )
    assert repr(pd.AlphaDropout(0.2)) == "AlphaDropout(p=0.2, inplace=False)"
    assert repr(pd.FeatureAlphaDropout()) == "FeatureAlphaDropout(p=0.5, inplace=False)"
    assert repr(pd.GaussianDropout(0.25)) == "GaussianDropout(p=0.25)"
    assert repr(pd.Dropout(0.1, save="state")) == "Dropout(p=0.1, inplace=False, save='state')"
    for layer in (
        pd.Dropout(0.3),
        pd.Dropout1d(0.3),
        pd.Dropout2d(0.3),
        pd.Dropout3d(0.3),
        pd.AlphaDropout(0.3),
        pd.FeatureAlphaDropout(0.3),
    ):
        assert layer.effective_p == pd.effective_p(0.3) == math.floor(0.3 * 2**32) / 2**32
    assert pd.GaussianDropout(0.3).effective_p == 0.3
    assert pd.effective_p(1) == 1.0 and pd.effective_p(0) == 0.0
    with pytest.raises(ValueError, match="save"):
        pd.Dropout2d(0.5, save="bits")


@pytest.mark.parametrize("save", ["mask", "state"])
def test_layers_forward_backward_match_functions(save):
    x = data((2, 3, 4, 5), np.float32)
    grad = data((2, 3, 4, 5), np.float32, seed=99)

    layer = pd.Dropout2d(0.4, save=save, generator=pd.Generator(21))
    y = layer(x)
    yy, mask = pd.dropout_with_mask(x, 0.4, noise_shape=(2, 3, 1, 1), generator=pd.Generator(21))
    assert_same_bits(y, yy)
    assert_same_bits(
        layer.backward(grad), ref.dropout_backward(grad, mask, 0.4, noise_shape=(2, 3, 1, 1))
    )

    for layer, noise in (
        (pd.AlphaDropout(0.4, save=save, generator=pd.Generator(22)), None),
        (pd.FeatureAlphaDropout(0.4, save=save, generator=pd.Generator(22)), (2, 3, 1, 1)),
    ):
        y = layer(x)
        yy, mask = ref.alpha_dropout_with_mask(
            x, 0.4, noise_shape=noise, generator=pd.Generator(22)
        )
        assert_same_bits(y, yy)
        assert_same_bits(
            layer.backward(grad), ref.alpha_dropout_backward(grad, mask, 0.4, noise_shape=noise)
        )

    layer = pd.GaussianDropout(0.4, generator=pd.Generator(23))
    y = layer(x)
    noise = ref.gaussian_dropout_noise(x.size, 0.4, 23, dtype=np.float32).reshape(x.shape)
    assert_same_bits(y, x * noise)
    assert_same_bits(layer.backward(grad), grad * noise)
    with pytest.raises(ValueError, match="shape"):
        layer.backward(grad[:1])
    with pytest.raises(ValueError, match="forward"):
        pd.GaussianDropout(0.4).backward(grad)
