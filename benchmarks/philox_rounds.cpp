// philox_rounds.cpp: the bare Philox4x32-10 rounds on vector lanes, in the layouts that
// docs/DESIGN.md compares, timed alone (no compare, no data): what bounds the kernels.
//
//   g++ -O3 -march=x86-64 -mtune=generic -std=c++17 benchmarks/philox_rounds.cpp -o philox_rounds
//   ./philox_rounds [iterations]    # default 20000 calls per sample; best of 15 samples,
//                                   # the rows taking turns
//
// Prints ns per 32-bit word on one thread. AVX-512 rows: one word per 64-bit lane, S sets
// of 8 blocks, the high half of each product taken by a shift (as in the kernel), a
// vpshufd, a vprorq or IFMA's vpmadd52huq, and S sets interleaved with K scalar blocks.
// AVX-512VL rows: the same layout in 256-bit registers (32 of them hold more sets).
// AVX2 rows: O sets of 4 blocks with one word per lane and T sets with two words per lane.
// Rows of a level the CPU lacks are skipped. The results are checked against a scalar Philox,
// so a row that prints is computing the real stream.
#include <immintrin.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "../csrc/core/philox.hpp"  // the constants

namespace {

constexpr uint32_t kM0 = pydropout::kPhiloxM0, kM1 = pydropout::kPhiloxM1;
constexpr uint32_t kW0 = pydropout::kPhiloxW0, kW1 = pydropout::kPhiloxW1;

struct Keys {
  alignas(32) uint32_t k0[10], k1[10];
  uint32_t stream_lo, stream_hi;  // read at run time, as in the kernels: no constant folding
  alignas(32) uint32_t b0[10][8], b1[10][8];  // broadcast copies for AVX2 memory operands
};

Keys make_keys(uint64_t seed, uint64_t stream) {
  Keys k{};
  k.stream_lo = static_cast<uint32_t>(stream);
  k.stream_hi = static_cast<uint32_t>(stream >> 32);
  uint32_t a = static_cast<uint32_t>(seed), b = static_cast<uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r, a += kW0, b += kW1) {
    k.k0[r] = a;
    k.k1[r] = b;
    for (int j = 0; j < 8; ++j) k.b0[r][j] = a, k.b1[r][j] = b;
  }
  return k;
}

void scalar_block(const Keys& k, uint64_t block, uint32_t out[4]) {
  uint32_t c[4] = {static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), k.stream_lo,
                   k.stream_hi};
  for (int r = 0; r < 10; ++r) {
    const uint64_t p0 = uint64_t{kM0} * c[0], p1 = uint64_t{kM1} * c[2];
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c[1] ^ k.k0[r];
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c[3] ^ k.k1[r];
    c[1] = static_cast<uint32_t>(p1);
    c[3] = static_cast<uint32_t>(p0);
    c[0] = n0;
    c[2] = n2;
  }
  for (int l = 0; l < 4; ++l) out[l] = c[l];
}

// every row writes its words here (word l of block j at [4j + l]) for the check
uint32_t g_words[4 * 64];

// ---- AVX-512: one word per 64-bit lane ------------------------------------------------

enum Hi { kShift, kShuffle, kRotate, kIfma };

template <int kSets, int kScalar, Hi kHi>
// (no auto-vectorisation: the scalar blocks are meant for the integer pipes)
__attribute__((target("avx512f,avx512ifma"), optimize("no-tree-vectorize"),
               noinline)) void rounds512(const Keys& k, uint64_t block, bool store) {
  __m512i c0[kSets + 1], c1[kSets + 1], c2[kSets + 1], c3[kSets + 1];
  const __m512i lanes = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
  for (int s = 0; s < kSets; ++s) {
    c0[s] = _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(block + 8 * s)), lanes);
    c1[s] = _mm512_srli_epi64(c0[s], 32);
    c0[s] = _mm512_and_si512(c0[s], _mm512_set1_epi64(0xFFFFFFFF));  // clean for IFMA
    c2[s] = _mm512_set1_epi64(k.stream_lo);
    c3[s] = _mm512_set1_epi64(k.stream_hi);
  }
  uint64_t x[kScalar + 1][4];
  for (int j = 0; j < kScalar; ++j) {
    const uint64_t b = block + 8 * kSets + j;
    x[j][0] = static_cast<uint32_t>(b), x[j][1] = b >> 32, x[j][2] = k.stream_lo,
    x[j][3] = k.stream_hi;
  }
  const __m512i m0 = _mm512_set1_epi64(kM0), m1 = _mm512_set1_epi64(kM1);
  const __m512i m0s = _mm512_set1_epi64(uint64_t{kM0} << 20),
                m1s = _mm512_set1_epi64(uint64_t{kM1} << 20);
  const __m512i zero = _mm512_setzero_si512();
