"""DropBlock in PyTorch (pydropout._torch_dropblock): torchvision's own tests with pydropout
substituted, the same bits as the NumPy function, gradients, and torchvision's composition
of torch calls reproduced from our seeds."""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import pytest
from helpers import BFLOAT16, assert_same_bits, unpack_mask

import pydropout
from pydropout.reference import stream_words

torch = pytest.importorskip("torch")
F = torch.nn.functional
from pydropout.torch import (
    DropBlock2d,
    DropBlock3d,
    drop_block2d,
    drop_block3d,
)


def _ones_and_layer(seed, dim, p, block_size, inplace):
    """test_ops.py's input (batch 5, 3 channels, sides 11) and layer, with a generator of
    the seed in place of torch.manual_seed."""
    gen = pydropout.Generator(seed)
    x = torch.ones(size=(5, 3) + (11,) * dim)
    cls = DropBlock2d if dim == 2 else DropBlock3d
    return x, cls(p=p, block_size=block_size, inplace=inplace, generator=gen)


# Ported from pytorch/vision test/test_ops.py, class TestDropBlock.test_drop_block
# (torchvision.ops.DropBlock2d/3d replaced by pydropout's; torch.manual_seed by a
# pydropout.Generator seeded the same).
@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("p", [0, 0.5])
@pytest.mark.parametrize("block_size", [5, 11])
@pytest.mark.parametrize("inplace", [True, False])
def test_drop_block(seed, dim, p, block_size, inplace):
    batch_size, channels, height = 5, 3, 11
    x, layer = _ones_and_layer(seed, dim, p, block_size, inplace)
    feature_size = height**dim
    layer.__repr__()

    out = layer(x)
    if p == 0:
        assert out.equal(x)
    if block_size == height:
        for b, c in product(range(batch_size), range(channels)):
            assert out[b, c].count_nonzero() in (0, feature_size)


# Ported from pytorch/vision test/test_ops.py, class TestDropBlock.test_drop_block_random
@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("p", [0.1, 0.2])
@pytest.mark.parametrize("block_size", [3])
@pytest.mark.parametrize("inplace", [False])
def test_drop_block_random(seed, dim, p, block_size, inplace):
    x, layer = _ones_and_layer(seed, dim, p, block_size, inplace)

    trials = 250
    num_samples = 0
    counts = 0
    cell_numel = torch.tensor(x.shape).prod()
    for _ in range(trials):
        with torch.no_grad():
            out = layer(x)
        non_zero_count = out.nonzero().size(0)
        counts += cell_numel - non_zero_count
        num_samples += cell_numel

    assert abs(p - counts / num_samples) / p < 0.15


class _DropBlockWrapper(torch.nn.Module):  # test_ops.py's DropBlockWrapper
    def __init__(self, obj):
        super().__init__()
        self.layer = obj
        self.n_inputs = 1

    def forward(self, a):
        self.layer(a)


# Ported from pytorch/vision test/test_ops.py, class TestDropBlock.test_is_leaf_node
# (torchvision's get_graph_node_names replaced by torch.fx.symbolic_trace: the function
# is one leaf node of the graph in training and in evaluation).
@pytest.mark.parametrize("dim", (2, 3))
@pytest.mark.parametrize("p", [0, 1])
@pytest.mark.parametrize("block_size", [5, 7])
@pytest.mark.parametrize("inplace", [True, False])
def test_is_leaf_node(dim, p, block_size, inplace):
    obj = DropBlock2d(p, block_size, inplace) if dim == 2 else DropBlock3d(p, block_size, inplace)
    op_obj = _DropBlockWrapper(obj)
    for training in (True, False):
        op_obj.train(training)
        graph = torch.fx.symbolic_trace(op_obj).graph
        names = [n.name for n in graph.nodes if n.op not in ("output",)]
        assert len(names) == 1 + op_obj.n_inputs
        calls = [n for n in graph.nodes if n.op == "call_function"]
        assert len(calls) == 1
        assert calls[0].target.__name__ == ("drop_block2d" if dim == 2 else "drop_block3d")


# -- pydropout's own ------------------------------------------------------------------------

_TORCH_DTYPES = [torch.float16, torch.float32, torch.float64] + (
    [torch.bfloat16] if BFLOAT16 is not None else []
)


def _np(t):
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(BFLOAT16)
    return t.numpy()


@pytest.mark.parametrize("dtype", _TORCH_DTYPES, ids=str)
@pytest.mark.parametrize("dim", [2, 3])
def test_same_bits_as_the_numpy_function(dtype, dim):
    shape = (2, 3, 9, 10) if dim == 2 else (2, 3, 5, 6, 7)
    x = torch.randn(shape).to(dtype)
    f, fnp = (
        (drop_block2d, pydropout.drop_block2d)
        if dim == 2
        else (drop_block3d, pydropout.drop_block3d)
    )
    y = f(x, 0.3, 3, generator=pydropout.Generator(4))
    expected = fnp(_np(x), 0.3, 3, generator=pydropout.Generator(4))
    assert y.dtype == dtype and y.shape == x.shape
    assert_same_bits(_np(y), expected)


