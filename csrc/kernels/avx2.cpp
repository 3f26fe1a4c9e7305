// avx2.cpp: AVX2 kernels inside target("avx2,fma,f16c").
// Philox runs on 64-bit lanes (4 blocks per vector, three interleaved sets), vpmuludq
// for the 32x32->64 products; a small table puts the compare bits in element order.
// AVX2 has no unsigned compare: word >= t is max(word, t) == word. Keep bits are
// expanded back to lane masks with a broadcast, an AND and a compare; dropped lanes
// are AND-ed to +0.0. Scalar spec: philox.hpp and scalar.cpp.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "../dispatch.hpp"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#elif defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#endif

namespace pydropout {
namespace avx2 {

// bits 0, 2, 4, 6 of the index moved to bits 0, 4, 8, 12
constexpr uint16_t spread_entry(int m) {
  return static_cast<uint16_t>((m & 1) | ((m >> 2 & 1) << 4) | ((m >> 4 & 1) << 8) | ((m >> 6 & 1) << 12));
}
struct SpreadTable {
  uint16_t v[128];
  constexpr SpreadTable() : v() {
    for (int m = 0; m < 128; ++m) v[m] = spread_entry(m);
  }
};
constexpr SpreadTable kSpreadTable{};
static const uint16_t* const kSpread = kSpreadTable.v;

struct Ops {
  // Per-call key material: the round keys broadcast once into vectors, so the rounds
  // XOR them straight from memory instead of holding them in the 16 registers.
  struct Ctx {
    alignas(32) uint32_t k[20][8];  // k[r]: k0 of round r, k[10 + r]: k1 of round r
    uint32_t stream_lo, stream_hi;
    explicit Ctx(const Keys& keys) : stream_lo(keys.stream_lo), stream_hi(keys.stream_hi) {
      for (int r = 0; r < 10; ++r) {
        _mm256_store_si256(reinterpret_cast<__m256i*>(k[r]), _mm256_set1_epi32(static_cast<int>(keys.k0[r])));
        _mm256_store_si256(reinterpret_cast<__m256i*>(k[10 + r]), _mm256_set1_epi32(static_cast<int>(keys.k1[r])));
      }
    }
  };

  static inline __m256i key(const Ctx& ctx, int i) {
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(ctx.k[i]));
  }

  // Philox on 64-bit lanes: each lane keeps its 32-bit word in the low half (the high
  // half is don't-care: vpmuludq reads only low halves), so one vpmuludq gives both
  // halves of a product and one shift the high half; no blends inside the rounds.
  // kSets sets of 4 consecutive blocks (set s, lane j: block + 4s + j) run interleaved.
  // Each round updates the four words in place and renames them instead of moving
  // them: after round t, word i of the state lives in register (i + t + 1) % 4.
  // Returns 16 keep bits per set in out[s] (bit 4j + l: word l of block 4s + j).
  template <int kSets>
  __attribute__((noinline)) static void keep_sets(const Ctx& ctx, uint64_t block, uint32_t threshold,
                               uint16_t* out) {
    const __m256i m0 = _mm256_set1_epi64x(0xD2511F53);
    const __m256i m1 = _mm256_set1_epi64x(0xCD9E8D57);
    __m256i r[kSets][4];
    const __m256i base = _mm256_add_epi64(_mm256_set1_epi64x(static_cast<long long>(block)),
                                          _mm256_setr_epi64x(0, 1, 2, 3));
#pragma GCC unroll 4
    for (int s = 0; s < kSets; ++s) {
      r[s][0] = _mm256_add_epi64(base, _mm256_set1_epi64x(4 * s));
      r[s][1] = _mm256_srli_epi64(r[s][0], 32);
      r[s][2] = _mm256_set1_epi32(static_cast<int>(ctx.stream_lo));
      r[s][3] = _mm256_set1_epi32(static_cast<int>(ctx.stream_hi));
    }
#pragma GCC unroll 10
    for (int t = 0; t < 10; ++t) {
      const int i0 = t & 3, i1 = (t + 1) & 3, i2 = (t + 2) & 3, i3 = (t + 3) & 3;
#pragma GCC unroll 4
      for (int s = 0; s < kSets; ++s) {
        r[s][i0] = _mm256_mul_epu32(r[s][i0], m0);  // p0: lo0 is the new word 3
        r[s][i2] = _mm256_mul_epu32(r[s][i2], m1);  // p1: lo1 is the new word 1
        // new word 0 = hi1 ^ c1 ^ k0, new word 2 = hi0 ^ c3 ^ k1 (the key XOR first,
        // off the multiply's critical path)
        // (keys as memory operands: holding them would take two of the 16 registers)
        r[s][i1] = _mm256_xor_si256(_mm256_xor_si256(r[s][i1], key(ctx, t)), _mm256_srli_epi64(r[s][i2], 32));
        r[s][i3] = _mm256_xor_si256(_mm256_xor_si256(r[s][i3], key(ctx, 10 + t)), _mm256_srli_epi64(r[s][i0], 32));
      }
    }
    // AVX2 has no unsigned compare: word >= t is max(word, t) == word. Integer
    // threshold: every ISA decides identically. movemask puts word l of block j at bit
    // 2j (the low half of lane j); the table spreads bits 0, 2, 4, 6 to 0, 4, 8, 12.
    const __m256i thr = _mm256_set1_epi32(static_cast<int>(threshold));
#pragma GCC unroll 4
    for (int s = 0; s < kSets; ++s) {
      uint32_t bits = 0;
#pragma GCC unroll 4
      for (int l = 0; l < 4; ++l) {
        const __m256i w = r[s][(l + 2) & 3];  // after round 9 word l is in (l + 10) % 4
        const __m256i keep = _mm256_cmpeq_epi32(_mm256_max_epu32(w, thr), w);
        const int m = _mm256_movemask_ps(_mm256_castsi256_ps(keep)) & 0x55;
        bits |= static_cast<uint32_t>(kSpread[m]) << l;
      }
      out[s] = static_cast<uint16_t>(bits);
    }
  }

