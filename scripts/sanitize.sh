#!/usr/bin/env bash
# sanitize.sh: build pydropout with AddressSanitizer and UndefinedBehaviorSanitizer
# (CMake option PYDROPOUT_SANITIZE) into its own virtualenv and build directory, then run
# the whole test suite under it. Any sanitizer report fails the run.
#
# Usage: scripts/sanitize.sh [pytest arguments]     e.g. scripts/sanitize.sh -x tests/test_fuzz.py
# Environment: PYTHON (default python3), CXX (default g++; the compiler CMake uses),
#   PYDROPOUT_SANITIZE_DIR (default build/sanitize: venv/, build/, reports/).
#
# Python itself is not instrumented, so the ASan runtime is preloaded (it must come
# first). detect_leaks=0: CPython keeps interned objects and caches for the life of the
# process by design, which LeakSanitizer would report at exit; leaks of pydropout are the
# test suite's to find (tests/test_processes.py). allocator_may_return_null=1: an
# allocation too large for the machine returns NULL, which NumPy turns into MemoryError,
# as it does without ASan (tests/test_edges.py checks that).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${PYDROPOUT_SANITIZE_DIR:-$root/build/sanitize}"
python="${PYTHON:-python3}"
cxx="${CXX:-g++}"
venv="$dir/venv"
reports="$dir/reports"

mkdir -p "$dir"
if [ ! -x "$venv/bin/python" ]; then
  # system site packages: numpy, pytest, hypothesis and the rest come from the base env
  "$python" -m venv --system-site-packages "$venv"
fi
echo "== building with -DPYDROPOUT_SANITIZE=ON into $venv"
# (a local project is always rebuilt and reinstalled; the test extra comes along)
CXX="$cxx" "$venv/bin/python" -m pip install --no-build-isolation -q \
  -Cbuild-dir="$dir/build" -Ccmake.build-type=RelWithDebInfo \
  -Ccmake.define.PYDROPOUT_SANITIZE=ON "$root[test]"

libasan="$("$cxx" -print-file-name=libasan.so)"
libstdcxx="$("$cxx" -print-file-name=libstdc++.so)"
if [ ! -e "$libasan" ]; then
  echo "sanitize.sh: no libasan.so next to $cxx" >&2
  exit 1
fi
# libstdc++ preloaded too: ASan resolves the real __cxa_throw when it starts, and python
# does not load libstdc++ by itself (without it the first C++ exception aborts in ASan)
preload="$libasan:$libstdcxx"
rm -rf "$reports"
mkdir -p "$reports"
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:log_path=$reports/asan:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan"

cd "$root"
# PYTHONSAFEPATH: do not put the source tree first on sys.path (its pydropout/ has no
# compiled core); the tests import the sanitized build from the venv
check='import pydropout, pydropout._core as c; print(pydropout.__file__, c.build_info()["flags"])'
LD_PRELOAD="$preload" PYTHONSAFEPATH=1 "$venv/bin/python" -c "$check"
status=0
LD_PRELOAD="$preload" PYTHONSAFEPATH=1 "$venv/bin/python" -m pytest -p no:cacheprovider "$@" || status=$?

# The logs also hold ASan's warnings for the allocations that tests make fail on purpose
# ("failed to allocate 0x... bytes", then MemoryError); a report is an error or a check.
errors=$(grep -l -E "ERROR: AddressSanitizer|runtime error:|CHECK failed|SUMMARY: " "$reports"/* 2>/dev/null || true)
warnings=$(cat "$reports"/* 2>/dev/null | grep -c "WARNING: AddressSanitizer failed to allocate" || true)
echo "== ASan warnings for allocations that tests make fail on purpose: $warnings"
if [ -n "$errors" ]; then
  echo "== sanitizer reports:"
  for f in $errors; do
    echo "--- $f"
    cat "$f"
  done
  exit 1
fi
echo "== no sanitizer reports"
exit $status
