"""The errors a newcomer meets first: each mistake that once gave a silent wrong answer or an
unreadable message now raises (or warns) with a message that says what to do.

Layers' backward after an evaluation forward, masks that cannot be the gradient's, bad
environment values, thread counts, torch tensors in the NumPy API, constructor mistakes,
the error types the documentation promises, and the version check of the compiled core.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import DOWN, IMPLS, ROOT, UP, assert_same_bits

import pydropout
import pydropout.reference as ref
from pydropout import _core

LAYERS = [
    lambda **k: pydropout.Dropout(0.25, **k),
    lambda **k: pydropout.Dropout(0.25, mode=DOWN, **k),
    lambda **k: pydropout.Dropout1d(0.25, **k),
    lambda **k: pydropout.Dropout2d(0.25, **k),
    lambda **k: pydropout.Dropout3d(0.25, **k),
    lambda **k: pydropout.AlphaDropout(0.25, **k),
    lambda **k: pydropout.FeatureAlphaDropout(0.25, **k),
    lambda **k: pydropout.GaussianDropout(0.25, **k),
]
LAYER_IDS = ["dropout", "dropout-down", "1d", "2d", "3d", "alpha", "feature-alpha", "gaussian"]
SHAPE = (2, 3, 4, 5, 6)
SHAPES = {pydropout.Dropout1d: (2, 3, 4), pydropout.Dropout2d: (2, 3, 4, 5)}


def _shape(layer):
    return SHAPES.get(type(layer), SHAPE)


def _x(shape=SHAPE, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# -- the backward of the last forward, whatever its mode ------------------------------------


@pytest.mark.parametrize("make", LAYERS, ids=LAYER_IDS)
def test_backward_before_any_forward_is_value_error(make):
    layer = make(generator=pydropout.Generator(1))
    with pytest.raises(ValueError, match=r"backward\(\) needs a forward\(\) first"):
        layer.backward(_x(_shape(layer)))


@pytest.mark.parametrize("make", LAYERS, ids=LAYER_IDS)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_backward_after_an_evaluation_forward(make, dtype):
    gen = pydropout.Generator(3)
    layer = make(generator=gen)
    x, grad = _x(_shape(layer), dtype), _x(_shape(layer), dtype, seed=1)
    layer(x)  # a training forward first: its mask must not leak into the evaluation backward
    layer.eval()
    layer(x)
    state = gen.get_state()
    dx = layer.backward(grad)
    if getattr(layer, "mode", UP) == DOWN:
        assert dx is not grad
        assert_same_bits(dx, grad * np.array(1 - 0.25, dtype))
    else:  # the identity, as the evaluation forward is: grad itself
        assert dx is grad
    assert gen.get_state() == state
    with pytest.raises(ValueError, match=r"grad has shape"):
        layer.backward(grad[:1])
    # and back to training: the backward of that training forward again
    layer.train()
    y = layer(x)
    dx = layer.backward(grad)
    if isinstance(layer, pydropout.GaussianDropout):
        return
    kept = y != 0 if not isinstance(layer, pydropout.AlphaDropout) else dx != 0
    assert np.all(dx[~kept] == 0)


def test_backward_uses_the_mode_of_its_forward():
    gen = pydropout.Generator(5)
    layer = pydropout.Dropout(0.5, generator=gen)
    x = np.ones(64, np.float32)
    y = layer(x)
    layer.mode = DOWN  # changed between forward and backward: the forward's mode counts
    assert_same_bits(layer.backward(x), y)


# -- masks that cannot be the gradient's ----------------------------------------------------


@pytest.mark.parametrize("name", IMPLS)
@pytest.mark.parametrize("n", [5, 13, 1021])  # 1021: the compiled fast path's case
def test_mask_with_padding_bits_set(name, n):
    mod = IMPLS[name]
    grad = _x((n,))
    mask = mod.dropout_mask((n + 8 - n % 8,), 0.5, generator=mod.Generator(4))
    mask[-1] |= 0x80  # a bit past n, whatever the draw gave
    before = mask.copy()
    out = np.full(n, 7.0, np.float32)
    for kwargs in ({}, {"out": out}, {"mode": DOWN}):
        with pytest.raises(ValueError, match=rf"mask has bits set past its {n} elements"):
            mod.dropout_backward(grad, mask, 0.5, **kwargs)
        if "mode" not in kwargs:
            with pytest.raises(ValueError, match=rf"mask has bits set past its {n} elements"):
                mod.alpha_dropout_backward(grad, mask, 0.5, **kwargs)
    assert np.array_equal(mask, before) and np.all(out == 7.0)
    mask[-1] &= (1 << (n % 8)) - 1  # the same bytes without the padding: accepted
    mod.dropout_backward(grad, mask, 0.5)


@pytest.mark.parametrize("name", IMPLS)
def test_mask_of_another_array(name):
    mod = IMPLS[name]
    gen = mod.Generator(11)
    # an 8-element mask for a 5-element gradient: padding bits 5..7 give it away
    _, mask8 = mod.dropout_with_mask(np.ones(8, np.float32), 0.5, generator=gen)
    mask8 = mask8.copy()
    mask8[0] |= 0xE0
    with pytest.raises(ValueError, match="not the mask of a 5-element array"):
        mod.dropout_backward(np.ones(5, np.float32), mask8, 0.5)
    # a mask of another size: its byte count
    with pytest.raises(ValueError, match=r"mask must be 1-D with ceil\(20 / 8\) = 3 bytes"):
        mod.dropout_backward(np.ones(20, np.float32), np.zeros(2, np.uint8), 0.5)
    # the mask of a noise shape, for a gradient without one (or with another)
    _, small = mod.dropout_with_mask(np.ones((4, 3)), 0.5, noise_shape=(4, 1), generator=gen)
    with pytest.raises(ValueError, match="mask must be 1-D"):
        mod.dropout_backward(np.ones((4, 3)), small, 0.5)
    with pytest.raises(ValueError, match=r"^mask (must be 1-D|has bits set past its 3)"):
        mod.dropout_backward(np.ones((4, 3)), small, 0.5, noise_shape=(1, 3))
    # a (2, 4) mask for a (4, 2) gradient has the same 8 bits: only a state knows its shape
    _, state = mod.dropout_with_state(np.ones((2, 4), np.float32), 0.5, generator=gen)
    with pytest.raises(ValueError, match=r"grad has shape \(4, 2\), the forward pass had"):
        mod.dropout_backward(np.ones((4, 2), np.float32), state, 0.5)
    _, state = mod.alpha_dropout_with_state(np.ones((2, 4)), 0.5, generator=gen)
    with pytest.raises(ValueError, match=r"grad has shape \(4, 2\), the forward pass had"):
        mod.alpha_dropout_backward(np.ones((4, 2)), state, 0.5)


# -- environment values, version check: in fresh interpreters -------------------------------


def _python(code, env=None, cwd=None):
    """Run ``code`` in a fresh interpreter that imports this source tree's pydropout."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("PYDROPOUT_")}
    full["PYTHONPATH"] = str(ROOT) + os.pathsep + full.get("PYTHONPATH", "")
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-W", "default", "-c", code],
        env=full,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


