"""pydropout.torch as torch operators: torch.compile, torch.export, torch.func (the contract's section 7)."""

import warnings

import numpy as np
import pytest
from helpers import SEED

import pydropout

torch = pytest.importorskip("torch")
pdt = pytest.importorskip("pydropout.torch")
func = torch.func

# torch's forward AD loads its decompositions through torch.jit.script on first use
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)


def gen(seed=SEED, **kw):
    return pydropout.Generator(seed, **kw)


def unpacked(mask, n):
    return np.unpackbits(mask, bitorder="little")[:n].astype(bool)


# -- torch.func -------------------------------------------------------------------------


def test_vmap_different_is_one_call_over_the_batch():
    x = torch.randn(4, 3, 5, dtype=torch.float64)
    g = gen(1)
    y = func.vmap(lambda t: pdt.dropout(t, 0.5, generator=g), randomness="different", in_dims=1)(x)
    assert g.offset == x.numel()  # B * n words
    ref = pydropout.dropout(x.movedim(1, 0).numpy(), 0.5, generator=gen(1))
    np.testing.assert_array_equal(y.numpy(), ref)


def test_vmap_same_draws_one_mask():
    x = torch.rand(3, 4, 5, dtype=torch.float64) + 1.0
    g = gen(2)
    y = func.vmap(lambda t: pdt.dropout(t, 0.5, generator=g), randomness="same")(x)
    assert g.offset == 20  # n words
    _, mask = pydropout.dropout_with_mask(np.ones((4, 5)), 0.5, generator=gen(2))
    keep = torch.from_numpy(unpacked(mask, 20).reshape(4, 5))
    for b in range(3):
        assert torch.equal(y[b] != 0, keep)
    # channel dropout under vmap: the mask over the unbatched noise shape
    g2 = gen(3)
    z = func.vmap(lambda t: pdt.dropout2d(t, 0.5, generator=g2), randomness="same")(
        torch.rand(3, 2, 4, 5, 6) + 1
    )
    assert g2.offset == 8 and torch.equal(z[0] != 0, z[2] != 0)


def test_vmap_error_raises_as_torch():
    x = torch.randn(3, 4)
    with pytest.raises(RuntimeError, match="randomness"):
        func.vmap(lambda t: torch.nn.functional.dropout(t, 0.5))(x)
    g = gen()
    with pytest.raises(RuntimeError, match="randomness"):
        func.vmap(lambda t: pdt.dropout(t, 0.5, generator=g))(x)


def test_grad_and_jacrev_use_the_forward_mask():
    x = torch.randn(6, dtype=torch.float64)
    for save in ("mask", "state"):
        g = gen(4)
        jac = func.jacrev(lambda t: pdt.dropout(t, 0.5, generator=g, save=save))(x)
        y = pdt.dropout(x, 0.5, generator=gen(4))
        expected = torch.diag((y != 0).double() * 2.0)
        assert torch.equal(jac, expected)
        dx = func.grad(lambda t: pdt.dropout(t, 0.5, generator=gen(4), save=save).sum())(x)
        assert torch.equal(dx, (y != 0).double() * 2.0)


@pytest.mark.parametrize("save", ["mask", "state"])
def test_vmap_of_grad_per_example(save):
    x = torch.randn(3, 7, dtype=torch.float64)
    g = gen(5)

    def loss(t):
        return (pdt.dropout(t, 0.4, generator=g, save=save) * t).sum()

    grads = func.vmap(func.grad(loss), randomness="different")(x)
    y = pydropout.dropout(x.numpy(), 0.4, generator=gen(5))
    # d/dt (d(t) * t) = 2 * d(t) where d is linear in t with the forward's mask
    np.testing.assert_allclose(grads.numpy(), 2 * y, rtol=0, atol=0)


def test_jvp_tangent_gets_the_primal_mask():
    x = torch.randn(5, 6, dtype=torch.float64)
    v = torch.randn(5, 6, dtype=torch.float64)
    for fn in (
        lambda t: pdt.dropout(t, 0.3, generator=gen(6)),
        lambda t: pdt.dropout1d(t, 0.3, generator=gen(6)),
        lambda t: pdt.alpha_dropout(t, 0.3, True, generator=gen(6)),
    ):
        y, ty = func.jvp(fn, (x,), (v,))
        assert torch.equal(y, fn(x))
        xr = x.clone().requires_grad_()
        (jv,) = torch.autograd.grad(fn(xr), xr, v)  # the map is diagonal: J^T v == J v
        assert torch.equal(ty, jv)


def test_dual_tensors_and_forward_over_reverse():
    import torch.autograd.forward_ad as fwAD

    x = torch.randn(8, dtype=torch.float64)
    v = torch.randn(8, dtype=torch.float64)
    with fwAD.dual_level():
        out = pdt.dropout(fwAD.make_dual(x, v), 0.5, generator=gen(7))
        _, tangent = fwAD.unpack_dual(out)
    y = pdt.dropout(x, 0.5, generator=gen(7))
    assert torch.equal(tangent, torch.where(y != 0, v * 2.0, torch.zeros(())))

    def g(t):
        return func.grad(lambda u: (pdt.dropout(u, 0.5, generator=gen(7)) ** 2).sum())(t)

    _, hv = func.jvp(g, (x,), (v,))  # forward-over-reverse: H v = 2 * d(d(v))
    assert torch.equal(hv, torch.where(y != 0, 8.0 * v, torch.zeros(())))
    xr = x.clone().requires_grad_()
    (gr,) = torch.autograd.grad(
        (pdt.dropout(xr, 0.5, generator=gen(7)) ** 2).sum(), xr, create_graph=True
    )
    (hh,) = torch.autograd.grad(gr, xr, v)  # double backward
    assert torch.equal(hh, hv)


