"""DropBlock (docs/CONTRACT.md section 6): parity of the compiled path with the NumPy reference over
dtype x shape x p x block size x SIMD level x threads, the words drawn, whole blocks, the
drop fraction with a stated bound, edge cases, errors and the layers."""

from __future__ import annotations

import importlib
import math
import pickle

import numpy as np
import pytest
from helpers import (
    DTYPES,
    SEED,
    SIMD_LEVELS,
    assert_same_bits,
    forced_simd,
    forced_threads,
    unpack_mask,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pydropout
import pydropout.reference as ref
from pydropout.reference import stream_words

# (shape, block sizes): odd and even b, b = 1, b = the spatial size; a row of more than 64
# elements (several mask words per row), planes of odd sizes (planes that start inside a
# mask byte), a batch large enough for several threads, 3-d
SHAPES_2D = [
    ((2, 3, 11, 13), (1, 2, 3, 4, 7, 11)),
    ((1, 2, 7, 130), (1, 2, 5, 7)),
    ((3, 1, 5, 5), (1, 3, 5)),
    ((4, 16, 40, 40), (3, 7, 8)),
    ((1, 2, 40, 150), (13, 20, 33)),  # large blocks: many doubling steps, words across rows
    ((8, 8, 33, 35), (3, 4)),  # odd planes (8 to a byte-aligned group) over several threads
]
SHAPES_3D = [
    ((2, 2, 5, 9, 70), (1, 2, 3, 5)),
    ((1, 3, 7, 7, 7), (1, 4, 7)),
    ((1, 1, 12, 12, 70), (6, 9)),
]
PS = (0.0, 0.1, 0.5, 1.0)


def _input(shape, dt, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape) * 3
    return x.astype(dt)


def _run(impl, rank, x, p, b, seed=SEED, **kw):
    f = impl.drop_block2d_with_mask if rank == 4 else impl.drop_block3d_with_mask
    g = impl.Generator(seed, stream=3, offset=7)
    y, mask = f(x, p, b, generator=g, **kw)
    return y, mask, g.offset


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("shape,blocks", SHAPES_2D + SHAPES_3D, ids=lambda v: str(v))
def test_parity_with_reference_every_level_and_thread_count(dt, shape, blocks):
    x = _input(shape, dt)
    rank = len(shape)
    for p in PS:
        for b in blocks:
            y_ref, m_ref, off_ref = _run(ref, rank, x, p, b)
            for level in SIMD_LEVELS:
                for n in (1, 3):
                    with forced_simd(level), forced_threads(n):
                        y, m, off = _run(pydropout, rank, x, p, b)
                    what = f"{dt.name} {shape} p={p} b={b} {level} threads={n}"
                    assert_same_bits(m, m_ref, what + " mask")
                    assert_same_bits(y, y_ref, what)
                    assert off == off_ref


@pytest.mark.parametrize("impl", [pydropout, ref], ids=["core", "reference"])
@pytest.mark.parametrize("shape,b", [((2, 3, 11, 13), 3), ((2, 2, 6, 9, 8), 2), ((1, 1, 5, 5), 5)])
def test_seeds_are_the_words_below_the_threshold_and_blocks_their_squares(impl, shape, b):
    """The definition written out: seed array, words offset + k, blocks at the seeds."""
    x = np.ones(shape, np.float64)
    p = 0.3
    rank = len(shape)
    y, mask, offset = _run(impl, rank, x, p, b)
    spatial = shape[2:]
    gamma = p * math.prod(spatial) / (b ** len(spatial) * math.prod(s - b + 1 for s in spatial))
    seed_shape = shape[:2] + tuple(s - b + 1 for s in spatial)
    words = stream_words(SEED, 3, 7, math.prod(seed_shape)).reshape(seed_shape)
    assert offset == 7 + words.size  # exactly the seed array's words
    seeds = words < np.uint32(math.floor(gamma * 2**32))
    dropped = np.zeros(shape, bool)
    for pos in zip(*np.nonzero(seeds)):
        n, c, *at = pos
        dropped[(n, c) + tuple(slice(i, i + b) for i in at)] = True
    assert np.array_equal(unpack_mask(mask, x.size).reshape(shape), ~dropped)
    kept = int((~dropped).sum())
    s = np.float64(x.size / (1e-6 + kept)) if kept else 0.0
    assert np.array_equal(y, np.where(dropped, 0.0, x * s))
    assert not np.signbit(y[dropped]).any()  # dropped elements are +0.0


def _whole_blocks(dropped, b):
    """The dropped set is the union of the b-squares (cubes) that lie inside and are
    wholly dropped: every dropped element is covered by one."""
    spatial = dropped.shape[2:]
    full = np.ones((dropped.shape[0], dropped.shape[1]) + tuple(s - b + 1 for s in spatial), bool)
    for shift in np.ndindex(*(b,) * len(spatial)):
        window = (slice(None), slice(None)) + tuple(
            slice(k, k + n) for k, n in zip(shift, full.shape[2:])
        )
        full &= dropped[window]
    union = np.zeros_like(dropped)
    for shift in np.ndindex(*(b,) * len(spatial)):
        window = (slice(None), slice(None)) + tuple(
            slice(k, k + n) for k, n in zip(shift, full.shape[2:])
        )
        union[window] |= full
    return np.array_equal(union, dropped)


@pytest.mark.parametrize(
    "shape,b",
    [((4, 8, 56, 56), 7), ((4, 8, 33, 30), 4), ((2, 4, 12, 14, 16), 3), ((2, 4, 9, 9, 9), 2)],
)
@pytest.mark.parametrize("p", [0.1, 0.5])
def test_dropped_regions_are_unions_of_whole_blocks_inside_the_array(shape, b, p):
    x = np.ones(shape, np.float32)
    f = pydropout.drop_block2d_with_mask if len(shape) == 4 else pydropout.drop_block3d_with_mask
    _, mask = f(x, p, b, generator=pydropout.Generator(11))
    dropped = ~unpack_mask(mask, x.size).reshape(shape)
    assert dropped.any()
    assert _whole_blocks(dropped, b)


@pytest.mark.parametrize("b", [3, 5, 7])
@pytest.mark.parametrize("p", [0.05, 0.1, 0.2])
def test_drop_fraction_is_near_p_for_odd_block_sizes(b, p):
    """Stated bound. With g = t / 2**32 the seed rate and c(a) the number of seed positions
    whose block covers element a, P(a dropped) = 1 - (1 - g)**c(a), so the expected drop
    fraction E satisfies p - b**2 * gamma * p / 2 - 2**-32 * b**2 <= E <= p (sum of c * gamma
    is p * numel exactly; 1 - (1 - g)**c lies in [c g - c**2 g**2 / 2, c g]); E is computed
    exactly below. Two elements share a seed only within b - 1 of each other on every axis,
    so Var(dropped count) <= numel * (2b - 1)**2 * max P(a dropped) = sigma**2; the measured
    fraction must lie within 8 sigma / numel of E (Chebyshev: failure <= 1/64 for a random
    seed, about 1e-15 under the normal approximation; the seed here is fixed)."""
    shape = (64, 64, 32, 32)  # 4 Mi elements
    h = w = 32
    x = np.ones(shape, np.float32)
    with forced_threads(2):
        _, mask = pydropout.drop_block2d_with_mask(x, p, b, generator=pydropout.Generator(2024))
    frac = 1.0 - np.count_nonzero(unpack_mask(mask, x.size)) / x.size
    gamma = p * h * w / (b * b * (h - b + 1) * (w - b + 1))
    g = math.floor(gamma * 2**32) / 2**32
    cover = np.minimum(np.minimum(np.arange(h) + 1, b), np.minimum(h - np.arange(h), b))
    cover = np.minimum(cover, h - b + 1)
    c = np.outer(cover, cover)  # seed positions covering each element of a plane
    prob = 1.0 - (1.0 - g) ** c
    expected = prob.mean()
    assert p - b * b * gamma * p / 2 - b * b * 2.0**-32 <= expected <= p
    sigma = math.sqrt(x.size * (2 * b - 1) ** 2 * prob.max())
    assert abs(frac - expected) <= 8 * sigma / x.size, (frac, expected, 8 * sigma / x.size)


def test_block_size_one_is_element_dropout_with_a_dropblock_scale():
    x = _input((3, 4, 10, 9), np.float32)
    p = 0.3
    y, mask = pydropout.drop_block2d_with_mask(x, p, 1, generator=pydropout.Generator(5))
    assert_same_bits(mask, pydropout.dropout_mask(x.shape, p, generator=pydropout.Generator(5)))
    kept = int(np.count_nonzero(unpack_mask(mask, x.size)))
    s = np.float32(x.size / (1e-6 + kept))
    assert_same_bits(y, np.where(unpack_mask(mask, x.size).reshape(x.shape), x * s, np.float32(0)))


@pytest.mark.parametrize("impl", [pydropout, ref], ids=["core", "reference"])
def test_block_size_equal_to_the_spatial_size_drops_whole_planes(impl):
    x = _input((8, 16, 6, 6), np.float64)
    g = impl.Generator(9)
    y, mask = impl.drop_block2d_with_mask(x, 0.5, 6, generator=g)
    assert g.offset == 8 * 16  # one seed position per plane, gamma = p
    keep = unpack_mask(mask, x.size).reshape(x.shape)
    per_plane = keep.reshape(8, 16, 36)
    assert (per_plane.all(axis=2) | ~per_plane.any(axis=2)).all()
    words = stream_words(9, 0, 0, 128).reshape(8, 16)
    assert np.array_equal(per_plane[:, :, 0], words >= np.uint32(2**31))
    x3 = _input((2, 3, 4, 4, 4), np.float32)
    _, mask3 = impl.drop_block3d_with_mask(x3, 0.5, 4, generator=impl.Generator(9))
    k3 = unpack_mask(mask3, x3.size).reshape(6, 64)
    assert (k3.all(axis=1) | ~k3.any(axis=1)).all()


@pytest.mark.parametrize("impl", [pydropout, ref], ids=["core", "reference"])
def test_p_zero_keeps_everything_and_p_one_follows_gamma(impl):
    x = _input((2, 3, 8, 8), np.float64)
    y, mask = impl.drop_block2d_with_mask(x, 0.0, 3, generator=impl.Generator(1))
    assert unpack_mask(mask, x.size).all()
    assert_same_bits(y, x * np.float64(x.size / (1e-6 + x.size)))
    # p = 1 with b = 1: gamma = 1, every element dropped, no word compared
    g = impl.Generator(1)
    y, mask = impl.drop_block2d_with_mask(x, 1.0, 1, generator=g)
    assert not unpack_mask(mask, x.size).any() and g.offset == x.size
    assert_same_bits(y, np.zeros_like(x))
    # p = 1 with b = 3 on 8 x 8: gamma = 64 / (9 * 36) < 1, seeds drawn as SPEC says
    y, mask = impl.drop_block2d_with_mask(x, 1.0, 3, generator=impl.Generator(1))
    y_ref, m_ref = ref.drop_block2d_with_mask(x, 1.0, 3, generator=ref.Generator(1))
    assert_same_bits(mask, m_ref)
    assert_same_bits(y, y_ref)


@pytest.mark.parametrize("impl", [pydropout, ref], ids=["core", "reference"])
@pytest.mark.parametrize("shape", [(0, 3, 5, 5), (2, 0, 5, 5), (0, 2, 3, 3, 3)])
def test_empty_batches(impl, shape):
    x = np.ones(shape, np.float32)
    g = impl.Generator(1, offset=5)
    f = impl.drop_block2d if len(shape) == 4 else impl.drop_block3d
    y = f(x, 0.5, 3, generator=g)
    assert y.shape == shape and y.dtype == x.dtype and g.offset == 5


@pytest.mark.parametrize("impl", [pydropout, ref], ids=["core", "reference"])
def test_evaluation_returns_the_input_itself_and_draws_nothing(impl):
    x = _input((2, 3, 8, 8), np.float32)
    g = impl.Generator(1)
    assert impl.drop_block2d(x, 0.5, 3, training=False, generator=g) is x
    x3 = _input((2, 3, 4, 8, 8), np.float32)
    assert impl.drop_block3d(x3, 0.5, 3, False, 1e-6, False, generator=g) is x3
    assert g.offset == 0


@pytest.mark.parametrize("impl", [pydropout, ref], ids=["core", "reference"])
def test_inplace_and_strided_inputs(impl):
    base = _input((2, 3, 9, 20), np.float32)
    x = base[:, :, :, ::2]  # a strided view
    y_ref, _ = ref.drop_block2d_with_mask(
        np.ascontiguousarray(x), 0.4, 3, generator=ref.Generator(4)
    )
    assert_same_bits(impl.drop_block2d(x, 0.4, 3, generator=impl.Generator(4)), y_ref)
    xc = np.ascontiguousarray(x)
    y = impl.drop_block2d(xc, 0.4, 3, inplace=True, generator=impl.Generator(4))
    assert y is xc
    assert_same_bits(xc, y_ref)
    xs = x.copy(order="F")[:, :, :, :]
    y = impl.drop_block2d(xs, 0.4, 3, inplace=True, generator=impl.Generator(4))
    assert y is xs
    assert_same_bits(np.ascontiguousarray(xs), y_ref)


@pytest.mark.parametrize("impl", [pydropout, ref], ids=["core", "reference"])
@pytest.mark.parametrize(
    "kwargs,exc,word",
    [
        (dict(block_size=0), ValueError, "block_size"),
        (dict(block_size=9), ValueError, "block_size"),
        (dict(block_size=2.0), ValueError, "block_size"),
        (dict(block_size=True), ValueError, "block_size"),
        (dict(block_size="3"), ValueError, "block_size"),
        (dict(eps=-1e-3), ValueError, "eps"),
        (dict(eps=float("nan")), ValueError, "eps"),
        (dict(p=1.5), ValueError, "p"),
        (dict(p=float("nan")), ValueError, "p"),
    ],
)
def test_bad_arguments_raise_naming_them_and_change_nothing(impl, kwargs, exc, word):
    x = _input((2, 3, 8, 9), np.float32)
    before = x.copy()
    g = impl.Generator(1, offset=3)
    args = dict(p=0.5, block_size=3, eps=1e-6)
    args.update(kwargs)
    with pytest.raises(exc, match=word):
        impl.drop_block2d(x, args["p"], args["block_size"], True, args["eps"], generator=g)
    with pytest.raises(exc, match=word):
        impl.drop_block2d(x, args["p"], args["block_size"], False, args["eps"], False, generator=g)
    assert g.offset == 3
    assert_same_bits(x, before)


@pytest.mark.parametrize("impl", [pydropout, ref], ids=["core", "reference"])
def test_bad_rank_and_dtype(impl):
    with pytest.raises(ValueError, match="x must be 4-dimensional"):
        impl.drop_block2d(np.ones((3, 8, 8), np.float32), 0.5, 3)
    with pytest.raises(ValueError, match="x must be 5-dimensional"):
        impl.drop_block3d(np.ones((1, 3, 8, 8), np.float32), 0.5, 3)
    with pytest.raises(TypeError):
        impl.drop_block2d(np.ones((1, 3, 8, 8), np.int32), 0.5, 3)
    with pytest.raises(ValueError, match="block_size"):  # a spatial size below b
        impl.drop_block3d(np.ones((1, 1, 2, 8, 8), np.float32), 0.5, 3)


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.name)
def test_backward_matches_the_reference_and_the_forward_scale(dt):
    x = _input((2, 4, 12, 12), dt)
    grad = _input((2, 4, 12, 12), dt, seed=1)
    y, mask = pydropout.drop_block2d_with_mask(x, 0.3, 3, generator=pydropout.Generator(8))
    dx = pydropout.drop_block_backward(grad, mask)
    assert_same_bits(dx, ref.drop_block_backward(grad, mask))
    # the forward applied the same factor: backward of x is the forward's output
    assert_same_bits(pydropout.drop_block_backward(x, mask), y)