#pragma GCC unroll 10
  for (int r = 0; r < 10; ++r) {
    const __m512i k0 = _mm512_set1_epi32(static_cast<int>(k.k0[r]));  // as the kernel does
    const __m512i k1 = _mm512_set1_epi32(static_cast<int>(k.k1[r]));
#pragma GCC unroll 8
    for (int s = 0; s < kSets; ++s) {
      const __m512i p0 = _mm512_mul_epu32(c0[s], m0), p1 = _mm512_mul_epu32(c2[s], m1);
      __m512i h0, h1;
      if (kHi == kShift) {
        h0 = _mm512_srli_epi64(p0, 32), h1 = _mm512_srli_epi64(p1, 32);
      } else if (kHi == kShuffle) {
        h0 = _mm512_shuffle_epi32(p0, _MM_PERM_CDAB), h1 = _mm512_shuffle_epi32(p1, _MM_PERM_CDAB);
      } else if (kHi == kRotate) {
        h0 = _mm512_ror_epi64(p0, 32), h1 = _mm512_ror_epi64(p1, 32);
      } else {  // (x * (m << 20)) >> 52 is the high half, and clean when x is
        h0 = _mm512_madd52hi_epu64(zero, c0[s], m0s), h1 = _mm512_madd52hi_epu64(zero, c2[s], m1s);
      }
      if (kHi == kIfma) {  // keep every lane's high half zero (0x5555: the low dwords)
        c0[s] = _mm512_maskz_ternarylogic_epi32(0x5555, h1, c1[s], k0, 0x96);
        c2[s] = _mm512_maskz_ternarylogic_epi32(0x5555, h0, c3[s], k1, 0x96);
      } else {
        c0[s] = _mm512_ternarylogic_epi32(h1, c1[s], k0, 0x96);
        c2[s] = _mm512_ternarylogic_epi32(h0, c3[s], k1, 0x96);
      }
      c1[s] = p1;
      c3[s] = p0;
    }
#pragma GCC unroll 8
    for (int j = 0; j < kScalar; ++j) {
      const uint64_t p0 = x[j][0] * kM0, p1 = x[j][2] * kM1;
      x[j][0] = (p1 >> 32) ^ x[j][1] ^ k.k0[r];
      x[j][2] = (p0 >> 32) ^ x[j][3] ^ k.k1[r];
      x[j][1] = static_cast<uint32_t>(p1);
      x[j][3] = static_cast<uint32_t>(p0);
    }
  }
  if (!store) {  // keep the results alive without a store per call
    __m512i acc = zero;
    for (int s = 0; s < kSets; ++s)
      acc = _mm512_ternarylogic_epi32(acc, _mm512_xor_si512(c0[s], c1[s]),
                                      _mm512_xor_si512(c2[s], c3[s]), 0x96);
    uint64_t sx = 0;
    for (int j = 0; j < kScalar; ++j) sx ^= x[j][0] ^ x[j][1] ^ x[j][2] ^ x[j][3];
    asm volatile("" ::"v"(acc), "r"(sx));
    return;
  }
  for (int s = 0; s < kSets; ++s) {
    alignas(64) uint64_t w[4][8];
    _mm512_store_si512(w[0], c0[s]), _mm512_store_si512(w[1], c1[s]);
    _mm512_store_si512(w[2], c2[s]), _mm512_store_si512(w[3], c3[s]);
    for (int j = 0; j < 8; ++j)
      for (int l = 0; l < 4; ++l) g_words[4 * (8 * s + j) + l] = static_cast<uint32_t>(w[l][j]);
  }
  for (int j = 0; j < kScalar; ++j)
    for (int l = 0; l < 4; ++l) g_words[4 * (8 * kSets + j) + l] = static_cast<uint32_t>(x[j][l]);
}

