"""The modern variants of pydropout.torch as torch operators (the contract's section 7):
drop_path, stochastic_depth, drop_block2d/3d, zoneout, gaussian_noise and WeightDropout under
torch.compile, torch.export and torch.func, with the bits and the words of eager mode."""

import math
import warnings

import pytest
from helpers import BFLOAT16, SEED

import pydropout

torch = pytest.importorskip("torch")
pdt = pytest.importorskip("pydropout.torch")
from pydropout import _torch_ops as ops
from pydropout import _torch_ops_modern as modern

func = torch.func

# torch's forward AD loads its decompositions through torch.jit.script on first use
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)


def gen(offset=0):
    return pydropout.Generator(SEED, offset=offset)


def _prev(t):
    """zoneout's second input, a function of the first (so that one tensor drives it)."""
    return t * 0.5 + 1.0


# name: (function of (tensor, generator), the shape of one call's input, words of one call)
OPS = {
    "drop_path": (lambda t, g: pdt.drop_path(t, 0.4, True, generator=g), (5, 3, 4), 5),
    "drop_path_unscaled": (
        lambda t, g: pdt.drop_path(t, 0.4, True, scale_by_keep=False, generator=g),
        (5, 3, 4),
        5,
    ),
    "stochastic_depth_batch": (
        lambda t, g: pdt.stochastic_depth(t, 0.4, "batch", generator=g),
        (5, 3, 4),
        1,
    ),
    "drop_block2d": (lambda t, g: pdt.drop_block2d(t, 0.3, 3, generator=g), (2, 3, 6, 7), 120),
    "drop_block3d": (lambda t, g: pdt.drop_block3d(t, 0.3, 2, generator=g), (1, 2, 4, 4, 5), 72),
    "zoneout": (lambda t, g: pdt.zoneout(_prev(t), t, 0.3, generator=g), (4, 6), 24),
    "gaussian_noise": (lambda t, g: pdt.gaussian_noise(t, 0.5, generator=g), (4, 6), 24),
}
RANDOM = list(OPS)
# deterministic: zoneout in evaluation mode (its own operator)
LINEAR = {
    **{k: v[:2] for k, v in OPS.items()},
    "zoneout_eval": (lambda t, g: pdt.zoneout(_prev(t), t, 0.3, False, generator=g), (4, 6)),
}


def _input(shape, dtype=torch.float64, batch=()):
    torch.manual_seed(0)
    return torch.randn(*batch, *shape).to(dtype)


# -- torch.compile and torch.export -------------------------------------------------------


@pytest.mark.parametrize("name", RANDOM)
def test_compiled_call_and_its_backward_reproduce_eager(name):
    f, shape, words = OPS[name]
    x = _input(shape).requires_grad_()
    g = gen()
    y = f(x, g)
    (dx,) = torch.autograd.grad(y, x, torch.ones_like(y))
    assert g.offset == words
    torch._dynamo.reset()
    gc = gen()
    compiled = torch.compile(lambda t: f(t, gc), backend="aot_eager", fullgraph=True)
    yc = compiled(x)
    (dxc,) = torch.autograd.grad(yc, x, torch.ones_like(yc))
    assert gc.offset == words
    assert torch.equal(y, yc) and torch.equal(dx, dxc)
    assert not torch.equal(compiled(x), yc) or words == 1  # a second call draws new words
    assert gc.offset == 2 * words


@pytest.mark.slow
@pytest.mark.parametrize("name", RANDOM)
def test_inductor_reproduces_eager(name):
    f, shape, words = OPS[name]
    x = _input(shape).requires_grad_()
    y = f(x, gen())
    (dx,) = torch.autograd.grad(y, x, torch.ones_like(y))
    torch._dynamo.reset()
    gc = gen()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # inductor's own warnings on this machine
        yc = torch.compile(lambda t: f(t, gc), backend="inductor", fullgraph=True)(x)
        (dxc,) = torch.autograd.grad(yc, x, torch.ones_like(yc))
    assert gc.offset == words and torch.equal(y, yc) and torch.equal(dx, dxc)


