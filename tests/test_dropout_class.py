"""pydropout.Dropout behaves like torch.nn.Dropout: p and inplace, train()/eval(), repr,
and a backward pass that uses the mask of the last training forward."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import DOWN, DTYPES, UP, same_bits

import pydropout
import pydropout.reference as ref


def data(shape=(8, 16), dtype=np.float32, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) + 1).astype(dtype)


def test_defaults_and_repr():
    layer = pydropout.Dropout()
    assert layer.p == 0.5 and layer.inplace is False and layer.training is True
    assert layer.mode == UP
    assert repr(layer) == "Dropout(p=0.5, inplace=False)"
    assert repr(pydropout.Dropout(0.2, True)) == "Dropout(p=0.2, inplace=True)"
    assert repr(pydropout.Dropout(p=0.1, inplace=False, mode=DOWN)) == (
        "Dropout(p=0.1, inplace=False, mode='downscale_in_infer')"
    )
    assert repr(pydropout.Dropout(0, False)) == "Dropout(p=0, inplace=False)"


def test_train_and_eval():
    layer = pydropout.Dropout(0.3)
    assert layer.eval() is layer and layer.training is False
    assert layer.train() is layer and layer.training is True
    assert layer.train(False) is layer and layer.training is False
    layer.train(True)
    layer.p = 0.7
    assert layer.p == 0.7 and repr(layer) == "Dropout(p=0.7, inplace=False)"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("mode", [UP, DOWN])
def test_forward_is_dropout_with_mask(dtype, mode):
    x = data(dtype=dtype)
    g = pydropout.Generator(5, stream=1)
    layer = pydropout.Dropout(0.4, mode=mode, generator=g)
    y1 = layer(x)
    y2 = layer.forward(x)
    assert g.offset == 2 * x.size
    e1, m1 = ref.dropout_with_mask(x, 0.4, mode=mode, generator=pydropout.Generator(5, stream=1))
    e2, m2 = ref.dropout_with_mask(
        x, 0.4, mode=mode, generator=pydropout.Generator(5, stream=1, offset=x.size)
    )
    assert same_bits(y1, e1) and same_bits(y2, e2)
    assert y1 is not x


def test_default_generator_is_used():
    x = data()
    pydropout.manual_seed(42)
    y = pydropout.Dropout(0.5)(x)
    assert same_bits(y, ref.dropout(x, 0.5, generator=pydropout.Generator(42)))
    assert pydropout.default_generator.offset == x.size


@pytest.mark.parametrize("mode", [UP, DOWN])
def test_backward_uses_the_last_training_mask(mode):
    x = data()
    layer = pydropout.Dropout(0.5, mode=mode, generator=pydropout.Generator(9))
    layer(x)
    y2 = layer(x)  # the second forward's mask counts
    _, m2 = ref.dropout_with_mask(
        x, 0.5, mode=mode, generator=pydropout.Generator(9, offset=x.size)
    )
    grad = data(seed=1)
    dx = layer.backward(grad)
    assert same_bits(dx, ref.dropout_backward(grad, m2, 0.5, mode=mode))
    np.testing.assert_array_equal(dx == 0, y2 == 0)
    # the mask is kept (not a fresh draw): backward twice gives the same
    assert same_bits(layer.backward(grad), dx)
    # an evaluation forward draws nothing, and its backward is the evaluation backward
    layer.eval()
    assert layer(x) is x or mode == DOWN
    assert layer.generator.offset == 2 * x.size
    assert same_bits(layer.backward(grad), ref.dropout(grad, 0.5, False, mode=mode))


def test_backward_before_forward_raises():
    layer = pydropout.Dropout(0.5)
    with pytest.raises(ValueError, match="forward"):
        layer.backward(np.ones(3, np.float32))
    layer.eval()
    layer(np.ones(3, np.float32))  # an evaluation forward: its backward is the identity
    g = np.ones(3, np.float32)
    assert layer.backward(g) is g


def test_backward_shape_must_match_the_last_forward():
    layer = pydropout.Dropout(0.5, generator=pydropout.Generator(1))
    layer(np.ones((3, 4), np.float32))
    with pytest.raises(ValueError, match="grad"):
        layer.backward(np.ones((4, 3), np.float32))
    assert layer.backward(np.ones((3, 4), np.float32)).shape == (3, 4)


def test_eval_mode():
    x = data()
    g = pydropout.Generator(3)
    up = pydropout.Dropout(0.25, generator=g).eval()
    assert up(x) is x  # the same object, as torch returns its input
    down = pydropout.Dropout(0.25, mode=DOWN, generator=g).eval()
    y = down(x)
    assert y is not x and same_bits(y, x * np.float32(0.75))
    assert g.offset == 0
    x2 = x.copy()
    assert pydropout.Dropout(0.25, True, mode=DOWN).eval()(x2) is x2
    assert same_bits(x2, x * np.float32(0.75))


@pytest.mark.parametrize("mode", [UP, DOWN])
def test_inplace(mode):
    x = data()
    expected = ref.dropout(x, 0.5, mode=mode, generator=pydropout.Generator(2))
    layer = pydropout.Dropout(0.5, inplace=True, mode=mode, generator=pydropout.Generator(2))
    x_view = x[:, ::2]
    expected_view = ref.dropout(x[:, ::2], 0.5, mode=mode, generator=pydropout.Generator(2))
    y = layer(x_view)
    assert y is x_view and same_bits(x_view, expected_view)
    assert same_bits(x[:, 1::2], data()[:, 1::2])  # the other columns untouched
    x = data()
    layer = pydropout.Dropout(0.5, inplace=True, mode=mode, generator=pydropout.Generator(2))
    assert layer(x) is x and same_bits(x, expected)
    dx = layer.backward(np.ones_like(x))
    np.testing.assert_array_equal(dx == 0, expected == 0)


def test_p_zero_and_one():
    x = data()
    layer = pydropout.Dropout(0.0, generator=pydropout.Generator(1))
    y = layer(x)
    assert y is not x and same_bits(y, x)
    assert same_bits(layer.backward(x), x)
    layer = pydropout.Dropout(1.0, generator=pydropout.Generator(1))
    y = layer(x)
    assert same_bits(y, np.zeros_like(x))
    assert same_bits(layer.backward(x), np.zeros_like(x))
    assert layer.generator.offset == x.size


def test_layers_with_equal_generators_agree():
    x = data()
    a = pydropout.Dropout(0.5, generator=pydropout.Generator(77))
    b = pydropout.Dropout(0.5, generator=pydropout.Generator(77))
    assert same_bits(a(x), b(x))
    c = pydropout.Dropout(0.5, generator=pydropout.Generator(77, stream=1))
    assert not same_bits(c(x), a(x))
