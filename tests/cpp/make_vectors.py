"""Write tests/data/kernel_vectors.txt: kernel test vectors computed by pydropout.reference.

The C++ driver tests/cpp/kernel_test.cpp checks every kernel tier of the machine it runs
on (scalar, AVX2 and the AVX-512 tiers on x86-64; scalar, NEON on aarch64 under qemu-user)
against these vectors, and tests/test_edges.py checks that the compiled package and the reference
still give exactly them. Regenerate with ``python tests/cpp/make_vectors.py`` (the inputs
are drawn from a fixed seed; the expected outputs come from the reference only).

Format, one record per line, integers in decimal, byte strings in hex ("-" when empty):
  philox c0 c1 c2 c3 k0 k1 r0 r1 r2 r3
  forward dtype n seed stream offset threshold drop_all apply scale_bits x y mask
  mask n seed stream offset threshold drop_all mask
  apply dtype n apply scale_bits x mask_or_- y
dtype is the core's code (0 float16, 1 bfloat16, 2 float32, 3 float64); scale_bits is the
float64 bit pattern of the scale.
"""

from __future__ import annotations

import pathlib
import struct
import sys

import numpy as np

import pydropout.reference as ref
from pydropout import Generator, _checks, _spec

try:
    import ml_dtypes

    BF16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - ml_dtypes is needed only to regenerate
    BF16 = None

OUT = pathlib.Path(__file__).resolve().parents[1] / "data" / "kernel_vectors.txt"
SEED = 0x0123456789ABCDEF
TWO64 = 1 << 64


def dtypes():
    out = [(0, np.dtype(np.float16)), (2, np.dtype(np.float32)), (3, np.dtype(np.float64))]
    if BF16 is not None:
        out.insert(1, (1, BF16))
    return out


def hexs(a) -> str:
    b = np.ascontiguousarray(a).tobytes()
    return b.hex() if b else "-"


def special_values(dt: np.dtype) -> np.ndarray:
    """NaNs with payloads and signs, signalling NaN, infinities, signed zeros, subnormals."""
    uint = {2: np.uint16, 4: np.uint32, 8: np.uint64}[dt.itemsize]
    if dt.itemsize == 2 and dt != BF16:  # float16
        bits = [0x7E00, 0xFE00, 0x7C01, 0x7D55, 0x7C00, 0xFC00, 0x8000, 0x0001, 0x03FF, 0x7BFF]
    elif dt.itemsize == 2:  # bfloat16
        bits = [0x7FC0, 0xFFC0, 0x7F81, 0x7FD5, 0x7F80, 0xFF80, 0x8000, 0x0001, 0x007F, 0x7F7F]
    elif dt.itemsize == 4:
        bits = [
            0x7FC00000,
            0xFFC00000,
            0x7F800001,
            0x7FD55555,
            0x7F800000,
            0xFF800000,
            0x80000000,
            0x00000001,
            0x007FFFFF,
            0x7F7FFFFF,
        ]
    else:
        bits = [
            0x7FF8000000000000,
            0xFFF8000000000000,
            0x7FF0000000000001,
            0x7FF5555555555555,
            0x7FF0000000000000,
            0xFFF0000000000000,
            0x8000000000000000,
            1,
            0x000FFFFFFFFFFFFF,
            0x7FEFFFFFFFFFFFFF,
        ]
    return np.array(bits, dtype=uint).view(dt)