@pytest.mark.parametrize("name", list(LINEAR))
def test_export_reproduces_eager(name):
    f, shape = LINEAR[name]
    x = _input(shape)
    g = gen()

    class M(torch.nn.Module):
        def forward(self, t):
            return f(t, g) * 2

    ep = torch.export.export(M(), (x,))
    g.offset = 0
    assert torch.equal(ep.module()(x), f(x, gen()) * 2)
    assert g.offset == OPS.get(name, (None, None, 0))[2]


class Net(torch.nn.Module):
    def __init__(self, g):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 3, 3, padding=1, dtype=torch.float64)
        self.block = pdt.DropBlock2d(0.2, 3, generator=g)
        self.path = pdt.DropPath(0.3, generator=g)
        self.depth = pdt.StochasticDepth(0.3, "row", generator=g)
        self.noise = pdt.GaussianNoise(0.1, generator=g)
        self.zone = pdt.Zoneout(0.3, generator=g)
        fc = torch.nn.Linear(3 * 25, 4, dtype=torch.float64)
        self.fc = pdt.WeightDropout(fc, 0.3, generator=g)

    def forward(self, x):
        h = self.conv(x)
        h = self.path(self.block(h)) + self.depth(h)
        h = self.zone(h, self.noise(h))
        return self.fc(h.flatten(1)).sum()


def _step(model, x):
    model.zero_grad()
    loss = model(x)
    loss.backward()
    return loss.detach(), model.conv.weight.grad.clone(), model.fc.module.weight.grad.clone()


def test_compiled_training_step_reproduces_eager_without_graph_breaks():
    torch.manual_seed(0)
    g = gen()
    model = Net(g)
    x = torch.randn(2, 2, 5, 5, dtype=torch.float64)
    eager = [_step(model, x) for _ in range(2)]
    offset = g.offset
    assert torch._dynamo.explain(model)(x).graph_break_count == 0
    torch._dynamo.reset()
    g.offset = 0
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    got = [_step(compiled, x) for _ in range(2)]
    assert g.offset == offset
    for e, c in zip(eager, got):
        assert all(torch.equal(a, b) for a, b in zip(e, c))
    assert not torch.equal(eager[0][0], eager[1][0])  # the second step drew new words
    model.eval()
    torch._dynamo.reset()
    assert torch.equal(torch.compile(model, fullgraph=True, backend="aot_eager")(x), model(x))


# -- torch.func.vmap ----------------------------------------------------------------------

_DTYPES = [torch.float64, torch.float16] + ([torch.bfloat16] if BFLOAT16 is not None else [])


@pytest.mark.parametrize("randomness", ["different", "same"])
@pytest.mark.parametrize("dtype", _DTYPES, ids=str)
@pytest.mark.parametrize("name", RANDOM)
def test_vmap_randomness(name, dtype, randomness):
    """ "different": entry i gets the words of a call i * n words later (B * n words in all);
    "same": every entry those of one call (n words)."""
    f, shape, words = OPS[name]
    xb = _input(shape, dtype, batch=(3,))
    g = gen()
    y = func.vmap(lambda t: f(t, g), randomness=randomness)(xb)
    step = words if randomness == "different" else 0
    assert g.offset == 2 * step + words
    for i in range(3):
        assert torch.equal(y[i], f(xb[i], gen(i * step)))
    moved = func.vmap(lambda t: f(t, gen()), in_dims=1, randomness=randomness)(xb.movedim(0, 1))
    assert torch.equal(moved, y)


def test_vmap_different_is_one_call_over_the_batch_where_the_shape_allows():
    xb = _input((5, 3), batch=(4,))
    for f in (
        lambda t, g: pdt.gaussian_noise(t, 0.5, generator=g),
        lambda t, g: pdt.zoneout(_prev(t), t, 0.3, generator=g),
    ):
        assert torch.equal(
            func.vmap(lambda t: f(t, gen()), randomness="different")(xb), f(xb, gen())
        )
    # drop_path's rows: the batch's entries' rows in order
    y = func.vmap(lambda t: pdt.drop_path(t, 0.4, True, generator=gen()), randomness="different")(
        xb
    )
    assert torch.equal(
        y, pdt.drop_path(xb.reshape(20, 3), 0.4, True, generator=gen()).view(4, 5, 3)
    )


