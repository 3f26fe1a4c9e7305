"""float16 at the AVX-512 level with AVX512-FP16 arithmetic (vmulph), where the CPU has it.

The kernel is on by default on such CPUs, so the rest of the suite runs it wherever it tests
float16 at the avx512 level; here both AVX-512 float16 paths (with and without AVX512-FP16)
are held to pydropout.reference on every half value, every drop threshold class and both
store paths, and the switches (``_core._set_avx512fp16``, ``PYDROPOUT_AVX512FP16=0``) are
checked. On a CPU without AVX512-FP16 only the refusal to turn it on is tested."""

import os
import subprocess
import sys

import numpy as np
import pytest

import pydropout
from pydropout import _core
from conftest import assert_same_bits, forced_simd, forced_threads

HAS_FP16 = _core._avx512fp16() != "unsupported"
needs_fp16 = pytest.mark.skipif(not HAS_FP16, reason="the CPU has no AVX512-FP16")

# every float16 bit pattern: zeros, subnormals, normals, infinities, quiet and signalling NaNs
ALL_HALVES = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)
P_VALUES = (0.1, 0.5, 0.75, 0.999, 1 - 2**-20)  # 1/(1-p) from 1.1 to inf in float16


def _fp16(on: bool):
    _core._set_avx512fp16(on)
    assert _core._avx512fp16() == ("on" if on else "off")


def _check_forward_backward(x, p, mode, offset):
    gen = pydropout.Generator(0x5EED, stream=3, offset=offset)
    y, mask = pydropout.dropout_with_mask(x, p, mode=mode, generator=gen)
    ref = pydropout.reference.Generator(0x5EED, stream=3, offset=offset)
    ry, rmask = pydropout.reference.dropout_with_mask(x, p, mode=mode, generator=ref)
    assert_same_bits(mask, rmask, "mask")
    assert_same_bits(y, ry, f"forward p={p} {mode} offset={offset}")
    dx = pydropout.dropout_backward(x, mask, p, mode=mode)
    assert_same_bits(dx, pydropout.reference.dropout_backward(x, mask, p, mode=mode), "backward")
    plain = pydropout.dropout(x, p, mode=mode,
                              generator=pydropout.Generator(0x5EED, stream=3, offset=offset))
    assert_same_bits(plain, ry, "dropout without mask")


def test_cannot_turn_on_without_the_instructions():
    if HAS_FP16:
        _fp16(False)
        _fp16(True)
    else:
        with pytest.raises(ValueError, match="AVX512-FP16"):
            _core._set_avx512fp16(True)
        _core._set_avx512fp16(False)  # turning off what is not there is fine
        assert _core._avx512fp16() == "unsupported"


@needs_fp16
@pytest.mark.parametrize("on", [True, False], ids=["fp16", "no-fp16"])
@pytest.mark.parametrize("mode", ["upscale_in_train", "downscale_in_infer"])
def test_every_half_value_matches_the_reference(on, mode):
    """Each of the 65536 bit patterns, scaled by every class of 1/(1-p) (rounded up, down,
    overflowing to inf), kept or dropped, at word offsets 0 and 3 (the funnel shift)."""
    x = np.concatenate([ALL_HALVES, ALL_HALVES[::-1]])
    with forced_simd("avx512"):
        _fp16(on)
        for p in P_VALUES:
            for offset in (0, 3):
                _check_forward_backward(x, p, mode, offset)


@needs_fp16
@pytest.mark.parametrize("threads", [1, 2])
def test_streaming_stores_and_threads(threads):
    """Outputs of 8 MiB and more take the non-temporal path; odd starts and lengths
    exercise the head and tail around it. Both AVX-512 float16 paths agree bit for bit."""
    rng = np.random.default_rng(11)
    bits = rng.integers(0, 65536, (4 << 20) + 4099, dtype=np.uint32).astype(np.uint16)
    x = bits.view(np.float16)[5:]  # not 64-byte aligned
    outs = {}
    with forced_simd("avx512"), forced_threads(threads):
        for on in (True, False):
            _fp16(on)
            _check_forward_backward(x, 0.3, "upscale_in_train", 7)
            outs[on] = pydropout.dropout(x, 0.3, generator=pydropout.Generator(1, offset=1))
    assert_same_bits(outs[True], outs[False], "fp16 vs no-fp16")


@needs_fp16
def test_switch_applies_only_at_the_avx512_level():
    x = ALL_HALVES[:4096].copy()
    with forced_simd("avx2"):
        _fp16(True)
        assert pydropout.simd_level() == "avx2"
        y = pydropout.dropout(x, 0.25, generator=pydropout.Generator(2))
    assert_same_bits(y, pydropout.reference.dropout(x, 0.25, generator=pydropout.reference.Generator(2)),
                     "avx2 with the switch on")


@pytest.mark.parametrize("value,expected", [(None, "on"), ("0", "off"), ("1", "on")])
def test_environment_variable(value, expected):
    env = {k: v for k, v in os.environ.items() if k != "PYDROPOUT_AVX512FP16"}
    if value is not None:
        env["PYDROPOUT_AVX512FP16"] = value
    out = subprocess.run([sys.executable, "-c", "from pydropout import _core; print(_core._avx512fp16())"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out == (expected if HAS_FP16 else "unsupported")
