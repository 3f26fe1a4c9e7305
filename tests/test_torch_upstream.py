"""PyTorch's own dropout tests, ported to pydropout.torch.

Each test names its upstream source (pytorch/pytorch). pydropout's modules and functions
stand in for torch's; torch's RNG (``torch.manual_seed``, ``freeze_rng_state``) becomes a
pydropout generator at a fixed state. Where pydropout differs on purpose the test checks
pydropout's behaviour and says so:

* ranks torch only warns about (``Dropout2d`` on 2-D/5-D, ``Dropout3d`` on 3-D/6-D) raise
  ValueError; ``Dropout1d``'s wrong ranks raise ValueError, not RuntimeError;
* inputs with gaps give C-order outputs (the contract's section 5), where torch gives the suggested memory
  format of the input.
"""

import itertools
import random
import warnings

import pytest

import pydropout

torch = pytest.importorskip("torch")
pdt = pytest.importorskip("pydropout.torch")
nn = pdt  # the modules under test
F = pdt  # the functions under test

pytestmark = [
    # torch's forward AD loads its decompositions through torch.jit.script on first use
    pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:dropout2d. Received a 3D input"),
]


@pytest.fixture(autouse=True)
def _seeded():
    random.seed(0)
    torch.manual_seed(0)
    state = pydropout.default_generator.get_state()
    pydropout.manual_seed(1234)
    yield
    pydropout.default_generator.set_state(state)


def assert_equal(a, b):
    torch.testing.assert_close(a, b, rtol=0, atol=0)


# -- test/nn/test_dropout.py: TestDropoutNN ------------------------------------------------


def _test_alpha_dropout(cls, input):
    mean = input.mean()
    std = input.std()
    for p in [0.2, 0.5, 0.8]:
        module = cls(p)
        input_var = input.detach().clone().requires_grad_()
        output = module(input_var)
        assert abs(output.data.mean() - mean) < 0.1  # output mean close to input mean
        assert abs(output.data.std() - std) < 0.1  # output std close to input std
        output.backward(input)


def _sizes():
    """b, w, h, d as torch's tests draw them: three in [1, 5], then one in [1, 2]."""
    return tuple(random.randint(1, 5 if i < 3 else 2) for i in range(4))


def test_AlphaDropout():
    # test/nn/test_dropout.py::TestDropoutNN::test_AlphaDropout
    _test_alpha_dropout(nn.AlphaDropout, torch.randn(5000))


def test_FeatureAlphaDropout():
    # test/nn/test_dropout.py::TestDropoutNN::test_FeatureAlphaDropout
    b, w, h, d = _sizes()
    _test_alpha_dropout(nn.FeatureAlphaDropout, torch.randn(1000, b, d, w, h))
    _test_alpha_dropout(nn.FeatureAlphaDropout, torch.randn(50, 20, 64, 64))  # no batch dims


def test_invalid_dropout_p():
    # test/nn/test_dropout.py::TestDropoutNN::test_invalid_dropout_p
    v = torch.ones(1)
    for cls in (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d):
        for p in (-0.1, 1.1):
            with pytest.raises(ValueError):
                cls(p)
    for p in (-0.1, 1.1):
        with pytest.raises(ValueError):
            F.dropout(v, p)


# -- test/nn/test_dropout.py: TestDropoutNNDeviceType (CPU) ---------------------------------


def _test_dropout(cls, input, memory_format=torch.contiguous_format):
    p = 0.2
    input = input.fill_(1 - p)
    module = cls(p)
    input_var = input.clone(memory_format=memory_format).requires_grad_()
    output = module(input_var)
    assert output.is_contiguous(memory_format=memory_format)
    assert abs(output.data.mean() - (1 - p)) < 0.05
    output.backward(input)
    assert input_var.grad.is_contiguous(memory_format=memory_format)
    assert abs(input_var.grad.data.mean() - (1 - p)) < 0.05

    module = cls(p, True)
    input_var = input.clone(memory_format=memory_format).requires_grad_()
    output = module(input_var + 0)
    assert output.is_contiguous(memory_format=memory_format)
    assert abs(output.data.mean() - (1 - p)) < 0.05
    output.backward(input)
    assert input_var.grad.is_contiguous(memory_format=memory_format)
    assert abs(input_var.grad.data.mean() - (1 - p)) < 0.05

    for inplace in [True, False]:  # eval mode doesn't change anything
        module = cls(p, inplace).eval()
        assert_equal(input, module(input))
    module.__repr__()
    str(module)


