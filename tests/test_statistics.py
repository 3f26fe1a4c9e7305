"""Statistics with fixed seeds, so they never flake. Bounds are six standard deviations
of the binomial keep count: |keep_rate - (1 - p)| <= 6 * sqrt(p (1 - p) / n). A correct
generator fails one such check with probability about 2e-9; the seeds are fixed, so a
pass is reproducible and a failure means the stream changed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import DOWN, DTYPES
from helpers import unpack_mask as keep_bits

import pydropout

N = 1 << 20


def six_sigma(p, n):
    return 6 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("p", [1e-3, 0.1, 0.3, 0.5, 0.7, 0.9, 0.999])
def test_keep_rate(p):
    """Keep rate within 6 sigma of 1 - p, over 2**20 elements, for three seeds/streams."""
    for seed, stream, offset in [(0, 0, 0), (2**63 + 11, 5, 3), (12345, 2**40, 4 * 2**32 - 7)]:
        g = pydropout.Generator(seed, stream=stream, offset=offset)
        keep = keep_bits(pydropout.dropout_mask(N, p, generator=g), N)
        assert abs(keep.mean() - (1 - p)) <= six_sigma(p, N), (p, seed)


def test_keep_rate_per_lane_and_position():
    """Each Philox lane (i % 4) and each position in a 64-element block keeps at the same
    rate: a wrong lane or a stale block in a SIMD path would show here."""
    p, n = 0.5, 1 << 22
    keep = keep_bits(pydropout.dropout_mask(n, p, generator=pydropout.Generator(7)), n)
    for period in (4, 8, 64):
        rates = keep.reshape(-1, period).mean(axis=0)
        assert np.all(np.abs(rates - 0.5) <= six_sigma(p, n // period)), period


def test_tiny_and_extreme_p():
    """P(drop) = floor(p * 2**32) / 2**32: p below 2**-32 drops nothing; 1 - 1e-10
    keeps almost nothing."""
    n = N
    keep = keep_bits(pydropout.dropout_mask(n, 1e-10, generator=pydropout.Generator(1)), n)
    assert keep.all()  # t = floor(1e-10 * 2**32) = 0
    keep = keep_bits(pydropout.dropout_mask(n, 1 - 1e-10, generator=pydropout.Generator(1)), n)
    # expected drops of the kept: n * (1 - t / 2**32) ~ 1e-4: none at this seed
    assert keep.sum() <= 1
    assert not keep_bits(pydropout.dropout_mask(n, 1.0, generator=pydropout.Generator(1)), n).any()
    assert keep_bits(pydropout.dropout_mask(n, 0.0, generator=pydropout.Generator(1)), n).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_mean_preserved(dtype, p):
    """upscale_in_train: E[y] = x. For x_i = c the mean of y is s * c * keep_rate, so
    |mean(y) - c| <= s * c * 6 sigma + the rounding of s to the dtype."""
    c = 1.5
    x = np.full(N, c, dtype)
    y = pydropout.dropout(x, p, generator=pydropout.Generator(99)).astype(np.float64)
    s = float(np.array(1 / (1 - p)).astype(dtype))
    rounding = abs(s * (1 - p) - 1) * c
    assert abs(y.mean() - c) <= s * c * six_sigma(p, N) + rounding
    # every kept element is exactly dtype(c * s), every other +0.0
    assert set(np.unique(y)) <= {0.0, float(np.array(c, dtype) * np.array(s, dtype))}


def test_mean_preserved_random_input():
    """For any x: Var(mean(y) - mean(x)) = s**2 p (1 - p) sum(x_i**2) / n**2."""
    p = 0.3
    x = np.random.default_rng(5).standard_normal(N) + 0.25
    y = pydropout.dropout(x, p, generator=pydropout.Generator(3))
    s = 1 / (1 - p)
    sigma = s * math.sqrt(p * (1 - p) * float(np.sum(x * x))) / N
    assert abs(y.mean() - x.mean()) <= 6 * sigma


@pytest.mark.parametrize("p", [0.2, 0.6])
def test_downscale_train_mean_matches_eval(p):
    """downscale_in_infer: E[train output] = (1 - p) x = the evaluation output."""
    x = np.full(N, 2.0, np.float64)
    y = pydropout.dropout(x, p, mode=DOWN, generator=pydropout.Generator(4))
    z = pydropout.dropout(x, p, training=False, mode=DOWN)
    assert np.all(z == 2.0 * (1 - p))
    assert abs(y.mean() - z.mean()) <= 2.0 * six_sigma(p, N)


def test_streams_and_offsets_are_uncorrelated():
    """Masks from two streams, two seeds, or two disjoint offset ranges keep jointly at
    (1 - p)**2: the count of joint keeps is within 6 sigma of a Bernoulli((1-p)**2) sum."""
    p, n = 0.5, N
    base = keep_bits(pydropout.dropout_mask(n, p, generator=pydropout.Generator(10)), n)
    others = [
        pydropout.Generator(10, stream=1),
        pydropout.Generator(11),
        pydropout.Generator(10, offset=n),
        pydropout.Generator(10, offset=1),  # the same words shifted by one
    ]
    q = (1 - p) ** 2
    for g in others:
        other = keep_bits(pydropout.dropout_mask(n, p, generator=g), n)
        assert abs(np.mean(base & other) - q) <= 6 * math.sqrt(q * (1 - q) / n), g


def test_word_distribution_is_uniform():
    """The 32-bit words, seen through 16 thresholds: P(w >= t) = 1 - t / 2**32 to 6 sigma."""
    n = 1 << 18
    for k in range(1, 16):
        t = k * 2**28
        g = pydropout.Generator(2024, stream=3)
        keep = keep_bits(pydropout.dropout_mask(n, t / 2**32, generator=g), n)
        assert abs(keep.mean() - (1 - t / 2**32)) <= six_sigma(t / 2**32, n), k
