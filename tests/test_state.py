"""Mask-free backward: DropoutState, and backward from a state equal to backward from the
mask, bit for bit, for plain, channel and alpha dropout (Gaussian dropout has only states)."""

import copy
import pickle

import numpy as np
import pytest
from helpers import DTYPES, MODES, assert_same_bits

import pydropout as pd
from pydropout import reference as ref


def data(shape, dtype, seed=5):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 4
    flat = x.reshape(-1)
    if flat.size >= 8:
        flat[:5] = [np.nan, np.inf, -np.inf, -0.0, 0.0]
    return x.astype(dtype)


# -- the token ------------------------------------------------------------------------------


def test_state_is_small_immutable_hashable_and_picklable():
    x = np.ones((3, 4), np.float32)
    g = pd.Generator(42, stream=7, offset=10)
    _, s = pd.dropout_with_state(x, 0.25, generator=g)
    assert (s.seed, s.stream, s.offset, s.shape, s.p) == (42, 7, 10, (3, 4), 0.25)
    assert (s.mode, s.noise_shape, s.kind, s.words) == ("upscale_in_train", None, "dropout", 12)
    assert g.offset == 22
    with pytest.raises(AttributeError):
        s.offset = 0
    with pytest.raises(AttributeError):
        s.extra = 1
    assert hash(s) == hash(copy.deepcopy(s))
    assert pickle.loads(pickle.dumps(s)) == s
    assert {s: 1}[pd.DropoutState(42, 7, 10, (3, 4), 0.25)] == 1
    assert s != pd.DropoutState(42, 7, 11, (3, 4), 0.25)
    assert repr(s) == (
        "DropoutState(seed=42, stream=7, offset=10, shape=(3, 4), p=0.25, "
        "mode='upscale_in_train', kind='dropout')"
    )
    assert len(pickle.dumps(s)) < 200


def test_state_constructor_validates():
    with pytest.raises(ValueError, match="seed"):
        pd.DropoutState(-1, 0, 0, (2,), 0.5)
    with pytest.raises(ValueError, match="offset"):
        pd.DropoutState(0, 0, 2**64, (2,), 0.5)
    with pytest.raises(ValueError, match="pass 2"):
        pd.DropoutState(0, 0, 2**64 - 1, (2,), 0.5)
    with pytest.raises(ValueError, match="p must be"):
        pd.DropoutState(0, 0, 0, (2,), 1.5)
    with pytest.raises(ValueError, match="mode"):
        pd.DropoutState(0, 0, 0, (2,), 0.5, "sideways")
    with pytest.raises(ValueError, match="kind"):
        pd.DropoutState(0, 0, 0, (2,), 0.5, kind="spatial")
    with pytest.raises(ValueError, match="noise_shape"):
        pd.DropoutState(0, 0, 0, (2, 3), 0.5, noise_shape=(2, 2))
    with pytest.raises(TypeError, match="seed"):
        pd.DropoutState(1.5, 0, 0, (2,), 0.5)
    s = pd.DropoutState(0, 0, 0, (2, 3), 0.5, noise_shape=(2, 3))
    assert s.noise_shape is None  # the full shape is no noise shape


