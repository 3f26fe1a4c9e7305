// avx2.cpp: AVX2 kernels inside target("avx2,fma,f16c").
// Philox runs on 64-bit lanes (4 blocks per vector, two interleaved sets), vpmuludq for
// the 32x32->64 products; an in-lane 4x4 transpose puts the words in element order.
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

struct Ops {
  // Philox on 64-bit lanes: each lane keeps its 32-bit word in the low half (the high
  // half is don't-care: vpmuludq reads only low halves), so one vpmuludq gives both
  // halves of a product and one shift the high half; no blends inside the rounds.
  // Two sets of 4 blocks run interleaved for instruction-level parallelism.
  static inline uint64_t keep32(const Keys& keys, uint64_t block, uint32_t threshold) {
    // Merged into 32-bit lanes (set A even, set B odd), lane 4i + v must hold block
    // 2v + i so that the in-lane transpose leaves vector v holding words 8v .. 8v + 7.
    const __m256i base = _mm256_set1_epi64x(static_cast<long long>(block));
    const __m256i ctr_a = _mm256_add_epi64(base, _mm256_setr_epi64x(0, 4, 1, 5));
    const __m256i ctr_b = _mm256_add_epi64(base, _mm256_setr_epi64x(2, 6, 3, 7));
    __m256i c0 = ctr_a, c1 = _mm256_srli_epi64(ctr_a, 32);
    __m256i d0 = ctr_b, d1 = _mm256_srli_epi64(ctr_b, 32);
    __m256i c2 = _mm256_set1_epi32(static_cast<int>(keys.stream_lo)), d2 = c2;
    __m256i c3 = _mm256_set1_epi32(static_cast<int>(keys.stream_hi)), d3 = c3;
    const __m256i m0 = _mm256_set1_epi64x(0xD2511F53);
    const __m256i m1 = _mm256_set1_epi64x(0xCD9E8D57);
    for (int round = 0; round < 10; ++round) {
      const __m256i k0 = _mm256_set1_epi32(static_cast<int>(keys.k0[round]));
      const __m256i k1 = _mm256_set1_epi32(static_cast<int>(keys.k1[round]));
      const __m256i p0 = _mm256_mul_epu32(c0, m0);
      const __m256i p1 = _mm256_mul_epu32(c2, m1);
      const __m256i q0 = _mm256_mul_epu32(d0, m0);
      const __m256i q1 = _mm256_mul_epu32(d2, m1);
      c0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), c1), k0);
      c2 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), c3), k1);
      c1 = p1;
      c3 = p0;
      d0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(q1, 32), d1), k0);
      d2 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(q0, 32), d3), k1);
      d1 = q1;
      d3 = q0;
    }
    const __m256i w0 = _mm256_blend_epi32(c0, _mm256_slli_epi64(d0, 32), 0xAA);
    const __m256i w1 = _mm256_blend_epi32(c1, _mm256_slli_epi64(d1, 32), 0xAA);
    const __m256i w2 = _mm256_blend_epi32(c2, _mm256_slli_epi64(d2, 32), 0xAA);
    const __m256i w3 = _mm256_blend_epi32(c3, _mm256_slli_epi64(d3, 32), 0xAA);
    const __m256i t0 = _mm256_unpacklo_epi32(w0, w1);
    const __m256i t1 = _mm256_unpackhi_epi32(w0, w1);
    const __m256i t2 = _mm256_unpacklo_epi32(w2, w3);
    const __m256i t3 = _mm256_unpackhi_epi32(w2, w3);
    const __m256i thr = _mm256_set1_epi32(static_cast<int>(threshold));
    const __m256i w[4] = {_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2),
                          _mm256_unpacklo_epi64(t1, t3), _mm256_unpackhi_epi64(t1, t3)};
    uint64_t bits = 0;
    for (int v = 0; v < 4; ++v) {
      // integer threshold: every ISA decides identically
      const __m256i keep = _mm256_cmpeq_epi32(_mm256_max_epu32(w[v], thr), w[v]);
      bits |= static_cast<uint64_t>(static_cast<uint32_t>(
                  _mm256_movemask_ps(_mm256_castsi256_ps(keep))))
              << (8 * v);
    }
    return bits;
  }

  static inline uint64_t keep64(const Keys& keys, uint64_t block, uint32_t threshold) {
    return keep32(keys, block, threshold) | (keep32(keys, block + 8, threshold) << 32);
  }

  static inline void keep128(const Keys& keys, uint64_t block, uint32_t threshold,
                             uint64_t out[2]) {
    out[0] = keep64(keys, block, threshold);
    out[1] = keep64(keys, block + 16, threshold);
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