  // Three groups per call as four runs of three sets: three sets are as many as the
  // 16 vector registers hold without spilling, and give the most parallelism.
  static constexpr int kGroups = 3;
  static inline void keep(const Ctx& ctx, uint64_t block, uint32_t threshold, uint64_t* out) {
    uint16_t q[12];
    for (int c = 0; c < 4; ++c) keep_sets<3>(ctx, block + 12 * static_cast<uint64_t>(c), threshold, q + 3 * c);
    for (int g = 0; g < 3; ++g) {
      out[g] = static_cast<uint64_t>(q[4 * g]) | (static_cast<uint64_t>(q[4 * g + 1]) << 16) |
               (static_cast<uint64_t>(q[4 * g + 2]) << 32) | (static_cast<uint64_t>(q[4 * g + 3]) << 48);
    }
  }

  static inline uint64_t keep64(const Ctx& ctx, uint64_t block, uint32_t threshold) {
    uint16_t q[4];
    keep_sets<2>(ctx, block, threshold, q);
    keep_sets<2>(ctx, block + 8, threshold, q + 2);
    return static_cast<uint64_t>(q[0]) | (static_cast<uint64_t>(q[1]) << 16) |
           (static_cast<uint64_t>(q[2]) << 32) | (static_cast<uint64_t>(q[3]) << 48);
  }