# -- torch.compile and torch.export ------------------------------------------------------


class Net(torch.nn.Module):
    def __init__(self, g):
        super().__init__()
        self.fc = torch.nn.Linear(12, 12, dtype=torch.float64)
        self.drop = pdt.Dropout(0.3, generator=g)
        self.drop2 = pdt.Dropout1d(0.2, generator=g)

    def forward(self, x):
        h = self.drop(torch.relu(self.fc(x)))
        return self.drop2(h.view(-1, 3, 4)).sum()


def _step(model, x):
    model.zero_grad()
    loss = model(x)
    loss.backward()
    return loss.detach(), model.fc.weight.grad.clone()


@pytest.mark.parametrize("backend", ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)])
def test_compiled_training_step_reproduces_eager(backend):
    torch.manual_seed(0)
    g = gen(8)
    model = Net(g)
    x = torch.randn(5, 12, dtype=torch.float64)
    eager = [_step(model, x) for _ in range(2)]
    eager_offset = g.offset
    torch._dynamo.reset()
    g.offset = 0
    compiled = torch.compile(model, backend=backend, fullgraph=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # inductor's own warnings on this machine
        got = [_step(compiled, x) for _ in range(2)]
    assert g.offset == eager_offset
    for (le, ge), (lc, gc) in zip(eager, got):
        assert torch.equal(le, lc) and torch.equal(ge, gc)
    assert not torch.equal(eager[0][0], eager[1][0])  # the second step drew new words


def test_export_gives_eager_bits():
    g = gen(9)

    class M(torch.nn.Module):
        def forward(self, x):
            return pdt.dropout(x, 0.5, generator=g) + 1

    x = torch.randn(4, 8)
    ep = torch.export.export(M(), (x,))
    y = ep.module()(x)
    assert g.offset == 32
    assert torch.equal(y, torch.from_numpy(pydropout.dropout(x.numpy(), 0.5, generator=gen(9))) + 1)


@pytest.mark.slow
@pytest.mark.parametrize("save", ["mask", "state"])
def test_compiled_channels_last_block_reproduces_eager(save):
    torch.manual_seed(0)
    g = gen(10)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.ReLU(),
        pdt.Dropout2d(0.5, generator=g, save=save),
        torch.nn.Flatten(),
        pdt.Dropout(0.3, generator=g, save=save),
    )
    model = model.to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 5, 5).contiguous(memory_format=torch.channels_last)

    def step(m):
        model.zero_grad()
        y = m(x)
        y.sum().backward()
        return y.detach(), model[0].weight.grad.clone()

    eager = step(model)
    off = g.offset
    g.offset = 0
    torch._dynamo.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = step(torch.compile(model, backend="inductor", fullgraph=True))
    assert g.offset == off
    assert torch.equal(eager[0], got[0]) and torch.equal(eager[1], got[1])


# -- the operators themselves ---------------------------------------------------------------

_FWD_CASES = {
    "mask": (0.4, "dropout", "upscale_in_train", None, False),
    "state": (0.4, "dropout", "upscale_in_train", None, True),
    "noise_downscale": (0.4, "dropout", "downscale_in_infer", [4, 3, 1], False),
    "alpha_noise": (0.4, "alpha", "upscale_in_train", [4, 3, 1], False),
}


@pytest.mark.parametrize("case", list(_FWD_CASES))
def test_opcheck_dropout_operators(case):
    from pydropout import _torch_ops as ops

    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(4, 3, 5, dtype=torch.float64, requires_grad=True)
    constants = _FWD_CASES[case]
    args = (x, ops.state_tensor(SEED, 0, 0), *constants)
    torch.library.opcheck(ops.dropout_fwd, args)
    token = ops.dropout_fwd(*args)[1]
    torch.library.opcheck(ops.dropout_bwd, (grad, token, *constants[:4]))


# channel dropout inside a compiled graph (between ops that inductor fuses): the same bits
# as eager for every value (signed zeros, infinities, NaN), mode, layout and rank
@pytest.mark.parametrize("backend", ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("mode", ["upscale_in_train", "downscale_in_infer"])
def test_compiled_channel_dropout_gives_eager_bits(backend, dtype, mode):
    shapes = {pdt.dropout1d: (3, 5, 7), pdt.dropout2d: (2, 6, 4, 5), pdt.dropout3d: (2, 3, 2, 3, 4)}
    for fn, shape in shapes.items():
        x = torch.randn(shape, dtype=dtype)
        x.view(-1)[::7] = float("inf")
        x.view(-1)[3::11] = float("nan")
        x.view(-1)[5::13] = -0.0
        layouts = [x]
        if x.dim() == 4:
            layouts.append(x.contiguous(memory_format=torch.channels_last))
        for xl in layouts:
            for p in (0.0, 0.4, 1.0):
                g = gen(3)

                def f(t, p=p, fn=fn, g=g):
                    return fn(torch.relu(t) - t * 1.5, p, generator=g, mode=mode)

                xe = xl.clone().requires_grad_()
                ye = f(xe)
                (ge,) = torch.autograd.grad(ye, xe, torch.ones_like(ye))
                words = g.offset
                g.offset = 0
                torch._dynamo.reset()
                xc = xl.clone().requires_grad_()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    yc = torch.compile(f, backend=backend, fullgraph=True)(xc)
                    (gc,) = torch.autograd.grad(yc, xc, torch.ones_like(yc))
                assert g.offset == words
                for a, b in ((ye, yc), (ge, gc)):
                    assert a.shape == b.shape
                    ia = a.detach().contiguous().view(-1).view(torch.int8)
                    ib = b.detach().contiguous().view(-1).view(torch.int8)
                    assert torch.equal(ia, ib), (fn.__name__, p, xl.stride())
