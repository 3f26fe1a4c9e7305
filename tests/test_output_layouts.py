"""the contract's section 5: outputs keep the input's memory layout; masks stay over logical C order."""

import numpy as np
import pytest
from helpers import SEED

import pydropout as pd


def gen(seed=SEED):
    return pd.Generator(seed)


def _layouts(x):
    yield "fortran", np.asfortranarray(x), True
    yield "channels_last", np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2), True
    yield "permuted", np.ascontiguousarray(x.transpose(2, 0, 3, 1)).transpose(1, 3, 0, 2), True
    yield "gapped", np.zeros(x.shape[:2] + (x.shape[2] * 2, x.shape[3]), x.dtype)[:, :, ::2], False
    yield "reversed", x[:, ::-1], False


def _same_order(a, b):
    return (
        np.argsort(a.strides, kind="stable").tolist()
        == np.argsort(b.strides, kind="stable").tolist()
    )


@pytest.mark.parametrize("api", [pd, pd.reference], ids=["core", "reference"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_outputs_keep_the_layout(api, dtype):
    base = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(dtype)
    for name, v, dense in _layouts(base):
        if name == "gapped":
            v[...] = base
        c = np.ascontiguousarray(v)
        cases = [
            (lambda a: api.dropout_with_mask(a, 0.4, generator=api.Generator(SEED)), None),
            (
                lambda a: api.dropout_with_mask(
                    a, 0.4, noise_shape=(2, 3, 1, 1), generator=api.Generator(SEED)
                ),
                (2, 3, 1, 1),
            ),
            (lambda a: api.alpha_dropout_with_mask(a, 0.4, generator=api.Generator(SEED)), 0),
            (
                lambda a: (
                    api.dropout(a, 0.4, mode="downscale_in_infer", generator=api.Generator(SEED)),
                    None,
                ),
                0,
            ),
        ]
        for fn, noise in cases:
            y, m = fn(v)
            yc, mc = fn(c)
            np.testing.assert_array_equal(y, yc)  # same values whatever the layout
            if m is not None:
                np.testing.assert_array_equal(m, mc)  # the mask over logical C order
            if dense:
                assert _same_order(y, v), name
            else:
                assert y.flags.c_contiguous, name
            if noise != 0:
                g = api.dropout_backward(v, m, 0.4, noise_shape=noise)
                np.testing.assert_array_equal(g, api.dropout_backward(c, m, 0.4, noise_shape=noise))
                assert _same_order(g, v) if dense else g.flags.c_contiguous, name


def test_out_and_inplace_keep_their_own_layout():
    x = np.random.default_rng(1).standard_normal((6, 7))
    f = np.asfortranarray(x)
    ref = pd.dropout(x, 0.5, generator=gen())
    out = np.empty((6, 7))  # C order out for an F order input
    assert pd.dropout(f, 0.5, generator=gen(), out=out) is out and out.flags.c_contiguous
    np.testing.assert_array_equal(out, ref)
    out_f = np.empty((6, 7), order="F")
    assert pd.dropout(x, 0.5, generator=gen(), out=out_f) is out_f
    np.testing.assert_array_equal(out_f, ref)
    y = pd.dropout(f, 0.5, generator=gen(), inplace=True)
    assert y is f and f.flags.f_contiguous
    np.testing.assert_array_equal(f, ref)


def test_numpy_multiply_agrees():
    f = np.asfortranarray(np.ones((3, 4)))
    assert pd.dropout(f, 0.5).flags.f_contiguous == np.multiply(f, 2.0).flags.f_contiguous


torch = pytest.importorskip("torch")
pdt = pytest.importorskip("pydropout.torch")


@pytest.mark.parametrize(
    "fmt, shape", [(torch.channels_last, (2, 3, 4, 5)), (torch.channels_last_3d, (2, 3, 2, 4, 5))]
)
def test_torch_memory_formats(fmt, shape):
    x = torch.randn(shape, dtype=torch.float64)
    xf = x.contiguous(memory_format=fmt).requires_grad_()
    for fn in (
        pdt.dropout,
        pdt.dropout2d if len(shape) == 4 else pdt.dropout3d,
        lambda t, p, generator: pdt.alpha_dropout(t, p, True, generator=generator),
    ):
        y = fn(xf, 0.5, generator=gen())
        assert y.is_contiguous(memory_format=fmt)
        assert torch.equal(y, fn(x, 0.5, generator=gen()))
        (gx,) = torch.autograd.grad(y, xf, torch.ones_like(y).contiguous(memory_format=fmt))
        assert gx.is_contiguous(memory_format=fmt)
    perm = x.permute(*range(x.dim() - 1, -1, -1)).contiguous().permute(*range(x.dim() - 1, -1, -1))
    perm = perm.permute(1, 0, *range(2, x.dim()))  # any permutation of a dense tensor
    y = pdt.dropout(perm, 0.5, generator=gen())
    assert y.stride() == perm.stride()
    assert torch.equal(y, pdt.dropout(perm.contiguous(), 0.5, generator=gen()))
    gapped = x[:, :, ::2]
    assert pdt.dropout(gapped, 0.5).is_contiguous()


# shapes large enough for every path of the compiled permuted kernels: the fused tiles
# (channels_last), wide units (Fortran order, a 3-D permutation), rows (the innermost axis
# innermost in memory too), runs that do not begin a byte and runs under 64 elements
_PERMUTED = [
    ((2, 72, 16, 8), (0, 2, 3, 1)),  # channels_last, whole-byte runs
    ((3, 64, 9, 7), (0, 2, 3, 1)),  # channels_last, runs of 63 bits
    ((3, 5, 40, 70), (3, 2, 1, 0)),  # Fortran order, runs of 70 bits
    ((16, 130, 67), (1, 2, 0)),  # a 3-D permutation, units far apart in memory
    ((2, 3, 8, 12, 16), (0, 2, 3, 4, 1)),  # channels_last_3d
    ((6, 4, 96, 24), (0, 2, 1, 3)),  # rows
    ((5, 3, 7, 100), (2, 0, 1, 3)),  # rows of 100 bits
]


@pytest.mark.parametrize("shape, order", _PERMUTED, ids=[str(o) for _, o in _PERMUTED])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_permuted_layouts_match_the_reference(shape, order, dtype):
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    v = np.ascontiguousarray(x.transpose(order)).transpose(np.argsort(order))
    noise = shape[:2] + (1,) * (len(shape) - 2)

    def calls(api, a):
        y, m = api.dropout_with_mask(a, 0.3, generator=api.Generator(SEED))
        yn, mn = api.dropout_with_mask(a, 0.3, noise_shape=noise, generator=api.Generator(SEED))
        ya, ma = api.alpha_dropout_with_mask(a, 0.3, generator=api.Generator(SEED))
        return [
            y,
            m,
            api.dropout(a, 0.3, generator=api.Generator(SEED)),
            api.dropout_backward(a, m, 0.3),
            yn,
            mn,
            api.dropout_backward(a, mn, 0.3, noise_shape=noise),
            ya,
            ma,
            api.alpha_dropout_backward(a, ma, 0.3),
        ]

    core, ref, flat = calls(pd, v), calls(pd.reference, v), calls(pd, x)
    for a, b, c in zip(core, ref, flat):
        bits = np.ascontiguousarray(a).view(np.uint8)  # every bit (+0.0 and -0.0 differ)
        np.testing.assert_array_equal(bits, np.ascontiguousarray(b).view(np.uint8))
        np.testing.assert_array_equal(bits, np.ascontiguousarray(c).view(np.uint8))
        if a.ndim > 1:
            assert _same_order(a, v)


# channels_last and the layouts like it (the logical innermost axis second innermost in
# memory) whose drawing pass runs rows of memory across the logical axis: 16 columns or more
# (exactly 16, a partial last vector, more than one chunk of 256 columns), rows that end a
# block row early, rows a multiple of 4 but not of 8 (a mask then shares bytes between
# columns: a thread takes whole samples), many small samples, and word offsets off a Philox
# block or odd rows (which take the transposing pass)
_COLUMNS = [
    (2, 16, 8, 8),
    (2, 17, 6, 4),
    (1, 40, 5, 7),
    (3, 64, 16, 16),
    (1, 300, 4, 6),
    (3, 24, 7, 7),
    (2, 32, 9, 11),
    (40, 16, 2, 2),
    (3, 24, 14, 14),
    (1, 20, 2, 10),
]


@pytest.mark.parametrize("shape", _COLUMNS, ids=[str(s) for s in _COLUMNS])
@pytest.mark.parametrize("offset", [0, 4, 8, 6])
def test_columns_pass_matches_the_reference(shape, offset, isa, threads):
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    v = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    for api in (pd, pd.reference):
        assert api.Generator(SEED, offset=offset).offset == offset
    for mode in ("upscale_in_train", "downscale_in_infer"):  # scaled, and kept as they are

        def calls(api, a):
            g = api.Generator(SEED, offset=offset)
            y, m = api.dropout_with_mask(a, 0.3, mode=mode, generator=g)
            return [y, m, api.dropout(a, 0.3, mode=mode, generator=g)]

        core, ref = calls(pd, v), calls(pd.reference, v)
        for a, b in zip(core, ref):
            bits = np.ascontiguousarray(a).view(np.uint8)
            np.testing.assert_array_equal(bits, np.ascontiguousarray(b).view(np.uint8))
        assert core[0].strides == v.strides and core[2].strides == v.strides
