"""Offsets and sizes at the edges (docs/CONTRACT.md section 2).

- block counters that carry across 2**32 (and the last block before 2**64), exact
  against the reference at every SIMD level;
- a call whose words would pass 2**64 raises ValueError and changes nothing;
- arrays of more than 2**31 elements (64-bit indexing in the bindings, the thread
  chunking, the kernels and the packed mask);
- allocations that cannot succeed raise MemoryError and change nothing;
- the kernel vectors of tests/data/kernel_vectors.txt, which the C++ driver checks on
  aarch64 under qemu (scripts/neon_qemu.sh), still match the reference and the core.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess

import numpy as np
import pytest
from helpers import (
    BFLOAT16,
    ROOT,
    SIMD_LEVELS,
    TWO32,
    TWO64,
)
from helpers import (
    forced_simd as simd,
)
from helpers import (
    forced_threads as threads,
)

import pydropout
import pydropout.reference as ref
from pydropout import _core

VECTORS = ROOT / "tests" / "data" / "kernel_vectors.txt"


def bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


# -- counters that carry ------------------------------------------------------------------

# word offsets just before a carry of the 32-bit block counter into its high word
# (block 2**32 - 1 -> 2**32, and later carries), and before the very end of the stream
CARRY_OFFSETS = [
    4 * TWO32 * m - r for m in (1, 2, 2**30 - 1) for r in (1, 2, 3, 4, 5, 63, 64, 65, 130)
]


@pytest.mark.parametrize("level", SIMD_LEVELS)
def test_block_counter_carries_match_reference(level):
    x = np.arange(1, 201, dtype=np.float32)
    with simd(level):
        for offset in CARRY_OFFSETS:
            for n in (1, 7, 64, 200):
                for stream in (0, TWO64 - 1):
                    g1 = pydropout.Generator(0x0123456789ABCDEF, stream=stream, offset=offset)
                    g2 = pydropout.Generator(0x0123456789ABCDEF, stream=stream, offset=offset)
                    y, m = pydropout.dropout_with_mask(x[:n], 0.5, generator=g1)
                    ry, rm = ref.dropout_with_mask(x[:n], 0.5, generator=g2)
                    assert bits(y) == bits(ry) and bits(m) == bits(rm), (offset, n, stream)
                    assert g1.offset == g2.offset == offset + n
                    m2 = pydropout.dropout_mask(
                        n, 0.3, generator=pydropout.Generator(7, offset=offset)
                    )
                    assert bits(m2) == bits(
                        ref.dropout_mask(n, 0.3, generator=pydropout.Generator(7, offset=offset))
                    )


def test_spec_carry_vector():
    # docs/CONTRACT.md section 2: offset 4 * 2**32 - 2, 4 words
    words = ref.stream_words(0x0123456789ABCDEF, 0, 4 * TWO32 - 2, 4)
    assert [f"{w:08x}" for w in words] == ["64c992ad", "325045ac", "d9412d6a", "59dd3f68"]


@pytest.mark.parametrize("level", SIMD_LEVELS)
def test_last_words_of_the_stream(level):
    # the stream ends at word 2**64 - 1: the last block's counter is (2**32 - 1, 2**30 - 1)
    x = np.linspace(-3, 3, 130).astype(np.float64)
    with simd(level):
        for n in (1, 3, 64, 130):
            g = pydropout.Generator(11, stream=3, offset=TWO64 - n)
            y, m = pydropout.dropout_with_mask(x[:n], 0.25, generator=g)
            ry, rm = ref.dropout_with_mask(
                x[:n], 0.25, generator=pydropout.Generator(11, stream=3, offset=TWO64 - n)
            )
            assert bits(y) == bits(ry) and bits(m) == bits(rm)
            assert g.offset == TWO64  # exhausted, exactly
            # nothing more can be drawn; a call of zero words still succeeds
            assert pydropout.dropout(x[:0], 0.5, generator=g).size == 0
            assert pydropout.dropout_mask(0, 0.5, generator=g).size == 0
            with pytest.raises(ValueError, match="2\\*\\*64"):
                pydropout.dropout(x[:1], 0.5, generator=g)
            assert g.offset == TWO64


# -- ranges that would pass 2**64 ---------------------------------------------------------


def _overflowing_calls(x, g):
    return {
        "dropout (fast path)": lambda: pydropout.dropout(x, 0.5, generator=g),
        "dropout (out=)": lambda: pydropout.dropout(x, 0.5, generator=g, out=np.zeros_like(x)),
        "dropout (inplace)": lambda: pydropout.dropout(x, 0.5, inplace=True, generator=g),
        "dropout (downscale)": lambda: pydropout.dropout(
            x, 0.5, mode="downscale_in_infer", generator=g
        ),
        "dropout (noise_shape)": lambda: pydropout.dropout(
            x.reshape(5, 2), 0.5, noise_shape=(1, 2), generator=g
        ),
        "dropout_with_mask": lambda: pydropout.dropout_with_mask(x, 0.5, generator=g),
        "dropout_mask": lambda: pydropout.dropout_mask(x.shape, 0.5, generator=g),
        "Dropout layer": lambda: pydropout.Dropout(0.5, generator=g)(x),
        "p == 0": lambda: pydropout.dropout(x, 0.0, generator=g),
        "p == 1": lambda: pydropout.dropout(x, 1.0, generator=g),
        "reference": lambda: ref.dropout(x, 0.5, generator=g),
        "reference mask": lambda: ref.dropout_mask(10, 0.5, generator=g),
    }


@pytest.mark.parametrize("name", list(_overflowing_calls(np.zeros(10), None)))
def test_range_past_two64_is_a_clear_error_and_changes_nothing(name):
    x = np.arange(10, dtype=np.float32) + 1
    before = x.copy()
    g = pydropout.Generator(3, stream=9, offset=TWO64 - 1)  # 1 word left, each call wants more
    with pytest.raises(ValueError) as info:
        _overflowing_calls(x, g)[name]()
    msg = str(info.value)
    assert "2**64" in msg and "wrap" in msg, msg
    assert g.get_state() == (3, 9, TWO64 - 1)
    assert bits(x) == bits(before)


def test_default_generator_past_two64():
    x = np.ones(100, np.float32)
    state = pydropout.default_generator.get_state()
    try:
        pydropout.default_generator.set_state((1, 0, TWO64 - 99))
        with pytest.raises(ValueError, match="2\\*\\*64"):
            pydropout.dropout(x, 0.5)
        assert pydropout.default_generator.get_state() == (1, 0, TWO64 - 99)
        pydropout.dropout(x[:99], 0.5)
        assert pydropout.default_generator.offset == TWO64
    finally:
        pydropout.default_generator.set_state(state)


@pytest.mark.parametrize("bad", [TWO64, TWO64 + 5, -1, -(TWO64)])
def test_offsets_outside_the_stream_are_rejected(bad):
    with pytest.raises(ValueError, match="offset"):
        pydropout.Generator(0, offset=bad)
    g = pydropout.Generator(0, offset=5)
    if bad != TWO64:  # (set_state restores an exhausted state: offset 2**64)
        with pytest.raises(ValueError, match="offset"):
            g.set_state((0, 0, bad))
    with pytest.raises(ValueError, match="offset"):
        g.offset = bad
    assert g.get_state() == (0, 0, 5)


# -- more than 2**31 elements ------------------------------------------------------------

BIG = 2**31 + 77  # past the signed 32-bit range
PROBES = [0, 1, 63, 64, 2**31 - 65, 2**31 - 64, 2**31 - 1, 2**31, 2**31 + 1, 2**31 + 63, BIG - 1]


def _mem_available() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 62


@pytest.mark.slow  # 256 MiB of mask
def test_mask_of_more_than_two31_elements():
    # 256 MiB of mask, drawn by the threads; checked at probe positions against the stream
    seed, stream, offset = 0xFEEDFACE, 2, 4 * TWO32 - 1000  # the block counter also carries
    with threads(2):
        g = pydropout.Generator(seed, stream=stream, offset=offset)
        m = pydropout.dropout_mask((BIG,), 0.5, generator=g)
    assert m.shape == ((BIG + 7) // 8,) and g.offset == offset + BIG
    t = np.uint32(2**31)
    for i in PROBES:
        byte = i // 8
        lo = byte * 8
        count = min(8, BIG - lo)
        keep = ref.stream_words(seed, stream, offset + lo, count) >= t
        expect = int(np.packbits(keep, bitorder="little")[0])
        assert int(m[byte]) == expect, i
    assert int(m[-1]) >> (BIG % 8) == 0  # padding bits are 0
    del m


@pytest.mark.slow  # 4 GiB of output
def test_forward_of_more_than_two31_float16_elements():
    n = 2**31 + 70
    need = n * 2 + (1 << 30)
    if _mem_available() < need:
        pytest.skip(f"needs {need >> 30} GiB of free memory for a {n}-element float16 output")
    # np.zeros maps the zero page: the input costs no memory until it is written
    x = np.zeros(n, np.float16)
    probes = sorted({min(i, n - 1) for i in PROBES})
    values = np.float16(1.5) + np.arange(len(probes), dtype=np.float16)
    x[probes] = values
    seed, offset = 99, 12345
    g = pydropout.Generator(seed, offset=offset)
    with threads(2):
        y = pydropout.dropout(x, 0.5, generator=g)
    del x
    assert y.shape == (n,) and g.offset == offset + n
    for i, v in zip(probes, values):
        keep = bool(ref.stream_words(seed, 0, offset + i, 1)[0] >= 2**31)
        assert y[i] == (v * np.float16(2) if keep else 0), i
    # elsewhere x is 0, and so is y
    assert not y[2**30 : 2**30 + 4096].any() and not y[2**31 + 100 : 2**31 + 4196].any()
    del y


# -- allocations that fail ----------------------------------------------------------------


def test_huge_allocations_raise_memory_error_and_change_nothing():
    g = pydropout.Generator(5, offset=17)
    huge = np.broadcast_to(np.float32(1.0), (2**48,))  # 1 PiB once made contiguous
    for call in (
        lambda: pydropout.dropout(huge, 0.5, generator=g),
        lambda: pydropout.dropout_with_mask(huge, 0.5, generator=g),
        lambda: pydropout.dropout_mask((2**53,), 0.5, generator=g),
        lambda: pydropout.dropout_mask((2**26, 2**27), 0.5, generator=g),
        lambda: ref.dropout(huge, 0.5, generator=g),
    ):
        with pytest.raises(MemoryError):
            call()
        assert g.get_state() == (5, 0, 17)


def test_fast_path_allocation_failure_changes_nothing(tmp_path):
    # the fast path allocates its output before it reserves words: a 2 TiB input mapped
    # from a sparse file (no disk, no memory) makes that allocation fail
    try:
        with open("/proc/sys/vm/overcommit_memory") as f:
            if f.read().strip() == "1":
                pytest.skip("vm.overcommit_memory=1 would let a 2 TiB allocation succeed")
    except OSError:
        pass
    path = tmp_path / "sparse.bin"
    with open(path, "wb") as f:
        try:
            f.truncate(2**41)
        except OSError as exc:
            pytest.skip(f"no 2 TiB sparse file here: {exc}")
    x = np.memmap(path, dtype=np.float16, mode="r")
    g = pydropout.Generator(8, offset=3)
    with pytest.raises(MemoryError):
        pydropout.dropout(x, 0.5, generator=g)
    assert g.get_state() == (8, 0, 3)
    del x


# -- shared kernel vectors (the x86 side of scripts/neon_qemu.sh) ----------------------


def _records():
    for line in VECTORS.read_text().splitlines():
        if line and not line.startswith("#"):
            yield line.split()


def _unhex(s: str) -> bytes:
    return b"" if s == "-" else bytes.fromhex(s)


_STORAGE = {0: np.float16, 2: np.float32, 3: np.float64}


def _input(code: int, raw: bytes):
    """A record's input array; None for bfloat16 (code 1) where ml_dtypes is missing."""
    if code == 1:  # bfloat16: the core's storage type, viewed as ml_dtypes' bfloat16
        return None if BFLOAT16 is None else np.frombuffer(raw, np.uint16).copy().view(BFLOAT16)
    return np.frombuffer(raw, _STORAGE[code]).copy()


