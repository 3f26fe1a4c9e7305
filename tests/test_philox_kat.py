"""Known answers: Random123's philox4x32 10 vectors and every row of docs/CONTRACT.md section 2,
checked against the compiled core and pydropout.reference, through the public API."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
from helpers import DTYPES, IMPLS, SEED, TWO32

import pydropout
import pydropout.reference as ref
from pydropout import _core


def _load_kat():
    rows = []
    for line in pathlib.Path(__file__).with_name("kat_vectors").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, rounds, *words = line.split()
        assert (name, rounds) == ("philox4x32", "10")
        words = [int(w, 16) for w in words]
        rows.append((words[0:4], words[4:6], words[6:10]))
    return rows


KAT = _load_kat()

# (stream, offset, expected words) rows of docs/CONTRACT.md section 2, seed SEED
STREAM_ROWS = [
    (0, 0, "b850222e c58cb04b 14a7a020 7a84fff9 adca1466 523e0d85 65401425 b299da3f"),
    (0, 6, "65401425 b299da3f f7ce299f 823ccb40"),
    (5, 0, "b341ed12 7899c9cc 8d35f144 68eba6fb"),
    (0, 4 * 2**32 - 2, "64c992ad 325045ac d9412d6a 59dd3f68"),
]
STREAM_ROWS = [(q, o, [int(w, 16) for w in ws.split()]) for q, o, ws in STREAM_ROWS]
ROW_IDS = ["offset0", "offset6", "stream5", "carry"]


def test_kat_file_has_the_three_vectors():
    assert len(KAT) == 3
    assert KAT[0][2] == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]


@pytest.mark.parametrize("ctr, key, expected", KAT)
def test_core_philox_kat(ctr, key, expected):
    assert list(_core.philox4x32(ctr, key)) == expected


@pytest.mark.parametrize("ctr, key, expected", KAT)
def test_reference_philox_kat(ctr, key, expected):
    out = ref.philox4x32_10(np.array(ctr, np.uint32), np.array(key, np.uint32))
    assert out.dtype == np.uint32
    assert out.tolist() == expected


def test_reference_philox_batched():
    ctr = np.array([c for c, _, _ in KAT], np.uint32)
    key = np.array([k for _, k, _ in KAT], np.uint32)
    assert ref.philox4x32_10(ctr, key).tolist() == [e for _, _, e in KAT]


def test_reference_stream_mapping_matches_core_philox():
    # word j is lane j % 4 of the block with counter (b lo, b hi, q lo, q hi), b = j // 4
    stream, first = 2**40 + 7, 2**34 - 3
    words = ref.stream_words(SEED, stream, 4 * first, 12)
    for k in range(3):
        b = first + k
        ctr = [b & 0xFFFFFFFF, b >> 32, stream & 0xFFFFFFFF, stream >> 32]
        key = [SEED & 0xFFFFFFFF, SEED >> 32]
        assert words[4 * k : 4 * k + 4].tolist() == list(_core.philox4x32(ctr, key))


@pytest.mark.parametrize("stream, offset, expected", STREAM_ROWS, ids=ROW_IDS)
def test_reference_stream_words(stream, offset, expected):
    words = ref.stream_words(SEED, stream, offset, len(expected))
    assert words.dtype == np.uint32
    assert words.tolist() == expected


def _kept(mod, n, t, gen_state):
    """Keep decisions of n elements at threshold t (p = t / 2**32) via the public API."""
    gen = pydropout.Generator(0)
    gen.set_state(gen_state)
    mask = mod.dropout_mask((n,), t / TWO32, generator=gen)
    assert gen.offset == gen_state[2] + n
    return np.unpackbits(mask, count=n, bitorder="little").astype(bool)


def _words_via_api(mod, n, gen_state):
    """Recover each word w_i as the largest t with element i kept (kept iff w_i >= t)."""
    lo = np.zeros(n, np.int64)  # kept at lo (t = 0 keeps everything)
    hi = np.full(n, TWO32, np.int64)  # dropped at hi (never kept)
    while np.any(hi - lo > 1):
        # one call per distinct midpoint; elements share a call when their intervals do
        for mid in np.unique((lo + hi) // 2):
            sel = (lo + hi) // 2 == mid
            kept = _kept(mod, n, int(mid), gen_state)
            lo = np.where(sel & kept, mid, lo)
            hi = np.where(sel & ~kept, mid, hi)
    return lo.tolist()


@pytest.mark.parametrize("stream, offset, expected", STREAM_ROWS, ids=ROW_IDS)
def test_stream_rows_through_public_api(stream, offset, expected, isa):
    state = (SEED, stream, offset)
    n = len(expected)
    for name, mod in IMPLS.items():
        # the expected word itself is kept, one more drops it: the word is pinned exactly
        for i, w in enumerate(expected):
            assert _kept(mod, n, w, state)[i], (name, i)
            assert not _kept(mod, n, w + 1, state)[i], (name, i)
    assert _words_via_api(pydropout, n, state) == expected


@pytest.mark.parametrize("stream, offset, expected", STREAM_ROWS, ids=ROW_IDS)
def test_stream_rows_reference_search(stream, offset, expected):
    assert _words_via_api(ref, len(expected), (SEED, stream, offset)) == expected


def test_threshold_of_p_0_3():
    assert int(np.floor(0.3 * 2.0**32)) == 1288490188
    assert pydropout.effective_p(0.3) == 1288490188 / 2**32
    assert pydropout.effective_p(1) == 1.0
    assert pydropout.effective_p(0) == 0.0


@pytest.mark.parametrize("name", IMPLS)
def test_packed_mask_row(name, isa):
    mod = IMPLS[name]
    gen = pydropout.Generator(SEED)
    mask = mod.dropout_mask(20, 0.3, generator=gen)
    assert mask.dtype == np.uint8 and mask.shape == (3,)
    assert bytes(mask) == bytes([0xFB, 0xB7, 0x0F])
    assert gen.offset == 20
    # the same bits from the words: kept iff w >= t
    words = ref.stream_words(SEED, 0, 0, 20)
    bits = np.unpackbits(mask, count=20, bitorder="little").astype(bool)
    np.testing.assert_array_equal(bits, words >= 1288490188)
    # and from a forward pass over 20 elements, through a shape
    _, mask2 = mod.dropout_with_mask(
        np.ones((4, 5), np.float32), 0.3, generator=pydropout.Generator(SEED)
    )
    assert bytes(mask2) == bytes([0xFB, 0xB7, 0x0F])
    assert bytes(mod.dropout_mask((4, 5), 0.3, generator=pydropout.Generator(SEED))) == bytes(
        [0xFB, 0xB7, 0x0F]
    )


@pytest.mark.parametrize("name", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_arange_row(name, dtype, isa):
    mod = IMPLS[name]
    x = np.arange(1, 9, dtype=np.float32).astype(dtype)
    gen = pydropout.Generator(SEED)
    y = mod.dropout(x, 0.5, generator=gen)
    assert y.dtype == x.dtype
    assert y.astype(np.float32).tolist() == [2, 4, 0, 0, 10, 0, 0, 16]
    assert gen.get_state() == (SEED, 0, 8)
    # the public default generator gives the same after manual_seed
    pydropout.manual_seed(SEED)
    y = mod.dropout(x, 0.5)
    assert y.astype(np.float32).tolist() == [2, 4, 0, 0, 10, 0, 0, 16]
    assert pydropout.default_generator.offset == 8
