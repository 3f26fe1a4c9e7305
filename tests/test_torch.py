"""pydropout.torch: torch.nn-compatible layers over the core, with autograd."""

import math

import numpy as np
import pytest
from helpers import DTYPES, MODES, SEED
from helpers import unpack_mask as keep_bits

import pydropout

torch = pytest.importorskip("torch")
pdt = pytest.importorskip("pydropout.torch")

# torch's dtypes of the same names (bfloat16 where ml_dtypes is installed)
TORCH_DTYPES = [getattr(torch, d.name) for d in DTYPES]


def gen(seed=SEED, **kw):
    return pydropout.Generator(seed, **kw)


def numpy_of(t):
    """NumPy copy of a tensor, bfloat16 included (as ml_dtypes.bfloat16)."""
    t = t.detach()
    if t.dtype == torch.bfloat16:
        import ml_dtypes

        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16).copy()
    return t.numpy().copy()


def test_contract_example():
    y = pdt.dropout(torch.arange(1.0, 9.0), 0.5, generator=gen())
    assert y.tolist() == [2, 4, 0, 0, 10, 0, 0, 16]


@pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=str)
@pytest.mark.parametrize("mode", MODES)
def test_forward_equals_pydropout(dtype, mode):
    x = torch.randn(7, 13, dtype=torch.float64).to(dtype)
    g = gen(stream=3)
    y = pdt.dropout(x, 0.3, mode=mode, generator=g)
    ref = pydropout.dropout(numpy_of(x), 0.3, mode=mode, generator=gen(stream=3))
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_array_equal(numpy_of(y), ref)
    assert g.offset == x.numel()  # the generator advanced exactly as pydropout's would


@pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=str)
def test_gradient_is_the_analytic_one(dtype):
    p = 0.4
    x = torch.randn(5, 11, dtype=torch.float64).to(dtype).requires_grad_()
    upstream = torch.randn(5, 11, dtype=torch.float64).to(dtype)
    y = pdt.dropout(x, p, generator=gen(7))
    y.backward(upstream)
    _, mask = pydropout.dropout_with_mask(numpy_of(x), p, generator=gen(7))
    keep = torch.from_numpy(keep_bits(mask, x.numel()).reshape(5, 11))
    scale = float(np.array(1 / (1 - p)).astype(numpy_of(x).dtype))
    expected = torch.where(keep, upstream * scale, torch.zeros((), dtype=dtype))
    assert torch.equal(x.grad, expected)
    assert torch.equal(y.detach() != 0, keep)  # x has no zeros: nonzero exactly where kept


def test_saved_mask_is_packed():
    x = torch.randn(1001, requires_grad=True)
    y = pdt.dropout(x, 0.5, generator=gen())
    (saved,) = y.grad_fn.saved_tensors
    assert saved.dtype == torch.uint8 and saved.numel() == math.ceil(1001 / 8)


def test_gradcheck_float64():
    x = torch.randn(4, 9, dtype=torch.float64, requires_grad=True)
    for mode in MODES:
        # a fresh generator at the same state per call: the same mask every evaluation
        def f(t, mode=mode):
            return pdt.dropout(t, 0.3, mode=mode, generator=gen(11))

        assert torch.autograd.gradcheck(f, (x,))
        assert torch.autograd.gradgradcheck(f, (x,))

    def f2(t):
        return pdt.dropout2d(t, 0.5, generator=gen(12))

    assert torch.autograd.gradcheck(
        f2, (torch.randn(2, 3, 2, 2, dtype=torch.float64, requires_grad=True),)
    )


def test_eval_mode():
    x = torch.randn(3, 4)
    layer = pdt.Dropout(0.3).eval()
    assert layer(x) is x  # identity, as torch.nn.Dropout
    g = gen()
    assert pdt.dropout(x, 0.3, training=False, generator=g) is x and g.offset == 0
    down = pdt.Dropout(0.3, mode="downscale_in_infer").eval()
    np.testing.assert_array_equal(
        down(x).numpy(),
        pydropout.dropout(x.numpy(), 0.3, training=False, mode="downscale_in_infer"),
    )
    h = torch.randn(3, 4, dtype=torch.float16)
    np.testing.assert_array_equal(
        pdt.dropout(h, 0.3, False, mode="downscale_in_infer").numpy(),
        pydropout.dropout(h.numpy(), 0.3, False, mode="downscale_in_infer"),
    )


def test_non_contiguous_and_inplace():
    base = torch.randn(6, 8)
    for view in (base.t(), base[:, ::3], base[1:4].t()):
        assert not view.is_contiguous()
        y = pdt.dropout(view, 0.5, generator=gen(3))
        np.testing.assert_array_equal(
            y.numpy(), pydropout.dropout(view.numpy(), 0.5, generator=gen(3))
        )
    x = torch.randn(6, 8)
    expected = pydropout.dropout(x.numpy(), 0.5, generator=gen(4))
    leaf = torch.randn(6, 8, requires_grad=True)
    h = leaf * 1.0
    hv = h.t()  # in place through a non-contiguous view of a non-leaf
    out = pdt.dropout(hv, 0.5, inplace=True, generator=gen(4))
    assert out is hv
    np.testing.assert_array_equal(
        h.detach().numpy().T, pydropout.dropout(leaf.detach().numpy().T, 0.5, generator=gen(4))
    )
    h.sum().backward()
    np.testing.assert_array_equal(leaf.grad.numpy().T != 0, h.detach().numpy().T != 0)
    y = pdt.dropout(x, 0.5, inplace=True, generator=gen(4))
    assert y is x
    np.testing.assert_array_equal(x.numpy(), expected)