  // lane masks from 8 keep bits
  static inline __m256i lanes32(uint64_t byte) {
    const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(static_cast<int>(byte & 0xff)), sel), sel);
  }
  static inline __m256i lanes64(uint64_t nibble) {
    const __m256i sel = _mm256_setr_epi64x(1, 2, 4, 8);
    return _mm256_cmpeq_epi64(_mm256_and_si256(_mm256_set1_epi64x(static_cast<long long>(nibble & 0xf)), sel), sel);
  }
  static inline __m128i lanes16(uint64_t byte) {
    const __m128i sel = _mm_setr_epi16(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm_cmpeq_epi16(_mm_and_si128(_mm_set1_epi16(static_cast<short>(byte & 0xff)), sel), sel);
  }

  static inline void stream_fence() { _mm_sfence(); }

  // stores; kStream: non-temporal, the address is 64-byte aligned (see dispatch.cpp)
  template <bool kStream> static inline void store(float* p, __m256 v) {
    if (kStream) _mm256_stream_ps(p, v); else _mm256_storeu_ps(p, v);
  }
  template <bool kStream> static inline void store(double* p, __m256d v) {
    if (kStream) _mm256_stream_pd(p, v); else _mm256_storeu_pd(p, v);
  }
  template <bool kStream> static inline void store(void* p, __m128i v) {
    if (kStream) _mm_stream_si128(reinterpret_cast<__m128i*>(p), v);
    else _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v);
  }

  template <class T, bool kScale, bool kStream, class S>
  static inline void apply64(const T* x, T* y, uint64_t bits, S s) {
    apply64_impl<kScale, kStream>(x, y, bits, s);
  }

  template <bool kScale, bool kStream>
  static inline void apply64_impl(const float* x, float* y, uint64_t bits, float s) {
    const __m256 s_f32x8 = _mm256_set1_ps(s);
    for (int v = 0; v < 8; ++v) {
      const __m256 keep = _mm256_castsi256_ps(lanes32(bits >> (8 * v)));
      __m256 x_f32x8 = _mm256_loadu_ps(x + 8 * v);
      if (kScale) x_f32x8 = _mm256_mul_ps(x_f32x8, s_f32x8);
      store<kStream>(y + 8 * v, _mm256_and_ps(x_f32x8, keep));
    }
  }

  template <bool kScale, bool kStream>
  static inline void apply64_impl(const double* x, double* y, uint64_t bits, double s) {
    const __m256d s_f64x4 = _mm256_set1_pd(s);
    for (int v = 0; v < 16; ++v) {
      const __m256d keep = _mm256_castsi256_pd(lanes64(bits >> (4 * v)));
      __m256d x_f64x4 = _mm256_loadu_pd(x + 4 * v);
      if (kScale) x_f64x4 = _mm256_mul_pd(x_f64x4, s_f64x4);
      store<kStream>(y + 4 * v, _mm256_and_pd(x_f64x4, keep));
    }
  }

  template <bool kScale, bool kStream>
  static inline void apply64_impl(const Half* x, Half* y, uint64_t bits, float s) {
    const __m256 s_f32x8 = _mm256_set1_ps(s);
    for (int v = 0; v < 8; ++v) {
      __m128i x_f16x8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 8 * v));
      if (kScale) {
        const __m256 p = _mm256_mul_ps(_mm256_cvtph_ps(x_f16x8), s_f32x8);
        x_f16x8 = _mm256_cvtps_ph(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      }
      store<kStream>(y + 8 * v, _mm_and_si128(x_f16x8, lanes16(bits >> (8 * v))));
    }
  }

  template <bool kScale, bool kStream>
  static inline void apply64_impl(const BFloat16* x, BFloat16* y, uint64_t bits, float s) {
    const __m256 s_f32x8 = _mm256_set1_ps(s);
    for (int v = 0; v < 8; ++v) {
      __m128i x_bf16x8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 8 * v));
      if (kScale) {
        const __m256 xf = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(x_bf16x8), 16));
        const __m256i p = _mm256_castps_si256(_mm256_mul_ps(xf, s_f32x8));
        // round to nearest even; NaN becomes the canonical quiet NaN with its sign
        const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(p, 16), _mm256_set1_epi32(1));
        __m256i r = _mm256_srli_epi32(
            _mm256_add_epi32(_mm256_add_epi32(p, _mm256_set1_epi32(0x7fff)), lsb), 16);
        const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(p, _mm256_set1_epi32(0x7fffffff)),
                                               _mm256_set1_epi32(0x7f800000));
        const __m256i qnan = _mm256_or_si256(
            _mm256_and_si256(_mm256_srli_epi32(p, 16), _mm256_set1_epi32(0x8000)),
            _mm256_set1_epi32(0x7fc0));
        r = _mm256_blendv_epi8(r, qnan, nan);
        // pack 8 x 32-bit (values < 2^16) to 8 x 16-bit
        x_bf16x8 = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
      }
      store<kStream>(y + 8 * v, _mm_and_si128(x_bf16x8, lanes16(bits >> (8 * v))));
    }
  }
};

#include "loop-inl.hpp"

}  // namespace avx2
}  // namespace pydropout

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#elif defined(__clang__)
#pragma clang attribute pop
#endif

namespace pydropout {
namespace avx2 {
#include "table-inl.hpp"
void register_kernels(KernelTable& table) { fill_table(table); }
}  // namespace avx2
}  // namespace pydropout