// Words of set `s` (4 blocks, one word per 64-bit lane, word l in vector l) into g_words.
__attribute__((target("avx2"), always_inline)) inline void store_set256(int s, __m256i c0,
                                                                        __m256i c1, __m256i c2,
                                                                        __m256i c3) {
  alignas(32) uint64_t w[4][4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(w[0]), c0);
  _mm256_store_si256(reinterpret_cast<__m256i*>(w[1]), c1);
  _mm256_store_si256(reinterpret_cast<__m256i*>(w[2]), c2);
  _mm256_store_si256(reinterpret_cast<__m256i*>(w[3]), c3);
  for (int j = 0; j < 4; ++j)
    for (int l = 0; l < 4; ++l) g_words[4 * (4 * s + j) + l] = static_cast<uint32_t>(w[l][j]);
}

// ---- AVX-512VL at 256 bits: the kernel's layout in ymm registers (ternlog, 32 of them) --

template <int kSets>
__attribute__((target("avx512f,avx512vl"), noinline)) void rounds512vl(const Keys& k,
                                                                       uint64_t block, bool store) {
  __m256i c0[kSets], c1[kSets], c2[kSets], c3[kSets];
  const __m256i lanes = _mm256_setr_epi64x(0, 1, 2, 3);
  for (int s = 0; s < kSets; ++s) {
    c0[s] = _mm256_add_epi64(_mm256_set1_epi64x(static_cast<long long>(block + 4 * s)), lanes);
    c1[s] = _mm256_srli_epi64(c0[s], 32);
    c2[s] = _mm256_set1_epi64x(k.stream_lo);
    c3[s] = _mm256_set1_epi64x(k.stream_hi);
  }
  const __m256i m0 = _mm256_set1_epi64x(kM0), m1 = _mm256_set1_epi64x(kM1);
#pragma GCC unroll 10
  for (int r = 0; r < 10; ++r) {
    const __m256i k0 = _mm256_set1_epi32(static_cast<int>(k.k0[r]));
    const __m256i k1 = _mm256_set1_epi32(static_cast<int>(k.k1[r]));
#pragma GCC unroll 12
    for (int s = 0; s < kSets; ++s) {
      const __m256i p0 = _mm256_mul_epu32(c0[s], m0), p1 = _mm256_mul_epu32(c2[s], m1);
      c0[s] = _mm256_ternarylogic_epi32(_mm256_srli_epi64(p1, 32), c1[s], k0, 0x96);
      c2[s] = _mm256_ternarylogic_epi32(_mm256_srli_epi64(p0, 32), c3[s], k1, 0x96);
      c1[s] = p1;
      c3[s] = p0;
    }
  }
  if (!store) {
    __m256i acc = _mm256_setzero_si256();
    for (int s = 0; s < kSets; ++s)
      acc = _mm256_ternarylogic_epi32(acc, _mm256_xor_si256(c0[s], c1[s]),
                                      _mm256_xor_si256(c2[s], c3[s]), 0x96);
    asm volatile("" ::"v"(acc));
    return;
  }
  for (int s = 0; s < kSets; ++s) store_set256(s, c0[s], c1[s], c2[s], c3[s]);
}

// ---- AVX2: O sets with one word per lane, T sets with two words per lane ---------------

