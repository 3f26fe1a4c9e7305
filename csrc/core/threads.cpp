// threads.cpp: the thread count of large arrays (PYDROPOUT_NUM_THREADS, then OpenMP's
// default) and the fork guard of parallel.hpp.
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>

#if defined(__unix__)
#include <pthread.h>
#endif

#include "dropout.hpp"
#include "parallel.hpp"

namespace pydropout {

namespace {
std::atomic<bool> g_forked{false};
[[maybe_unused]] void mark_forked_child() { g_forked.store(true); }
const bool g_atfork_registered = [] {
#if defined(PYDROPOUT_HAS_OPENMP) && defined(__unix__)
  pthread_atfork(nullptr, nullptr, &mark_forked_child);
#endif
  return true;
}();

int initial_threads() {
  // a whole positive decimal integer, else ignored (pydropout/_environment.py warns)
  if (const char* env = std::getenv("PYDROPOUT_NUM_THREADS")) {
    char* end = nullptr;
    errno = 0;
    const long n = std::strtol(env, &end, 10);
    while (end && (*end == ' ' || *end == '\t' || *end == '\n')) ++end;
    if (end != env && end && *end == '\0' && errno == 0 && n >= 1 && n <= INT_MAX)
      return static_cast<int>(n);
  }
#if defined(PYDROPOUT_HAS_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}
std::atomic<int> g_threads{0};
}  // namespace

bool openmp_unusable() { return g_forked.load(std::memory_order_relaxed); }

int get_num_threads() {
  int n = g_threads.load(std::memory_order_relaxed);
  if (n == 0) {
    n = initial_threads();
    g_threads.store(n);
  }
  return n;
}

void set_num_threads(int n) { g_threads.store(n < 1 ? 1 : n); }

}  // namespace pydropout
