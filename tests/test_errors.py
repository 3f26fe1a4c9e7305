"""Every error of docs/CONTRACT.md section 4: the exception type, a message that names the
argument, and that a failed call leaves its inputs, its outputs and its generator
untouched. Both pydropout and pydropout.reference are checked."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from helpers import DOWN, DTYPES, IMPLS, UP

import pydropout
from pydropout import _core


class Env:
    """The arrays and generators one error case may touch, and their state before it."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((4, 5)).astype(np.float32)
        self.x[0, 0] = np.nan
        self.x[1, 1] = -0.0
        self.out = np.full((4, 5), 7.0, np.float32)
        self.grad = rng.standard_normal((4, 5)).astype(np.float32)
        self.mask = np.array([0xA5, 0x3C, 0x0F], np.uint8)
        self.gen = pydropout.Generator(1, stream=2, offset=3)
        pydropout.manual_seed(77)
        pydropout.default_generator.set_state((77, 4, 5))
        self._arrays = {k: getattr(self, k).copy() for k in ("x", "out", "grad", "mask")}

    def assert_untouched(self):
        for k, before in self._arrays.items():
            now = getattr(self, k)
            assert now.view(np.uint8).tobytes() == before.view(np.uint8).tobytes(), k
        assert self.gen.get_state() == (1, 2, 3)
        assert pydropout.default_generator.get_state() == (77, 4, 5)


def _readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


BAD_DTYPES = [
    np.int32,
    np.int64,
    np.uint8,
    np.bool_,
    np.complex64,
    np.complex128,
    object,
    np.dtype("U3"),
    np.dtype("datetime64[s]"),
    np.longdouble,
    np.dtype([("a", np.float32)]),
    ml_dtypes.float8_e4m3fn,
    ml_dtypes.int4,
]
# (longdouble is float64 on some platforms: then it is supported)
BAD_DTYPES = [
    np.dtype(d)
    for d in BAD_DTYPES
    if not (np.dtype(d).kind == "f" and np.dtype(d).itemsize in (2, 4, 8))
]


def _dtype_cases():
    cases = []
    for dt in BAD_DTYPES:

        def bad(dt=dt):
            return np.zeros((4, 5), dt)

        name = dt.name if dt.names is None else "structured"
        cases += [
            (f"dropout-{name}", lambda m, e, bad=bad: m.dropout(bad(), 0.5, generator=e.gen)),
            (f"eval-{name}", lambda m, e, bad=bad: m.dropout(bad(), 0.5, False, generator=e.gen)),
            (f"eval-down-{name}", lambda m, e, bad=bad: m.dropout(bad(), 0.5, False, mode=DOWN)),
            (f"inplace-{name}", lambda m, e, bad=bad: m.dropout(bad(), 0.5, inplace=True)),
            (f"with_mask-{name}", lambda m, e, bad=bad: m.dropout_with_mask(bad(), 0.5, out=e.out)),
        ]
    cases += [
        ("list-of-ints", lambda m, e: m.dropout([1, 2, 3], 0.5, generator=e.gen)),
        ("none", lambda m, e: m.dropout(None, 0.5, generator=e.gen)),
        ("python-complex", lambda m, e: m.dropout(1j, 0.5, generator=e.gen)),
    ]
    return cases


@pytest.mark.parametrize("name", IMPLS)
@pytest.mark.parametrize("case, call", _dtype_cases(), ids=[c[0] for c in _dtype_cases()])
def test_bad_dtype_is_type_error(name, case, call):
    env = Env()
    with pytest.raises(TypeError, match=r"^x must have dtype float16, float32, float64"):
        call(IMPLS[name], env)
    env.assert_untouched()


@pytest.mark.parametrize("name", IMPLS)
@pytest.mark.parametrize("dt", [np.int32, np.uint16, np.complex64, object])
def test_bad_grad_dtype(name, dt):
    env = Env()
    with pytest.raises(TypeError, match=r"^grad must have dtype"):
        IMPLS[name].dropout_backward(np.zeros((4, 5), dt), env.mask, 0.5)
    env.assert_untouched()


@pytest.mark.parametrize("name", IMPLS)
def test_not_array_like(name):
    env = Env()
    with pytest.raises(TypeError, match=r"^x must be array-like"):
        IMPLS[name].dropout([[1.0, 2.0], [3.0]], 0.5, generator=env.gen)
    with pytest.raises(TypeError, match=r"^grad must be array-like"):
        IMPLS[name].dropout_backward([[1.0, 2.0], [3.0]], env.mask, 0.5)
    env.assert_untouched()