def _test_dropout_discontiguous(cls, memory_format=torch.contiguous_format):
    # the same values for p == 0 or close to 0; layouts (pydropout: a gapped input gives a
    # C-order output, the contract's section 5; torch gives the input's suggested memory format)
    close_to_zero_p = 1e-10
    for p in [0, close_to_zero_p]:
        inp = torch.ones(2, 3, 3, 3)
        inp_discontiguous = torch.empty(2, 3, 3, 6, memory_format=memory_format)[..., ::2]
        inp_discontiguous.copy_(inp)
        mod = cls(p=p)
        out = mod(inp_discontiguous)
        if p != 0:
            assert out.is_contiguous()  # torch: out.is_contiguous(memory_format=memory_format)
        assert_equal(inp_discontiguous, out)


def _test_dropout_stride_mean_preserve(cls):
    def invert_perm(p):
        d = {x: i for i, x in enumerate(p)}
        return (d[0], d[1], d[2], d[3])

    inp = torch.ones(2, 3, 4, 5)
    shifts = [(0, 0), (1, 0), (0, 1), (1, 1)]
    for perm in itertools.permutations((0, 1, 2, 3), r=4):
        for shift in shifts:
            for p in [1e-10, 0.3, 0.5, 0.7]:
                mod = cls(p=p)
                permuted_inp = inp.permute(perm).contiguous().permute(invert_perm(perm))
                permuted_inp = permuted_inp[shift[0] :, shift[1] :, :, :]
                out = mod(permuted_inp)
                if permuted_inp.permute(perm).is_contiguous():
                    assert out.permute(perm).is_contiguous()
                else:  # a gap: C order (the contract's section 5); torch keeps the stride order
                    assert out.is_contiguous()
                torch.testing.assert_close(inp.mean(), out.mean(), rtol=0.5, atol=0.5)
                if p == 1e-10:
                    assert_equal(permuted_inp, out)
                else:
                    assert not torch.equal(permuted_inp, out)


def test_Dropout():
    # test/nn/test_dropout.py::TestDropoutNNDeviceType::test_Dropout
    input = torch.empty(1000)
    _test_dropout(nn.Dropout, input)
    _test_dropout_discontiguous(nn.Dropout)
    _test_dropout_discontiguous(nn.Dropout, memory_format=torch.channels_last)
    _test_dropout_stride_mean_preserve(nn.Dropout)
    _test_dropout(nn.Dropout, input.bfloat16())


def _test_dropoutNd_no_batch(make, input):
    input_clone = input.clone()
    res_no_batch = make(pydropout.Generator(7))(input)  # freeze_rng_state -> one state
    res_batched = make(pydropout.Generator(7))(input_clone.unsqueeze(0)).squeeze(0)
    assert_equal(res_no_batch, res_batched)


def _test_dropoutNd_channel_zero(dropout, input):
    shape = input.shape
    channel_numel = torch.tensor(shape[2:]).prod()
    result = dropout(input)
    for b, c in itertools.product(range(shape[0]), range(shape[1])):
        assert result[b, c].count_nonzero() in (0, channel_numel)


def test_Dropout1d():
    # test/nn/test_dropout.py::TestDropoutNNDeviceType::test_Dropout1d
    n, c, length = random.randint(10, 15), random.randint(10, 15), random.randint(10, 15)
    _test_dropout(nn.Dropout1d, torch.empty(n, c, length, dtype=torch.double))
    # torch: RuntimeError "Expected 2D or 3D input, but received a 4D input"
    with pytest.raises(ValueError, match="expected a 2-D input .* or a 3-D input"):
        nn.Dropout1d(p=0.5)(torch.rand(1, 2, 2, 2))
    with pytest.raises(ValueError, match="got 1-D"):
        nn.Dropout1d(p=0.5)(torch.rand(2))
    input = torch.rand(50, 2, dtype=torch.double)  # no batch dims
    _test_dropoutNd_no_batch(lambda g: nn.Dropout1d(p=0.5, generator=g), input)
    _test_dropoutNd_no_batch(lambda g: nn.Dropout1d(p=0.5, inplace=True, generator=g), input)
    input = torch.ones(10, 4, 2, dtype=torch.double)  # complete channels are dropped
    _test_dropoutNd_channel_zero(nn.Dropout1d(p=0.5), input)
    _test_dropoutNd_channel_zero(nn.Dropout1d(p=0.5, inplace=True), input)


