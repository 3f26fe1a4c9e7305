"""SIMD levels and thread counts chosen from the environment at start-up, run by the
suite itself: a small script runs in fresh interpreters with PYDROPOUT_SIMD set to each
level this CPU supports (and to an unknown and an unsupported value) and
PYDROPOUT_NUM_THREADS; the outputs must agree bit for bit with each other and with
pydropout.reference. In-process switching (_core._set_simd) is checked here too."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import SIMD_LEVELS

import pydropout
import pydropout.reference as ref
from pydropout import _core

ORDER = ("scalar", "neon", "avx2", "avx512")  # PYDROPOUT_SIMD caps at a level in this order

SCRIPT = r"""
import hashlib, json, sys
import ml_dtypes
import numpy as np
import pydropout

mod = pydropout.reference if sys.argv[1] == "reference" else pydropout
digest = hashlib.sha256()
for dtype in (np.float16, np.float32, np.float64, ml_dtypes.bfloat16):
    for n in (0, 1, 7, 63, 64, 65, 1000, 70_001):
        for p in (0.1, 0.5, 1 - 1e-10):
            for mode in ("upscale_in_train", "downscale_in_infer"):
                x = (np.random.default_rng(n).standard_normal(n) * 4).astype(dtype)
                x[::97] = np.nan
                x[1::101] = -0.0
                g = pydropout.Generator(n + 1, stream=3, offset=4 * 2**32 - 5)
                y, m = mod.dropout_with_mask(x[::-1], p, mode=mode, generator=g)
                dx = mod.dropout_backward(x, m, p, mode=mode)
                for a in (y, m, dx):
                    digest.update(np.ascontiguousarray(a).view(np.uint8).tobytes())
print(json.dumps({"simd": pydropout.simd_level(), "supported": pydropout.supported_simd_levels(),
                  "threads": pydropout.get_num_threads(), "digest": digest.hexdigest()}))
"""


def _env(**overrides):
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYDROPOUT_SIMD", "PYDROPOUT_NUM_THREADS")
    }
    env.update(overrides)
    return env


# the interpreters run outside the source tree, so that they import the installed package
# (a non-editable install has no compiled module in the source tree)
def _start(cwd, *args, **env):
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, *args],
        env=_env(**env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc):
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def _capped(request):
    """The level PYDROPOUT_SIMD=request gives: the best supported level not above it."""
    if request not in ORDER:
        return SIMD_LEVELS[-1]  # unknown values are ignored
    return [lvl for lvl in SIMD_LEVELS if ORDER.index(lvl) <= ORDER.index(request)][-1]


def test_pydropout_simd_in_subprocesses(tmp_path):
    unsupported = [lvl for lvl in ORDER if lvl not in SIMD_LEVELS]
    requests = list(SIMD_LEVELS) + unsupported + ["bogus"]
    threads = {req: "3" if req == "bogus" else "1" for req in requests}
    # all interpreters at once: the wall time is that of the slowest
    procs = {
        req: _start(tmp_path, "core", PYDROPOUT_SIMD=req, PYDROPOUT_NUM_THREADS=threads[req])
        for req in requests
    }
    procs["reference"] = _start(tmp_path, "reference", PYDROPOUT_NUM_THREADS="1")
    results = {req: _finish(proc) for req, proc in procs.items()}
    expected = results.pop("reference")["digest"]
    for req, res in results.items():
        assert res["simd"] == _capped(req), req
        assert res["supported"] == list(SIMD_LEVELS)
        assert res["threads"] == int(threads[req])
        assert res["digest"] == expected, f"PYDROPOUT_SIMD={req} ({res['simd']}) differs"
    assert {r["simd"] for r in results.values()} == set(SIMD_LEVELS)


def test_num_threads_from_environment(tmp_path):
    code = "import pydropout; print(pydropout.get_num_threads())"

    def threads(**env):
        return int(
            subprocess.run(
                [sys.executable, "-c", code],
                env=_env(**env),
                cwd=tmp_path,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )

    assert threads(PYDROPOUT_NUM_THREADS="5") == 5
    assert threads(PYDROPOUT_NUM_THREADS="1", OMP_NUM_THREADS="4") == 1
    openmp = _core.build_info()["openmp"] is not None
    # unset or invalid: OpenMP's default (OMP_NUM_THREADS), or 1 without OpenMP
    assert threads(OMP_NUM_THREADS="4") == (4 if openmp else 1)
    assert threads(PYDROPOUT_NUM_THREADS="0", OMP_NUM_THREADS="3") == (3 if openmp else 1)


def test_set_simd_in_process(simd):
    x = (np.random.default_rng(0).standard_normal(4099) * 10).astype(np.float16)
    expected = ref.dropout(x, 0.3, generator=pydropout.Generator(5))
    for level in SIMD_LEVELS:
        with simd(level):
            assert pydropout.simd_level() == level
            y = pydropout.dropout(x, 0.3, generator=pydropout.Generator(5))
            assert y.tobytes() == expected.tobytes(), level
    for bad in [lvl for lvl in ORDER if lvl not in SIMD_LEVELS] + ["AVX2", "sse", ""]:
        before = pydropout.simd_level()
        with pytest.raises(ValueError):
            _core._set_simd(bad)
        assert pydropout.simd_level() == before


def test_isa_fixture_restores_the_level(isa):
    assert pydropout.simd_level() == isa


def test_threads_fixture(threads):
    assert pydropout.get_num_threads() == threads
    x = np.ones(300_001, np.float32)
    digest = hashlib.sha256(pydropout.dropout(x, 0.5, generator=pydropout.Generator(1)).tobytes())
    assert (
        digest.hexdigest()
        == hashlib.sha256(
            ref.dropout(x, 0.5, generator=pydropout.Generator(1)).tobytes()
        ).hexdigest()
    )