def test_layers_forward_backward_train_eval_repr():
    layer = pydropout.DropBlock2d(0.2, 3, generator=pydropout.Generator(6))
    assert repr(layer) == "DropBlock2d(p=0.2, block_size=3, inplace=False, eps=1e-06)"
    x = _input((2, 3, 10, 10), np.float32)
    y = layer(x)
    y_ref, m_ref = ref.drop_block2d_with_mask(x, 0.2, 3, generator=ref.Generator(6))
    assert_same_bits(y, y_ref)
    grad = _input(x.shape, np.float32, seed=3)
    assert_same_bits(layer.backward(grad), ref.drop_block_backward(grad, m_ref))
    assert layer.eval() is layer and not layer.training
    assert layer(x) is x
    layer.train()
    with pytest.raises(ValueError):
        layer.backward(np.ones((1, 3, 10, 10), np.float32))
    layer3 = pydropout.DropBlock3d(0.1, 2, eps=0.0)
    assert repr(layer3) == "DropBlock3d(p=0.1, block_size=2, inplace=False, eps=0.0)"
    x3 = _input((1, 2, 4, 5, 6), np.float64)
    y3 = layer3(x3)
    assert_same_bits(layer3.backward(x3), y3)
    with pytest.raises(ValueError):
        pydropout.DropBlock2d(0.1, 3).backward(x)
    with pytest.raises(ValueError, match="block_size"):
        pydropout.DropBlock2d(0.1, 0)
    with pytest.raises(ValueError, match="p"):
        pydropout.DropBlock2d(1.1, 3)
    inplace = pydropout.DropBlock2d(0.3, 2, inplace=True, generator=pydropout.Generator(1))
    xi = x.copy()
    assert inplace(xi) is xi