def test_gradients_follow_the_forward_mask_and_scale():
    x = torch.randn(2, 3, 12, 12, dtype=torch.float64, requires_grad=True)
    y = drop_block2d(x, 0.3, 3, generator=pydropout.Generator(7))
    grad = torch.randn_like(y)
    y.backward(grad)
    _, mask = pydropout.drop_block2d_with_mask(
        x.detach().numpy(), 0.3, 3, generator=pydropout.Generator(7)
    )
    assert_same_bits(x.grad.numpy(), pydropout.drop_block_backward(grad.numpy(), mask))
    f = lambda t: drop_block2d(t, 0.3, 3, generator=pydropout.Generator(7))  # noqa: E731
    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(f, (x,))
    x3 = torch.randn(1, 2, 5, 5, 5, dtype=torch.float64, requires_grad=True)
    f3 = lambda t: drop_block3d(t, 0.4, 2, generator=pydropout.Generator(7))  # noqa: E731
    assert torch.autograd.gradcheck(f3, (x3,))


def test_eval_returns_the_input_and_inplace_writes_it():
    x = torch.randn(2, 3, 8, 8)
    layer = DropBlock2d(0.5, 3).eval()
    assert layer(x) is x
    assert drop_block3d(torch.randn(1, 1, 4, 4, 4), 0.5, 3, training=False).shape == (1, 1, 4, 4, 4)
    expected = pydropout.drop_block2d(x.numpy(), 0.5, 3, generator=pydropout.Generator(2))
    y = drop_block2d(x, 0.5, 3, inplace=True, generator=pydropout.Generator(2))
    assert y is x
    assert_same_bits(x.numpy(), expected)
    strided = torch.randn(2, 3, 8, 16)[..., ::2]
    expected = pydropout.drop_block2d(strided.numpy(), 0.5, 3, generator=pydropout.Generator(2))
    drop_block2d(strided, 0.5, 3, inplace=True, generator=pydropout.Generator(2))
    assert_same_bits(np.ascontiguousarray(strided.numpy()), expected)


def test_errors():
    x = torch.ones(2, 3, 8, 8)
    with pytest.raises(ValueError, match="block_size"):
        drop_block2d(x, 0.5, 9)
    with pytest.raises(ValueError, match="p"):
        drop_block2d(x, 1.5, 3)
    with pytest.raises(ValueError, match="4-dimensional"):
        drop_block2d(torch.ones(3, 8, 8), 0.5, 3)
    with pytest.raises(TypeError):
        drop_block2d(torch.ones(2, 3, 8, 8, dtype=torch.int32), 0.5, 3)
    with pytest.raises(ValueError, match="eps"):
        DropBlock2d(0.5, 3, eps=-1.0)(x)


@pytest.mark.parametrize("dim,block_size", [(2, 3), (2, 5), (3, 3)])
def test_torchvisions_composition_from_our_seeds_gives_our_blocks(dim, block_size):
    """torchvision/ops/drop_block.py's composition (pad, max_pool, 1 - noise), fed the
    seeds our words make, drops exactly our blocks for odd block_size; its float sum is
    our exact count here (float64, small)."""
    shape = (2, 3, 11, 12) if dim == 2 else (2, 2, 7, 8, 9)
    x = torch.randn(shape, dtype=torch.float64)
    b = block_size
    spatial = shape[2:]
    gamma = 0.3 * math.prod(spatial) / (b**dim * math.prod(s - b + 1 for s in spatial))
    seed_shape = shape[:2] + tuple(s - b + 1 for s in spatial)
    words = stream_words(3, 0, 0, math.prod(seed_shape)).reshape(seed_shape)
    noise = torch.from_numpy((words < np.uint32(math.floor(gamma * 2**32))).astype(np.float64))
    noise = F.pad(noise, [b // 2] * (2 * dim), value=0)
    pool = F.max_pool2d if dim == 2 else F.max_pool3d
    noise = pool(noise, stride=(1,) * dim, kernel_size=(b,) * dim, padding=b // 2)
    noise = 1 - noise
    scale = noise.numel() / (1e-6 + noise.sum())
    theirs = x * noise * scale
    f = drop_block2d if dim == 2 else drop_block3d
    ours = f(x, 0.3, b, generator=pydropout.Generator(3))
    assert torch.equal(ours != 0, noise != 0)
    torch.testing.assert_close(ours, theirs, rtol=1e-15, atol=0)
    _, mask = (pydropout.drop_block2d_with_mask if dim == 2 else pydropout.drop_block3d_with_mask)(
        x.numpy(), 0.3, b, generator=pydropout.Generator(3)
    )
    assert np.array_equal(unpack_mask(mask, x.numel()), noise.numpy().reshape(-1) != 0)
