#!/usr/bin/env bash
# neon_qemu.sh: compile the C++ core with the kernel test driver (tests/cpp/kernel_test.cpp)
# and check every kernel table against tests/data/kernel_vectors.txt, the vectors that
# pydropout.reference computed:
#   native   this machine's tiers (x86-64: scalar, AVX2 and the AVX-512 tiers where the CPU
#            has them)
#   aarch64  cross-compiled with Debian's aarch64 toolchain (with its OpenMP) and run
#            under qemu-user on a Cortex-A53 model (ARMv8.0: scalar and NEON)
# Usage: scripts/neon_qemu.sh [native|aarch64|all]   (default: all)
# Needs: g++; for aarch64 also g++-aarch64-linux-gnu and qemu-user
#   (Debian: apt-get install g++-aarch64-linux-gnu qemu-user). Exit status 0 iff all pass;
#   77 when a needed tool is missing.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
what="${1:-all}"
build="${PYDROPOUT_KERNEL_TEST_BUILD:-$root/build/kernel-test}"
vectors="$root/tests/data/kernel_vectors.txt"
# as CMakeLists.txt builds the extension: C++17, no contraction, OpenMP
flags=(-std=c++17 -O2 -ffp-contract=off -fno-fast-math -fno-math-errno -Wall -Wextra
  -fopenmp -DPYDROPOUT_HAS_OPENMP=1)
# the C++ core without its Python bindings: drivers, threads, dispatch, the scalar tier
common=("$root/tests/cpp/kernel_test.cpp" "$root/csrc/core/drivers.cpp" "$root/csrc/core/threads.cpp"
  "$root/csrc/dispatch/dispatch.cpp" "$root/csrc/kernels/scalar.cpp")
mkdir -p "$build"

# compile each source to an object in parallel, then link
build_objects() {  # $1: compiler, $2: output, $3...: extra flags then "--", then sources
  local cxx="$1" out="$2"
  shift 2
  local extra=()
  while [ "$1" != "--" ]; do extra+=("$1"); shift; done
  shift
  local objs=() pids=()
  for src in "$@"; do
    local obj="$build/$(basename "$out")-$(basename "$src" .cpp).o"
    local werror=()
    [ "$(basename "$src")" = neon.cpp ] && werror=(-Werror)  # the file this script exists for
    "$cxx" "${flags[@]}" "${extra[@]}" "${werror[@]}" -c -o "$obj" "$src" &
    pids+=($!)
    objs+=("$obj")
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  "$cxx" "${flags[@]}" "${extra[@]}" -o "$out" "${objs[@]}"
}

need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "neon_qemu.sh: $1 not found (Debian: apt-get install $2)" >&2
    exit 77
  fi
}

run_native() {
  need "${CXX:-g++}" g++
  local sources=("${common[@]}")
  case "$(uname -m)" in
    x86_64) sources+=("$root/csrc/kernels/avx2.cpp" "$root/csrc/kernels/avx512.cpp"
      "$root/csrc/kernels/avx512_ifma.cpp" "$root/csrc/kernels/avx512_fp16.cpp") ;;
    aarch64) sources+=("$root/csrc/kernels/neon.cpp") ;;
  esac
  echo "== native ($(uname -m))"
  # GCC 12's AVX-512 headers trip -W(maybe-)uninitialized (false positives in the headers)
  build_objects "${CXX:-g++}" "$build/kernel_test_native" -Wno-uninitialized -Wno-maybe-uninitialized \
    -- "${sources[@]}"
  "$build/kernel_test_native" "$vectors"
}

run_aarch64() {
  need aarch64-linux-gnu-g++ g++-aarch64-linux-gnu
  need qemu-aarch64 qemu-user
  echo "== aarch64 (aarch64-linux-gnu-g++, qemu-aarch64 -cpu cortex-a53)"
  build_objects aarch64-linux-gnu-g++ "$build/kernel_test_aarch64" \
    -- "${common[@]}" "$root/csrc/kernels/neon.cpp"
  # dynamically linked: qemu finds the aarch64 loader and libraries under -L
  qemu-aarch64 -cpu cortex-a53 -L /usr/aarch64-linux-gnu "$build/kernel_test_aarch64" "$vectors"
}

case "$what" in
  native) run_native ;;
  aarch64) run_aarch64 ;;
  all) run_native && run_aarch64 ;;
  *) echo "usage: $0 [native|aarch64|all]" >&2; exit 2 ;;
esac
