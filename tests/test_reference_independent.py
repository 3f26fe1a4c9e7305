"""The reference's own arithmetic (pydropout/reference/), checked against what it must equal.

(a) every kernel of the NumPy backend against the compiled kernels, bit for bit, over the
    dtypes, small sizes and p values (skipped when the compiled core cannot be imported);
    the reference's Generator against the compiled one, errors and messages included;
(b) docs/CONTRACT.md section 2's test vectors, in a subprocess where pydropout._core cannot be
    imported;
(c) no module under pydropout/reference/ (nor any pydropout module it imports) names
    pydropout._core.
"""

from __future__ import annotations

import ast
import collections
import copy
import math
import pickle
import subprocess
import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest

from pydropout.reference import _arith, _bits, _philox
from pydropout.reference._backend import NumpyBackend
from pydropout.reference._generator import Generator as RefGenerator

try:
    from pydropout import _core as core
except ImportError:  # no compiled core: only (b) and (c) run
    core = None
try:
    import ml_dtypes
except ImportError:
    ml_dtypes = None

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "pydropout"
REF_DIR = PKG / "reference"
needs_core = pytest.mark.skipif(core is None, reason="pydropout._core cannot be imported")

DTYPES = [np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)]
if ml_dtypes is not None:
    DTYPES.insert(1, np.dtype(ml_dtypes.bfloat16))
CODES = {"float16": 0, "bfloat16": 1, "float32": 2, "float64": 3}
SIZES = (0, 1, 7, 8, 9, 63, 64, 65, 1000)
PS = (0.0, 0.3, 0.5, 1.0)
# (seed, stream, offset): the SPEC seed, a misaligned offset, the block counter's carry
# into its high word, high streams, the end of the stream
STATES = (
    (0x0123456789ABCDEF, 0, 0),
    (1, 5, 3),
    (7, 2**63 + 3, 4 * 2**32 - 6),
    (2**64 - 1, 2**32, 2**64 - 2000),
)
BE = NumpyBackend()


def same_bits(a, b, what=""):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (
        f"{what}: {a.dtype}{a.shape} != {b.dtype}{b.shape}"
    )
    if a.tobytes() != b.tobytes():
        u = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize]
        bad = np.flatnonzero(a.reshape(-1).view(u) != b.reshape(-1).view(u))
        raise AssertionError(
            f"{what}: {bad.size} of {a.size} differ, first at {bad[0]}: "
            f"{a.reshape(-1)[bad[0]]!r} != {b.reshape(-1)[bad[0]]!r}"
        )


def make_x(n, dtype, seed=0):
    """Normal values with NaN payloads, +-inf, +-0.0, subnormals and the largest values."""
    x = (np.random.default_rng(seed).standard_normal(n) * 3).astype(dtype)
    info = ml_dtypes.finfo(dtype) if dtype.name == "bfloat16" else np.finfo(dtype)
    special = np.array(
        [np.inf, -np.inf, -0.0, float(info.max), -float(info.max), float(info.smallest_subnormal)],
        np.float64,
    ).astype(dtype)
    u = {2: np.uint16, 4: np.uint32, 8: np.uint64}[dtype.itemsize]
    nan = np.array([np.nan, np.nan], dtype)
    nan.view(u)[1] ^= u(1)  # a second payload
    special = np.concatenate([special, nan])
    at = np.arange(0, n, 3)[: special.size]
    x[at] = special[: at.size]
    return x


def params(p, dtype, apply):
    drop_all = p == 1.0
    t = 0 if drop_all else BE.threshold(p)
    return t, drop_all, (BE.scale(p, dtype) if apply else 1.0)


