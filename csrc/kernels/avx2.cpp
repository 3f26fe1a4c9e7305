// avx2.cpp: AVX2 kernels inside target("avx2,fma,f16c").
// Philox runs on 8 blocks per vector (two vectors per 64-word group), vpmuludq for
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
  static inline void mulhilo(__m256i a, __m256i b, __m256i& hi, __m256i& lo) {
    const __m256i even = _mm256_mul_epu32(a, b);
    const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), b);
    hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
    lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  }

  // keep bits of 8 blocks (32 words) starting at `block`
  static inline uint64_t keep32(const Keys& keys, uint64_t block, uint32_t threshold) {
    // lane 4i + v holds block 2v + i: after the in-lane transpose vector v holds words 8v .. 8v+7
    const __m256i lane_block = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    const __m256i lo32 = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(block)), lane_block);
    // no carry iff lo32 >= lane_block (unsigned)
    const __m256i no_carry = _mm256_cmpeq_epi32(_mm256_max_epu32(lo32, lane_block), lo32);
    const __m256i hi32 = _mm256_set1_epi32(static_cast<int>(block >> 32));
    __m256i c0 = lo32;
    __m256i c1 = _mm256_add_epi32(_mm256_add_epi32(hi32, _mm256_set1_epi32(1)), no_carry);
    __m256i c2 = _mm256_set1_epi32(static_cast<int>(keys.stream_lo));
    __m256i c3 = _mm256_set1_epi32(static_cast<int>(keys.stream_hi));
    const __m256i m0 = _mm256_set1_epi32(static_cast<int>(0xD2511F53u));
    const __m256i m1 = _mm256_set1_epi32(static_cast<int>(0xCD9E8D57u));
    for (int round = 0; round < 10; ++round) {
      __m256i hi0, lo0, hi1, lo1;
      mulhilo(c0, m0, hi0, lo0);
      mulhilo(c2, m1, hi1, lo1);
      const __m256i k0 = _mm256_set1_epi32(static_cast<int>(keys.k0[round]));
      const __m256i k1 = _mm256_set1_epi32(static_cast<int>(keys.k1[round]));
      c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), k0);
      c1 = lo1;
      c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), k1);
      c3 = lo0;
    }
    const __m256i t0 = _mm256_unpacklo_epi32(c0, c1);
    const __m256i t1 = _mm256_unpackhi_epi32(c0, c1);
    const __m256i t2 = _mm256_unpacklo_epi32(c2, c3);
    const __m256i t3 = _mm256_unpackhi_epi32(c2, c3);
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

  template <class T, bool kScale, class S>
  static inline void apply64(const T* x, T* y, uint64_t bits, S s) {
    apply64_impl<kScale>(x, y, bits, s);
  }

  template <bool kScale>
  static inline void apply64_impl(const float* x, float* y, uint64_t bits, float s) {
    const __m256 s_f32x8 = _mm256_set1_ps(s);
    for (int v = 0; v < 8; ++v) {
      const __m256 keep = _mm256_castsi256_ps(lanes32(bits >> (8 * v)));
      __m256 x_f32x8 = _mm256_loadu_ps(x + 8 * v);
      if (kScale) x_f32x8 = _mm256_mul_ps(x_f32x8, s_f32x8);
      _mm256_storeu_ps(y + 8 * v, _mm256_and_ps(x_f32x8, keep));
    }
  }

  template <bool kScale>
  static inline void apply64_impl(const double* x, double* y, uint64_t bits, double s) {
    const __m256d s_f64x4 = _mm256_set1_pd(s);
    for (int v = 0; v < 16; ++v) {
      const __m256d keep = _mm256_castsi256_pd(lanes64(bits >> (4 * v)));
      __m256d x_f64x4 = _mm256_loadu_pd(x + 4 * v);
      if (kScale) x_f64x4 = _mm256_mul_pd(x_f64x4, s_f64x4);
      _mm256_storeu_pd(y + 4 * v, _mm256_and_pd(x_f64x4, keep));
    }
  }

  template <bool kScale>
  static inline void apply64_impl(const Half* x, Half* y, uint64_t bits, float s) {
    const __m256 s_f32x8 = _mm256_set1_ps(s);
    for (int v = 0; v < 8; ++v) {
      __m128i x_f16x8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 8 * v));
      if (kScale) {
        const __m256 p = _mm256_mul_ps(_mm256_cvtph_ps(x_f16x8), s_f32x8);
        x_f16x8 = _mm256_cvtps_ph(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      }
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y + 8 * v),
                       _mm_and_si128(x_f16x8, lanes16(bits >> (8 * v))));
    }
  }

  template <bool kScale>
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
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y + 8 * v),
                       _mm_and_si128(x_bf16x8, lanes16(bits >> (8 * v))));
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