def _double(bits64: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", bits64))[0]


def _kernel_case(rec):
    """(expected output bytes, call) for a forward, mask or apply record; call(backend)
    runs the record on ``_core`` or the reference's NumPy backend and returns the outputs.
    None where the record's dtype is unavailable."""
    kind = rec[0]
    if kind == "forward":
        code, n, seed, stream, offset, t, drop_all, apply, sbits = (int(v) for v in rec[1:10])
        x = _input(code, _unhex(rec[10]))

        def call(backend):
            y, m = np.empty_like(x), np.empty((n + 7) // 8, np.uint8)
            s = _double(sbits)
            code_arg = (code,) if backend is _core else ()  # the NumPy backend reads the dtype
            backend.forward(
                x, y, m, *code_arg, t, bool(drop_all), s, bool(apply), seed, stream, offset
            )
            return [y, m]

        return None if x is None else ([_unhex(rec[11]), _unhex(rec[12])], call)
    if kind == "mask":
        n, seed, stream, offset, t, drop_all = (int(v) for v in rec[1:7])

        def call(backend):
            m = np.empty((n + 7) // 8, np.uint8)
            backend.mask(m, n, t, bool(drop_all), seed, stream, offset)
            return [m]

        return [_unhex(rec[7])], call
    assert kind == "apply", rec[:1]
    code, n, apply, sbits = (int(v) for v in rec[1:5])
    x = _input(code, _unhex(rec[5]))
    mask = None if rec[6] == "none" else np.frombuffer(_unhex(rec[6]), np.uint8).copy()

    def call(backend):
        y = np.empty_like(x)
        code_arg = (code,) if backend is _core else ()
        backend.apply(x, y, mask, *code_arg, _double(sbits), bool(apply))
        return [y]

    return None if x is None else ([_unhex(rec[7])], call)


def test_kernel_vectors_match_the_core_and_the_reference():
    """The vectors the aarch64 build is checked against are what x86 and NumPy compute."""
    n_checked = 0
    for rec in _records():
        if rec[0] == "philox":
            c, k, r = rec[1:5], rec[5:7], rec[7:11]
            got = _core.philox4x32([int(v) for v in c], [int(v) for v in k])
            assert list(got) == [int(v) for v in r]
            continue
        case = _kernel_case(rec)
        if case is None:
            continue
        expected, call = case
        for level in SIMD_LEVELS:
            with simd(level):
                assert [bits(a) for a in call(_core)] == expected, (rec[:9], level)
        assert [bits(a) for a in call(ref.NumpyBackend())] == expected, rec[:9]
        n_checked += 1
    assert n_checked > 90


@pytest.mark.slow  # a cross-compiled build, then qemu
def test_neon_kernels_under_qemu(tmp_path):
    """scripts/neon_qemu.sh aarch64: cross-compile, run the kernel driver under qemu-user."""
    missing = [
        t for t in ("aarch64-linux-gnu-g++", "qemu-aarch64", "bash") if shutil.which(t) is None
    ]
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not installed "
            "(Debian: apt-get install g++-aarch64-linux-gnu qemu-user)"
        )
    env = dict(os.environ, PYDROPOUT_KERNEL_TEST_BUILD=str(tmp_path))
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "neon_qemu.sh"), "aarch64"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "neon" in proc.stdout and "OK:" in proc.stdout, proc.stdout
