"""The variants next to torch 2.x: shapes, constants and semantics (never the random values,
which come from different generators)."""

import math
import warnings

import numpy as np
import pytest

import pydropout as pd

torch = pytest.importorskip("torch")
F = torch.nn.functional


def test_alpha_constants_are_torchs():
    # float64: torch computes input * a + b with the same float64 constants, so every
    # element of torch's output is our kept value (x * a) + b or our dropped value c
    x = np.random.default_rng(0).standard_normal(4000)
    for p in (0.1, 0.5, 0.8):
        t = F.alpha_dropout(torch.from_numpy(x), p, True).numpy()
        a, b, c = pd.reference.alpha_constants(p, np.dtype(np.float64))
        kept = (x * a) + b
        assert np.all((t == kept) | (t == c))
        assert 0 < (t == c).sum() < x.size
        ours = pd.alpha_dropout(x, p, True, generator=pd.Generator(1))
        assert np.all((ours == kept) | (ours == c))


def test_alpha_dropout_semantics_match_torch():
    x = np.random.default_rng(1).standard_normal((3, 4, 5)).astype(np.float32)
    tx = torch.from_numpy(x)
    # evaluation (the default): the input itself
    assert F.alpha_dropout(tx, 0.5) is tx
    assert pd.alpha_dropout(x, 0.5) is x
    assert F.feature_alpha_dropout(tx, 0.5) is tx
    assert pd.feature_alpha_dropout(x, 0.5) is x
    # p == 0: the values of the input (torch returns the object, we return a copy)
    np.testing.assert_array_equal(
        F.alpha_dropout(tx, 0.0, True).numpy(), pd.alpha_dropout(x, 0.0, True)
    )
    # p == 1: zeros (torch multiplies by 0, giving -0.0 for negative x; we select +0.0)
    assert np.all(F.alpha_dropout(tx, 1.0, True).numpy() == 0)
    assert np.all(pd.alpha_dropout(x, 1.0, True) == 0)
    # feature alpha dropout: one value per (N, C) in dropped channels, dims >= 2
    t = F.feature_alpha_dropout(torch.ones(6, 7, 3, 2, dtype=torch.float64), 0.5, True).numpy()
    y = pd.feature_alpha_dropout(np.ones((6, 7, 3, 2)), 0.5, True)
    for out in (t, y):
        assert np.all(out == out[:, :, :1, :1])
        assert len(np.unique(out)) == 2
    np.testing.assert_array_equal(np.unique(t), np.unique(y))
    with pytest.raises(RuntimeError):
        F.feature_alpha_dropout(torch.ones(4), 0.5, True)
    with pytest.raises(ValueError):
        pd.feature_alpha_dropout(np.ones(4), 0.5, True)


@pytest.mark.parametrize(
    "name,shape",
    [
        ("dropout1d", (3, 4, 5)),
        ("dropout1d", (4, 5)),
        ("dropout2d", (2, 3, 4, 5)),
        ("dropout3d", (2, 3, 2, 3, 4)),
        ("dropout3d", (3, 2, 3, 4)),
    ],
)
def test_channel_dropout_matches_torch(name, shape):
    x = np.ones(shape, np.float32)
    t = getattr(F, name)(torch.from_numpy(x), 0.5, True).numpy()
    y = getattr(pd, name)(x, 0.5, generator=pd.Generator(2))
    assert t.shape == y.shape == shape
    spatial = tuple(range(len(shape) - int(name[7]), len(shape)))
    for out in (t, y):
        assert np.all(out == out[(...,) + (slice(0, 1),) * len(spatial)])  # whole channels
        assert set(np.unique(out)) <= {0.0, 2.0}
    # evaluation returns the input
    tx = torch.from_numpy(x)
    assert torch.equal(getattr(F, name)(tx, 0.5, False), tx)  # unbatched: a new view
    assert getattr(pd, name)(x, 0.5, False) is x


def test_channel_dropout_rank_rules_differ_from_torch_where_documented():
    # torch: dropout2d reads a 3-D input as (N, C, L) with a warning; we read (C, H, W)
    x = np.ones((5, 6, 7), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = F.dropout2d(torch.from_numpy(x), 0.5, True).numpy()
    assert np.all(t == t[:, :, :1])  # whole rows of length 7
    y = pd.dropout2d(x, 0.5, generator=pd.Generator(3))
    assert np.all(y == y[:, :1, :1])  # whole (6, 7) planes
    # torch warns for other ranks of dropout2d/3d; we raise
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        F.dropout3d(torch.ones(2, 3, 4), 0.5, True)
    with pytest.raises(ValueError):
        pd.dropout3d(np.ones((2, 3, 4)), 0.5)
    with pytest.raises(RuntimeError):
        F.dropout1d(torch.ones(4), 0.5, True)
    with pytest.raises(ValueError):
        pd.dropout1d(np.ones(4), 0.5)


def test_layer_reprs_match_torch():
    for name, args in [
        ("Dropout1d", (0.3,)),
        ("Dropout2d", (0.5, True)),
        ("Dropout3d", ()),
        ("AlphaDropout", (0.2,)),
        ("FeatureAlphaDropout", (0.1, True)),
        ("Dropout", (0.25,)),
    ]:
        assert repr(getattr(pd, name)(*args)) == repr(getattr(torch.nn, name)(*args))


def test_invalid_p_raises_like_torch():
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError):
            F.alpha_dropout(torch.ones(3), p, True)
        with pytest.raises(ValueError):
            pd.alpha_dropout(np.ones(3), p, True)
        with pytest.raises(ValueError):
            torch.nn.Dropout2d(p)
        with pytest.raises(ValueError):
            pd.Dropout2d(p)


def test_alpha_dropout_backward_matches_torch_autograd():
    # torch's gradient is a where kept and 0 where dropped; recover torch's mask from its
    # output and compare with our backward under the same mask
    x = np.random.default_rng(4).standard_normal(512)
    tx = torch.from_numpy(x).requires_grad_()
    p = 0.3
    t = F.alpha_dropout(tx, p, True)
    t.sum().backward()
    a, b, c = pd.reference.alpha_constants(p, np.dtype(np.float64))
    keep = t.detach().numpy() != c
    mask = np.packbits(keep, bitorder="little")
    ours = pd.alpha_dropout_backward(np.ones(512), mask, p)
    np.testing.assert_allclose(ours, tx.grad.numpy(), rtol=0, atol=1e-15)
    assert math.isclose(a, float(tx.grad.numpy()[keep][0]), rel_tol=1e-15)