template <int kOne, int kTwo>
__attribute__((target("avx2"), noinline)) void rounds256(const Keys& k, uint64_t block,
                                                         bool store) {
  const __m256i m0 = _mm256_set1_epi64x(kM0), m1 = _mm256_set1_epi64x(kM1);
  const __m256i high = _mm256_set1_epi64x(static_cast<long long>(0xFFFFFFFF00000000ull));
  const __m256i lanes = _mm256_setr_epi64x(0, 1, 2, 3);
  __m256i c0[kOne + 1], c1[kOne + 1], c2[kOne + 1], c3[kOne + 1], a[kTwo + 1], b[kTwo + 1];
  for (int s = 0; s < kOne; ++s) {
    c0[s] = _mm256_add_epi64(_mm256_set1_epi64x(static_cast<long long>(block + 4 * s)), lanes);
    c1[s] = _mm256_srli_epi64(c0[s], 32);
    c2[s] = _mm256_set1_epi64x(k.stream_lo);
    c3[s] = _mm256_set1_epi64x(k.stream_hi);
  }
  for (int s = 0; s < kTwo; ++s) {  // a = (word 1 : word 0), b = (word 3 : word 2)
    a[s] =
        _mm256_add_epi64(_mm256_set1_epi64x(static_cast<long long>(block + 4 * (kOne + s))), lanes);
    b[s] = _mm256_set1_epi64x(static_cast<long long>((uint64_t{k.stream_hi} << 32) | k.stream_lo));
  }
#pragma GCC unroll 10
  for (int r = 0; r < 10; ++r) {
    const __m256i k0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(k.b0[r]));
    const __m256i k1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(k.b1[r]));
#pragma GCC unroll 8
    for (int s = 0; s < kOne; ++s) {
      const __m256i p0 = _mm256_mul_epu32(c0[s], m0), p1 = _mm256_mul_epu32(c2[s], m1);
      c0[s] = _mm256_xor_si256(_mm256_srli_epi64(p1, 32), _mm256_xor_si256(c1[s], k0));
      c2[s] = _mm256_xor_si256(_mm256_srli_epi64(p0, 32), _mm256_xor_si256(c3[s], k1));
      c1[s] = p1;
      c3[s] = p0;
    }
#pragma GCC unroll 8
    for (int s = 0; s < kTwo; ++s) {
      const __m256i p0 = _mm256_mul_epu32(a[s], m0), p1 = _mm256_mul_epu32(b[s], m1);
      a[s] = _mm256_shuffle_epi32(
          _mm256_xor_si256(p1, _mm256_and_si256(_mm256_xor_si256(a[s], k0), high)), 0xB1);
      b[s] = _mm256_shuffle_epi32(
          _mm256_xor_si256(p0, _mm256_and_si256(_mm256_xor_si256(b[s], k1), high)), 0xB1);
    }
  }
  if (!store) {
    __m256i acc = _mm256_setzero_si256();
    for (int s = 0; s < kOne; ++s)
      acc = _mm256_xor_si256(
          acc, _mm256_xor_si256(_mm256_xor_si256(c0[s], c1[s]), _mm256_xor_si256(c2[s], c3[s])));
    for (int s = 0; s < kTwo; ++s) acc = _mm256_xor_si256(acc, _mm256_xor_si256(a[s], b[s]));
    asm volatile("" ::"x"(acc));
    return;
  }
  for (int s = 0; s < kOne; ++s) store_set256(s, c0[s], c1[s], c2[s], c3[s]);
  for (int s = 0; s < kTwo; ++s) {
    alignas(32) uint64_t wa[4], wb[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(wa), a[s]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(wb), b[s]);
    for (int j = 0; j < 4; ++j) {
      uint32_t* o = g_words + 4 * (4 * (kOne + s) + j);
      o[0] = static_cast<uint32_t>(wa[j]), o[1] = static_cast<uint32_t>(wa[j] >> 32);
      o[2] = static_cast<uint32_t>(wb[j]), o[3] = static_cast<uint32_t>(wb[j] >> 32);
    }
  }
}

// ---- timing --------------------------------------------------------------------------

bool check(const Keys& k, uint64_t block, int blocks) {
  for (int j = 0; j < blocks; ++j) {
    uint32_t w[4];
    scalar_block(k, block + j, w);
    for (int l = 0; l < 4; ++l)
      if (g_words[4 * j + l] != w[l]) return false;
  }
  return true;
}

using RoundsFn = void (*)(const Keys&, uint64_t, bool);
struct Row {
  const char* name;
  int blocks;
  RoundsFn fn;
  double best = 1e30;
};