@pytest.mark.skipif("avx512" not in SIMD_LEVELS, reason="the CPU has no AVX-512")
@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.name)
def test_parity_under_the_avx512_variants(dt):
    """The AVX-512 tier's IFMA Philox and FP16 arithmetic, each on and off where present
    (test_avx512_variants.py's switches), against the reference."""
    from pydropout import _core

    ifma = (True, False) if _core._avx512ifma() != "unsupported" else (False,)
    fp16 = (True, False) if _core._avx512fp16() != "unsupported" else (False,)
    before = (_core._avx512ifma(), _core._avx512fp16())
    x = _input((2, 8, 30, 70), dt)
    expected = {(p, b): _run(ref, 4, x, p, b) for p in (0.1, 0.6) for b in (2, 5)}
    try:
        for on_ifma in ifma:
            for on_fp16 in fp16:
                if before[0] != "unsupported":
                    _core._set_avx512ifma(on_ifma)
                if before[1] != "unsupported":
                    _core._set_avx512fp16(on_fp16)
                with forced_simd("avx512"), forced_threads(2):
                    for (p, b), (y_ref, m_ref, _) in expected.items():
                        y, m, _ = _run(pydropout, 4, x, p, b)
                        what = f"ifma={on_ifma} fp16={on_fp16} p={p} b={b}"
                        assert_same_bits(m, m_ref, what)
                        assert_same_bits(y, y_ref, what)
    finally:
        if before[0] != "unsupported":
            _core._set_avx512ifma(before[0] == "on")
        if before[1] != "unsupported":
            _core._set_avx512fp16(before[1] == "on")


