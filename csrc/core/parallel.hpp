// parallel.hpp: OpenMP chunking. Arrays below a grain size stay on the calling thread;
// larger ones are cut into one chunk per thread, each starting on a multiple of 64
// elements (whole mask words, whole Philox groups, cache lines). The contract makes
// the result independent of the split.
#pragma once
#include <cstdint>

#include "dropout.hpp"

#if defined(PYDROPOUT_HAS_OPENMP)
#include <omp.h>
#endif

namespace pydropout {

constexpr uint64_t kGrain = 32768;  // elements per thread below which threads do not pay

// True in a child process created by fork() after the OpenMP pool existed: GNU libgomp
// cannot be used there (its worker threads are gone and the child would hang), so the
// child runs every call on its own thread. Set by a pthread_atfork handler.
bool openmp_unusable();

// `cost` is the work per unit of n relative to a forward pass over one element: threads
// are only used when each gets at least kGrain elements' worth of work.
template <class Fn>
void parallel_chunks(uint64_t n, const Fn& fn, double cost = 1.0) {
  uint64_t threads = static_cast<uint64_t>(get_num_threads());
  const uint64_t by_grain = static_cast<uint64_t>(static_cast<double>(n) * cost / kGrain);
  if (threads > by_grain) threads = by_grain;
  if (threads <= 1 || openmp_unusable()) {
    if (n) fn(0, n);
    return;
  }
#if defined(PYDROPOUT_HAS_OPENMP)
  const uint64_t blocks = (n + 63) / 64;
#pragma omp parallel num_threads(static_cast<int>(threads))
  {
    const uint64_t t = static_cast<uint64_t>(omp_get_thread_num());
    const uint64_t nt = static_cast<uint64_t>(omp_get_num_threads());
    using u128 = unsigned __int128;
    const uint64_t b = static_cast<uint64_t>(u128(blocks) * t / nt) * 64;
    uint64_t e = static_cast<uint64_t>(u128(blocks) * (t + 1) / nt) * 64;
    if (e > n) e = n;
    if (b < e) fn(b, e);
  }
#else
  fn(0, n);
#endif
}

}  // namespace pydropout