def test_supported_dtypes_are_accepted():
    for dt in DTYPES:
        y = pydropout.dropout(np.ones(3, dt), 0.5, generator=pydropout.Generator(0))
        assert y.dtype == np.dtype(dt)
    # array-likes: Python floats become float64
    assert pydropout.dropout([1.0, 2.0], 0.5, generator=pydropout.Generator(0)).dtype == np.float64
    assert pydropout.dropout(2.0, 0.0, generator=pydropout.Generator(0)).shape == ()


BAD_P_VALUES = [
    -0.1,
    -1e-300,
    1.0000001,
    2,
    -1,
    float("nan"),
    float("inf"),
    float("-inf"),
    np.float32("nan"),
    np.float64(1.5),
]
BAD_P_TYPES = ["0.5", None, True, np.bool_(False), [0.5], 1j]


def _p_calls(p):
    return [
        ("dropout", lambda m, e: m.dropout(e.x, p, generator=e.gen)),
        ("dropout-default-gen", lambda m, e: m.dropout(e.x, p)),
        ("dropout-out", lambda m, e: m.dropout(e.x, p, generator=e.gen, out=e.out)),
        ("dropout-inplace", lambda m, e: m.dropout(e.x, p, inplace=True, generator=e.gen)),
        ("eval", lambda m, e: m.dropout(e.x, p, training=False)),
        ("eval-down", lambda m, e: m.dropout(e.x, p, training=False, mode=DOWN, out=e.out)),
        ("with_mask", lambda m, e: m.dropout_with_mask(e.x, p, generator=e.gen)),
        ("backward", lambda m, e: m.dropout_backward(e.grad, e.mask, p, out=e.out)),
        ("mask", lambda m, e: m.dropout_mask((4, 5), p, generator=e.gen)),
    ]


def _every_call_raises(name, calls, error, match):
    """Each ``call(module, env)`` raises ``error`` matching ``match`` and leaves a fresh
    Env untouched."""
    for call in calls:
        env = Env()
        with pytest.raises(error, match=match):
            call(IMPLS[name], env)
        env.assert_untouched()


@pytest.mark.parametrize("name", IMPLS)
@pytest.mark.parametrize("p", BAD_P_VALUES, ids=repr)
def test_p_out_of_range(name, p):
    _every_call_raises(
        name, [call for _, call in _p_calls(p)], ValueError, r"^p must be in \[0, 1\]"
    )


@pytest.mark.parametrize("name", IMPLS)
@pytest.mark.parametrize("p", BAD_P_TYPES, ids=repr)
def test_p_not_a_number(name, p):
    _every_call_raises(
        name, [call for _, call in _p_calls(p)], TypeError, r"^p must be a real number"
    )


BAD_MODES = ["upscale", "", "UPSCALE_IN_TRAIN", None, 1, UP.encode()]


@pytest.mark.parametrize("name", IMPLS)
@pytest.mark.parametrize("mode", BAD_MODES, ids=repr)
def test_unknown_mode(name, mode):
    calls = [
        lambda m, e: m.dropout(e.x, 0.5, mode=mode, generator=e.gen),
        lambda m, e: m.dropout(e.x, 0.5, training=False, mode=mode),
        lambda m, e: m.dropout(e.x, 0.5, inplace=True, mode=mode, generator=e.gen),
        lambda m, e: m.dropout_with_mask(e.x, 0.5, mode=mode, out=e.out),
        lambda m, e: m.dropout_backward(e.grad, e.mask, 0.5, mode=mode, out=e.out),
    ]
    _every_call_raises(name, calls, ValueError, r"^mode must be")


def _bad_outs(e):
    ro = _readonly(e.out)
    return [
        ("shape", np.zeros((5, 4), np.float32), ValueError, r"^out has shape"),
        ("flat", np.zeros(20, np.float32), ValueError, r"^out has shape"),
        ("float64", np.zeros((4, 5), np.float64), ValueError, r"^out has dtype"),
        ("float16", np.zeros((4, 5), np.float16), ValueError, r"^out has dtype"),
        ("bfloat16", np.zeros((4, 5), ml_dtypes.bfloat16), ValueError, r"^out has dtype"),
        ("readonly", ro, ValueError, r"^out is read-only"),
        (
            "broadcast",
            np.broadcast_to(np.zeros(5, np.float32), (4, 5)),
            ValueError,
            r"^out is read-only",
        ),
        ("list", [[0.0] * 5] * 4, TypeError, r"^out must be a numpy.ndarray"),
    ]