@st.composite
def _block_case(draw):
    rank = draw(st.sampled_from([4, 5]))
    spatial = [draw(st.integers(1, 9)) for _ in range(rank - 3)] + [draw(st.integers(1, 80))]
    shape = (draw(st.integers(0, 3)), draw(st.integers(0, 3))) + tuple(spatial)
    b = draw(st.integers(1, min(spatial)))
    p = draw(st.sampled_from([0.0, 1e-10, 0.05, 0.3, 0.9, 1.0]))
    dt = draw(st.sampled_from(DTYPES))
    layout = draw(st.sampled_from(["C", "F", "reversed", "strided"]))
    offset = draw(st.sampled_from([0, 1, 3, 2**32 * 4 - 5]))
    return rank, shape, b, p, dt, layout, offset


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_block_case(), level=st.sampled_from(SIMD_LEVELS), n=st.sampled_from([1, 2, 3]))
def test_random_shapes_layouts_and_offsets_match_the_reference(case, level, n):
    rank, shape, b, p, dt, layout, offset = case
    x = _input(shape, dt)
    if layout == "F":
        x = np.asfortranarray(x)
    elif layout == "reversed":
        x = x[..., ::-1]
    elif layout == "strided":
        x = np.repeat(x, 2, axis=-1)[..., ::2]
    f_core = pydropout.drop_block2d_with_mask if rank == 4 else pydropout.drop_block3d_with_mask
    f_ref = ref.drop_block2d_with_mask if rank == 4 else ref.drop_block3d_with_mask
    g_ref = ref.Generator(SEED, stream=1, offset=offset)
    y_ref, m_ref = f_ref(x, p, b, generator=g_ref)
    g = pydropout.Generator(SEED, stream=1, offset=offset)
    with forced_simd(level), forced_threads(n):
        y, m = f_core(x, p, b, generator=g)
    assert_same_bits(m, m_ref, "mask")
    assert_same_bits(y, y_ref, "output")
    assert g.offset == g_ref.offset