def ties(dt: np.dtype, s: float) -> np.ndarray:
    """16-bit inputs whose float32 product with ``s`` lies halfway between two outputs."""
    if dt.itemsize != 2 or not np.isfinite(s):
        return np.empty(0, dt)
    x = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(dt)
    with np.errstate(all="ignore"):
        prod = (x.astype(np.float32) * np.float32(s)).view(np.uint32)
    finite = np.isfinite(prod.view(np.float32))
    if dt == BF16:
        tie = (prod & 0xFFFF) == 0x8000
    else:  # float16 normal results: 13 bits dropped; subnormal results: more
        exp = (prod >> 23) & 0xFF
        shift = np.where(exp >= 113, 13, np.minimum(126 - exp.astype(np.int64) + 13, 31))
        low = prod.astype(np.int64) & ((1 << shift) - 1)
        tie = (low == (1 << (shift - 1))) & (exp >= 90)
    picked = x[tie & finite]
    return picked[:: max(1, picked.size // 12)][:12]


def inputs(
    rng: np.random.Generator, dt: np.dtype, n: int, avoid_zero: bool, s: float = 1.0
) -> np.ndarray:
    x = (rng.standard_normal(n) * 4.0).astype(dt)
    sp = np.concatenate([special_values(dt), ties(dt, s)])
    if avoid_zero:  # 0 * inf makes a NaN whose sign is the machine's default NaN (x86: -)
        sp = sp[np.asarray(sp, dtype=np.float64) != 0]
    k = min(n, sp.size)
    pos = rng.choice(n, size=k, replace=False) if n else np.empty(0, int)
    x[pos] = sp[:k]
    return x


def forward_record(code, dt, n, seed, stream, offset, p, upscale, rng) -> str:
    drop_all = p == 1.0
    t = 0 if drop_all else _spec.threshold(p)
    s = _spec.scale(p, dt) if upscale else 1.0
    inf_scale = upscale and not np.isfinite(s)
    x = inputs(rng, dt, n, avoid_zero=inf_scale, s=s)
    mode = _checks.UPSCALE if upscale else _checks.DOWNSCALE
    g = Generator(seed, stream=stream, offset=offset)
    y, m = ref.dropout_with_mask(x, p, mode=mode, generator=g)
    sb = struct.unpack("<Q", struct.pack("<d", s))[0]
    return (
        f"forward {code} {n} {seed} {stream} {offset} {t} {int(drop_all)} {int(upscale)} "
        f"{sb} {hexs(x)} {hexs(y)} {hexs(m)}"
    )


def records():
    rng = np.random.default_rng(20240601)
    yield "# generated by tests/cpp/make_vectors.py from pydropout.reference; do not edit"
    # Random123's known answers, then the SPEC's stream mapping through the kernels
    kat = [
        ((0, 0, 0, 0), (0, 0)),
        ((0xFFFFFFFF,) * 4, (0xFFFFFFFF, 0xFFFFFFFF)),
        ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0)),
    ]
    for c, k in kat:
        r = ref.philox4x32_10(np.array(c, np.uint32), np.array(k, np.uint32))
        yield "philox " + " ".join(str(int(v)) for v in (*c, *k, *r))

    sizes = [0, 1, 7, 8, 63, 64, 65, 129, 200]
    offsets = [0, 1, 3, 6, 4 * 2**32 - 2, 4 * 2**32 - 37, 8 * 2**32 - 61]
    ps = [0.3, 1 / 3, 1e-10, 0.9999999, 1.0, 0.2, 0.0, 0.5]
    for code, dt in dtypes():
        for i, n in enumerate(sizes):
            offset = offsets[i % len(offsets)]
            stream = [0, 5, TWO64 - 1][i % 3]
            p = ps[i % len(ps)]
            for upscale in (True, False):
                yield forward_record(code, dt, n, SEED + i, stream, offset, p, upscale, rng)
        # the very end of the stream: offset + n == 2**64
        yield forward_record(code, dt, 77, SEED, 0, TWO64 - 77, 0.5, True, rng)
    # a longer one per dtype, across the 2**32 block carry
    for code, dt in dtypes():
        yield forward_record(code, dt, 500, 7, 3, 4 * 2**32 - 251, 0.25, True, rng)

    for n, offset, p in [
        (1, 0, 0.5),
        (20, 0, 0.3),
        (70, 5, 0.5),
        (333, 4 * 2**32 - 100, 0.75),
        (64, TWO64 - 64, 0.5),
        (100, 2, 1.0),
        (9, 1, 0.0),
    ]:
        drop_all = p == 1.0
        t = 0 if drop_all else _spec.threshold(p)
        m = ref.dropout_mask(n, p, generator=Generator(SEED, stream=1, offset=offset))
        yield f"mask {n} {SEED} 1 {offset} {t} {int(drop_all)} {hexs(m)}"

    for code, dt in dtypes():
        for n, upscale, with_mask in [
            (0, True, True),
            (5, True, True),
            (64, False, True),
            (131, True, True),
            (70, True, False),
        ]:
            p = 1 / 3
            s = _spec.scale(p, dt) if upscale else 1.0
            x = inputs(rng, dt, n, avoid_zero=False, s=s)
            mask = np.packbits(rng.integers(0, 2, n).astype(bool), bitorder="little")
            mode = _checks.UPSCALE if upscale else _checks.DOWNSCALE
            if with_mask:
                y = ref.dropout_backward(x, mask, p, mode=mode)
            else:  # no mask: every element kept
                y = ref.dropout_backward(x, np.full(mask.size, 0xFF, np.uint8), p, mode=mode)
            sb = struct.unpack("<Q", struct.pack("<d", s))[0]
            mtxt = hexs(mask) if with_mask else "none"
            yield f"apply {code} {n} {int(upscale)} {sb} {hexs(x)} {mtxt} {hexs(y)}"


def main() -> int:
    if BF16 is None:
        print("ml_dtypes is needed to write the bfloat16 vectors", file=sys.stderr)
        return 1
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(records()) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