PROBE = (
    "import pydropout; pydropout.dropout([1.0], 0.5); "
    "print(pydropout.simd_level(), pydropout.get_num_threads())"
)


def _warnings(stderr):
    return [line for line in stderr.splitlines() if "RuntimeWarning" in line]


def test_bad_environment_values_warn_once(tmp_path):
    levels = pydropout.supported_simd_levels()
    best = levels[-1]
    cases = [
        ({"PYDROPOUT_SIMD": "bogus"}, rf"PYDROPOUT_SIMD='bogus' is not a SIMD level.*'{best}'"),
        ({"PYDROPOUT_SIMD": "AVX2"}, r"PYDROPOUT_SIMD='AVX2' is not a SIMD level"),
        ({"PYDROPOUT_NUM_THREADS": "abc"}, r"PYDROPOUT_NUM_THREADS='abc' is not a positive"),
        ({"PYDROPOUT_NUM_THREADS": "0"}, r"PYDROPOUT_NUM_THREADS='0' is not a positive"),
        ({"PYDROPOUT_NUM_THREADS": "-2"}, r"PYDROPOUT_NUM_THREADS='-2' is not a positive"),
        ({"PYDROPOUT_NUM_THREADS": "3abc"}, r"PYDROPOUT_NUM_THREADS='3abc' is not a positive"),
        ({"PYDROPOUT_NUM_THREADS": "100000"}, r"'100000' is more than \d+.*capped at \d+"),
        ({"PYDROPOUT_AVX512IFMA": "yes"}, r"PYDROPOUT_AVX512IFMA='yes' is neither 0 nor 1"),
        ({"PYDROPOUT_AVX512FP16": "off"}, r"PYDROPOUT_AVX512FP16='off' is neither 0 nor 1"),
    ]
    for level in ("scalar", "neon", "avx2", "avx512"):
        if level not in levels:  # capped: the warning says at which level
            used = [
                lv
                for lv in levels
                if ("scalar", "neon", "avx2", "avx512").index(lv)
                <= ("scalar", "neon", "avx2", "avx512").index(level)
            ][-1]
            cases.append(
                (
                    {"PYDROPOUT_SIMD": level},
                    rf"PYDROPOUT_SIMD='{level}' is not supported by this CPU.*"
                    rf"capped at '{used}'",
                )
            )
    procs = [
        (
            env,
            match,
            subprocess.Popen(
                [sys.executable, "-W", "default", "-c", PROBE],
                cwd=tmp_path,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={
                    **{k: v for k, v in os.environ.items() if not k.startswith("PYDROPOUT_")},
                    "PYTHONPATH": str(ROOT),
                    **env,
                },
            ),
        )
        for env, match in cases
    ]
    import re

    for env, match, proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        found = _warnings(err)
        assert len(found) == 1, (env, err)  # once, though the core is used twice
        assert re.search(match, found[0]), (env, found[0])
        simd, threads = out.split()
        if env.get("PYDROPOUT_NUM_THREADS") == "100000":
            assert int(threads) == pydropout._checks.MAX_THREADS
        if "PYDROPOUT_SIMD" in env:
            assert simd in levels