@pytest.mark.parametrize("impl", [pydropout, ref], ids=["core", "reference"])
def test_eps_zero_and_infinite(impl):
    """eps >= 0 is all SPEC asks: eps = 0 divides by the exact count, eps = inf scales by 0."""
    x = _input((2, 2, 6, 6), np.float64)
    y, mask = impl.drop_block2d_with_mask(x, 0.4, 2, eps=0.0, generator=impl.Generator(3))
    keep = unpack_mask(mask, x.size).reshape(x.shape)
    assert_same_bits(y, np.where(keep, x * (x.size / keep.sum()), 0.0))
    y = impl.drop_block2d(x, 0.4, 2, eps=float("inf"), generator=impl.Generator(3))
    assert_same_bits(y, np.where(keep, x * 0.0, 0.0))
    # nothing kept with eps = 0: no division by zero, every element +0.0
    y = impl.drop_block2d(x, 1.0, 1, eps=0.0, generator=impl.Generator(3))
    assert_same_bits(y, np.zeros_like(x))


# the state path (not yet among the package's exports): the APIs behind them
_CORE_API = importlib.import_module("pydropout._dropblock_compiled").api
_REF_API = importlib.import_module("pydropout.reference._dropblock").api
_STATE_APIS = pytest.mark.parametrize(
    "api,impl", [(_CORE_API, pydropout), (_REF_API, ref)], ids=["core", "reference"]
)