// Rows are timed in turn, one sample each per pass, so a busy moment on a shared machine
// slows every row alike; a row's time is its best sample.
void run(Row* rows, int count, const Keys& k, int iters, int passes) {
  const uint64_t first = (uint64_t{1} << 32) - 5;  // the block counter carries inside the run
  for (int r = 0; r < count; ++r) {
    rows[r].fn(k, first, true);
    if (!check(k, first, rows[r].blocks)) {
      std::printf("%-44s WRONG WORDS\n", rows[r].name);
      std::exit(1);
    }
  }
  for (int pass = 0; pass < passes; ++pass) {
    for (int r = 0; r < count; ++r) {
      Row& row = rows[r];
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < iters; ++i) row.fn(k, static_cast<uint64_t>(i) * row.blocks, false);
      const auto t1 = std::chrono::steady_clock::now();
      const double ns =
          std::chrono::duration<double, std::nano>(t1 - t0).count() / (4.0 * row.blocks * iters);
      if (ns < row.best) row.best = ns;
    }
  }
  for (int r = 0; r < count; ++r) std::printf("%-44s %.4f\n", rows[r].name, rows[r].best);
}

// The CPU features behind pydropout's "avx512" and "avx2" levels (csrc/dispatch/dispatch.cpp), so
// this program runs the rows of exactly the levels pydropout.supported_simd_levels() names.
bool has_avx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("bmi2");
}
bool has_avx2() {
  return has_avx512() || (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          __builtin_cpu_supports("f16c"));
}

}  // namespace

int main(int argc, char** argv) {
  const int iters = argc > 1 ? std::atoi(argv[1]) : 20000;
  const Keys k = make_keys(0x0123456789abcdefull, 7);
  __builtin_cpu_init();
  Row rows[32];
  int count = 0;
  auto add = [&](const char* name, int blocks, RoundsFn fn) {
    rows[count++] = Row{name, blocks, fn};
  };
  if (has_avx512()) {
    add("avx512 4 sets, shift (kernel, not Intel)", 32, rounds512<4, 0, kShift>);
    add("avx512 5 sets, shift", 40, rounds512<5, 0, kShift>);
    add("avx512 6 sets, shift", 48, rounds512<6, 0, kShift>);
    add("avx512 4 sets, vpshufd", 32, rounds512<4, 0, kShuffle>);
    add("avx512 4 sets, vprorq", 32, rounds512<4, 0, kRotate>);
    if (__builtin_cpu_supports("avx512ifma"))
      add("avx512 4 sets, vpmadd52huq (Intel kernel)", 32, rounds512<4, 0, kIfma>);
    add("avx512 4 sets + 1 scalar block", 33, rounds512<4, 1, kShift>);
    add("avx512 4 sets + 2 scalar blocks", 34, rounds512<4, 2, kShift>);
    add("avx512 4 sets + 4 scalar blocks", 36, rounds512<4, 4, kShift>);
    add("scalar 4 blocks (no vector sets)", 4, rounds512<0, 4, kShift>);
    add("avx512vl ymm 4 sets", 16, rounds512vl<4>);
    add("avx512vl ymm 6 sets", 24, rounds512vl<6>);
    add("avx512vl ymm 7 sets", 28, rounds512vl<7>);
    add("avx512vl ymm 8 sets", 32, rounds512vl<8>);
  }
  if (has_avx2()) {
    add("avx2 5 two-word sets (the kernel)", 20, rounds256<0, 5>);
    add("avx2 4 two-word sets", 16, rounds256<0, 4>);
    add("avx2 3 one-word sets", 12, rounds256<3, 0>);
    add("avx2 1 one-word + 3 two-word sets", 16, rounds256<1, 3>);
    add("avx2 1 one-word + 4 two-word sets", 20, rounds256<1, 4>);
    add("avx2 2 one-word + 2 two-word sets", 16, rounds256<2, 2>);
  }
  std::printf("%-44s %s\n", "layout", "ns/word");
  run(rows, count, k, iters, 15);
  return 0;
}