# -- state backward == mask backward -------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("p", [0.0, 1e-10, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("noise_shape", [None, (3, 1, 7), (1, 5, 1)])
def test_dropout_state_backward_equals_mask_backward(dtype, mode, p, noise_shape):
    x = data((3, 5, 7), dtype)
    grad = data((3, 5, 7), dtype, seed=6)
    y1, mask = pd.dropout_with_mask(
        x, p, mode=mode, noise_shape=noise_shape, generator=pd.Generator(9, offset=3)
    )
    y2, state = pd.dropout_with_state(
        x, p, mode=mode, noise_shape=noise_shape, generator=pd.Generator(9, offset=3)
    )
    assert_same_bits(y1, y2)
    want = pd.dropout_backward(grad, mask, p, mode=mode, noise_shape=noise_shape)
    assert_same_bits(pd.dropout_backward(grad, state, p, mode=mode), want)
    assert_same_bits(pd.dropout_backward(grad, state, p, mode=mode, noise_shape=noise_shape), want)
    assert_same_bits(ref.dropout_backward(grad, state, p, mode=mode), want)
    _, rstate = ref.dropout_with_state(
        x, p, mode=mode, noise_shape=noise_shape, generator=pd.Generator(9, offset=3)
    )
    assert rstate == state


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("p", [0.0, 0.2, 0.7, 1.0])
@pytest.mark.parametrize("noise_shape", [None, (4, 6, 1)])
def test_alpha_state_backward_equals_mask_backward(dtype, p, noise_shape):
    x = data((4, 6, 5), dtype)
    grad = data((4, 6, 5), dtype, seed=7)
    y1, mask = pd.alpha_dropout_with_mask(x, p, noise_shape=noise_shape, generator=pd.Generator(3))
    y2, state = pd.alpha_dropout_with_state(
        x, p, noise_shape=noise_shape, generator=pd.Generator(3)
    )
    assert_same_bits(y1, y2)
    assert state.kind == "alpha" and state.mode is None
    want = pd.alpha_dropout_backward(grad, mask, p, noise_shape=noise_shape)
    assert_same_bits(pd.alpha_dropout_backward(grad, state, p), want)
    assert_same_bits(ref.alpha_dropout_backward(grad, state, p), want)
    assert_same_bits(ref.alpha_dropout_backward(grad, mask, p, noise_shape=noise_shape), want)
    keep = np.unpackbits(mask, count=state.words, bitorder="little").astype(bool)
    if noise_shape is not None:
        keep = np.broadcast_to(keep.reshape(noise_shape), x.shape)
    a = np.array(pd.reference.alpha_constants(p, dtype)[0], dtype)
    with np.errstate(all="ignore"):
        assert_same_bits(want, np.where(keep.reshape(x.shape), grad * a, np.zeros((), dtype)))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_gaussian_backward_regenerates_the_noise(dtype):
    x = data((6, 7), dtype)
    grad = data((6, 7), dtype, seed=8)
    y, state = pd.gaussian_dropout_with_state(x, 0.3, generator=pd.Generator(4, stream=2))
    assert state.kind == "gaussian" and state.words == 42
    noise = ref.gaussian_dropout_noise(42, 0.3, 4, 2, dtype=dtype).reshape(6, 7)
    with np.errstate(all="ignore"):
        assert_same_bits(y, x * noise)
        assert_same_bits(pd.gaussian_dropout_backward(grad, state, 0.3), grad * noise)
    assert_same_bits(
        ref.gaussian_dropout_backward(grad, state, 0.3),
        pd.gaussian_dropout_backward(grad, state, 0.3),
    )


def test_state_backward_large_threaded_and_out():
    # the fused path (the forward kernel run over the gradient) with threads and a tail
    x = data((200_001,), np.float32)
    grad = data((200_001,), np.float32, seed=3)
    _, mask = pd.dropout_with_mask(x, 0.4, generator=pd.Generator(1, offset=5))
    _, state = pd.dropout_with_state(x, 0.4, generator=pd.Generator(1, offset=5))
    want = pd.dropout_backward(grad, mask, 0.4)
    before = pd.get_num_threads()
    try:
        for n in (1, 2):
            pd.set_num_threads(n)
            out = np.empty_like(grad)
            assert pd.dropout_backward(grad, state, 0.4, out=out) is out
            assert_same_bits(out, want)
    finally:
        pd.set_num_threads(before)
    g = grad.copy()
    assert pd.dropout_backward(g, state, 0.4, out=g) is g  # in place
    assert_same_bits(g, want)


