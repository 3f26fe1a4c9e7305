"""The quality of the randomness, measured with fixed seeds (so these tests never flake).

Every bound below is stated in standard deviations of the statistic under the hypothesis
of independent fair draws: SIGMA = 6 (a false alarm about once in 5e8 fresh seeds). With
fixed seeds the outcome is deterministic; the bounds say how far from ideal a result may
be before it counts as a defect. The heavy battery (dieharder) is scripts/randomness.sh,
with results in docs/RANDOMNESS.md.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import pydropout
import pydropout.reference as ref

SIGMA = 6.0
N = 1 << 22  # elements per mask
SEED = 0x5EED_0F_D20_9011


def keep_bits(n, p, seed=SEED, stream=0, offset=0):
    m = pydropout.dropout_mask(
        n, p, generator=pydropout.Generator(seed, stream=stream, offset=offset)
    )
    return np.unpackbits(m, count=n, bitorder="little").astype(np.int8)


def assert_rate(kept: int, total: int, q: float, what: str) -> None:
    """kept / total is within SIGMA binomial standard deviations of q."""
    sd = math.sqrt(total * q * (1 - q))
    dev = (kept - total * q) / sd
    assert abs(dev) < SIGMA, (
        f"{what}: keep rate {kept / total:.6f}, expected {q:.6f} ({dev:+.1f} sd)"
    )


def corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64) - a.mean()
    b = b.astype(np.float64) - b.mean()
    return float((a * b).sum() / math.sqrt((a * a).sum() * (b * b).sum()))


def assert_uncorrelated(a, b, what):
    """|Pearson r| < SIGMA / sqrt(n): r has standard deviation 1/sqrt(n) for independent draws."""
    r = corr(a, b)
    bound = SIGMA / math.sqrt(a.size)
    assert abs(r) < bound, f"{what}: correlation {r:+.5f}, bound {bound:.5f}"


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keep_rate_per_lane_and_bit_position(p):
    k = keep_bits(N, p)
    q = 1 - pydropout.effective_p(p)
    assert_rate(int(k.sum()), N, q, "overall")
    # Philox lane (index mod 4), 16-block group (mod 16), 64-bit mask word (mod 64): each
    # residue class separately; mod 8 is the bit position within a mask byte
    for period in (4, 8, 16, 64):
        per = k.reshape(-1, period).sum(axis=0)
        for lane, kept in enumerate(per):
            assert_rate(int(kept), N // period, q, f"p={p}, index mod {period} == {lane}")
    # and per mask byte position within a 64-bit word (bytes 0..7 of each 8-byte word)
    m = np.packbits(k, bitorder="little").reshape(-1, 8)
    bits_per_byte = np.unpackbits(m, axis=1, bitorder="little").reshape(-1, 8, 8).sum(axis=(0, 2))
    for pos, kept in enumerate(bits_per_byte):
        assert_rate(int(kept), N // 8, q, f"p={p}, byte {pos} of each mask word")


def test_keep_rate_at_small_and_large_p():
    # few drops / few keeps: counts are Poisson-like; the same bound in sd
    for p in (2.0**-16, 1e-4, 1 - 1e-4):
        k = keep_bits(N, p, stream=7)
        assert_rate(int(k.sum()), N, 1 - pydropout.effective_p(p), f"p={p}")


def test_word_bits_and_bytes_are_uniform():
    """The raw words: each of the 32 bit positions is 1 half the time; each byte position's
    values are uniform (chi-square over 256 bins, 255 degrees of freedom)."""
    w = ref.stream_words(SEED, 0, 0, 1 << 20)
    bits = np.unpackbits(w.view(np.uint8).reshape(-1, 4), axis=1, bitorder="little")
    for pos, ones in enumerate(bits.sum(axis=0)):
        assert_rate(int(ones), w.size, 0.5, f"bit {pos} of the words")
    for lane in range(4):  # word index mod 4 = Philox output lane
        lane_bits = np.unpackbits(
            np.ascontiguousarray(w[lane::4]).view(np.uint8), bitorder="little"
        )
        assert_rate(int(lane_bits.sum()), lane_bits.size, 0.5, f"bits of lane {lane}")
    dof = 255
    for pos in range(4):
        counts = np.bincount(w.view(np.uint8)[pos::4], minlength=256)
        e = w.size / 256
        chi2 = float(((counts - e) ** 2 / e).sum())
        assert abs(chi2 - dof) < SIGMA * math.sqrt(2 * dof), f"byte {pos}: chi-square {chi2:.1f}"


@pytest.mark.parametrize("lag", [1, 2, 3, 4, 5, 8, 16, 63, 64, 65])
def test_neighbouring_elements_are_uncorrelated(lag):
    k = keep_bits(N, 0.5, stream=1)
    assert_uncorrelated(k[:-lag], k[lag:], f"elements {lag} apart")


def test_neighbouring_words_are_uncorrelated():
    w = ref.stream_words(SEED, 2, 0, 1 << 20).astype(np.float64)
    for lag in (1, 2, 3, 4, 5):
        assert_uncorrelated(w[:-lag], w[lag:], f"words {lag} apart")


def test_streams_seeds_and_calls_are_uncorrelated():
    base = keep_bits(N, 0.5, seed=0)
    # neighbouring streams and streams differing in the high word
    assert_uncorrelated(base, keep_bits(N, 0.5, seed=0, stream=1), "streams 0 and 1")
    assert_uncorrelated(base, keep_bits(N, 0.5, seed=0, stream=1 << 32), "streams 0 and 2**32")
    # neighbouring seeds, in both halves of the key
    assert_uncorrelated(base, keep_bits(N, 0.5, seed=1), "seeds 0 and 1")
    assert_uncorrelated(base, keep_bits(N, 0.5, seed=1 << 32), "seeds 0 and 2**32")
    # consecutive calls on one generator
    g = pydropout.Generator(0)
    first = np.unpackbits(pydropout.dropout_mask(N, 0.5, generator=g), count=N, bitorder="little")
    second = np.unpackbits(pydropout.dropout_mask(N, 0.5, generator=g), count=N, bitorder="little")
    assert first.tobytes() == base.astype(np.uint8).tobytes()
    assert_uncorrelated(first, second, "consecutive calls")
    # the same elements of neighbouring blocks: offsets 4 words apart
    assert_uncorrelated(base, keep_bits(N, 0.5, seed=0, offset=4), "offsets 0 and 4")


def test_mask_bytes_at_half_are_uniform():
    """At p = 0.5 a packed mask byte is uniform over 0..255 (chi-square, 255 dof), and the
    number of kept elements per 64-element word is Binomial(64, 1/2)."""
    m = pydropout.dropout_mask(N, 0.5, generator=pydropout.Generator(SEED, stream=3))
    counts = np.bincount(m, minlength=256)
    e = m.size / 256
    chi2 = float(((counts - e) ** 2 / e).sum())
    assert abs(chi2 - 255) < SIGMA * math.sqrt(2 * 255), f"mask bytes: chi-square {chi2:.1f}"
    ones = np.unpackbits(m.reshape(-1, 8), axis=1).sum(axis=1)
    observed = np.bincount(ones, minlength=65)
    expected = np.array([math.comb(64, j) for j in range(65)], np.float64) / 2.0**64 * ones.size
    use = expected >= 5  # the usual validity rule of the chi-square test
    chi2 = float(((observed[use] - expected[use]) ** 2 / expected[use]).sum())
    dof = int(use.sum()) - 1
    assert abs(chi2 - dof) < SIGMA * math.sqrt(2 * dof), (
        f"ones per 64-bit word: chi-square {chi2:.1f}"
    )


def test_drops_are_not_clumped():
    """Runs of kept elements at p = 0.5 have the geometric length distribution: a run of
    length L has probability 2**-L."""
    k = keep_bits(N, 0.5, stream=5)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], k, [0]])))
    runs = edges[1::2] - edges[::2]
    for length in range(1, 12):
        observed = int((runs == length).sum())
        assert_rate(observed, runs.size, 2.0**-length, f"runs of {length} kept elements")
