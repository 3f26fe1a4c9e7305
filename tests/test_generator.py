"""Generator and stream semantics (docs/CONTRACT.md sections 1, 2 and 4): offsets advance by the
number of elements for every p, evaluation draws nothing, streams and seeds differ,
manual_seed, state round trips, pickling, the end of the stream, and chunk invariance."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from helpers import IMPLS, MODES, PS, same_bits, unpack_mask
from helpers import TWO64 as END

import pydropout
import pydropout.reference as ref

# ---------------------------------------------------------------------------------------
# construction and state


def test_defaults_and_properties():
    g = pydropout.Generator(12345)
    assert (g.seed, g.stream, g.offset) == (12345, 0, 0)
    assert g.get_state() == (12345, 0, 0)
    g = pydropout.Generator(2**64 - 1, stream=2**64 - 1, offset=2**64 - 1)
    assert g.get_state() == (2**64 - 1, 2**64 - 1, 2**64 - 1)
    assert all(type(v) is int for v in g.get_state())
    g.seed, g.stream, g.offset = 1, 2, 3
    assert g.get_state() == (1, 2, 3)
    g = pydropout.Generator(7, stream=2, offset=9)
    assert repr(g) == "Generator(seed=7, stream=2, offset=9)"
    assert pydropout.Generator(np.uint64(2**63)).seed == 2**63  # integer-like seeds


def test_seed_none_draws_entropy():
    seeds = {pydropout.Generator().seed for _ in range(8)}
    assert len(seeds) == 8
    assert all(0 <= s < 2**64 for s in seeds)
    assert pydropout.Generator(None).offset == 0


@pytest.mark.parametrize(
    "bad, exc",
    [
        (-1, ValueError),
        (2**64, ValueError),
        (2**100, ValueError),
        (1.0, TypeError),
        (0.5, TypeError),
        (True, TypeError),
        ("1", TypeError),
        (np.float64(3), TypeError),
    ],
)
@pytest.mark.parametrize("field", ["seed", "stream", "offset"])
def test_bad_integers(field, bad, exc):
    with pytest.raises(exc, match=field):
        pydropout.Generator(**{field: bad}) if field == "seed" else pydropout.Generator(
            1, **{field: bad}
        )
    g = pydropout.Generator(5, stream=6, offset=7)
    with pytest.raises(exc, match=field):
        setattr(g, field, bad)
    state = [5, 6, 7]
    state[["seed", "stream", "offset"].index(field)] = bad
    if field == "offset" and bad == 2**64:
        # the end of the stream is a state (an exhausted generator), so it restores
        g.set_state(tuple(state))
        assert g.get_state() == (5, 6, 2**64)
        g.set_state((5, 6, 7))
    else:
        with pytest.raises(exc, match=field):
            g.set_state(tuple(state))
    assert g.get_state() == (5, 6, 7)
    if field == "seed":
        with pytest.raises(exc, match="seed"):
            g.manual_seed(bad)
        with pytest.raises(exc, match="seed"):
            pydropout.manual_seed(bad)
        assert g.get_state() == (5, 6, 7)


def test_set_state_rejects_malformed():
    g = pydropout.Generator(1, offset=4)
    for bad in [(1, 2), (1, 2, 3, 4), "abc"]:
        with pytest.raises(ValueError, match="state"):
            g.set_state(bad)
    with pytest.raises(TypeError, match="state"):
        g.set_state(3)
    assert g.get_state() == (1, 0, 4)


def test_state_round_trip():
    x = np.arange(100, dtype=np.float32)
    g = pydropout.Generator(99, stream=3)
    pydropout.dropout(x, 0.5, generator=g)
    state = g.get_state()
    assert state == (99, 3, 100)
    y1 = pydropout.dropout(x, 0.5, generator=g)
    g.set_state(state)
    y2 = pydropout.dropout(x, 0.5, generator=g)
    assert same_bits(y1, y2)
    h = pydropout.Generator(0)
    h.set_state(list(state))  # any sequence of three
    assert same_bits(pydropout.dropout(x, 0.5, generator=h), y1)


def test_pickle_and_copy():
    g = pydropout.Generator(2**63 + 5, stream=17, offset=2**40 + 3)
    for clone in (pickle.loads(pickle.dumps(g)), copy.copy(g), copy.deepcopy(g)):
        assert type(clone) is pydropout.Generator
        assert clone is not g
        assert clone.get_state() == g.get_state()
        # independent: drawing from the clone does not move the original
        pydropout.dropout_mask(10, 0.5, generator=clone)
        assert clone.offset == 2**40 + 13 and g.offset == 2**40 + 3


def test_manual_seed():
    g = pydropout.manual_seed(1234)
    assert g is pydropout.default_generator
    assert g.get_state() == (1234, 0, 0)
    x = np.ones(50, np.float64)
    y1 = pydropout.dropout(x, 0.3)
    y1r = ref.dropout(x, 0.3, generator=pydropout.Generator(1234))
    assert same_bits(y1, y1r)
    assert pydropout.default_generator.offset == 50
    pydropout.default_generator.stream = 9
    pydropout.manual_seed(1234)  # back to stream 0, offset 0
    assert pydropout.default_generator.get_state() == (1234, 0, 0)
    assert same_bits(pydropout.dropout(x, 0.3), y1)
    # the method reseeds one generator and restarts its offset
    h = pydropout.Generator(1, stream=4, offset=77)
    assert h.manual_seed(8) is h
    assert h.get_state() == (8, 4, 0)


# ---------------------------------------------------------------------------------------
# consumption


@pytest.mark.parametrize("name", IMPLS)
@pytest.mark.parametrize("p", PS)
def test_offset_advances_by_n_for_every_p(name, p):
    mod = IMPLS[name]
    for mode in MODES:
        g = pydropout.Generator(3, offset=11)
        mod.dropout(np.ones((3, 7), np.float32), p, mode=mode, generator=g)
        assert g.offset == 11 + 21
        mod.dropout_with_mask(np.ones(5, np.float16), p, mode=mode, generator=g)
        assert g.offset == 11 + 26
        mod.dropout(np.ones((4, 6), np.float64), p, mode=mode, noise_shape=(4, 1), generator=g)
        assert g.offset == 11 + 30
        mod.dropout(np.ones((2, 0), np.float32), p, mode=mode, generator=g)
        assert g.offset == 11 + 30
    mod.dropout_mask((2, 3, 4), p, generator=g)
    assert g.offset == 11 + 54
    mod.dropout_backward(np.ones(8, np.float32), np.zeros(1, np.uint8), p)
    assert g.offset == 11 + 54
    assert g.get_state()[:2] == (3, 0)


@pytest.mark.parametrize("name", IMPLS)
def test_offset_advances_with_default_generator(name):
    mod = IMPLS[name]
    pydropout.manual_seed(5)
    mod.dropout(np.ones(10, np.float32), 0.5)
    mod.dropout(np.ones(10, np.float32), 0.0)
    mod.dropout(np.ones(10, np.float32), 1.0)
    mod.dropout_mask(3, 0.5)
    assert pydropout.default_generator.get_state() == (5, 0, 33)


@pytest.mark.parametrize("name", IMPLS)
@pytest.mark.parametrize("mode", MODES)
def test_evaluation_draws_nothing(name, mode):
    mod = IMPLS[name]
    g = pydropout.Generator(3, offset=11)
    pydropout.manual_seed(3)
    x = np.ones((4, 5), np.float32)
    for p in PS:
        mod.dropout(x, p, training=False, mode=mode, generator=g)
        mod.dropout(x, p, training=False, mode=mode)
        mod.dropout(x, p, training=False, mode=mode, noise_shape=(4, 1))
    assert g.get_state() == (3, 0, 11)
    assert pydropout.default_generator.get_state() == (3, 0, 0)


def test_consecutive_calls_are_one_call():
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    g = pydropout.Generator(77)
    parts = [pydropout.dropout(x[a:b], 0.4, generator=g) for a, b in [(0, 3), (3, 67), (67, 1000)]]
    whole = pydropout.dropout(x, 0.4, generator=pydropout.Generator(77))
    assert same_bits(np.concatenate(parts), whole)


# ---------------------------------------------------------------------------------------
# streams and seeds


def test_streams_and_seeds_differ():
    n = 4096
    masks = {}
    for seed in (0, 1, 2**32, 2**63):
        for stream in (0, 1, 5, 2**32, 2**63):
            g = pydropout.Generator(seed, stream=stream)
            masks[seed, stream] = unpack_mask(pydropout.dropout_mask(n, 0.5, generator=g), n)
    keys = list(masks)
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            agree = np.mean(masks[a] == masks[b])
            # independent masks agree on half the elements: 6 sigma = 6 * 0.5 / sqrt(n)
            assert abs(agree - 0.5) < 6 * 0.5 / np.sqrt(n), (a, b)


def test_stream_is_used_by_both_impls():
    x = np.ones(64, np.float32)
    for stream in (0, 5, 2**64 - 1):
        a = pydropout.dropout(x, 0.5, generator=pydropout.Generator(1, stream=stream))
        b = ref.dropout(x, 0.5, generator=pydropout.Generator(1, stream=stream))
        assert same_bits(a, b)
        words = ref.stream_words(1, stream, 0, 64)
        np.testing.assert_array_equal(a != 0, words >= 2**31)


@pytest.mark.parametrize("name", IMPLS)
def test_offset_shifts_the_stream(name):
    mod = IMPLS[name]
    n = 300
    start = 4 * 2**32 - 100  # across a carry into the block counter's high word
    whole = unpack_mask(
        mod.dropout_mask(n + 200, 0.5, generator=pydropout.Generator(8, stream=2, offset=start)),
        n + 200,
    )
    for k in (0, 1, 2, 3, 4, 5, 63, 64, 65, 100, 199, 200):
        part = unpack_mask(
            mod.dropout_mask(n, 0.5, generator=pydropout.Generator(8, stream=2, offset=start + k)),
            n,
        )
        np.testing.assert_array_equal(part, whole[k : k + n])


# ---------------------------------------------------------------------------------------
# the end of the stream


@pytest.mark.parametrize("name", IMPLS)
def test_past_end_of_stream_raises_and_changes_nothing(name):
    mod = IMPLS[name]
    x0 = np.arange(1, 13, dtype=np.float32)
    out0 = np.full(12, 7.0, np.float32)
    for offset, n in [(END - 9, 10), (END - 1, 2), (END - 10, 11), (END, 1), (0, END + 1)]:
        g = pydropout.Generator(3, stream=1, offset=min(offset, END - 1))
        if offset == END:  # exhausted by a call that ended exactly at 2**64
            pydropout.dropout_mask(1, 0.5, generator=g)
        before = g.get_state()
        x, out = x0.copy(), out0.copy()
        xs = x[:n] if n <= 12 else None
        calls = [lambda: mod.dropout_mask(n, 0.5, generator=g)]
        if xs is not None:
            calls += [
                lambda: mod.dropout(xs, 0.5, generator=g),
                lambda: mod.dropout(xs, 0.5, generator=g, out=out[:n]),
                lambda: mod.dropout(xs, 0.5, generator=g, out=out[::-1][:n]),
                lambda: mod.dropout(xs, 0.5, inplace=True, generator=g),
                lambda: mod.dropout_with_mask(xs, 0.5, generator=g, out=out[:n]),
                lambda: mod.dropout(xs, 0.0, generator=g),
                lambda: mod.dropout(xs, 1.0, generator=g),
                lambda: mod.dropout(xs, 0.5, mode="downscale_in_infer", generator=g),
                lambda: mod.dropout(
                    np.ones((n, 3), np.float32), 0.5, noise_shape=(n, 1), generator=g
                ),
            ]
        for call in calls:
            with pytest.raises(ValueError, match="offset"):
                call()
            assert g.get_state() == before
            assert same_bits(x, x0)
            assert same_bits(out, out0)


@pytest.mark.parametrize("name", IMPLS)
def test_call_ending_exactly_at_end_of_stream(name):
    mod = IMPLS[name]
    x = np.arange(1, 11, dtype=np.float64)
    g = pydropout.Generator(3, offset=END - 10)
    y, mask = mod.dropout_with_mask(x, 0.5, generator=g)
    assert g.offset == END
    keep = ref.stream_words(3, 0, END - 10, 10) >= 2**31
    np.testing.assert_array_equal(unpack_mask(mask, 10), keep)
    np.testing.assert_array_equal(y, np.where(keep, 2 * x, 0.0))
    # an empty call still works at the end; any word more does not
    assert mod.dropout(np.ones(0, np.float32), 0.5, generator=g).shape == (0,)
    assert mod.dropout_mask(0, 0.5, generator=g).shape == (0,)
    assert g.offset == END
    with pytest.raises(ValueError, match="offset"):
        mod.dropout(np.ones(1, np.float32), 0.5, generator=g)
    assert g.offset == END


@pytest.mark.parametrize("seed,stream,n", [(3, 2, 4), (4, 0, 3)])
def test_exhausted_generator_state_round_trips(seed, stream, n):
    """A generator whose last call ended exactly at 2**64 reports offset 2**64; that
    state must go back in through set_state, pickle and copy, and a call from it raises
    and leaves it as it was."""
    g = pydropout.Generator(seed, stream=stream, offset=END - n)
    pydropout.dropout_mask(n, 0.5, generator=g)
    state = g.get_state()
    assert state == (seed, stream, END)
    h = pydropout.Generator(0)
    h.set_state(state)
    assert h.get_state() == state
    assert pickle.loads(pickle.dumps(g)).get_state() == state
    assert copy.deepcopy(g).get_state() == state
    with pytest.raises(ValueError, match=r"offset.*2\*\*64"):
        pydropout.dropout_mask(1, 0.5, generator=h)
    assert h.get_state() == state


# ---------------------------------------------------------------------------------------
# chunk invariance (docs/CONTRACT.md section 2): piece k at offset + start_k reproduces the whole


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
def test_chunk_invariance(dtype, mode, isa):
    rng = np.random.default_rng(21)
    n = 5000
    x = (rng.standard_normal(n) * 4).astype(dtype)
    state = (0xDEADBEEF, 7, 4 * 2**32 - 1000)
    y_whole, m_whole = pydropout.dropout_with_mask(
        x, 0.3, mode=mode, generator=pydropout.Generator(state[0], stream=state[1], offset=state[2])
    )
    for trial in range(4):
        cuts = np.sort(rng.choice(np.arange(1, n), size=trial * 5 + 1, replace=False))
        starts = np.concatenate([[0], cuts])
        stops = np.concatenate([cuts, [n]])
        ys, ms = [], []
        for a, b in zip(starts, stops):
            g = pydropout.Generator(state[0], stream=state[1], offset=state[2] + int(a))
            y, m = pydropout.dropout_with_mask(x[a:b], 0.3, mode=mode, generator=g)
            ys.append(y)
            ms.append(unpack_mask(m, b - a))
        assert same_bits(np.concatenate(ys), y_whole)
        np.testing.assert_array_equal(np.concatenate(ms), unpack_mask(m_whole, n))


def test_chunk_invariance_of_rows_and_large_pieces(num_threads):
    """Rows of a 2-D array, and pieces larger than the threading grain."""
    x = np.random.default_rng(3).standard_normal((40, 9000)).astype(np.float32)
    whole = pydropout.dropout(x, 0.5, generator=pydropout.Generator(5, offset=17))
    rows = [
        pydropout.dropout(x[i], 0.5, generator=pydropout.Generator(5, offset=17 + 9000 * i))
        for i in range(40)
    ]
    assert same_bits(np.stack(rows), whole)
    flat = x.reshape(-1)
    with num_threads(8):
        cuts = [0, 100_003, 170_001, 360_000]
        pieces = [
            pydropout.dropout(flat[a:b], 0.5, generator=pydropout.Generator(5, offset=17 + a))
            for a, b in zip(cuts[:-1], cuts[1:])
        ]
    assert same_bits(np.concatenate(pieces), whole.reshape(-1))
    masks = [
        unpack_mask(
            pydropout.dropout_mask(b - a, 0.5, generator=pydropout.Generator(5, offset=17 + a)),
            b - a,
        )
        for a, b in zip(cuts[:-1], cuts[1:])
    ]
    np.testing.assert_array_equal(np.concatenate(masks), whole.reshape(-1) != 0)


SPEC_SIGNATURES = {
    "dropout": "(x, p=0.5, training=True, inplace=False, *, mode='upscale_in_train', "
    "noise_shape=None, generator=None, out=None)",
    "dropout_with_mask": "(x, p=0.5, *, mode='upscale_in_train', noise_shape=None, "
    "generator=None, out=None)",
    "dropout_backward": "(grad, mask, p, *, mode='upscale_in_train', noise_shape=None, out=None)",
    "dropout_mask": "(shape, p, *, generator=None)",
}


@pytest.mark.parametrize("module", ["pydropout", "pydropout.reference"])
@pytest.mark.parametrize("name", sorted(SPEC_SIGNATURES))
def test_public_functions_have_the_spec_signatures(module, name):
    import importlib
    import inspect

    f = getattr(importlib.import_module(module), name)
    assert str(inspect.signature(f)) == SPEC_SIGNATURES[name]


def test_generator_signature_is_readable_and_matches_the_constructor():
    """SPEC: Generator(seed=None, *, stream=0, offset=0): inspect reads that signature
    from the compiled class, and the constructor enforces it."""
    import inspect

    sig = inspect.signature(pydropout.Generator)
    assert str(sig) == "(seed=None, *, stream=0, offset=0)"
    bound = sig.bind(5, stream=6, offset=7)
    g = pydropout.Generator(*bound.args, **bound.kwargs)
    assert g.get_state() == (5, 6, 7)
    with pytest.raises(TypeError):
        pydropout.Generator(5, 6)  # stream is keyword-only
    with pytest.raises(TypeError):
        sig.bind(5, 6)