@pytest.mark.parametrize(
    "layer_cls,shape,kw",
    [
        (pd.Dropout, (4, 5), {"mode": "downscale_in_infer"}),
        (pd.Dropout, (4, 5), {}),
        (pd.Dropout1d, (2, 4, 5), {}),
        (pd.Dropout2d, (4, 5, 3), {"channels_last": True}),
        (pd.Dropout3d, (2, 3, 2, 2, 2), {}),
        (pd.AlphaDropout, (4, 5), {}),
        (pd.FeatureAlphaDropout, (2, 4, 5), {}),
    ],
)
def test_layer_save_state_equals_save_mask(layer_cls, shape, kw):
    x = data(shape, np.float32)
    grad = data(shape, np.float32, seed=11)
    by_mask = layer_cls(0.4, generator=pd.Generator(17), save="mask", **kw)
    by_state = layer_cls(0.4, generator=pd.Generator(17), save="state", **kw)
    assert_same_bits(by_mask(x), by_state(x))
    assert isinstance(by_mask._saved, np.ndarray)
    assert isinstance(by_state._saved, pd.DropoutState)
    assert_same_bits(by_mask.backward(grad), by_state.backward(grad))
    # backward uses the p of the forward pass, even if p changed since
    by_mask.p = by_state.p = 0.9
    assert_same_bits(by_mask.backward(grad), by_state.backward(grad))


# -- errors ---------------------------------------------------------------------------------


def test_a_generator_is_never_a_mask_or_state():
    grad = np.ones(8, np.float32)
    g = pd.Generator(1)
    for backward in (
        pd.dropout_backward,
        pd.alpha_dropout_backward,
        ref.dropout_backward,
        ref.alpha_dropout_backward,
    ):
        with pytest.raises(TypeError, match="never draws"):
            backward(grad, g, 0.5)
    for backward in (pd.gaussian_dropout_backward, ref.gaussian_dropout_backward):
        with pytest.raises(TypeError, match="never draws"):
            backward(grad, g, 0.5)
        with pytest.raises(TypeError, match="DropoutState"):
            backward(grad, np.zeros(1, np.uint8), 0.5)
    assert g.offset == 0


def test_state_mismatches_raise():
    x = np.ones((4, 6), np.float32)
    _, s = pd.dropout_with_state(x, 0.5, noise_shape=(4, 1), generator=pd.Generator(2))
    _, a = pd.alpha_dropout_with_state(x, 0.5, generator=pd.Generator(2))
    _, gs = pd.gaussian_dropout_with_state(x, 0.5, generator=pd.Generator(2))
    with pytest.raises(ValueError, match="p=0.4"):
        pd.dropout_backward(x, s, 0.4)
    with pytest.raises(ValueError, match="mode"):
        pd.dropout_backward(x, s, 0.5, mode="downscale_in_infer")
    with pytest.raises(ValueError, match="shape"):
        pd.dropout_backward(x[:2], s, 0.5)
    with pytest.raises(ValueError, match="noise_shape"):
        pd.dropout_backward(x, s, 0.5, noise_shape=(1, 6))
    with pytest.raises(ValueError, match="'alpha'"):
        pd.dropout_backward(x, a, 0.5)
    with pytest.raises(ValueError, match="'dropout'"):
        pd.alpha_dropout_backward(x, s, 0.5)
    with pytest.raises(ValueError, match="'gaussian'"):
        pd.alpha_dropout_backward(x, gs, 0.5)
    with pytest.raises(ValueError, match="'alpha'"):
        pd.gaussian_dropout_backward(x, a, 0.5)
    with pytest.raises(ValueError, match="p=0.25"):
        pd.gaussian_dropout_backward(x, gs, 0.25)
    out = np.zeros((4, 6), np.float32)
    with pytest.raises(ValueError, match="out"):
        pd.dropout_backward(x, s, 0.5, out=out[:, :3])
    assert np.all(out == 0)


def test_state_backward_of_mask_kind_mismatch_after_failed_forward():
    g = pd.Generator(3)
    with pytest.raises(ValueError, match="noise_shape"):
        pd.dropout_with_state(np.ones((2, 3)), 0.5, noise_shape=(3, 3), generator=g)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        pd.gaussian_dropout_with_state(np.ones((2, 3)), 1.0, generator=g)
    assert g.offset == 0