@pytest.mark.parametrize("name", RANDOM)
def test_vmap_error_raises_as_torch(name):
    f, shape, _ = OPS[name]
    with pytest.raises(RuntimeError, match="randomness"):
        func.vmap(lambda t: f(t, gen()))(_input(shape, batch=(2,)))
    # the deterministic evaluation of zoneout needs no randomness
    f, shape = LINEAR["zoneout_eval"]
    xb = _input(shape, batch=(2,))
    assert torch.equal(func.vmap(lambda t: f(t, gen()))(xb), f(xb, gen()))


def test_nested_vmap_draws_the_entries_in_order():
    f, shape, words = OPS["drop_block2d"]
    xb = _input(shape, batch=(2, 3))
    g = gen()
    y = func.vmap(func.vmap(lambda t: f(t, g), randomness="different"), randomness="different")(xb)
    assert g.offset == 6 * words
    for i in range(2):
        for j in range(3):
            assert torch.equal(y[i, j], f(xb[i, j], gen((3 * i + j) * words)))


# -- torch.func.grad, jvp, jacrev and torch.autograd --------------------------------------


@pytest.mark.parametrize("name", list(LINEAR))
def test_jacrev_jvp_and_grad_agree_with_eager_autograd(name):
    f, shape = LINEAR[name]
    x = _input(shape)
    n = x.numel()
    jac = torch.autograd.functional.jacobian(lambda t: f(t, gen()), x).reshape(n, n)
    assert torch.equal(func.jacrev(lambda t: f(t, gen()))(x).reshape(n, n), jac)
    v = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y, ty = func.jvp(lambda t: f(t, gen()), (x,), (v,))
    assert torch.equal(y, f(x, gen()))
    torch.testing.assert_close(ty.reshape(-1), jac @ v.reshape(-1), rtol=1e-14, atol=0)
    xr = x.clone().requires_grad_()
    (expected,) = torch.autograd.grad((f(xr, gen()) ** 2).sum(), xr)
    assert torch.equal(func.grad(lambda t: (f(t, gen()) ** 2).sum())(x), expected)
    # forward over reverse: H v of sum(f(t) ** 2) is 2 J^T J v
    _, hv = func.jvp(func.grad(lambda t: (f(t, gen()) ** 2).sum()), (x,), (v,))
    torch.testing.assert_close(
        hv.reshape(-1), 2 * jac.T @ (jac @ v.reshape(-1)), rtol=1e-13, atol=0
    )


@pytest.mark.parametrize("name", list(LINEAR))
def test_gradcheck_and_gradgradcheck(name):
    f, shape = LINEAR[name]
    x = _input(shape).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: f(t, gen()), (x,))
    assert torch.autograd.gradgradcheck(lambda t: f(t, gen()), (x,))


def test_zoneout_tangents_follow_the_taken_inputs():
    prev, new = _input((6, 5)), _input((6, 5)) + 3
    tp, tn = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    y, ty = func.jvp(lambda a, b: pdt.zoneout(a, b, 0.4, generator=gen()), (prev, new), (tp, tn))
    took_prev = y == prev
    assert 0 < int(took_prev.sum()) < 30
    assert torch.equal(ty, torch.where(took_prev, tp, tn))


def test_saved_state_is_the_packed_mask():
    x = _input((2, 3, 9, 9)).requires_grad_()
    y = pdt.drop_block2d(x, 0.3, 3, generator=gen())
    (saved,) = y.grad_fn.saved_tensors
    assert saved.dtype == torch.uint8 and saved.numel() == math.ceil(x.numel() / 8)
    z = pdt.zoneout(_prev(x), x, 0.3, generator=gen())
    (saved,) = z.grad_fn.saved_tensors
    assert saved.dtype == torch.uint8 and saved.numel() == math.ceil(x.numel() / 8)
    assert pdt.gaussian_noise(x, 0.3, generator=gen()).grad_fn.saved_tensors == ()
    (saved,) = pdt.drop_path(x, 0.3, True, generator=gen()).grad_fn.saved_tensors
    assert saved.numel() == 1  # one bit a sample