@_STATE_APIS
@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize(
    "shape,b,p", [((2, 3, 11, 13), 3, 0.3), ((1, 2, 7, 130), 2, 0.5), ((2, 2, 5, 9, 70), 3, 0.2)]
)
def test_with_state_has_the_bits_of_with_mask_and_its_backward_the_mask_backward(
    api, impl, dt, shape, b, p
):
    x = _input(shape, dt)
    grad = _input(shape, dt, seed=1)
    rank = len(shape)
    with_mask = api.drop_block2d_with_mask if rank == 4 else api.drop_block3d_with_mask
    with_state = api.drop_block2d_with_state if rank == 4 else api.drop_block3d_with_state
    g_mask, g_state = (impl.Generator(SEED, stream=3, offset=7) for _ in range(2))
    y_mask, mask = with_mask(x, p, b, generator=g_mask)
    y_state, state = with_state(x, p, b, generator=g_state)
    assert_same_bits(y_state, y_mask, "output")
    assert g_state.offset == g_mask.offset
    assert (state.seed, state.stream, state.offset) == (SEED, 3, 7)
    assert (state.shape, state.p, state.block_size, state.kind) == (shape, p, b, "drop_block")
    assert state.words == g_state.offset - 7
    assert_same_bits(api.drop_block_backward(grad, state), api.drop_block_backward(grad, mask))
    out = np.empty_like(grad)
    assert api.drop_block_backward(grad, state, out=out) is out
    assert_same_bits(out, api.drop_block_backward(grad, mask))
    # the backward draws nothing from the generator
    assert g_state.offset == g_mask.offset


