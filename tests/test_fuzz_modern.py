"""Property-based fuzzing of drop_path, zoneout, gaussian_noise, dropout_apply and their layers
(hypothesis, derandomized: the same examples on every run). Any arguments, hostile ones
included: the compiled API and pydropout.reference give the same bits and advance the
generator alike, or both raise the same TypeError/ValueError, with a message, and change
nothing (inputs, out, generator)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from helpers import SIMD_LEVELS, assert_same_bits, forced_simd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pydropout as pd
from pydropout import reference as ref

try:
    import ml_dtypes
except ImportError:  # pragma: no cover
    ml_dtypes = None

SCALE = float(os.environ.get("PYDROPOUT_FUZZ_SCALE", "1"))
#: the public names this file fuzzes (tests/test_fuzz.py checks every public name is fuzzed)
FUZZED = (
    "drop_path",
    "zoneout",
    "gaussian_noise",
    "dropout_apply",
    "DropPath",
    "Zoneout",
    "GaussianNoise",
)


def fuzz_settings(n: int):
    return settings(
        max_examples=max(1, int(n * SCALE)),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


DTYPES = ["<f2", "<f4", "<f8", ">f4", "i4", "?", "c8"] + (["bfloat16"] if ml_dtypes else [])
SHAPES = st.lists(st.integers(0, 7), min_size=0, max_size=4).map(tuple)
PS = st.one_of(
    st.sampled_from([0.0, 1.0, 0.5, 1e-10, 1 - 1e-10, -0.1, 1.5, float("nan"), "0.5", None, True]),
    st.floats(0, 1),
)
STDDEVS = st.one_of(
    st.sampled_from([0.0, 1.0, -1.0, float("nan"), float("inf"), "1", None, False, 1e300]),
    st.floats(0, 10),
)
MODES = st.sampled_from(["row", "batch", "rows", None, 3, "upscale_in_train"])


def make(shape, dtype, seed, layout):
    dt = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
    rng = np.random.default_rng(seed)
    a = np.asarray((rng.standard_normal(shape) * 3).astype(dt))
    if layout == "fortran":
        a = np.asfortranarray(a)
    elif layout == "reversed" and a.ndim:
        a = a[::-1]
    elif layout == "readonly":
        a.flags.writeable = False
    return a


ARRAYS = st.tuples(
    SHAPES,
    st.sampled_from(DTYPES),
    st.integers(0, 9),
    st.sampled_from(["c", "fortran", "reversed", "readonly"]),
)


def outcome(call):
    try:
        return "ok", call()
    except (TypeError, ValueError) as exc:
        assert str(exc)
        return type(exc), None


def compare(name, args, kwargs, offset):
    """Run pydropout.<name> and reference.<name> from one state; check they agree."""
    results = []
    for impl in (pd, ref):
        g = pd.Generator(7, stream=1, offset=offset)
        snapshot = [np.array(a, copy=True) for a in args if isinstance(a, np.ndarray)]
        out = kwargs.get("out")
        out_before = None if out is None else np.array(out, copy=True)
        kind, value = outcome(
            lambda: (
                getattr(impl, name)(*args, generator=g, **kwargs)
                if name != "dropout_apply"
                else getattr(impl, name)(*args, **kwargs)
            )
        )
        if kind != "ok":
            for a, s in zip([a for a in args if isinstance(a, np.ndarray)], snapshot):
                assert_same_bits(a, s)
            assert g.offset == offset
            if out is not None:
                assert_same_bits(out, out_before)
        results.append(
            (kind, value if value is None else np.array(value, copy=True), g.get_state())
        )
        if out is not None:
            np.copyto(out, out_before)  # the same destination for the other implementation
    (k1, v1, s1), (k2, v2, s2) = results
    assert k1 == k2, (k1, k2)
    assert s1 == s2
    if k1 == "ok":
        assert_same_bits(v1, v2)


@fuzz_settings(150)
@given(
    xa=ARRAYS,
    p=PS,
    training=st.sampled_from([True, False, 1, None]),
    mode=MODES,
    scale=st.sampled_from([True, False, 0]),
    use_out=st.booleans(),
    level=st.sampled_from(SIMD_LEVELS),
    offset=st.sampled_from([0, 3, 2**64 - 2]),
)
def test_drop_path(xa, p, training, mode, scale, use_out, level, offset):
    x = make(*xa)
    out = np.full(x.shape, 9, x.dtype) if use_out and x.dtype.kind == "f" else None
    kwargs = {"mode": mode, "scale_by_keep": scale, "out": out}
    with forced_simd(level):
        compare("drop_path", (x, p, training), kwargs, offset)


@fuzz_settings(150)
@given(
    xa=ARRAYS,
    other=st.tuples(st.sampled_from(["same", "shape", "dtype"]), st.integers(0, 9)),
    p=PS,
    training=st.sampled_from([True, False]),
    use_out=st.sampled_from([None, "new", "fresh"]),
    level=st.sampled_from(SIMD_LEVELS),
    offset=st.sampled_from([0, 5, 2**64 - 3]),
)
def test_zoneout(xa, other, p, training, use_out, level, offset):
    prev = make(*xa)
    how, seed = other
    shape = prev.shape if how != "shape" else prev.shape + (2,)
    dtype = xa[1] if how != "dtype" else ("<f8" if xa[1] != "<f8" else "<f4")
    new = make(shape, dtype, seed, "c")
    out = None
    if use_out == "new" and new.dtype.kind == "f":
        out = new
    elif use_out == "fresh" and prev.dtype.kind == "f":
        out = np.full(prev.shape, 9, prev.dtype)
    with forced_simd(level):
        compare("zoneout", (prev, new, p, training), {"out": out}, offset)


@fuzz_settings(150)
@given(
    xa=ARRAYS,
    stddev=STDDEVS,
    training=st.sampled_from([True, False]),
    level=st.sampled_from(SIMD_LEVELS),
    offset=st.sampled_from([0, 1, 2**64 - 1]),
)
def test_gaussian_noise(xa, stddev, training, level, offset):
    with forced_simd(level):
        compare("gaussian_noise", (make(*xa), stddev, training), {}, offset)


@fuzz_settings(150)
@given(
    xa=ARRAYS,
    p=PS,
    nbytes=st.integers(0, 60),
    mode=st.sampled_from(["upscale_in_train", "downscale_in_infer", "row"]),
    seed=st.integers(0, 255),
)
def test_dropout_apply(xa, p, nbytes, mode, seed):
    x = make(*xa)
    mask = np.random.default_rng(seed).integers(0, 256, nbytes).astype(np.uint8)
    compare("dropout_apply", (x, mask, p), {"mode": mode}, 0)


@pytest.mark.parametrize("name", ["DropPath", "Zoneout", "GaussianNoise"])
@fuzz_settings(40)
@given(
    arg=st.one_of(PS, STDDEVS),
    xa=ARRAYS,
    train=st.booleans(),
    extra=st.sampled_from(
        [
            {},
            {"mode": "batch"},
            {"scale_by_keep": False},
            {"save": "state"},
            {"mode": None},
            {"bogus": 1},
        ]
    ),
)
def test_layers_fail_cleanly(name, arg, xa, train, extra):
    """Any constructor arguments and input: the layer works or raises TypeError/ValueError."""
    x = make(*xa)
    try:
        layer = getattr(pd, name)(arg, generator=pd.Generator(1), **extra)
        layer.train(train)
        y = layer(x, x) if name == "Zoneout" else layer(x)
        if train:
            grads = layer.backward(np.ones(np.shape(y), np.float32))
            for g in grads if isinstance(grads, tuple) else (grads,):
                assert np.shape(g) == np.shape(y)
        repr(layer)
    except (TypeError, ValueError) as exc:
        assert str(exc)
