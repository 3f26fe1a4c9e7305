"""pydropout's torch modules of the modern variants (pydropout/_torch_variants.py): the bits of
the NumPy functions, gradients (gradcheck), torchvision's TestStochasticDepth and timm's
drop_path behaviour with pydropout substituted, and WeightDropout (DropConnect) training."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import assert_same_bits

import pydropout as pd
from pydropout import _torch_variants as tv
from pydropout import torch as pdt
from pydropout._torch_common import as_numpy


def gen(seed=0):
    return pd.Generator(seed)


# -- ported from pytorch/vision test/test_ops.py, class TestStochasticDepth ---------------------
# (torch.manual_seed(seed) becomes a pydropout.Generator(seed); scipy's binomial test stays)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
@pytest.mark.parametrize("mode", ["batch", "row"])
def test_stochastic_depth_random(seed, mode, p):
    # pytorch/vision test/test_ops.py: TestStochasticDepth.test_stochastic_depth_random
    stats = pytest.importorskip("scipy.stats")
    batch_size = 5
    x = torch.ones((batch_size, 3, 4, 4))
    layer = tv.StochasticDepth(p=p, mode=mode, generator=gen(seed))
    layer.__repr__()

    trials = 250
    num_samples = 0
    counts = 0
    for _ in range(trials):
        out = layer(x)
        non_zero_count = out.sum(dim=(1, 2, 3)).nonzero().size(0)
        if mode == "batch":
            if non_zero_count == 0:
                counts += 1
            num_samples += 1
        elif mode == "row":
            counts += batch_size - non_zero_count
            num_samples += batch_size

    p_value = stats.binomtest(counts, num_samples, p=p).pvalue
    assert p_value > 0.01


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("p", (0, 1))
@pytest.mark.parametrize("mode", ["batch", "row"])
def test_stochastic_depth(seed, mode, p):
    # pytorch/vision test/test_ops.py: TestStochasticDepth.test_stochastic_depth
    batch_size = 5
    x = torch.ones((batch_size, 3, 4, 4))
    layer = tv.StochasticDepth(p=p, mode=mode, generator=gen(seed))

    out = layer(x)
    if p == 0:
        assert out.equal(x)
    elif p == 1:
        assert out.equal(torch.zeros_like(x))


def test_stochastic_depth_repr_and_errors():
    # torchvision's repr, and its ValueErrors for p and mode (torchvision/ops/stochastic_depth.py)
    assert repr(tv.StochasticDepth(0.2, "row")) == "StochasticDepth(p=0.2, mode=row)"
    x = torch.ones(3, 2)
    with pytest.raises(ValueError, match="mode"):
        tv.stochastic_depth(x, 0.5, "rows")
    with pytest.raises(ValueError, match="p"):
        tv.stochastic_depth(x, 1.5, "row")
    assert tv.stochastic_depth(x, 0.5, "row", training=False) is x


# -- timm's drop_path behaviour (timm/layers/drop.py) --------------------------------------------


def test_timm_drop_path_behaviour():
    # timm/layers/drop.py: drop_path returns x itself when drop_prob == 0 or not training
    # (training defaults to False), keeps or zeroes whole samples, scales survivors by
    # 1 / keep_prob with scale_by_keep (not without), and DropPath's repr is
    # "drop_prob=0.100"
    x = torch.randn(64, 3, 5)
    assert tv.drop_path(x, 0.3) is x
    assert tv.drop_path(x, 0.0, True) is x
    y = tv.drop_path(x, 0.25, True, generator=gen(1))
    flat = y.reshape(64, -1)
    kept = (flat != 0).any(dim=1)
    assert 0 < int(kept.sum()) < 64
    scale = torch.tensor(np.float32(1 / 0.75))
    assert torch.equal(flat[kept], x.reshape(64, -1)[kept] * scale)
    assert torch.equal(flat[~kept], torch.zeros_like(flat[~kept]))
    y = tv.drop_path(x, 0.25, True, scale_by_keep=False, generator=gen(1))
    assert torch.equal(y.reshape(64, -1)[kept], x.reshape(64, -1)[kept])
    layer = tv.DropPath(0.1)
    assert layer.extra_repr() == "drop_prob=0.100"
    assert tv.DropPath().drop_prob == 0.0 and tv.DropPath().scale_by_keep is True
    layer.eval()
    assert layer(x) is x


@pytest.mark.parametrize("dtype", (torch.float16, torch.bfloat16, torch.float32, torch.float64))
def test_torch_bits_equal_numpy(dtype):
    x = torch.randn(9, 4, 3).to(dtype)
    xa = as_numpy(x)
    y = tv.drop_path(x, 0.4, True, generator=gen(5))
    assert_same_bits(as_numpy(y), pd.drop_path(xa, 0.4, generator=gen(5)))
    y = tv.stochastic_depth(x, 0.4, "batch", generator=gen(5))
    assert_same_bits(as_numpy(y), pd.drop_path(xa, 0.4, mode="batch", generator=gen(5)))
    other = torch.randn(9, 4, 3).to(dtype)
    z = tv.Zoneout(0.3, generator=gen(6))(x, other)
    assert_same_bits(as_numpy(z), pd.zoneout(xa, as_numpy(other), 0.3, generator=gen(6)))
    n = tv.GaussianNoise(0.5, generator=gen(7))(x)
    assert_same_bits(as_numpy(n), pd.gaussian_noise(xa, 0.5, generator=gen(7)))


# -- gradients ---------------------------------------------------------------------------------


def test_gradcheck_of_the_functions():
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    other = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    for mode in ("row", "batch"):
        f = lambda t, m=mode: tv.stochastic_depth(t, 0.4, m, generator=gen(1))  # noqa: E731
        assert torch.autograd.gradcheck(f, (x,))
        assert torch.autograd.gradgradcheck(f, (x,))
    assert torch.autograd.gradcheck(
        lambda a, b: tv.zoneout(a, b, 0.4, generator=gen(2)), (x, other)
    )
    assert torch.autograd.gradcheck(lambda a, b: tv.zoneout(a, b, 0.4, False), (x, other))
    assert torch.autograd.gradcheck(lambda a: tv.gaussian_noise(a, 0.3, generator=gen(3)), (x,))


def test_zoneout_gradients_split_by_the_mask():
    prev = torch.randn(50, 7, requires_grad=True)
    new = torch.randn(50, 7, requires_grad=True)
    y = tv.Zoneout(0.3, generator=gen(4))(prev, new)
    g = torch.randn(50, 7)
    y.backward(g)
    took_prev = y == prev.detach()
    assert torch.equal(prev.grad, torch.where(took_prev, g, torch.zeros(())))
    assert torch.equal(new.grad, torch.where(took_prev, torch.zeros(()), g))


# -- WeightDropout (DropConnect) ----------------------------------------------------------------


def _linear():
    torch.manual_seed(0)
    return torch.nn.Linear(5, 3).double(), torch.randn(8, 5, dtype=torch.float64)


def _conv():
    torch.manual_seed(0)
    return torch.nn.Conv2d(2, 3, 3).double(), torch.randn(2, 2, 6, 6, dtype=torch.float64)


def _lstm():
    torch.manual_seed(0)
    return torch.nn.LSTM(3, 4, batch_first=True).double(), torch.randn(2, 5, 3, dtype=torch.float64)


CASES = {
    "linear": (_linear, "weight"),
    "conv2d": (_conv, "weight"),
    "lstm": (_lstm, "weight_hh_l0"),
}


def _output(out):
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("case", CASES)
def test_weight_dropout_gradcheck_reaches_the_raw_parameter(case):
    make, name = CASES[case]
    module, x = make()
    wrapped = tv.WeightDropout(module, 0.3, weights=(name,))

    def f(w):
        # the same mask at every evaluation: a fresh generator of one seed, and the dropped
        # weight computed from `w` through the operator the wrapper uses
        dropped = pdt.dropout(w, wrapped.p, generator=gen(11))
        return _output(torch.func.functional_call(module, {name: dropped}, (x,)))

    w = dict(module.named_parameters())[name].detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(f, (w,))
    # and through the module itself: the raw parameter gets a gradient
    wrapped.generator = gen(11)
    _output(wrapped(x)).sum().backward()
    raw = dict(module.named_parameters())[name]
    assert raw.grad is not None and raw.grad.abs().sum() > 0
    # ... which is that of the dropped weight, masked: zero where the weight was dropped
    dropped = pd.dropout(raw.detach().numpy(), 0.3, generator=gen(11))
    assert np.all(raw.grad.numpy()[dropped == 0] == 0)


@pytest.mark.parametrize("case", CASES)
def test_weight_dropout_training_vs_evaluation_and_state_dict(case):
    make, name = CASES[case]
    module, x = make()
    raw_before = {k: v.detach().clone() for k, v in module.state_dict().items()}
    wrapped = tv.WeightDropout(module, 0.5, weights=(name,), generator=gen(3))
    assert sorted(wrapped.state_dict()) == sorted("module." + k for k in raw_before)
    y_train = _output(wrapped(x))
    w = dict(module.named_parameters())[name]
    dropped = torch.from_numpy(pd.dropout(w.detach().numpy(), 0.5, generator=gen(3)))
    expect = _output(torch.func.functional_call(module, {name: dropped}, (x,)))
    assert torch.equal(y_train, expect)  # the module ran with the dropped weight
    wrapped.eval()
    y_eval = _output(wrapped(x))
    assert torch.equal(y_eval, _output(module(x)))  # unchanged weights
    assert not torch.equal(y_eval, y_train)
    for k, v in module.state_dict().items():  # the raw parameters were never written
        assert torch.equal(v, raw_before[k])
    with pytest.raises(ValueError, match="weights"):
        tv.WeightDropout(module, 0.5, weights=("nope",))


@pytest.mark.parametrize("case", CASES)
def test_weight_dropout_training_loop_decreases_the_loss(case):
    make, name = CASES[case]
    module, x = make()
    torch.manual_seed(1)
    target = _output(module(x)).detach() * 0 + torch.randn_like(_output(module(x)))
    wrapped = tv.WeightDropout(module, 0.2, weights=(name,), generator=gen(5))
    opt = torch.optim.SGD(module.parameters(), lr=0.05)

    def loss_eval():
        wrapped.eval()
        with torch.no_grad():
            v = float(((_output(wrapped(x)) - target) ** 2).mean())
        wrapped.train()
        return v

    first = loss_eval()
    for _ in range(200):
        opt.zero_grad()
        loss = ((_output(wrapped(x)) - target) ** 2).mean()
        loss.backward()
        opt.step()
    last = loss_eval()
    assert math.isfinite(last) and last < 0.8 * first