def test_a_state_is_the_same_between_the_core_and_the_reference_and_pickles():
    x = _input((2, 2, 9, 9), np.float32)
    _, s_core = _CORE_API.drop_block2d_with_state(x, 0.4, 3, generator=pydropout.Generator(5))
    _, s_ref = _REF_API.drop_block2d_with_state(x, 0.4, 3, generator=ref.Generator(5))
    assert s_core == s_ref and hash(s_core) == hash(s_ref)
    assert isinstance(s_core, pydropout.DropoutState)
    assert pickle.loads(pickle.dumps(s_core)) == s_core
    assert repr(s_core) == (
        "DropBlockState(seed=5, stream=0, offset=0, shape=(2, 2, 9, 9), p=0.4, block_size=3)"
    )
    with pytest.raises(AttributeError):
        s_core.p = 0.5  # type: ignore[misc]
    # the reference's backward accepts the core's state, and the other way round
    grad = _input(x.shape, np.float32, seed=2)
    assert_same_bits(
        _CORE_API.drop_block_backward(grad, s_ref), _REF_API.drop_block_backward(grad, s_core)
    )


@_STATE_APIS
def test_a_wrong_state_raises_value_error(api, impl):
    x = _input((2, 2, 8, 8), np.float64)
    _, state = api.drop_block2d_with_state(x, 0.3, 3, generator=impl.Generator(1))
    with pytest.raises(ValueError, match="shape"):
        api.drop_block_backward(x[:1], state)
    with pytest.raises(ValueError, match="shape"):
        api.drop_block_backward(x.reshape(2, 2, 64), state)
    dropout_state = pydropout.DropoutState(1, 0, 0, x.shape, 0.3)
    with pytest.raises(ValueError, match="'dropout' forward pass, not 'drop_block'"):
        api.drop_block_backward(x, dropout_state)
    # the other backwards refuse a DropBlock state by its kind
    with pytest.raises(ValueError, match="'drop_block' forward pass, not 'dropout'"):
        impl.dropout_backward(x, state, 0.3)
    with pytest.raises(ValueError, match="'drop_block' forward pass, not 'alpha'"):
        impl.alpha_dropout_backward(x, state, 0.3)


@pytest.mark.parametrize(
    "args,word",
    [
        ((1, 0, 0, (2, 2, 8), 0.3, 3), "shape must be"),
        ((1, 0, 0, (2, 2, 8, 8), 1.5, 3), "p"),
        ((1, 0, 0, (2, 2, 8, 8), 0.3, 9), "block_size"),
        ((1, 0, 0, (2, 2, 8, 8), 0.3, 2.0), "block_size"),
        ((-1, 0, 0, (2, 2, 8, 8), 0.3, 3), "seed"),
        ((1, 0, 2**64 - 10, (2, 2, 8, 8), 0.3, 3), "would pass 2"),
    ],
)
def test_a_dropblock_state_checks_its_fields(args, word):
    cls = type(_CORE_API.drop_block2d_with_state(_input((1, 1, 3, 3), np.float64), 0.1, 1)[1])
    with pytest.raises(ValueError, match=word):
        cls(*args)