def test_good_environment_values_are_quiet(tmp_path):
    level = pydropout.supported_simd_levels()[0]
    res = _python(
        PROBE,
        {
            "PYDROPOUT_SIMD": level,
            "PYDROPOUT_NUM_THREADS": " 3",
            "PYDROPOUT_AVX512IFMA": "0",
            "PYDROPOUT_AVX512FP16": "",
        },
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [level, "3"]
    assert not _warnings(res.stderr), res.stderr


VERSION_MISMATCH = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("pydropout._core", {path!r})
core = importlib.util.module_from_spec(spec)
spec.loader.exec_module(core)
core.__version__ = {version!r}
sys.modules["pydropout._core"] = core
import pydropout
try:
    pydropout.dropout
except ImportError as exc:
    print("ImportError:", exc)
else:
    print("loaded")
"""


def test_version_mismatch_is_import_error(tmp_path):
    path = _core.__file__
    res = _python(VERSION_MISMATCH.format(path=path, version="0.0.1+other"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    text = res.stdout
    assert text.startswith(
        f"ImportError: pydropout's Python files are version {pydropout.__version__}"
    ), text
    assert "compiled core is version 0.0.1+other" in text and path in text
    assert "rebuild the core" in text and "pip install" in text
    res = _python(VERSION_MISMATCH.format(path=path, version=pydropout.__version__), cwd=tmp_path)
    assert res.stdout.strip() == "loaded", res.stderr


def test_info_names_both_origins():
    from pydropout import _cli

    lines = _cli.describe(full=True)
    py = [line for line in lines if line.startswith("Python files:")]
    core = [line for line in lines if line.startswith("core module:")]
    assert py and os.path.dirname(os.path.abspath(pydropout.__file__)) in py[0]
    assert core and os.path.abspath(_core.__file__) in core[0]
    assert f"version {_core.__version__}" in core[0]


# -- thread counts --------------------------------------------------------------------------


def test_thread_count_limits():
    top = max(256, 4 * (os.cpu_count() or 1))
    before = pydropout.get_num_threads()
    for bad in (0, -1, top + 1, 10000, 2**31):
        with pytest.raises(ValueError, match=rf"^n must be in \[1, {top}\]"):
            pydropout.set_num_threads(bad)
        assert pydropout.get_num_threads() == before
    assert "max(256, 4 * os.cpu_count())" in pydropout.set_num_threads.__doc__
    pydropout.set_num_threads(top)
    try:
        assert pydropout.get_num_threads() == top
    finally:
        pydropout.set_num_threads(before)


# -- torch tensors in the NumPy API ---------------------------------------------------------


def test_torch_tensors_in_the_numpy_api():
    torch = pytest.importorskip("torch")
    t = torch.arange(1, 9, dtype=torch.float32)
    for mod in IMPLS.values():
        y = mod.dropout(t, 0.5, generator=mod.Generator(2))
        assert isinstance(y, np.ndarray)
        assert_same_bits(y, ref.dropout(t.numpy(), 0.5, generator=ref.Generator(2)))
        same = mod.dropout(t, 0.5, False)  # evaluation returns x, as np.asarray views it
        assert np.shares_memory(same, t.numpy())
        bad = [t.clone().requires_grad_(True), t.to(torch.bfloat16)]
        if torch.cuda.is_available():
            bad.append(t.cuda())
        for b in bad:
            with pytest.raises(TypeError, match=r"^x is a torch\.Tensor.*use pydropout\.torch"):
                mod.dropout(b, 0.5, generator=mod.Generator(2))
        with pytest.raises(TypeError, match=r"^grad is a torch\.Tensor.*pydropout\.torch"):
            mod.dropout_backward(bad[0], np.zeros(1, np.uint8), 0.5)
    with pytest.raises(
        ValueError, match=r"^inplace=True needs x to be a numpy\.ndarray; for torch"
    ):
        pydropout.dropout(t, 0.5, inplace=True)
    with pytest.raises(TypeError, match=r"requires grad.*pydropout\.torch"):
        pydropout.Dropout(0.5)(bad[0])


# -- constructors ---------------------------------------------------------------------------


def test_generator_constructor_mistakes():
    for args, kwargs, match in [
        (
            (0, 1),
            {},
            r"^Generator\(\) takes seed as its only positional argument \(2 given\); "
            r"pass stream= and offset= by keyword",
        ),
        ((0, 1, 2), {}, r"only positional argument \(3 given\)"),
        ((), {"strem": 1}, r"unexpected keyword argument 'strem'"),
        ((1,), {"seed": 2}, r"seed both by position and by keyword"),
        (("7",), {}, r"^seed must be an integer, got str"),
        ((1.0,), {}, r"^seed must be an integer, got float"),
        ((1,), {"stream": 1.5}, r"^stream must be an integer, got float"),
        ((1,), {"offset": None}, r"^offset must be an integer, got NoneType"),
    ]:
        with pytest.raises(TypeError, match=match):
            pydropout.Generator(*args, **kwargs)
    for kwargs, match in [
        ({"seed": -1}, r"^seed must be in \[0, 2\*\*64\)"),
        ({"stream": 2**64}, r"^stream must be in"),
        ({"offset": -5}, r"^offset must be in"),
    ]:
        with pytest.raises(ValueError, match=match):
            pydropout.Generator(**kwargs)
    assert pydropout.Generator(1, stream=2, offset=3).get_state() == (1, 2, 3)


@pytest.mark.parametrize("make", LAYERS, ids=LAYER_IDS)
def test_layer_constructor_mistakes(make):
    cls = type(make())
    for p, exc, match in [
        ("0.5", TypeError, r"^p must be a real number"),
        (None, TypeError, r"^p must be a real number"),
        (True, TypeError, r"^p must be a real number"),
        (1.5, ValueError, r"^p must be in \[0, 1\]"),
        (float("nan"), ValueError, r"^p must be in \[0, 1\]"),
    ]:
        with pytest.raises(exc, match=match):
            cls(p)
    with pytest.raises(TypeError, match=r"^generator must be a pydropout\.Generator"):
        cls(0.5, generator=7)
    if cls is not pydropout.GaussianDropout:
        for flag in ("False", "yes", 2, None):
            with pytest.raises(TypeError, match=r"^inplace must be a bool"):
                cls(0.5, inplace=flag)
        assert cls(0.5, inplace=np.bool_(True)).inplace is True
    if cls in (
        pydropout.Dropout1d,
        pydropout.Dropout2d,
        pydropout.Dropout3d,
        pydropout.FeatureAlphaDropout,
    ):
        with pytest.raises(TypeError, match=r"^channels_last must be a bool"):
            cls(0.5, channels_last="no")
    if cls is pydropout.Dropout:
        with pytest.raises(ValueError, match=r"^mode must be"):
            cls(0.5, mode="paper")
        with pytest.raises(ValueError, match=r"^save must be 'mask' or 'state'"):
            cls(0.5, save="bits")


# -- the documented error types -------------------------------------------------------------


@pytest.mark.parametrize("name", IMPLS)
def test_documented_error_types(name):
    """Each error the docstrings and the README name, with the type they name."""
    mod = IMPLS[name]
    g = mod.Generator(1)
    x = np.ones((4, 5), np.float32)
    ro = x.copy()
    ro.flags.writeable = False
    type_errors = [
        lambda: mod.dropout(object(), 0.5),  # dropout: x not array-like
        lambda: mod.dropout(np.ones(3, np.int32), 0.5),  # another dtype
        lambda: mod.dropout(x, 0.5, generator=3),  # generator not a Generator
        lambda: mod.dropout_backward(x, g, 0.5),  # a Generator where the mask belongs
        lambda: mod.alpha_dropout_backward(x, g, 0.5),
        lambda: mod.dropout_block(x, 0.5, full_shape=(8, 5), origin=(0, 0), seed=1.5),
        lambda: mod.dropout_block(x, 0.5, full_shape=(8.0, 5), origin=(0, 0), seed=1),
    ]
    value_errors = [
        lambda: mod.dropout(x, 1.5),  # p outside [0, 1]
        lambda: mod.dropout(x, float("nan")),
        lambda: mod.dropout(x, 0.5, mode="paper"),
        lambda: mod.dropout(x, 0.5, out=np.empty((5, 4), np.float32)),
        lambda: mod.dropout(x, 0.5, out=np.empty((4, 5), np.float64)),
        lambda: mod.dropout(x, 0.5, out=ro),
        lambda: mod.dropout(ro, 0.5, inplace=True),
        lambda: mod.dropout(x, 0.5, noise_shape=(3, 1)),
        lambda: mod.dropout_block(x, 0.5, full_shape=(8,), origin=(0,), seed=1),
        lambda: mod.dropout_block(x, 0.5, full_shape=(8, 5), origin=(5, 0), seed=1),
        lambda: mod.dropout_block(x, 0.5, full_shape=(8, 5), origin=(0, 0), seed=2**64),
        lambda: mod.dropout_block(
            x, 0.5, full_shape=(8, 5), origin=(0, 0), seed=1, offset=2**64 - 8
        ),
        lambda: mod.dropout(x, 0.5, generator=mod.Generator(1, offset=2**64 - 3)),
        lambda: mod.gaussian_dropout(x, 1.0),
        lambda: mod.dropout2d(np.ones(4), 0.5),
        lambda: mod.dropout3d(np.ones((2, 3)), 0.5),
        lambda: mod.feature_alpha_dropout(np.ones(4), 0.5, True),
    ]
    _, state = mod.dropout_with_state(x, 0.5, generator=g)
    value_errors += [
        lambda: mod.dropout_backward(x, state, 0.25),  # p of another forward
        lambda: mod.dropout_backward(x, state, 0.5, mode=DOWN),
        lambda: mod.dropout_backward(x, state, 0.5, noise_shape=(4, 1)),
        lambda: mod.alpha_dropout_backward(x, state, 0.5),  # another kind
    ]
    for call in type_errors:
        with pytest.raises(TypeError):
            call()
    for call in value_errors:
        with pytest.raises(ValueError):
            call()


@pytest.mark.parametrize(
    "make",
    [
        lambda: pydropout.DropPath(0.5),
        lambda: pydropout.DropBlock2d(0.2, 3),
        lambda: pydropout.GaussianNoise(0.5),
    ],
    ids=["DropPath", "DropBlock2d", "GaussianNoise"],
)
def test_modern_layers_backward_follows_the_last_forward(make):
    x = np.ones((2, 3, 8, 8), np.float32)
    grad = np.full_like(x, 3.0)
    layer = make()
    with pytest.raises(ValueError, match="forward"):
        layer.backward(grad)
    y = layer(x)  # training
    if not isinstance(layer, pydropout.GaussianNoise):
        assert np.array_equal(layer.backward(grad) != 0, y != 0)
    layer.eval()
    assert layer(x) is x
    assert np.array_equal(layer.backward(grad), grad)  # the evaluation forward's backward


def test_zoneout_backward_before_forward_raises_value_error():
    with pytest.raises(ValueError, match="forward"):
        pydropout.Zoneout(0.3).backward(np.ones(4, np.float32))