@pytest.mark.parametrize("name", IMPLS)
@pytest.mark.parametrize(
    "which", ["dropout", "eval", "eval-down", "with_mask", "backward", "noise"]
)
def test_bad_out(name, which):
    mod = IMPLS[name]
    for kind, out, exc, match in _bad_outs(Env()):
        env = Env()
        snapshot = np.array(out, copy=True) if isinstance(out, np.ndarray) else None
        call = {
            "dropout": lambda: mod.dropout(env.x, 0.5, generator=env.gen, out=out),
            "eval": lambda: mod.dropout(env.x, 0.5, False, generator=env.gen, out=out),
            "eval-down": lambda: mod.dropout(env.x, 0.5, False, mode=DOWN, out=out),
            "with_mask": lambda: mod.dropout_with_mask(env.x, 0.5, generator=env.gen, out=out),
            "backward": lambda: mod.dropout_backward(env.grad, env.mask, 0.5, out=out),
            "noise": lambda: mod.dropout(
                env.x, 0.5, noise_shape=(4, 1), generator=env.gen, out=out
            ),
        }[which]
        with pytest.raises(exc, match=match):
            call()
        env.assert_untouched()
        if snapshot is not None:
            assert out.tobytes() == snapshot.tobytes(), kind


@pytest.mark.parametrize("name", IMPLS)
def test_bad_mask(name):
    mod = IMPLS[name]
    bad = [
        (np.zeros(2, np.uint8), ValueError, r"^mask must be 1-D with ceil\(20 / 8\) = 3 bytes"),
        (np.zeros(4, np.uint8), ValueError, r"^mask must be 1-D"),
        (np.zeros((1, 3), np.uint8), ValueError, r"^mask must be 1-D"),
        (np.zeros(3, np.bool_), ValueError, r"^mask must have dtype uint8"),
        (np.zeros(3, np.int8), ValueError, r"^mask must have dtype uint8"),
        (np.zeros(3, np.int64), ValueError, r"^mask must have dtype uint8"),
        ([0, 0, 0], TypeError, r"^mask must be a numpy.uint8 array"),
        (None, TypeError, r"^mask must be a numpy.uint8 array"),
    ]
    for mask, exc, match in bad:
        env = Env()
        with pytest.raises(exc, match=match):
            mod.dropout_backward(env.grad, mask, 0.5, out=env.out)
        env.assert_untouched()
    # with a noise shape the mask has ceil(prod(noise_shape) / 8) bytes
    env = Env()
    with pytest.raises(ValueError, match=r"^mask must be 1-D with ceil\(4 / 8\) = 1 bytes"):
        mod.dropout_backward(env.grad, env.mask, 0.5, noise_shape=(4, 1), out=env.out)
    env.assert_untouched()


@pytest.mark.parametrize("name", IMPLS)
def test_inplace_errors(name):
    mod = IMPLS[name]
    env = Env()
    ro = _readonly(env.x)
    for x in (ro, np.broadcast_to(env.x[0], (4, 5)), ro[::2]):
        for mode in (UP, DOWN):
            for training in (True, False):
                with pytest.raises(ValueError, match=r"^inplace=True needs a writeable x"):
                    mod.dropout(x, 0.5, training, inplace=True, mode=mode, generator=env.gen)
        env.assert_untouched()
    assert ro.tobytes() == env.x.tobytes()
    with pytest.raises(ValueError, match=r"^inplace=True needs x to be a numpy.ndarray"):
        mod.dropout([1.0, 2.0], 0.5, inplace=True, generator=env.gen)
    with pytest.raises(ValueError, match=r"^inplace=True and out="):
        mod.dropout(env.x, 0.5, inplace=True, out=env.out, generator=env.gen)
    env.assert_untouched()


@pytest.mark.parametrize("name", IMPLS)
def test_bad_noise_shape(name):
    bad = [
        ((3, 5), ValueError, r"^noise_shape \(3, 5\) is not broadcastable"),
        ((4, 2), ValueError, r"^noise_shape \(4, 2\) is not broadcastable"),
        ((2, 4, 5), ValueError, r"^noise_shape \(2, 4, 5\) has more dimensions"),
        ((4, -5), ValueError, r"^noise_shape"),
        ((4.0, 5), TypeError, r"^noise_shape must be a tuple of ints"),
        ((4, "5"), TypeError, r"^noise_shape must be a tuple of ints"),
        (1.5, TypeError, r"^noise_shape must be a tuple of ints"),
    ]
    for noise, exc, match in bad:
        _every_call_raises(
            name,
            [
                lambda m, e: m.dropout(e.x, 0.5, noise_shape=noise, generator=e.gen, out=e.out),
                lambda m, e: m.dropout(e.x, 0.5, False, noise_shape=noise),
                lambda m, e: m.dropout_with_mask(e.x, 0.5, noise_shape=noise),
                lambda m, e: m.dropout_backward(e.grad, e.mask, 0.5, noise_shape=noise, out=e.out),
            ],
            exc,
            match,
        )