def test_Dropout2d():
    # test/nn/test_dropout.py::TestDropoutNNDeviceType::test_Dropout2d
    b, w, h = random.randint(1, 5), random.randint(1, 5), random.randint(1, 5)
    input = torch.empty(1000, b, w, h)
    _test_dropout(nn.Dropout2d, input)
    _test_dropout(nn.Dropout2d, input, memory_format=torch.channels_last)
    _test_dropout_discontiguous(nn.Dropout2d)
    _test_dropout_discontiguous(nn.Dropout2d, memory_format=torch.channels_last)
    # torch warns "Received a 5-D input to dropout2d" / "a 2-D input": pydropout raises
    with pytest.raises(ValueError, match="dropout2d: expected"):
        nn.Dropout2d(p=0.5)(torch.rand(1, 2, 2, 2, 2))
    with pytest.raises(ValueError, match="dropout2d: expected"):
        nn.Dropout2d(p=0.5)(torch.rand(1, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        with pytest.warns(
            UserWarning, match="assuming that channel-wise 1D dropout behavior is desired"
        ):
            nn.Dropout2d(p=0.5)(torch.rand(1, 2, 2))
    input = torch.ones(10, 4, 2, 2)  # complete channels are dropped
    _test_dropoutNd_channel_zero(nn.Dropout2d(p=0.5), input)
    _test_dropoutNd_channel_zero(nn.Dropout2d(p=0.5, inplace=True), input)


def test_Dropout3d():
    # test/nn/test_dropout.py::TestDropoutNNDeviceType::test_Dropout3d
    b, w, h, d = _sizes()
    _test_dropout(nn.Dropout3d, torch.empty(1000, b, d, w, h))
    _test_dropout_discontiguous(nn.Dropout3d)
    _test_dropout_discontiguous(nn.Dropout3d, memory_format=torch.channels_last)
    # torch warns "Received a 6-D input to dropout3d" / "a 3-D input": pydropout raises
    with pytest.raises(ValueError, match="dropout3d: expected"):
        nn.Dropout3d(p=0.5)(torch.rand(1, 2, 2, 2, 2, 2))
    with pytest.raises(ValueError, match="dropout3d: expected"):
        nn.Dropout3d(p=0.5)(torch.rand(1, 2, 2))
    input = torch.rand(50, 2, 2, 2)  # no batch dims
    _test_dropoutNd_no_batch(lambda g: nn.Dropout3d(p=0.5, generator=g), input)
    _test_dropoutNd_no_batch(lambda g: nn.Dropout3d(p=0.5, inplace=True, generator=g), input)
    input = torch.ones(10, 4, 2, 2, 2)  # complete channels are dropped
    _test_dropoutNd_channel_zero(nn.Dropout3d(p=0.5), input)
    _test_dropoutNd_channel_zero(nn.Dropout3d(p=0.5, inplace=True), input)


def test_empty_dropout():
    # test/nn/test_dropout.py::TestDropoutNNDeviceType::test_empty_dropout
    x = torch.tensor([])
    out = F.dropout(x)
    assert out.size() == x.size()


# -- the OpInfo gradient tests -------------------------------------------------------------
# torch/testing/_internal/common_methods_invocations.py: the OpInfos of
# nn.functional.dropout, dropout2d, dropout3d, alpha_dropout and feature_alpha_dropout
# (with_train / without_train), their sample_inputs_dropout, and wrapper_set_seed (here: a
# generator at one state per call). Run by test/test_ops_gradients.py (test_fn_grad,
# test_fn_gradgrad, test_inplace_grad, test_fn_fwgrad_bwgrad) and
# test/test_ops_fwd_gradients.py (test_forward_mode_AD) with the OpInfo defaults:
# check_batched_grad=True, check_batched_gradgrad=True, check_batched_forward_grad=False.

S = 5


def _samples(valid_input_dim=None, train=None):
    cases = [(S,) * i for i in valid_input_dim] if valid_input_dim else [(S, S), (S,), ()]
    trains = [train] if train is not None else [True, False]
    for case, p, training in itertools.product(cases, [0.0, 0.5, 1.0], trains):
        yield case, {"p": p, "training": training}
    yield case, {}


OPINFOS = {
    "nn.functional.dropout": (pdt.dropout, {}),
    "nn.functional.dropout2d": (pdt.dropout2d, {"valid_input_dim": (3, 4)}),
    "nn.functional.dropout3d": (pdt.dropout3d, {"valid_input_dim": (4, 5)}),
    "nn.functional.alpha_dropout": (pdt.alpha_dropout, {}),
    "nn.functional.feature_alpha_dropout.with_train": (
        pdt.feature_alpha_dropout,
        {"train": True, "valid_input_dim": (4, 5)},
    ),
    "nn.functional.feature_alpha_dropout.without_train": (
        pdt.feature_alpha_dropout,
        {"train": False},
    ),
}


def _ids(case):
    name, shape, kw = case
    return f"{name}-{'x'.join(map(str, shape)) or 'scalar'}-{kw}"


def _cases():
    """Every sample; the default run keeps one small training sample per OpInfo
    (``-m slow`` runs them all)."""
    out = []
    for name, (_, samples) in OPINFOS.items():
        first = True
        for shape, kw in _samples(**samples):
            fast = (
                first and kw.get("p") == 0.5 and kw.get("training", True) and len(shape) <= 3
            )  # gradcheck of 5**4 elements takes seconds
            first = first and not fast
            marks = () if fast else (pytest.mark.slow,)
            out.append(pytest.param(name, shape, kw, marks=marks, id=_ids((name, shape, kw))))
    return out


CASES = _cases()


def _op(name, kw, inplace=False):
    fn = OPINFOS[name][0]

    def f(x):
        x = x.clone() if inplace else x
        return fn(x, **kw, inplace=inplace, generator=pydropout.Generator(42))

    return f


def _input(shape):
    return torch.testing.make_tensor(shape, dtype=torch.float64, device="cpu", requires_grad=True)


@pytest.mark.parametrize("name, shape, kw", CASES)
def test_fn_grad_and_gradgrad(name, shape, kw):
    # test/test_ops_gradients.py::TestBwdGradients::test_fn_grad / test_fn_gradgrad
    x = _input(shape)
    f = _op(name, kw)
    assert torch.autograd.gradcheck(f, (x,), check_batched_grad=True)
    assert torch.autograd.gradgradcheck(f, (x,), check_batched_grad=True)


@pytest.mark.parametrize("name, shape, kw", CASES)
def test_inplace_grad(name, shape, kw):
    # test/test_ops_gradients.py::TestBwdGradients::test_inplace_grad (inplace_variant)
    x = _input(shape)
    f = _op(name, kw, inplace=True)
    assert torch.autograd.gradcheck(f, (x,), check_batched_grad=True)
    assert torch.autograd.gradgradcheck(f, (x,), check_batched_grad=True)


@pytest.mark.parametrize("name, shape, kw", CASES)
def test_forward_mode_AD_and_fwgrad_bwgrad(name, shape, kw):
    # test/test_ops_fwd_gradients.py::TestFwdGradients::test_forward_mode_AD and
    # test/test_ops_gradients.py::TestBwdGradients::test_fn_fwgrad_bwgrad
    x = _input(shape)
    f = _op(name, kw)
    off = {"check_undefined_grad": False, "check_batched_grad": False}
    forward_only = {"check_backward_ad": False, "check_batched_forward_grad": False}
    assert torch.autograd.gradcheck(f, (x,), check_forward_ad=True, **forward_only, **off)
    assert torch.autograd.gradgradcheck(
        f, (x,), check_fwd_over_rev=True, check_rev_over_rev=False, **off
    )
