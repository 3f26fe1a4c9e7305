#!/usr/bin/env bash
# randomness.sh: feed pydropout's random stream into the dieharder test battery.
#
#   words  the raw 32-bit words of a stream (seed 0x0123456789abcdef, stream 0), written by
#          scripts/philox_words.cpp from csrc/core/philox.hpp, the scalar Philox4x32-10 that the
#          SIMD kernels and pydropout.reference are tested against bit for bit;
#   masks  the packed keep masks at p = 0.5 made by the installed package
#          (pydropout.dropout_mask, so through the SIMD kernels and the threads): at p = 0.5
#          a mask bit is the top bit of its word, so a good stream gives fair, independent bits.
#
# Usage: scripts/randomness.sh [words|masks|both] [standard|all] [SEED] [STREAM]
#   standard (default): the Diehard tests, the STS tests and the RGB bit-distribution test
#            up to 8 bits, each with dieharder's default sample sizes (a few minutes a source
#            on one core); all: dieharder -a (every test; about an hour a source).
#   dieharder's -Y 1 re-runs a test that looks WEAK with more samples until it PASSES or
#   FAILS, as its manual recommends, so a single unlucky p-value does not count as a failure.
# Needs: dieharder (Debian: apt-get install dieharder), g++, and pydropout importable by
#   ${PYTHON:-python}. Prints dieharder's table and a one-line summary per source; exit
#   status 1 if any test FAILED.
set -euo pipefail

usage() { echo "usage: $0 [words|masks|both] [standard|all] [SEED] [STREAM]" >&2; exit 2; }
root="$(cd "$(dirname "$0")/.." && pwd)"
what="${1:-both}"
size="${2:-standard}"
# checked before anything is built or run
case "$what" in words | masks | both) ;; *) usage ;; esac
case "$size" in standard | all) ;; *) usage ;; esac
seed="${3:-0x0123456789abcdef}"
stream="${4:-0}"
python="${PYTHON:-python}"
build="${PYDROPOUT_RANDOMNESS_BUILD:-$root/build/randomness}"

command -v dieharder >/dev/null || { echo "dieharder not found (apt-get install dieharder)" >&2; exit 77; }

mkdir -p "$build"
"${CXX:-g++}" -O2 -std=c++17 -o "$build/philox_words" "$root/scripts/philox_words.cpp"

words() { "$build/philox_words" "$seed" "$stream"; }

masks() {
  "$python" - "$seed" "$stream" <<'EOF'
import os, sys
import pydropout
seed, stream = int(sys.argv[1], 0), int(sys.argv[2], 0)
g = pydropout.Generator(seed, stream=stream)
out = sys.stdout.buffer
try:
    while True:
        out.write(pydropout.dropout_mask(1 << 26, 0.5, generator=g).tobytes())
except BrokenPipeError:  # dieharder has read enough
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
EOF
}

battery() {  # $1: source function
  local src="$1" log="$build/$1-$size.txt"
  rm -f "$log.raw"
  echo "== $src ($size), seed $seed, stream $stream" | tee "$log"
  if [ "$size" = all ]; then
    "$src" | dieharder -g 200 -a -Y 1 -k 2 | tee -a "$log"
  else
    # Diehard (0-17 without 14, whose implementation dieharder marks "Do Not Use"),
    # STS monobit, runs and serial (all 16 tuple sizes), RGB bit distribution for 1..8 bits
    local tests=(0 1 2 3 4 5 6 7 8 9 10 11 12 13 15 16 17 100 101 102)
    for d in "${tests[@]}"; do
      "$src" | dieharder -g 200 -d "$d" -Y 1 -k 2 >>"$log.raw"
    done
    for n in 1 2 3 4 5 6 7 8; do
      "$src" | dieharder -g 200 -d 200 -n "$n" -Y 1 -k 2 >>"$log.raw"
    done
    # one table: the header once, then every result line
    grep -m1 "test_name" "$log.raw" | tee -a "$log"
    grep -E "PASSED|WEAK|FAILED" "$log.raw" | tee -a "$log"
    rm -f "$log.raw"
  fi
  local passed weak failed
  passed=$(grep -c "PASSED" "$log" || true)
  weak=$(grep -c "WEAK" "$log" || true)
  failed=$(grep -c "FAILED" "$log" || true)
  # (a WEAK result is followed by its re-runs with more samples, from -Y 1)
  echo "== $src: $passed PASSED, $weak WEAK first tries (re-run until resolved), $failed FAILED (log: $log)"
  [ "$failed" = 0 ]
}

status=0
case "$what" in
  words) battery words || status=1 ;;
  masks) battery masks || status=1 ;;
  both) battery words || status=1; battery masks || status=1 ;;
esac
exit $status