@pytest.mark.parametrize(
    "fn, shape, noise",
    [
        ("dropout1d", (4, 5, 7), (4, 5, 1)),
        ("dropout1d", (5, 7), (5, 1)),
        ("dropout2d", (2, 3, 4, 5), (2, 3, 1, 1)),
        ("dropout2d", (3, 4, 5), (3, 4, 1)),
        ("dropout3d", (2, 3, 2, 2, 2), (2, 3, 1, 1, 1)),
        ("dropout3d", (3, 2, 2, 2), (3, 1, 1, 1)),
    ],
)
@pytest.mark.filterwarnings("ignore:dropout2d. Received a 3D input")
def test_channel_dropout(fn, shape, noise):
    x = torch.rand(shape, dtype=torch.float64) + 1.0  # no zeros of its own
    g = gen(5)
    y = getattr(pdt, fn)(x, 0.5, generator=g)
    assert g.offset == math.prod(noise)  # one word per channel
    ref = pydropout.dropout(x.numpy(), 0.5, noise_shape=noise, generator=gen(5))
    np.testing.assert_array_equal(y.numpy(), ref)
    kept = y != 0
    reduce_dims = tuple(i for i, n in enumerate(noise) if n == 1)
    assert torch.equal(kept.all(dim=reduce_dims), kept.any(dim=reduce_dims))  # whole channels
    module = getattr(pdt, fn.replace("dropout", "Dropout"))(0.5, generator=gen(5))
    assert torch.equal(module(x), y)


def test_errors():
    with pytest.raises(ValueError, match="CPU"):
        pdt.dropout(torch.ones(3, device="meta"))
    with pytest.raises(TypeError, match="dtype"):
        pdt.dropout(torch.ones(3, dtype=torch.int64))
    with pytest.raises(TypeError, match="torch.Tensor"):
        pdt.dropout(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="p must be"):
        pdt.dropout(torch.ones(3), 1.5)
    with pytest.raises(ValueError, match="p must be"):
        pdt.Dropout(-0.1)
    with pytest.raises(ValueError, match="mode"):
        pdt.Dropout(0.1, mode="sideways")
    with pytest.raises(ValueError, match="dropout1d"):
        pdt.dropout1d(torch.ones(2, 3, 4, 5))
    g = gen()
    with pytest.raises(ValueError, match="CPU"):
        pdt.dropout(torch.ones(3, device="meta"), generator=g)
    assert g.offset == 0


def test_modules_match_torch_nn():
    for ours, theirs in (
        (pdt.Dropout(0.3), torch.nn.Dropout(0.3)),
        (pdt.Dropout2d(0.1, True), torch.nn.Dropout2d(0.1, True)),
        (pdt.Dropout1d(), torch.nn.Dropout1d()),
        (pdt.Dropout3d(0.2), torch.nn.Dropout3d(0.2)),
        (pdt.AlphaDropout(0.2), torch.nn.AlphaDropout(0.2)),
        (pdt.FeatureAlphaDropout(0.2), torch.nn.FeatureAlphaDropout(0.2)),
    ):
        assert repr(ours) == repr(theirs)
        assert isinstance(ours, torch.nn.Module)
    assert repr(pdt.Dropout(0.5, mode="downscale_in_infer")) == (
        "Dropout(p=0.5, inplace=False, mode='downscale_in_infer')"
    )


def test_masks_come_from_pydropout_generators():
    x = torch.ones(1000)
    torch.manual_seed(0)
    pydropout.manual_seed(42)
    a = pdt.dropout(x, 0.5)
    torch.manual_seed(1)
    pydropout.manual_seed(42)
    b = pdt.dropout(x, 0.5)
    assert torch.equal(a, b)
    assert not torch.equal(a, pdt.dropout(x, 0.5))


