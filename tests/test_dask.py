"""pydropout.dask: the dropout of a dask array equals the dropout of the computed array."""

import logging
import subprocess
import sys

import numpy as np
import pytest

import pydropout

da = pytest.importorskip("dask.array")  # the `dask` extra; part of the `test` extra
import dask
from helpers import MODES, SEED

import pydropout.dask as pdd


def expected(x, p, *, stream=0, offset=0, mode="upscale_in_train"):
    gen = pydropout.Generator(SEED, stream=stream, offset=offset)
    return pydropout.dropout_with_mask(x, p, mode=mode, generator=gen)


def compute(*arrays):
    return dask.compute(*arrays, scheduler="threads")


@pytest.mark.parametrize(
    "shape, chunks",
    [
        ((37, 53), (10, 7)),
        ((37, 53), ((5, 0, 32), (50, 3))),  # irregular, with an empty chunk
        ((37, 53), (37, 53)),  # one chunk
        ((37, 53), (1, 53)),  # whole rows
        ((37, 53), (37, 1)),  # single columns
        ((9, 10, 11), (4, 3, 5)),
        ((9, 10, 11), ((9,), (1, 9), (2, 2, 7))),
        ((1000,), (333,)),
        ((), ()),
    ],
)
def test_any_chunking_equals_the_whole(shape, chunks):
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    a = da.from_array(x, chunks=chunks)
    gen = pydropout.Generator(SEED, stream=3, offset=11)
    y, keep = pdd.dropout_with_mask(a, 0.4, generator=gen)
    assert gen.get_state() == (SEED, 3, 11 + x.size)  # reserved when the graph was built
    assert y.chunks == a.chunks and keep.chunks == a.chunks and keep.dtype == bool
    want, mask = expected(x, 0.4, stream=3, offset=11)
    got, kept = compute(y, keep)
    assert got.tobytes() == want.tobytes()
    np.testing.assert_array_equal(np.packbits(kept, bitorder="little"), mask)
    # the same again after rechunking, through the plain function
    again = pdd.dropout(
        a.rechunk(tuple(max(1, n // 2) for n in shape)),
        0.4,
        generator=pydropout.Generator(SEED, stream=3, offset=11),
    )
    assert compute(again)[0].tobytes() == want.tobytes()


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
@pytest.mark.parametrize("mode", MODES)
def test_dtypes_modes_and_backward(dtype, mode):
    x = np.random.default_rng(2).standard_normal((24, 40)).astype(dtype)
    a = da.from_array(x, chunks=(7, 9))
    y, keep = pdd.dropout_with_mask(a, 0.25, mode=mode, generator=pydropout.Generator(SEED))
    want, mask = expected(x, 0.25, mode=mode)
    np.testing.assert_array_equal(y.compute(scheduler="threads"), want)
    grad = np.random.default_rng(3).standard_normal(x.shape).astype(dtype)
    dx = pdd.dropout_backward(da.from_array(grad, chunks=(12, 5)), keep, 0.25, mode=mode)
    np.testing.assert_array_equal(
        dx.compute(scheduler="threads"), pydropout.dropout_backward(grad, mask, 0.25, mode=mode)
    )


def test_generator_bookkeeping_and_determinism():
    x = np.ones((20, 30), np.float32)
    a = da.from_array(x, chunks=(6, 8))
    gen = pydropout.Generator(SEED)
    first = pdd.dropout(a, 0.5, generator=gen)
    second = pdd.dropout(a, 0.5, generator=gen)  # fresh words
    assert gen.offset == 2 * x.size
    f1, f2, f3 = compute(first, second, first)
    np.testing.assert_array_equal(f1, f3)  # recomputing draws the same words
    assert not np.array_equal(f1, f2)
    np.testing.assert_array_equal(f2, expected(x, 0.5, offset=x.size)[0])
    # p == 1 consumes its words too; evaluation consumes none
    pdd.dropout(a, 1.0, generator=gen)
    assert gen.offset == 3 * x.size
    assert pdd.dropout(a, 0.5, False, generator=gen) is a
    down = pdd.dropout(a, 0.5, False, mode="downscale_in_infer", generator=gen)
    np.testing.assert_array_equal(
        down.compute(), pydropout.dropout(x, 0.5, False, mode="downscale_in_infer")
    )
    assert gen.offset == 3 * x.size
    # the default generator when none is given
    pydropout.manual_seed(SEED)
    y = pdd.dropout(a, 0.5)
    assert pydropout.default_generator.offset == x.size
    np.testing.assert_array_equal(y.compute(), expected(x, 0.5)[0])
    # a NumPy array is wrapped as one chunk
    np.testing.assert_array_equal(
        pdd.dropout(x, 0.5, generator=pydropout.Generator(SEED)).compute(), expected(x, 0.5)[0]
    )


def test_errors_change_nothing():
    gen = pydropout.Generator(SEED)
    a = da.ones((4, 4), chunks=2, dtype=np.float32)
    with pytest.raises(ValueError, match="p must be"):
        pdd.dropout(a, 1.5, generator=gen)
    with pytest.raises(ValueError, match="mode"):
        pdd.dropout_with_mask(a, 0.5, mode="sideways", generator=gen)
    with pytest.raises(TypeError, match="dtype"):
        pdd.dropout(da.ones((4, 4), chunks=2, dtype=np.int32), 0.5, generator=gen)
    with pytest.raises(TypeError, match="generator"):
        pdd.dropout(a, 0.5, generator=np.random.default_rng(0))
    unknown = a[a[:, 0] > 0]  # rows selected by data: unknown chunk sizes
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        pdd.dropout(unknown, 0.5, generator=gen)
    with pytest.raises(ValueError, match="offset"):
        pdd.dropout(a, 0.5, generator=pydropout.Generator(SEED, offset=2**64 - 15))
    assert gen.offset == 0
    with pytest.raises(ValueError, match="keep must have dtype bool"):
        pdd.dropout_backward(a, a, 0.5)
    with pytest.raises(ValueError, match="keep has shape"):
        pdd.dropout_backward(a, da.ones((4, 5), dtype=bool), 0.5)


def test_import_pydropout_does_not_import_dask(tmp_path):
    # run outside the source tree: the installed package is the one under test
    code = "import sys, pydropout; sys.exit('dask' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60, cwd=tmp_path).returncode == 0


def test_distributed_worker_processes():
    distributed = pytest.importorskip("distributed")
    x = np.random.default_rng(4).standard_normal((64, 96)).astype(np.float32)
    a = da.from_array(x, chunks=((10, 30, 24), (50, 46)))
    gen = pydropout.Generator(SEED, stream=1)
    y, keep = pdd.dropout_with_mask(a, 0.3, generator=gen)
    want, mask = expected(x, 0.3, stream=1)
    # an ephemeral HTTP port: the default 8787 may be taken, which distributed warns about
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            scheduler_kwargs={"dashboard": False},
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        got, kept = client.compute([y, keep], sync=True)
        pids = client.run(lambda: __import__("os").getpid())
    assert len(pids) == 2
    assert got.tobytes() == want.tobytes()
    np.testing.assert_array_equal(np.packbits(kept, bitorder="little"), mask)
