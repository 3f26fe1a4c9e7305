"""pydropout.torch in plain eager mode: the operators' implementations run without torch's
dispatch of a Python custom op, with the bits, words and gradients of the dispatched
operators; anything that watches or transforms the call (modes, fake tensors, wrappers)
still goes through the dispatcher and sees the operator."""

import numpy as np
import pytest
from helpers import SEED

import pydropout

torch = pytest.importorskip("torch")
pdt = pytest.importorskip("pydropout.torch")
ops = pytest.importorskip("pydropout._torch_ops")
from torch.utils._python_dispatch import TorchDispatchMode


def gen(seed=SEED):
    return pydropout.Generator(seed)


# every kind of draw: (name, call(x, other, generator))
CALLS = [
    ("dropout", lambda x, o, g: pdt.dropout(x, 0.3, generator=g)),
    ("dropout save=state", lambda x, o, g: pdt.dropout(x, 0.3, generator=g, save="state")),
    (
        "dropout noise_shape",
        lambda x, o, g: pdt.dropout(x, 0.3, generator=g, noise_shape=(None, 1, None, 1)),
    ),
    ("dropout2d", lambda x, o, g: pdt.dropout2d(x, 0.4, generator=g)),
    ("dropout inplace", lambda x, o, g: pdt.dropout(x.clone(), 0.3, inplace=True, generator=g)),
    ("alpha_dropout", lambda x, o, g: pdt.alpha_dropout(x, 0.2, training=True, generator=g)),
    ("drop_block2d", lambda x, o, g: pdt.drop_block2d(x, 0.2, 3, generator=g)),
    ("zoneout", lambda x, o, g: pdt.zoneout(x, o, 0.5, generator=g)),
    ("gaussian_noise", lambda x, o, g: pdt.gaussian_noise(x, 0.7, generator=g)),
    ("drop_path", lambda x, o, g: pdt.drop_path(x, 0.5, training=True, generator=g)),
]


def _inputs(channels_last=False):
    torch.manual_seed(0)
    x = torch.randn(3, 4, 6, 5, dtype=torch.float64)
    o = torch.randn(3, 4, 6, 5, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        o = o.contiguous(memory_format=torch.channels_last)
    return x.requires_grad_(), o.requires_grad_()


def _step(call, channels_last=False):
    """Output, input gradients and the generator's offset after one call and a backward."""
    x, o = _inputs(channels_last)
    g = gen()
    y = call(x, o, g)
    y.backward(torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape))
    grads = [t.grad for t in (x, o) if t.grad is not None]
    return y.detach(), grads, g.offset, y.stride()


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("name, call", CALLS, ids=[c[0] for c in CALLS])
def test_plain_eager_matches_the_dispatched_operators(name, call, channels_last, monkeypatch):
    fast = _step(call, channels_last)
    monkeypatch.setattr(ops, "plain_eager", lambda tensors: False)
    slow = _step(call, channels_last)
    assert torch.equal(fast[0], slow[0]) and fast[2] == slow[2] and fast[3] == slow[3]
    assert len(fast[1]) == len(slow[1]) and all(
        torch.equal(a, b) for a, b in zip(*(fast[1], slow[1]))
    )


def test_plain_eager_skips_the_dispatcher(monkeypatch):
    def refuse(*args):
        raise AssertionError("dispatched in plain eager mode")

    x, _ = _inputs()
    monkeypatch.setattr(ops.DrawFunction, "apply", refuse)
    monkeypatch.setattr(ops.LinearFunction, "apply", refuse)
    y = pdt.dropout(x, 0.5, generator=gen())
    y.sum().backward()  # the backward too, when it builds no graph
    with torch.no_grad():
        z = pdt.dropout(x, 0.5, generator=gen())
    assert not z.requires_grad and torch.equal(z, y.detach())


class _Seen(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.names = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(str(func))
        return func(*args, **(kwargs or {}))


def test_a_dispatch_mode_sees_the_operators():
    x, _ = _inputs()
    with _Seen() as seen:
        y = pdt.dropout(x, 0.5, generator=gen())
        y.sum().backward()
    assert "pydropout.dropout_fwd.default" in seen.names
    assert "pydropout.dropout_bwd.default" in seen.names
    np.testing.assert_array_equal(
        y.detach().numpy(), pydropout.dropout(x.detach().numpy(), 0.5, generator=gen())
    )


def test_fake_tensors_take_the_fake_implementation():
    from torch._subclasses.fake_tensor import FakeTensorMode

    g = gen()
    with FakeTensorMode():
        x = torch.empty(4, 3, 8, 8).contiguous(memory_format=torch.channels_last)
        y = pdt.dropout2d(x, 0.5, generator=g)
    assert y.shape == x.shape and y.is_contiguous(memory_format=torch.channels_last)


def test_double_backward_records_the_backward():
    x, _ = _inputs()
    y = pdt.dropout(x, 0.5, generator=gen())
    (gx,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (ggx,) = torch.autograd.grad((gx * x).sum(), x)
    np.testing.assert_array_equal(ggx.numpy(), gx.detach().numpy())


def test_like_strides_are_those_of_like():
    # (strides of an output over the input's layout without allocating it, checked against
    # torch.empty_like / new_empty on permuted, sliced, expanded and size-1 layouts)
    rng = np.random.default_rng(0)
    for _ in range(400):
        nd = int(rng.integers(1, 5))
        base = torch.empty([int(s) for s in rng.integers(1, 5, nd) * 2])
        t = base[tuple(slice(0, None, int(rng.integers(1, 3))) for _ in range(nd))]
        t = t.permute(*rng.permutation(nd).tolist())
        if rng.random() < 0.3:
            t = t[..., :1].expand(*t.shape[:-1], 3)
        got = ops._like_strides(tuple(t.shape), tuple(t.stride()))
        assert got == ops.like(t).stride(), (t.shape, t.stride())
