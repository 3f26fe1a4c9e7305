// dispatch.cpp: CPU detection, the PYDROPOUT_SIMD cap, the kernel tables, and the
// whole-array drivers (special cases of p, then threads over 64-element-aligned chunks).
#include "dispatch.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#if defined(PYDROPOUT_HAS_OPENMP)
#include <pthread.h>
#endif

#include "parallel.hpp"
#include "philox.hpp"

namespace pydropout {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::neon: return "neon";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "scalar";
}

bool parse_isa(const std::string& name, Isa& out) {
  for (Isa isa : {Isa::scalar, Isa::neon, Isa::avx2, Isa::avx512}) {
    if (name == isa_name(isa)) {
      out = isa;
      return true;
    }
  }
  return false;
}

Isa best_isa() {
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c"))
    return Isa::avx2;
  return Isa::scalar;
#elif defined(__aarch64__)
  return Isa::neon;  // AdvSIMD is mandatory in ARMv8-A
#else
  return Isa::scalar;
#endif
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out{Isa::scalar};
  const Isa best = best_isa();
#if defined(__x86_64__) || defined(_M_X64)
  if (best == Isa::avx2 || best == Isa::avx512) out.push_back(Isa::avx2);
  if (best == Isa::avx512) out.push_back(Isa::avx512);
#elif defined(__aarch64__)
  if (best == Isa::neon) out.push_back(Isa::neon);
#endif
  return out;
}

namespace {

struct Tables {
  KernelTable table[4];
  std::atomic<int> active{0};

  Tables() {
    scalar::register_kernels(table[static_cast<int>(Isa::scalar)]);
    const std::vector<Isa> levels = supported_isas();
    for (Isa isa : levels) {
      switch (isa) {
#if defined(__x86_64__) || defined(_M_X64)
        case Isa::avx2: avx2::register_kernels(table[static_cast<int>(isa)]); break;
        case Isa::avx512: avx512::register_kernels(table[static_cast<int>(isa)]); break;
#endif
#if defined(__aarch64__)
        case Isa::neon: neon::register_kernels(table[static_cast<int>(isa)]); break;
#endif
        default: break;
      }
    }
    // PYDROPOUT_SIMD caps the level: the best supported level not above the request.
    Isa chosen = levels.back();
    if (const char* env = std::getenv("PYDROPOUT_SIMD")) {
      Isa cap;
      if (parse_isa(env, cap)) {
        chosen = Isa::scalar;
        for (Isa isa : levels)
          if (static_cast<int>(isa) <= static_cast<int>(cap)) chosen = isa;
      }
    }
    active.store(static_cast<int>(chosen));
  }
};

Tables& tables() {
  static Tables t;
  return t;
}

}  // namespace

Isa active_isa() { return static_cast<Isa>(tables().active.load()); }
void set_active_isa(Isa isa) { tables().active.store(static_cast<int>(isa)); }
const KernelTable& active_table() { return tables().table[tables().active.load()]; }

Keys make_keys(uint64_t seed, uint64_t stream) {
  Keys k{};
  uint32_t k0 = static_cast<uint32_t>(seed);
  uint32_t k1 = static_cast<uint32_t>(seed >> 32);
  for (int r = 0; r < kPhiloxRounds; ++r) {
    k.k0[r] = k0;
    k.k1[r] = k1;
    k0 += kPhiloxW0;
    k1 += kPhiloxW1;
  }
  k.stream_lo = static_cast<uint32_t>(stream);
  k.stream_hi = static_cast<uint32_t>(stream >> 32);
  return k;
}