@pytest.mark.parametrize("name", IMPLS)
@pytest.mark.parametrize("generator", [np.random.default_rng(0), 5, "gen", pydropout.Generator])
def test_bad_generator(name, generator):
    _every_call_raises(
        name,
        [
            lambda m, e: m.dropout(e.x, 0.5, generator=generator, out=e.out),
            lambda m, e: m.dropout(e.x, 0.5, False, generator=generator),
            lambda m, e: m.dropout_with_mask(e.x, 0.5, generator=generator),
            lambda m, e: m.dropout_mask(8, 0.5, generator=generator),
        ],
        TypeError,
        r"^generator must be a pydropout.Generator",
    )
    with pytest.raises(TypeError, match=r"^generator must be a pydropout.Generator"):
        pydropout.Dropout(generator=generator)


@pytest.mark.parametrize("name", IMPLS)
def test_bad_mask_shape(name):
    mod = IMPLS[name]
    env = Env()
    for shape, exc, match in [
        ((-1, 3), ValueError, r"^shape must have non-negative"),
        (-2, ValueError, r"^shape must have non-negative"),
        ((2.5,), TypeError, r"^shape must be a tuple of ints"),
        ("ab", TypeError, r"^shape must be a tuple of ints"),
        (None, TypeError, r"^shape must be a tuple of ints"),
    ]:
        with pytest.raises(exc, match=match):
            mod.dropout_mask(shape, 0.5, generator=env.gen)
        env.assert_untouched()


def test_dropout_class_errors():
    env = Env()
    with pytest.raises(ValueError, match=r"^p must be in \[0, 1\]"):
        pydropout.Dropout(1.5)
    with pytest.raises(TypeError, match=r"^p must be a real number"):
        pydropout.Dropout("0.5")
    with pytest.raises(ValueError, match=r"^mode must be"):
        pydropout.Dropout(0.5, mode="paper")
    layer = pydropout.Dropout(0.25, generator=env.gen)
    with pytest.raises(ValueError, match=r"^p must be in \[0, 1\]"):
        layer.p = -0.5
    assert layer.p == 0.25
    with pytest.raises(TypeError, match=r"^x must have dtype"):
        layer(np.zeros(3, np.int32))
    with pytest.raises(ValueError, match=r"^inplace=True needs a writeable x"):
        pydropout.Dropout(0.5, True, generator=env.gen)(_readonly(env.x))
    with pytest.raises(ValueError, match=r"backward\(\) needs a forward\(\)"):
        layer.backward(env.grad)
    layer(env.x.copy())
    env.gen.set_state((1, 2, 3))
    with pytest.raises(ValueError, match=r"^grad has shape \(5, 4\)"):
        layer.backward(np.zeros((5, 4), np.float32))
    with pytest.raises(TypeError, match=r"^grad must have dtype"):
        layer.backward(np.zeros((4, 5), np.int64))
    env.assert_untouched()


def test_threads_and_simd_errors():
    before = pydropout.get_num_threads()
    for bad, exc in [
        (0, ValueError),
        (-3, ValueError),
        (1.5, TypeError),
        ("2", TypeError),
        (True, TypeError),
        (None, TypeError),
    ]:
        with pytest.raises(exc, match=r"^n must be"):
            pydropout.set_num_threads(bad)
    assert pydropout.get_num_threads() == before
    level = pydropout.simd_level()
    with pytest.raises(ValueError, match="unknown SIMD level"):
        _core._set_simd("sse9")
    unsupported = {"scalar", "avx2", "avx512", "neon"} - set(pydropout.supported_simd_levels())
    for name in sorted(unsupported):
        with pytest.raises(ValueError, match="not supported by this CPU"):
            _core._set_simd(name)
    assert pydropout.simd_level() == level


@pytest.mark.parametrize("fn, name", [("dropout_apply", "x"), ("dropout_backward", "grad")])
def test_apply_and_backward_name_their_array(fn, name):
    """dropout_apply shares dropout_backward's hooks; its errors still name its own array."""
    f = getattr(pydropout, fn)
    x = np.ones(4, np.float32)
    m = pydropout.dropout_mask((4,), 0.5, generator=pydropout.Generator(1))
    _, st = pydropout.dropout_with_state(x, 0.5, generator=pydropout.Generator(1))
    for mask in (m, st):
        with pytest.raises(TypeError, match=rf"^{name} must have dtype"):
            f(np.arange(4), mask, 0.5)
        with pytest.raises(ValueError, match=r"^out has shape \(3,\)"):
            f(x, mask, 0.5, out=np.ones(3, np.float32))
        out = np.empty_like(x)
        assert f(x, mask, 0.5, out=out) is out
        np.testing.assert_array_equal(out, pydropout.dropout_backward(x, m, 0.5))
