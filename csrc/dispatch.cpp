// dispatch.cpp: CPU detection, the PYDROPOUT_SIMD cap, the kernel tables, and the
// whole-array drivers (special cases of p, then threads over 64-element-aligned chunks).
#include "dispatch.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#if defined(__unix__)
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
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("bmi2"))
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

bool intel_cpu() {
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  return __builtin_cpu_is("intel");
#else
  return false;
#endif
}

struct Tables {
  KernelTable table[4];
  KernelTable avx512v[2][2];  // AVX-512 variants: [IFMA high halves][AVX512-FP16 float16]
  bool has_ifma = false;
  bool has_fp16 = false;
  std::atomic<bool> use_ifma{false};
  std::atomic<bool> use_fp16{false};
  std::atomic<int> active{0};

  Tables() {
    scalar::register_kernels(table[static_cast<int>(Isa::scalar)]);
    const std::vector<Isa> levels = supported_isas();
    for (Isa isa : levels) {
      switch (isa) {
#if defined(__x86_64__) || defined(_M_X64)
        case Isa::avx2: avx2::register_kernels(table[static_cast<int>(isa)]); break;
        case Isa::avx512:
          avx512::register_kernels(table[static_cast<int>(isa)]);
          for (auto& row : avx512v)
            for (auto& t : row) t = table[static_cast<int>(isa)];
          has_ifma = avx512::register_ifma_kernels(avx512v[1][0]);
          if (has_ifma) avx512v[1][1] = avx512v[1][0];
          has_fp16 = avx512::register_fp16_kernels(avx512v[0][1], false) &&
                     avx512::register_fp16_kernels(avx512v[1][1], true);
          break;
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
    const char* fp16_env = std::getenv("PYDROPOUT_AVX512FP16");
    use_fp16.store(has_fp16 && !(fp16_env && std::strcmp(fp16_env, "0") == 0));
    const char* ifma_env = std::getenv("PYDROPOUT_AVX512IFMA");
    bool ifma = intel_cpu();  // faster on Intel's cores, slower on AMD Zen 4 (DESIGN.md)
    if (ifma_env && std::strcmp(ifma_env, "0") == 0) ifma = false;
    if (ifma_env && std::strcmp(ifma_env, "1") == 0) ifma = true;
    use_ifma.store(has_ifma && ifma);
  }
};

Tables& tables() {
  static Tables t;
  return t;
}

}  // namespace

Isa active_isa() { return static_cast<Isa>(tables().active.load()); }
void set_active_isa(Isa isa) { tables().active.store(static_cast<int>(isa)); }
const KernelTable& active_table() {
  Tables& t = tables();
  const int active = t.active.load();
  if (active == static_cast<int>(Isa::avx512))
    return t.avx512v[t.use_ifma.load(std::memory_order_relaxed)][t.use_fp16.load(std::memory_order_relaxed)];
  return t.table[active];
}

bool has_avx512fp16() { return tables().has_fp16; }
bool avx512fp16_enabled() { return tables().use_fp16.load(); }
void set_avx512fp16(bool on) { tables().use_fp16.store(on && tables().has_fp16); }
bool has_avx512ifma() { return tables().has_ifma; }
bool avx512ifma_enabled() { return tables().use_ifma.load(); }
void set_avx512ifma(bool on) { tables().use_ifma.store(on && tables().has_ifma); }

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
std::atomic<bool> g_forked{false};
void mark_forked_child() { g_forked.store(true); }
const bool g_atfork_registered = [] {
#if defined(PYDROPOUT_HAS_OPENMP) && defined(__unix__)
  pthread_atfork(nullptr, nullptr, &mark_forked_child);
#endif
  return true;
}();

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


// Outputs this large would evict the input from the last-level cache: stream them
// past it (non-temporal stores from the first 64-byte boundary on), which also saves
// the read-for-ownership traffic.
// Work of a pass that only moves memory, relative to a forward pass (Philox dominates).
constexpr double kMemoryCost = 0.25;

static bool use_stream(const void* y, uint64_t nbytes, size_t es) {
  return nbytes >= kStreamBytes && (reinterpret_cast<uintptr_t>(y) % es) == 0;
}

void dropout_forward(DType dt, const void* x, void* y, uint8_t* mask, uint64_t n, const Draw& d,
                     const Scale& s) {
  const size_t es = dtype_size(dt);
  const KernelTable& t = active_table();
  if (d.drop_all) {  // p == 1: every element is +0.0 and no word is compared
    parallel_chunks(n, [&](uint64_t b, uint64_t e) {
      std::memset(static_cast<char*>(y) + b * es, 0, (e - b) * es);
      if (mask) std::memset(mask + b / 8, 0, (e - b + 7) / 8);
    }, kMemoryCost);
    return;
  }
  if (d.threshold == 0) {  // every word is >= 0: all kept, no word needs drawing
    const ApplyFn apply = t.apply[static_cast<int>(dt)];
    const bool stream = use_stream(y, n * es, es);
    parallel_chunks(n, [&](uint64_t b, uint64_t e) {
      apply(static_cast<const char*>(x) + b * es, static_cast<char*>(y) + b * es, nullptr, e - b, s,
            stream);
      if (mask) {
        std::memset(mask + b / 8, 0xff, (e - b) / 8);
        if ((e - b) % 8) mask[e / 8] = static_cast<uint8_t>((1u << ((e - b) % 8)) - 1u);
      }
    }, kMemoryCost);
    return;
  }
  const Keys keys = make_keys(d.seed, d.stream);
  const ForwardFn fwd = t.forward[static_cast<int>(dt)];
  const bool stream = use_stream(y, n * es, es);
  parallel_chunks(n, [&](uint64_t b, uint64_t e) {
    fwd(static_cast<const char*>(x) + b * es, static_cast<char*>(y) + b * es,
        mask ? mask + b / 8 : nullptr, e - b, keys, d.offset + b, d.threshold, s, stream);
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
  parallel_chunks(n, [&](uint64_t b, uint64_t e) { fn(mask + b / 8, e - b, keys, d.offset + b, d.threshold); });
}

void dropout_apply(DType dt, const void* x, void* y, const uint8_t* mask, uint64_t n,
                   const Scale& s) {
  const size_t es = dtype_size(dt);
  const ApplyFn apply = active_table().apply[static_cast<int>(dt)];
  const bool stream = use_stream(y, n * es, es);
  parallel_chunks(n, [&](uint64_t b, uint64_t e) {
    apply(static_cast<const char*>(x) + b * es, static_cast<char*>(y) + b * es,
          mask ? mask + b / 8 : nullptr, e - b, s, stream);
  }, kMemoryCost);
}

void parallel_copy(const void* src, void* dst, uint64_t nbytes) {
  // the bandwidth ceiling of the benchmarks: the same threads and chunking as a forward pass
  parallel_chunks(nbytes / 4, [&](uint64_t b, uint64_t e) {
    const uint64_t end = e * 4 == (nbytes / 4) * 4 ? nbytes : e * 4;
    std::memcpy(static_cast<char*>(dst) + b * 4, static_cast<const char*>(src) + b * 4, end - b * 4);
  });
  if (nbytes < 4) std::memcpy(dst, src, nbytes);
}

namespace {

// OR `nbits` bits of src (from bit 0) into dst at bit position `at` (dst pre-zeroed there).
void or_bits(uint8_t* dst, uint64_t at, const uint8_t* src, uint64_t nbits) {
  const unsigned sh = static_cast<unsigned>(at % 8);
  uint8_t* d = dst + at / 8;
  const uint64_t nbytes = (nbits + 7) / 8;
  for (uint64_t i = 0; i < nbytes; ++i) {
    const unsigned b = src[i];
    d[i] |= static_cast<uint8_t>(b << sh);
    if (sh && (8 * i + 8 - sh) < nbits) d[i + 1] |= static_cast<uint8_t>(b >> (8 - sh));
  }
}

// Runs in parallel over chunks of whole multiples of 8 runs, so that no two threads ever
// write the same mask byte.
template <class Fn>
void for_runs(uint64_t runs, uint64_t len, const Fn& fn) {
  const uint64_t octets = (runs + 7) / 8;
  // 64 units per octet of runs; a run costs its elements plus about one extra group
  const double cost = static_cast<double>(len + 64) / 8.0;
  parallel_chunks(octets * 64, [&](uint64_t b, uint64_t e) {
    const uint64_t r0 = b / 64 * 8;
    const uint64_t r1 = std::min(runs, e / 64 * 8);
    if (r0 < r1) fn(r0, r1);
  }, cost);
}

}  // namespace

void dropout_forward_runs(DType dt, const void* x, void* y, uint8_t* mask, uint64_t runs,
                          uint64_t len, const uint64_t* word_starts, const Draw& d,
                          const Scale& s) {
  if (runs == 0 || len == 0) return;
  const size_t es = dtype_size(dt);
  const Keys keys = make_keys(d.seed, d.stream);
  const ForwardFn fwd = active_table().forward[static_cast<int>(dt)];
  const bool byte_runs = len % 8 == 0;
  for_runs(runs, len, [&](uint64_t r0, uint64_t r1) {
    std::vector<uint8_t> tmp(mask && !byte_runs ? (len + 7) / 8 : 0);
    if (mask && !byte_runs) {  // this chunk's bytes, zeroed before bits are OR-ed in
      const uint64_t first = r0 * len / 8, last = (r1 * len + 7) / 8;
      std::memset(mask + first, 0, last - first);
    }
    for (uint64_t r = r0; r < r1; ++r) {
      const char* xr = static_cast<const char*>(x) + r * len * es;
      char* yr = static_cast<char*>(y) + r * len * es;
      if (!mask) {
        fwd(xr, yr, nullptr, len, keys, word_starts[r], d.threshold, s, false);
      } else if (byte_runs) {
        fwd(xr, yr, mask + r * len / 8, len, keys, word_starts[r], d.threshold, s, false);
      } else {
        fwd(xr, yr, tmp.data(), len, keys, word_starts[r], d.threshold, s, false);
        or_bits(mask, r * len, tmp.data(), len);
      }
    }
  });
}

void dropout_mask_runs(uint8_t* mask, uint64_t runs, uint64_t len, const uint64_t* word_starts,
                       const Draw& d) {
  if (runs == 0 || len == 0) return;
  const Keys keys = make_keys(d.seed, d.stream);
  const MaskFn fn = active_table().mask;
  const bool byte_runs = len % 8 == 0;
  for_runs(runs, len, [&](uint64_t r0, uint64_t r1) {
    std::vector<uint8_t> tmp(byte_runs ? 0 : (len + 7) / 8);
    if (!byte_runs) {
      const uint64_t first = r0 * len / 8, last = (r1 * len + 7) / 8;
      std::memset(mask + first, 0, last - first);
    }
    for (uint64_t r = r0; r < r1; ++r) {
      if (byte_runs) {
        fn(mask + r * len / 8, len, keys, word_starts[r], d.threshold);
      } else {
        fn(tmp.data(), len, keys, word_starts[r], d.threshold);
        or_bits(mask, r * len, tmp.data(), len);
      }
    }
  });
}

}  // namespace pydropout