# -- the operators themselves ---------------------------------------------------------------


def _opcheck_cases():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    new = torch.randn(2, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(2, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    state = ops.state_tensor(SEED, 0, 0)
    block_token = modern.block_fwd(x, state, 0.3, 3, 1e-6, 0)[1]
    zone_token = modern.zoneout_fwd(x, new, state, 0.3, 0)[1]
    return [
        (modern.block_fwd, (x, state, 0.3, 3, 1e-6, 0)),
        (modern.block_bwd, (grad, block_token, 1e-6)),
        (modern.zoneout_fwd, (x, new, state, 0.3, 0)),
        (modern.zoneout_mix, (x, new, zone_token)),
        (modern.zoneout_split, (grad, zone_token)),
        (modern.zoneout_eval, (x, new, 0.3)),
        (modern.zoneout_eval_bwd, (grad, 0.3)),
        (modern.noise_fwd, (x, state, 0.5, None)),
    ]


@pytest.mark.parametrize("case", range(8))
def test_opcheck(case):
    op, args = _opcheck_cases()[case]
    torch.library.opcheck(op, args)


# -- channels_last --------------------------------------------------------------------------

# the ones that take a 4-D input
CHANNELS_LAST = ["drop_path", "stochastic_depth_batch", "drop_block2d", "zoneout", "gaussian_noise"]


@pytest.mark.parametrize("name", CHANNELS_LAST)
def test_channels_last_keeps_the_layout_and_the_bits_eager_and_compiled(name):
    f = OPS[name][0]
    x = _input((2, 3, 6, 7)).contiguous(memory_format=torch.channels_last).requires_grad_()
    y = f(x, gen())
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(y, f(x.detach().contiguous(), gen()))  # element i: the i-th in C order
    (dx,) = torch.autograd.grad(y, x, torch.ones_like(y))
    assert dx.is_contiguous(memory_format=torch.channels_last)
    torch._dynamo.reset()
    gc = gen()  # made outside: the graph reads its state
    yc = torch.compile(lambda t: f(t, gc), backend="aot_eager", fullgraph=True)(x)
    (dxc,) = torch.autograd.grad(yc, x, torch.ones_like(yc))
    assert yc.stride() == y.stride() and torch.equal(yc, y) and torch.equal(dxc, dx)


# -- WeightDropout ----------------------------------------------------------------------------


def _weight_dropout(offset=0):
    torch.manual_seed(0)
    fc = torch.nn.Linear(6, 4, dtype=torch.float64)
    return pdt.WeightDropout(fc, 0.4, weights=("weight", "bias"), generator=gen(offset))


def test_weight_dropout_under_export_and_compile_reproduces_eager():
    x = _input((3, 6))
    eager = _weight_dropout()
    y = eager(x)
    assert eager.generator.offset == 28  # 24 weights, then 4 biases
    exported = _weight_dropout()
    ep = torch.export.export(exported, (x,))
    exported.generator.offset = 0
    assert torch.equal(ep.module()(x), y) and exported.generator.offset == 28
    torch._dynamo.reset()
    compiled = _weight_dropout()
    assert torch.equal(torch.compile(compiled, backend="aot_eager", fullgraph=True)(x), y)
    assert compiled.generator.offset == 28


def test_weight_dropout_func_grad_reaches_the_raw_parameters_as_autograd():
    x = _input((3, 6))
    wd = _weight_dropout()
    wd(x).square().sum().backward()
    expected = {k: v.grad for k, v in wd.module.named_parameters()}
    wd = _weight_dropout()
    params = {k: v.detach() for k, v in wd.module.named_parameters()}

    def loss(ps):
        wd.generator.offset = 0
        return torch.func.functional_call(wd, ps, (x,)).square().sum()

    got = func.grad(loss)({"module." + k: v for k, v in params.items()})
    assert all(torch.equal(got["module." + k], expected[k]) for k in expected)
