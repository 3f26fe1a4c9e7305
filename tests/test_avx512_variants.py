"""The variants of the AVX-512 level: float16 arithmetic with AVX512-FP16 (vmulph) and
Philox's high halves with IFMA (vpmadd52huq), each where the CPU has it.

Whichever variants are on by default run through the rest of the suite; here every
combination this CPU has is held to pydropout.reference: every float16 bit pattern, every
dtype at sizes around the window and streaming boundaries, word offsets where the block
counter carries, 1 to 3 threads. The switches (``_core._set_avx512fp16`` /
``_set_avx512ifma``, ``PYDROPOUT_AVX512FP16`` / ``PYDROPOUT_AVX512IFMA``) are checked too.
On a CPU without an extension only the refusal to turn it on is tested."""

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import MODES, assert_same_bits, forced_simd, forced_threads

import pydropout
from pydropout import _core

HAS_FP16 = _core._avx512fp16() != "unsupported"
HAS_IFMA = _core._avx512ifma() != "unsupported"
needs_fp16 = pytest.mark.skipif(not HAS_FP16, reason="the CPU has no AVX512-FP16")
needs_ifma = pytest.mark.skipif(not HAS_IFMA, reason="the CPU has no AVX512-IFMA")
IFMA_STATES = (True, False) if HAS_IFMA else (False,)


def _intel() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            return "GenuineIntel" in f.read()
    except OSError:
        return False


# every float16 bit pattern: zeros, subnormals, normals, infinities, quiet and signalling NaNs
ALL_HALVES = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)
P_VALUES = (0.1, 0.5, 0.75, 0.999, 1 - 2**-20)  # 1/(1-p) from 1.1 to inf in float16


def _fp16(on: bool):
    _core._set_avx512fp16(on)
    assert _core._avx512fp16() == ("on" if on else "off")


def _ifma(on: bool):
    if HAS_IFMA:
        _core._set_avx512ifma(on)
        assert _core._avx512ifma() == ("on" if on else "off")
    else:
        assert not on


def _check_forward_backward(x, p, mode, offset, stream=3, what=""):
    """dropout_with_mask, dropout, dropout_mask and dropout_backward against the reference."""
    what = f"{what} p={p} {mode} offset={offset}"
    gen = lambda: pydropout.Generator(0x5EED, stream=stream, offset=offset)  # noqa: E731
    y, mask = pydropout.dropout_with_mask(x, p, mode=mode, generator=gen())
    ref = pydropout.reference.Generator(0x5EED, stream=stream, offset=offset)
    ry, rmask = pydropout.reference.dropout_with_mask(x, p, mode=mode, generator=ref)
    assert_same_bits(mask, rmask, what + " mask")
    assert_same_bits(y, ry, what + " forward")
    assert_same_bits(
        pydropout.dropout_mask((x.size,), p, generator=gen()), rmask, what + " dropout_mask"
    )
    dx = pydropout.dropout_backward(x, mask, p, mode=mode)
    assert_same_bits(
        dx, pydropout.reference.dropout_backward(x, mask, p, mode=mode), what + " backward"
    )
    plain = pydropout.dropout(x, p, mode=mode, generator=gen())
    assert_same_bits(plain, ry, what + " dropout without mask")


@pytest.mark.parametrize("name", ["fp16", "ifma"])
def test_cannot_turn_on_without_the_instructions(name):
    get = getattr(_core, f"_avx512{name}")
    put = getattr(_core, f"_set_avx512{name}")
    if get() != "unsupported":
        put(False)
        assert get() == "off"
        put(True)
        assert get() == "on"
    else:
        with pytest.raises(ValueError, match="AVX512"):
            put(True)
        put(False)  # turning off what is not there is fine
        assert get() == "unsupported"


@needs_fp16
@pytest.mark.parametrize("ifma", IFMA_STATES, ids=lambda v: "ifma" if v else "shift")
@pytest.mark.parametrize("on", [True, False], ids=["fp16", "no-fp16"])
@pytest.mark.parametrize("mode", MODES)
def test_every_half_value_matches_the_reference(on, ifma, mode):
    """Each of the 65536 bit patterns, scaled by every class of 1/(1-p) (rounded up, down,
    overflowing to inf), kept or dropped, at word offsets 0 and 3 (the funnel shift)."""
    x = np.concatenate([ALL_HALVES, ALL_HALVES[::-1]])
    with forced_simd("avx512"):
        _fp16(on)
        _ifma(ifma)
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
        for on, ifma in itertools.product((True, False), IFMA_STATES):
            _fp16(on)
            _ifma(ifma)
            _check_forward_backward(x, 0.3, "upscale_in_train", 7)
            outs[on, ifma] = pydropout.dropout(x, 0.3, generator=pydropout.Generator(1, offset=1))
    for key, y in outs.items():
        assert_same_bits(y, outs[True, False], f"fp16, ifma = {key} vs fp16 with shifts")


@needs_fp16
def test_switch_applies_only_at_the_avx512_level():
    x = ALL_HALVES[:4096].copy()
    with forced_simd("avx2"):
        _fp16(True)
        assert pydropout.simd_level() == "avx2"
        y = pydropout.dropout(x, 0.25, generator=pydropout.Generator(2))
    assert_same_bits(
        y,
        pydropout.reference.dropout(x, 0.25, generator=pydropout.reference.Generator(2)),
        "avx2 with the switch on",
    )


@needs_ifma
@pytest.mark.parametrize(
    "fp16", [True, False] if HAS_FP16 else [False], ids=lambda v: "fp16" if v else "no-fp16"
)
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_ifma_rounds_match_the_reference(dtype, fp16):
    """Philox with IFMA's high halves: forward, mask and backward equal to the reference
    around the window (64) and streaming (8 MiB) boundaries, at word offsets where the
    block counter carries into its high word inside the call, for 1 to 3 threads."""
    rng = np.random.default_rng(3)
    itemsize = np.dtype(dtype).itemsize
    sizes = (1, 63, 64, 65, 4099, 70_001, (8 << 20) // itemsize + 5)
    offsets = (0, 1, 3, 4 * 2**32 - 5)
    with forced_simd("avx512"):
        _ifma(True)
        if HAS_FP16:
            _fp16(fp16)
        for n, offset, threads in itertools.product(sizes, offsets, (1, 2, 3)):
            if n > 100_000 and threads == 3:
                continue
            x = rng.standard_normal(n).astype(dtype)
            with forced_threads(threads):
                _check_forward_backward(
                    x,
                    0.37,
                    "upscale_in_train",
                    offset,
                    stream=2**40 + 3,
                    what=f"{dtype} n={n} threads={threads}",
                )


@pytest.mark.parametrize(
    "name,value,expected",
    [
        ("FP16", None, "on"),
        ("FP16", "0", "off"),
        ("FP16", "1", "on"),
        ("IFMA", None, "on" if _intel() else "off"),
        ("IFMA", "0", "off"),
        ("IFMA", "1", "on"),
    ],
)
def test_environment_variables(name, value, expected):
    """PYDROPOUT_AVX512FP16=0 turns AVX512-FP16 off (on by default where the CPU has it);
    PYDROPOUT_AVX512IFMA=0|1 turns IFMA off or on (by default on only for Intel CPUs)."""
    var = f"PYDROPOUT_AVX512{name}"
    env = {k: v for k, v in os.environ.items() if k != var}
    if value is not None:
        env[var] = value
    code = f"from pydropout import _core; print(_core._avx512{name.lower()}())"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    supported = HAS_FP16 if name == "FP16" else HAS_IFMA
    assert out == (expected if supported else "unsupported")