namespace {
int initial_threads() {
  if (const char* env = std::getenv("PYDROPOUT_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n >= 1) return n;
  }
#if defined(PYDROPOUT_HAS_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}
std::atomic<int> g_threads{0};

#if defined(PYDROPOUT_HAS_OPENMP)
// GNU OpenMP's thread pool does not survive fork(): a child that enters a parallel region
// after its parent used one waits forever for threads that exist only in the parent. So a
// forked child (multiprocessing's "fork" start method) runs every call on its calling
// thread; the results are the same, as they are for every thread count.
std::atomic<bool> g_forked_child{false};
void on_fork_child() { g_forked_child.store(true); }
[[maybe_unused]] const bool g_atfork_registered = pthread_atfork(nullptr, nullptr, &on_fork_child) == 0;
#endif
}  // namespace

int get_num_threads() {
#if defined(PYDROPOUT_HAS_OPENMP)
  if (g_forked_child.load(std::memory_order_relaxed)) return 1;
#endif
  int n = g_threads.load(std::memory_order_relaxed);
  if (n == 0) {
    n = initial_threads();
    g_threads.store(n);
  }
  return n;
}

void set_num_threads(int n) { g_threads.store(n < 1 ? 1 : n); }

static size_t elem_size(DType dt) { return dt == DType::f64 ? 8 : dt == DType::f32 ? 4 : 2; }

void dropout_forward(DType dt, const void* x, void* y, uint8_t* mask, uint64_t n, const Draw& d,
                     const Scale& s) {
  const size_t es = elem_size(dt);
  const KernelTable& t = active_table();
  if (d.drop_all) {  // p == 1: every element is +0.0 and no word is compared
    parallel_chunks(n, [&](uint64_t b, uint64_t e) {
      std::memset(static_cast<char*>(y) + b * es, 0, (e - b) * es);
      if (mask) std::memset(mask + b / 8, 0, (e - b + 7) / 8);
    });
    return;
  }
  if (d.threshold == 0) {  // every word is >= 0: all kept, no word needs drawing
    const ApplyFn apply = t.apply[static_cast<int>(dt)];
    parallel_chunks(n, [&](uint64_t b, uint64_t e) {
      apply(static_cast<const char*>(x) + b * es, static_cast<char*>(y) + b * es, nullptr, e - b, s);
      if (mask) {
        std::memset(mask + b / 8, 0xff, (e - b) / 8);
        if ((e - b) % 8) mask[e / 8] = static_cast<uint8_t>((1u << ((e - b) % 8)) - 1u);
      }
    });
    return;
  }
  const Keys keys = make_keys(d.seed, d.stream);
  const ForwardFn fwd = t.forward[static_cast<int>(dt)];
  parallel_chunks(n, [&](uint64_t b, uint64_t e) {
    fwd(static_cast<const char*>(x) + b * es, static_cast<char*>(y) + b * es,
        mask ? mask + b / 8 : nullptr, e - b, keys, d.offset + b, d.threshold, s);
  });
}

void dropout_mask(uint8_t* mask, uint64_t n, const Draw& d) {
  if (d.drop_all || d.threshold == 0) {
    const uint8_t fill = d.drop_all ? 0x00 : 0xff;
    std::memset(mask, fill, n / 8);
    if (n % 8) mask[n / 8] = d.drop_all ? 0 : static_cast<uint8_t>((1u << (n % 8)) - 1u);
    return;
  }
  const Keys keys = make_keys(d.seed, d.stream);
  const MaskFn fn = active_table().mask;
  parallel_chunks(n, [&](uint64_t b, uint64_t e) { fn(mask + b / 8, e - b, keys, d.offset + b, d.threshold); }, 8);
}

void dropout_apply(DType dt, const void* x, void* y, const uint8_t* mask, uint64_t n,
                   const Scale& s) {
  const size_t es = elem_size(dt);
  const ApplyFn apply = active_table().apply[static_cast<int>(dt)];
  parallel_chunks(n, [&](uint64_t b, uint64_t e) {
    apply(static_cast<const char*>(x) + b * es, static_cast<char*>(y) + b * es,
          mask ? mask + b / 8 : nullptr, e - b, s);
  });
}

void parallel_copy(const void* src, void* dst, uint64_t nbytes) {
  // the bandwidth ceiling of the benchmarks: the same threads and chunking as a forward pass
  parallel_chunks(nbytes / 4, [&](uint64_t b, uint64_t e) {
    const uint64_t end = e * 4 == (nbytes / 4) * 4 ? nbytes : e * 4;
    std::memcpy(static_cast<char*>(dst) + b * 4, static_cast<const char*>(src) + b * 4, end - b * 4);
  });
  if (nbytes < 4) std::memcpy(dst, src, nbytes);
}

}  // namespace pydropout