def mbuf(n):
    return np.empty((n + 7) // 8, np.uint8)


def rand_mask(n, seed=1):
    return _bits.pack(np.random.default_rng(seed).random(n) < 0.6)


# -- (a) the kernels against the compiled ones ------------------------------------------------


@needs_core
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_forward_mask_apply_match_core(dtype):
    code = CODES[dtype.name]
    for n in SIZES:
        x = make_x(n, dtype, n)
        for (seed, stream, offset), p, apply in zip(
            STATES * 8, [p for p in PS for _ in (0, 1)] * 4, [True, False] * 16
        ):
            t, drop_all, s = params(p, dtype, apply)
            args = (t, drop_all, s, apply, seed, stream, offset)
            y0, y1 = np.empty_like(x), np.empty_like(x)
            m0, m1 = mbuf(n), mbuf(n)
            core.forward(x, y0, m0, code, *args)
            BE.forward(x, y1, m1, *args)
            what = f"forward {dtype} n={n} p={p} apply={apply} state={(seed, stream, offset)}"
            same_bits(y1, y0, what)
            same_bits(m1, m0, what + " mask")
            BE.forward(x, y1, None, *args)  # no mask
            same_bits(y1, y0, what + " (no mask)")
            core.mask(m0, n, t, drop_all, seed, stream, offset)
            BE.mask(m1, n, t, drop_all, seed, stream, offset)
            same_bits(m1, m0, what + " mask kernel")
            mask = rand_mask(n, n)
            for mk in (mask, None):
                core.apply(x, y0, mk, code, s, apply)
                BE.apply(x, y1, mk, s, apply)
                same_bits(y1, y0, f"apply {dtype} n={n} p={p} apply={apply} mask={mk is not None}")
        # in place: y is x
        x0, x1 = x.copy(), x.copy()
        t, drop_all, s = params(0.3, dtype, True)
        core.forward(x0, x0, None, code, t, drop_all, s, True, 9, 0, 1)
        BE.forward(x1, x1, None, t, drop_all, s, True, 9, 0, 1)
        same_bits(x1, x0, f"forward in place {dtype} n={n}")


@needs_core
def test_chunk_boundaries_match_core():
    n = 2 * _philox.CHUNK + 13
    x = make_x(n, np.dtype(np.float32))
    t, _, s = params(0.3, x.dtype, True)
    y0, y1 = np.empty_like(x), np.empty_like(x)
    m0, m1 = mbuf(n), mbuf(n)
    core.forward(x, y0, m0, 2, t, False, s, True, 3, 4, 2**40 + 1)
    BE.forward(x, y1, m1, t, False, s, True, 3, 4, 2**40 + 1)
    same_bits(y1, y0, "forward")
    same_bits(m1, m0, "mask")
    core.gaussian(x, y0, 2, 0.5, 3, 4, 5)
    BE.gaussian(x, y1, 0.5, 3, 4, 5)
    same_bits(y1, y0, "gaussian")


@needs_core
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_alpha_apply_and_gaussian_match_core(dtype):
    code = CODES[dtype.name]
    for n in SIZES:
        x = make_x(n, dtype, n + 1)
        y0, y1 = np.empty_like(x), np.empty_like(x)
        for p in PS:
            a, b, c = BE.alpha_constants(p, dtype)
            for mk in (rand_mask(n, n), None):
                core.alpha_apply(x, y0, mk, code, a, b, c)
                BE.alpha_apply(x, y1, mk, a, b, c)
                same_bits(y1, y0, f"alpha_apply {dtype} n={n} p={p} mask={mk is not None}")
        for p, (seed, stream, offset) in zip((0.0, 0.3, 0.5, 0.9), STATES):
            sigma = BE.gaussian_sigma(p)
            core.gaussian(x, y0, code, sigma, seed, stream, offset)
            BE.gaussian(x, y1, sigma, seed, stream, offset)
            same_bits(y1, y0, f"gaussian {dtype} n={n} p={p}")


@needs_core
def test_philox_and_normal_match_core():
    rng = np.random.default_rng(5)
    ctr = rng.integers(0, 2**32, (50, 4), dtype=np.uint64)
    key = rng.integers(0, 2**32, (50, 2), dtype=np.uint64)
    ours = _philox.philox4x32_10(ctr, key)
    for i in range(50):
        assert ours[i].tolist() == core.philox4x32(ctr[i].tolist(), key[i].tolist())
    edges = [0, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**32 - 2]
    split = [int(2**31 + s * 0.425 * 2**32) + d for s in (-1, 1) for d in range(-3, 4)]
    words = np.concatenate(
        [
            np.array(edges + split, np.uint32),
            rng.integers(0, 2**32, 1 << 16, dtype=np.uint64).astype(np.uint32),
        ]
    )
    same_bits(_arith.normal_from_words(words), core.normal_from_words(words), "normal_from_words")
    with pytest.raises(TypeError, match="words must be a numpy.uint32 array"):
        _arith.normal_from_words(np.zeros(3, np.int64))


# blocks: (full_shape, origin, block shape)
# fmt: off
BLOCKS = [((), (), ()), ((10,), (3,), (5,)), ((4, 6), (1, 0), (2, 6)), ((4, 6), (1, 2), (3, 3)),
          ((3, 4, 5), (1, 1, 2), (2, 3, 3)), ((2, 1, 9), (1, 0, 0), (1, 1, 9)),
          ((5, 7, 3), (0, 2, 0), (5, 0, 3)), ((6, 40, 33), (2, 3, 1), (3, 37, 31)),
          ((1, 2**40), (0, 2**40 - 9), (1, 9))]
# fmt: on


@needs_core
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_blocks_match_core(dtype):
    code = CODES[dtype.name]
    for full, origin, shape in BLOCKS:
        n = math.prod(shape)
        x = make_x(n, dtype, 3).reshape(shape)
        sl = tuple(slice(o, o + b) for o, b in zip(origin, shape))
        strides = _bits.c_strides(full)
        for p, (seed, stream, offset) in zip(PS, STATES):
            if offset + math.prod(full) > 2**64:
                offset = 2**64 - math.prod(full)
            t, drop_all, s = params(p, dtype, True)
            y, m, m2 = np.empty_like(x), mbuf(n), mbuf(n)
            BE.block_forward(x, y, m, t, drop_all, s, True, full, origin, seed, stream, offset)
            BE.block_mask(m2, t, drop_all, shape, full, origin, seed, stream, offset)
            same_bits(m2, m, f"block_mask {full} {origin} {shape}")
            what = f"block {dtype} {full} {origin} {shape} p={p}"
            if math.prod(full) <= 10**6:  # the whole array, dropped at once, then cut
                xf = np.zeros(full, dtype)
                xf[sl] = x
                yf, mf = np.empty_like(xf), mbuf(xf.size)
                core.forward(xf, yf, mf, code, t, drop_all, s, True, seed, stream, offset)
                same_bits(y, yf[sl], what)
                bits = np.unpackbits(mf, count=xf.size, bitorder="little").reshape(full)[sl]
                same_bits(m, _bits.pack(bits), what + " mask")
            if n and shape and not drop_all and t > 0:  # the runs kernels, a run per row
                rows = np.array(
                    [
                        offset + sum((o + i) * st for o, i, st in zip(origin, idx + (0,), strides))
                        for idx in np.ndindex(*shape[:-1])
                    ],
                    np.uint64,
                )
                y0, m0 = np.empty_like(x), np.empty_like(m)
                core.forward_runs(x, y0, m0, code, t, s, True, seed, stream, rows, shape[-1])
                same_bits(y, y0, what + " forward_runs")
                same_bits(m, m0, what + " forward_runs mask")
                core.mask_runs(m0, t, seed, stream, rows, shape[-1])
                same_bits(m, m0, what + " mask_runs")


@needs_core
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_scalars_and_broadcast_match_compiled_api(dtype):
    import pydropout

    x = make_x(1000, dtype, 4)
    for p in PS:
        # scale: the compiled fast path rounds dtype(1 / (1 - p)) in C++ (16/32/64-bit floats)
        if dtype.name != "bfloat16":
            y0 = core.dropout_fast(x, p, core.Generator(11))
            t, drop_all, s = params(p, dtype, True)
            y1 = np.empty_like(x)
            BE.forward(x, y1, None, t, drop_all, s, True, 11, 0, 0)
            same_bits(y1, y0, f"scale {dtype} p={p}")
        y0 = pydropout.dropout(x, p, training=False, mode="downscale_in_infer")
        same_bits(BE.multiply(x, BE.eval_factor(p, dtype), None), y0, f"eval factor {dtype} p={p}")
        out = np.empty_like(x)
        assert BE.multiply(x, BE.eval_factor(p, dtype), out) is out
        same_bits(out, y0, "multiply out=")
        # alpha constants, through the compiled alpha dropout
        y0, m0 = pydropout.alpha_dropout_with_mask(x, p, generator=pydropout.Generator(12))
        y1 = np.empty_like(x)
        if p == 0.0:
            BE.apply(x, y1, None, 1.0, False)
        else:
            BE.alpha_apply(x, y1, m0, *BE.alpha_constants(p, dtype))
        same_bits(y1, y0, f"alpha constants {dtype} p={p}")
        # a noise shape: the mask over (4, 1, 5) broadcast to (4, 50, 5)
        xs = x[:1000].reshape(4, 50, 5)
        y0, m0 = pydropout.dropout_with_mask(
            xs, p, noise_shape=(4, 1, 5), generator=pydropout.Generator(13)
        )
        m1 = np.empty(3, np.uint8)
        t, drop_all, s = params(p, dtype, True)
        BE.mask(m1, 20, t, drop_all, 13, 0, 0)
        same_bits(m1, m0, "noise mask")
        y1 = np.empty_like(xs)
        BE.apply(xs, y1, BE.broadcast_mask(m1, (4, 1, 5), xs.shape), s, not drop_all)
        same_bits(y1, y0, f"broadcast mask {dtype} p={p}")


@needs_core
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_constants_match_compiled_api(dtype):
    """The scale, evaluation factor and alpha constants as the compiled path computes them,
    read off its outputs over ones and zeros, for many p."""
    import pydropout

    ps = [1e-10, 0.1, 1 / 3, 2 / 3, 0.9, 0.999, 1 - 1e-10, *np.random.default_rng(8).random(60)]
    ones, zeros = np.ones(256, dtype), np.zeros(256, dtype)
    for p in map(float, ps):
        if dtype.name != "bfloat16":  # the fast path rounds dtype(1 / (1 - p)) in C++
            y = core.dropout_fast(ones, p, core.Generator(3))
            kept = y[y != 0]
            assert set(kept.tolist()) <= {BE.scale(p, dtype)}, (dtype, p)
        y = pydropout.dropout(ones, p, training=False, mode="downscale_in_infer")
        assert float(y[0]) == BE.eval_factor(p, dtype), (dtype, p)
        a, b, c = BE.alpha_constants(p, dtype)
        y, m = pydropout.alpha_dropout_with_mask(zeros, p, generator=pydropout.Generator(4))
        bits = np.unpackbits(m, count=256, bitorder="little").astype(bool)
        assert set(y[bits].tolist()) <= {b} and set(y[~bits].tolist()) <= {c}, (dtype, p)
        g = pydropout.alpha_dropout_backward(ones, m, p)
        assert set(g[bits].tolist()) <= {a}, (dtype, p)


def test_threshold_and_contiguous():
    protocol = (
        "threshold scale eval_factor alpha_constants gaussian_sigma contiguous empty multiply "
        "forward mask apply broadcast_mask alpha_apply gaussian block_forward block_mask"
    )
    assert all(callable(getattr(BE, name)) for name in protocol.split())
    assert BE.threshold(0.3) == 1288490188 and BE.threshold(0.5) == 2**31 and BE.threshold(0.0) == 0
    assert BE.scale(1.0, np.float32) == 0.0 and BE.scale(0.5, np.float16) == 2.0
    a = np.arange(12.0).reshape(3, 4)
    assert BE.contiguous(a) is a
    for v in (a.T, a[:, ::2], a.astype(">f8")):
        c = BE.contiguous(v)
        assert c.flags.c_contiguous and c.dtype.isnative and np.array_equal(c, v)
    assert BE.empty((2, 3), np.float32, a).shape == (2, 3)
    assert BE.default_generator is not None


# -- (a) the Generator against the compiled one ------------------------------------------------

# fmt: off
BAD_INTS = [0, 1, 2**64 - 1, 2**64, -1, 1.0, True, np.bool_(True), np.uint64(5), np.int8(3),
            "1", np.float32(1), None]
STATES_IN = [(1, 2, 3), [1, 2, 3], range(3), np.array([4, 5, 6], np.uint64), (1, 2, 2**64),
             (1, 2, 2**64 + 1), (1.0, 2, 3), (1, True, 3), {"seed": 1, "stream": 2, "offset": 3},
             collections.OrderedDict(seed=1, stream=2, offset=2**64), {"seed": 1},
             {"seed": 1, "stream": 2}, types.MappingProxyType({"seed": 1, "stream": 2}),
             {1, 2, 3}, "abc", b"abc", bytearray(b"abc"), (1, 2), None, 5]
# fmt: on


def outcome(fn, *args, **kwargs):
    try:
        return ("ok", fn(*args, **kwargs))
    except Exception as exc:
        return (type(exc), str(exc))


def scenario(G):
    """Everything the state API does, as comparable outcomes."""
    out = []
    for v in BAD_INTS:
        if v is not None:  # (None seeds from entropy)
            out.append(outcome(lambda a: G(a).get_state(), v))
        out.append(outcome(lambda **k: G(1, **k).get_state(), stream=v))
        out.append(outcome(lambda **k: G(1, **k).get_state(), offset=v))
        for attr in ("seed", "stream", "offset"):
            g = G(7, stream=8, offset=9)
            out.append((outcome(setattr, g, attr, v), g.get_state()))
        g = G(7, stream=8, offset=9)
        out.append((outcome(lambda h, a: h.manual_seed(a) is h, g, v), g.get_state()))
        out.append((outcome(g._reserve, v), g.get_state()))
    for s in STATES_IN:
        g = G(7, stream=8, offset=9)
        out.append((outcome(g.set_state, s), g.get_state(), repr(g)))
    g = G(3, stream=4, offset=2**64 - 10)
    for n in (4, 7, 6, 0, 1, 0):
        out.append((outcome(g._reserve, n), g.get_state(), g.offset, repr(g)))
    out.append(g.manual_seed(5) is g)
    for fn in (copy.copy, copy.deepcopy, lambda h: pickle.loads(pickle.dumps(h))):
        h = fn(g)
        out.append((type(h) is G, h is g, h.get_state()))
        h.manual_seed(1)
        out.append((g.get_state(), h.get_state()))
    out.append(outcome(G, 1, 2)[0])
    out.append(outcome(setattr, G(1), "foo", 1)[0])
    out.append(outcome(delattr, G(1), "seed")[0])
    out.append(G(5).get_state() == G(seed=5, stream=0, offset=0).get_state())
    out.append((G().seed != G().seed, type(G().seed), G().offset))
    return out


@needs_core
def test_generator_matches_core():
    ours, theirs = scenario(RefGenerator), scenario(core.Generator)
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a == b, f"step {i}: {a!r} != {b!r}"


def test_generator_threads_reserve_disjoint_words():
    g = RefGenerator(1)
    got = []

    def work():
        got.extend(g._reserve(3)[2] for _ in range(2000))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert g.offset == 8 * 2000 * 3 and sorted(got) == list(range(0, 48000, 3))


# -- (b) docs/CONTRACT.md section 2's vectors without the compiled core ---------------------------------

SPEC_SCRIPT = r"""
import importlib, sys, types
import numpy as np
root, how = sys.argv[1], sys.argv[2]
sys.modules["pydropout._core"] = None  # importing it now raises ImportError,
sys.modules["pydropout._load"] = None  # and so does loading an installed build in its place
if how == "package":
    try:
        import pydropout, pydropout.reference
    except ImportError as exc:
        sys.exit(print("EAGER", exc))
else:  # by path: packages without their __init__, so only pydropout/reference/*.py run
    for name in ("pydropout", "pydropout.reference"):
        sys.modules[name] = types.ModuleType(name)
        sys.modules[name].__path__ = [root + "/" + name.replace(".", "/")]
P, A, G, B = (importlib.import_module("pydropout.reference." + m)
              for m in ("_philox", "_arith", "_generator", "_backend"))
hexs = lambda words: " ".join(f"{int(w):08x}" for w in words)
S, M = 0x0123456789ABCDEF, 2**32 - 1
for ctr, key, want in [((0, 0, 0, 0), (0, 0), "6627e8d5 e169c58d bc57ac4c 9b00dbd8"),
                       ((M,) * 4, (M, M), "408f276d 41c83b0e a20bc7c6 6d5451fd"),
                       ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
                        "d16cfe09 94fdcceb 5001e420 24126ea1")]:
    assert hexs(P.philox4x32_10(ctr, key)) == want, (ctr, key)
for stream, offset, n, want in [
        (0, 0, 8, "b850222e c58cb04b 14a7a020 7a84fff9 adca1466 523e0d85 65401425 b299da3f"),
        (0, 6, 4, "65401425 b299da3f f7ce299f 823ccb40"),
        (5, 0, 4, "b341ed12 7899c9cc 8d35f144 68eba6fb"),
        (0, 4 * 2**32 - 2, 4, "64c992ad 325045ac d9412d6a 59dd3f68")]:
    assert hexs(P.stream_words(S, stream, offset, n)) == want, (stream, offset)
be, gen = B.NumpyBackend(), G.Generator(S)
assert be.threshold(0.3) == 1288490188
mask = np.empty(3, np.uint8)
be.mask(mask, 20, be.threshold(0.3), False, *gen._reserve(20))
assert mask.tobytes().hex(" ") == "fb b7 0f" and gen.offset == 20, mask
assert np.array_equal(np.packbits(A.keep_mask(20, 0.3, S), bitorder="little"), mask)
x, y = np.arange(1, 9, dtype=np.float32), np.empty(8, np.float32)
be.forward(x, y, None, be.threshold(0.5), False, be.scale(0.5, x.dtype), True, S, 0, 0)
assert y.tolist() == [2, 4, 0, 0, 10, 0, 0, 16], y
if how == "package" and hasattr(pydropout.reference, "dropout"):  # the public reference too
    y = pydropout.reference.dropout(x, 0.5, generator=pydropout.reference.Generator(S))
    assert y.tolist() == [2, 4, 0, 0, 10, 0, 0, 16], y
assert sys.modules["pydropout._core"] is None, "pydropout._core was loaded"
print("OK", sorted(m for m, v in sys.modules.items() if m.startswith("pydropout") and v))
"""


@pytest.mark.parametrize("how", ["path", "package"])
def test_spec_vectors_without_core(how):
    """``path`` loads only pydropout/reference/*.py; ``package`` imports pydropout itself,
    which works once pydropout/__init__.py no longer loads the compiled core eagerly."""
    res = subprocess.run(
        [sys.executable, "-c", SPEC_SCRIPT, str(ROOT), how],
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    if res.stdout.startswith("EAGER"):
        pytest.skip(f"pydropout/__init__.py needs the compiled core: {res.stdout.strip()}")
    assert res.stdout.startswith("OK"), res.stdout + res.stderr


# -- (c) no import of the compiled core ---------------------------------------------------------


def _imported(path: Path):
    """Absolute names a file imports anywhere in it (relative imports resolved), and the
    pydropout files they are."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: 1 - node.level or None] + [base]).strip(".")
            names.update([base] + [f"{base}.{a.name}" for a in node.names])
        elif isinstance(node, ast.Constant) and node.value == "pydropout._core":
            names.add(node.value)  # importlib.import_module("pydropout._core") and the like
    files = []
    for name in names:
        parts = name.split(".")
        if parts[0] == "pydropout" and len(parts) > 1:
            for f in (
                PKG.joinpath(*parts[1:], "__init__.py"),
                PKG.joinpath(*parts[1:]).with_suffix(".py"),
            ):
                if f.is_file():
                    files.append(f)
                    break
    return names, files


def test_reference_never_imports_core():
    todo, seen = sorted(REF_DIR.glob("*.py")), set()
    assert todo, "pydropout/reference/ has no modules"
    while todo:  # every module of pydropout/reference/ and every pydropout module they import
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            names, files = _imported(path)
            bad = sorted(n for n in names if n.split(".")[-1] == "_core")
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
            todo.extend(files)