def test_trains_in_a_real_loop():
    """A small classifier with pydropout layers learns in a plain torch training loop."""
    torch.manual_seed(0)
    n, d = 256, 20
    w_true = torch.randn(d, 3)
    xs = torch.randn(n, d)
    ys = (xs @ w_true).argmax(dim=1)
    model = torch.nn.Sequential(
        torch.nn.Linear(d, 64),
        torch.nn.ReLU(),
        pdt.Dropout(0.3, generator=gen(1)),
        torch.nn.Unflatten(1, (4, 16)),
        pdt.Dropout1d(0.1, generator=gen(2)),
        torch.nn.Flatten(),
        torch.nn.Linear(64, 3),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.eval()
    with torch.no_grad():
        before = loss_fn(model(xs), ys).item()
    model.train()
    for _ in range(60):
        opt.zero_grad()
        loss = loss_fn(model(xs), ys)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        logits = model(xs)
        after = loss_fn(logits, ys).item()
        acc = (logits.argmax(dim=1) == ys).float().mean().item()
        assert torch.equal(model(xs), logits)  # evaluation is deterministic
    assert after < 0.5 * before and acc > 0.9


def test_alpha_dropout():
    x = torch.randn(50, dtype=torch.float64)
    assert pdt.alpha_dropout(x, 0.2) is x  # training=False by default, as in torch
    assert pdt.AlphaDropout(0.2).eval()(x) is x
    y = pdt.alpha_dropout(x, 0.2, training=True, generator=gen(9))
    np.testing.assert_array_equal(
        y.numpy(), pydropout.alpha_dropout(x.numpy(), 0.2, training=True, generator=gen(9))
    )
    np.testing.assert_array_equal(pdt.AlphaDropout(0.2, generator=gen(9))(x).numpy(), y.numpy())

    def f(t):
        return pdt.alpha_dropout(t, 0.2, training=True, generator=gen(9))

    xg = x.clone().requires_grad_()
    assert torch.autograd.gradcheck(f, (xg,)) and torch.autograd.gradgradcheck(f, (xg,))
    f(xg).backward(torch.ones(50, dtype=torch.float64))
    _, mask = pydropout.alpha_dropout_with_mask(x.numpy(), 0.2, generator=gen(9))
    np.testing.assert_array_equal(
        xg.grad.numpy(), pydropout.alpha_dropout_backward(np.ones(50), mask, 0.2)
    )


def test_feature_alpha_dropout():
    x = torch.randn(3, 4, 5, dtype=torch.float64)
    g = gen(4)
    y = pdt.feature_alpha_dropout(x, 0.5, training=True, generator=g)
    assert g.offset == 12  # one word per (sample, channel)
    np.testing.assert_array_equal(
        y.numpy(),
        pydropout.alpha_dropout(x.numpy(), 0.5, True, noise_shape=(3, 4, 1), generator=gen(4)),
    )
    assert torch.equal(pdt.FeatureAlphaDropout(0.5, generator=gen(4)).train()(x), y)
    assert repr(pdt.FeatureAlphaDropout(0.5)) == repr(torch.nn.FeatureAlphaDropout(0.5))
    with pytest.raises(ValueError, match="2 or more"):
        pdt.feature_alpha_dropout(torch.ones(3), 0.5, True)


def test_save_state_keeps_no_tensor():
    x = torch.randn(4, 6, 5, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(4, 6, 5, dtype=torch.float64)
    grads = {}
    for save in ("mask", "state"):
        for fn in (pdt.dropout, pdt.dropout1d):
            x.grad = None
            y = fn(x, 0.4, mode="downscale_in_infer", generator=gen(8), save=save)
            assert len(y.grad_fn.saved_tensors) == (1 if save == "mask" else 0)
            y.backward(upstream)
            grads[save, fn.__name__] = x.grad.clone()
    for name in ("dropout", "dropout1d"):
        assert torch.equal(grads["mask", name], grads["state", name])

    def f(t):
        return pdt.dropout(t, 0.3, generator=gen(2), save="state")

    assert torch.autograd.gradcheck(f, (x,)) and torch.autograd.gradgradcheck(f, (x,))
    layer = pdt.Dropout(0.3, save="state")
    assert repr(layer) == "Dropout(p=0.3, inplace=False, save='state')"
    with pytest.raises(ValueError, match="save"):
        pdt.Dropout(0.3, save="everything")


def test_noise_shape_and_error_messages():
    x = torch.rand(4, 6, 5, dtype=torch.float64) + 1.0
    g = gen(3)
    y = pdt.dropout(x, 0.5, generator=g, noise_shape=(None, 1, 5))
    assert g.offset == 20  # prod of the noise shape
    ref = pydropout.dropout(x.numpy(), 0.5, noise_shape=(None, 1, 5), generator=gen(3))
    np.testing.assert_array_equal(y.numpy(), ref)
    xg = x.clone().requires_grad_()
    pdt.dropout(xg, 0.5, generator=gen(3), noise_shape=(4, 1, 5)).sum().backward()
    assert torch.equal(xg.grad != 0, y != 0)
    with pytest.raises(ValueError, match="noise"):
        pdt.dropout(x, 0.5, noise_shape=(3, 1, 5))
    # the messages name what each wrapper accepts
    with pytest.raises(ValueError, match=r"3-D input \(N, C, L\).*4-D input \(N, C, H, W\)"):
        pdt.dropout2d(torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"2-D input \(C, L\) or a 3-D input \(N, C, L\)"):
        pdt.dropout1d(torch.ones(2))
    with pytest.warns(UserWarning, match="interpreted as shape"):
        pdt.Dropout2d(0.5)(torch.ones(2, 3, 4))
