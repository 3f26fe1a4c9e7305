// avx512.cpp: AVX-512 kernels inside target("avx512f,avx512bw,avx512dq,avx512vl,bmi2").
// Philox runs on 32 blocks at once (two groups of 16) in 64-bit lanes (vpmuludq for the 32x32->64
// products, vpternlogd for the three-way XOR); keep/drop is an unsigned integer compare
// straight into mask registers, whose bits pdep puts in element order, and a zero-masked
// multiply (so dropped lanes are +0.0 even for NaN). Every AVX-512 CPU has BMI2.
// Scalar spec: philox.hpp and scalar.cpp.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "../dispatch.hpp"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,bmi2")
#elif defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,bmi2"))), apply_to = function)
#endif

namespace pydropout {
namespace avx512 {

// Philox on 64-bit lanes: each lane keeps its 32-bit word in the low half (the high
// half is don't-care: vpmuludq reads only low halves), so one vpmuludq gives both
// halves of the product and a shift extracts the high one; no blends in the rounds.
// kSets sets of 8 blocks run interleaved: the rounds are a chain of multiply, shift
// and XOR, so four independent sets keep the vector pipes busier than two.
template <int kSets>
static inline void rounds(const Keys& keys, __m512i (&c0)[kSets], __m512i (&c1)[kSets],
                          __m512i (&c2)[kSets], __m512i (&c3)[kSets]) {
  const __m512i m0 = _mm512_set1_epi64(0xD2511F53);
  const __m512i m1 = _mm512_set1_epi64(0xCD9E8D57);
#pragma GCC unroll 10
  for (int round = 0; round < 10; ++round) {
    const __m512i k0 = _mm512_set1_epi32(static_cast<int>(keys.k0[round]));
    const __m512i k1 = _mm512_set1_epi32(static_cast<int>(keys.k1[round]));
#pragma GCC unroll 4
    for (int s = 0; s < kSets; ++s) {
      const __m512i p0 = _mm512_mul_epu32(c0[s], m0);
      const __m512i p1 = _mm512_mul_epu32(c2[s], m1);
      c0[s] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p1, 32), c1[s], k0, 0x96);  // hi1 ^ c1 ^ k0
      c2[s] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p0, 32), c3[s], k1, 0x96);  // hi0 ^ c3 ^ k1
      c1[s] = p1;  // lo1
      c3[s] = p0;  // lo0
    }
  }
}

#include "keep512-inl.hpp"

struct Ops : KeepOps {
  static constexpr unsigned kPrefetchBytes = 0;  // no software prefetch of the input

  static inline void stream_fence() { _mm_sfence(); }

  // stores; kStream: non-temporal, the address is 64-byte aligned (see dispatch.cpp)
  template <bool kStream> static inline void store(float* p, __m512 v) {
    if (kStream) _mm512_stream_ps(p, v); else _mm512_storeu_ps(p, v);
  }
  template <bool kStream> static inline void store(double* p, __m512d v) {
    if (kStream) _mm512_stream_pd(p, v); else _mm512_storeu_pd(p, v);
  }
  template <bool kStream> static inline void store(void* p, __m256i v) {
    if (kStream) _mm256_stream_si256(reinterpret_cast<__m256i*>(p), v);
    else _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
  }

  template <class T, bool kScale, bool kStream, class S>
  static inline void apply64(const T* x, T* y, uint64_t bits, S s) {
    apply64_impl<kScale, kStream>(x, y, bits, s);
  }

  template <bool kScale, bool kStream>
  static inline void apply64_impl(const float* x, float* y, uint64_t bits, float s) {
    const __m512 s_f32x16 = _mm512_set1_ps(s);
    for (int v = 0; v < 4; ++v) {
      const __mmask16 k = static_cast<__mmask16>(bits >> (16 * v));
      const __m512 x_f32x16 = _mm512_loadu_ps(x + 16 * v);
      const __m512 y_f32x16 = kScale ? _mm512_maskz_mul_ps(k, x_f32x16, s_f32x16)
                                     : _mm512_maskz_mov_ps(k, x_f32x16);
      store<kStream>(y + 16 * v, y_f32x16);
    }
  }

  template <bool kScale, bool kStream>
  static inline void apply64_impl(const double* x, double* y, uint64_t bits, double s) {
    const __m512d s_f64x8 = _mm512_set1_pd(s);
    for (int v = 0; v < 8; ++v) {
      const __mmask8 k = static_cast<__mmask8>(bits >> (8 * v));
      const __m512d x_f64x8 = _mm512_loadu_pd(x + 8 * v);
      const __m512d y_f64x8 = kScale ? _mm512_maskz_mul_pd(k, x_f64x8, s_f64x8)
                                     : _mm512_maskz_mov_pd(k, x_f64x8);
      store<kStream>(y + 8 * v, y_f64x8);
    }
  }

  template <bool kScale, bool kStream>
  static inline void apply64_impl(const Half* x, Half* y, uint64_t bits, float s) {
    const __m512 s_f32x16 = _mm512_set1_ps(s);
    for (int v = 0; v < 4; ++v) {
      const __mmask16 k = static_cast<__mmask16>(bits >> (16 * v));
      const __m256i x_f16x16 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 16 * v));
      __m256i y_f16x16;
      if (kScale) {
        const __m512 p = _mm512_maskz_mul_ps(k, _mm512_cvtph_ps(x_f16x16), s_f32x16);
        y_f16x16 = _mm512_cvtps_ph(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      } else {
        y_f16x16 = _mm256_maskz_mov_epi16(k, x_f16x16);
      }
      store<kStream>(y + 16 * v, y_f16x16);
    }
  }

  template <bool kScale, bool kStream>
  static inline void apply64_impl(const BFloat16* x, BFloat16* y, uint64_t bits, float s) {
    const __m512 s_f32x16 = _mm512_set1_ps(s);
    const __m512i exp_mask = _mm512_set1_epi32(0x7f800000);
    for (int v = 0; v < 4; ++v) {
      const __mmask16 k = static_cast<__mmask16>(bits >> (16 * v));
      const __m256i x_bf16x16 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 16 * v));
      __m256i y_bf16x16;
      if (kScale) {
        const __m512 xf = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(x_bf16x16), 16));
        const __m512i p = _mm512_castps_si512(_mm512_maskz_mul_ps(k, xf, s_f32x16));
        // round to nearest even; NaN becomes the canonical quiet NaN with its sign
        const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(p, 16), _mm512_set1_epi32(1));
        __m512i r = _mm512_srli_epi32(
            _mm512_add_epi32(_mm512_add_epi32(p, _mm512_set1_epi32(0x7fff)), lsb), 16);
        const __mmask16 nan = _mm512_cmpgt_epu32_mask(
            _mm512_and_si512(p, _mm512_set1_epi32(0x7fffffff)), exp_mask);
        const __m512i qnan = _mm512_or_si512(
            _mm512_and_si512(_mm512_srli_epi32(p, 16), _mm512_set1_epi32(0x8000)),
            _mm512_set1_epi32(0x7fc0));
        r = _mm512_mask_blend_epi32(nan, r, qnan);
        y_bf16x16 = _mm512_cvtepi32_epi16(r);
      } else {
        y_bf16x16 = _mm256_maskz_mov_epi16(k, x_bf16x16);
      }
      store<kStream>(y + 16 * v, y_bf16x16);
    }
  }
};

#include "loop-inl.hpp"

}  // namespace avx512
}  // namespace pydropout

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#elif defined(__clang__)
#pragma clang attribute pop
#endif

// ---- Philox with IFMA's high halves (Intel) --------------------------------------------
// vpmadd52huq of a word by its multiplier shifted left by 20 gives the high half of the
// 32x32 product, already in the low half of the lane and clean (bits 52..103 of the
// 84-bit product), so it replaces the shift. It needs clean words (nothing above bit 31):
// the XORs are zero-masked to the low halves. Same instruction count; measured 3-10 %
// faster on an Intel Xeon (docs/DESIGN.md) and slower on AMD Zen 4, so it is the default
// only on Intel CPUs (PYDROPOUT_AVX512IFMA=0|1 overrides).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,bmi2,avx512ifma")
#elif defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,bmi2,avx512ifma"))), apply_to = function)
#endif

namespace pydropout {
namespace avx512ifma {

template <int kSets>
static inline void rounds(const Keys& keys, __m512i (&c0)[kSets], __m512i (&c1)[kSets],
                          __m512i (&c2)[kSets], __m512i (&c3)[kSets]) {
  const __m512i m0 = _mm512_set1_epi64(0xD2511F53);
  const __m512i m1 = _mm512_set1_epi64(0xCD9E8D57);
  const __m512i m0s = _mm512_set1_epi64(uint64_t{0xD2511F53} << 20);
  const __m512i m1s = _mm512_set1_epi64(uint64_t{0xCD9E8D57} << 20);
  const __m512i zero = _mm512_setzero_si512();
  for (int s = 0; s < kSets; ++s) {  // the multiplied words must be clean for IFMA
    c0[s] = _mm512_maskz_mov_epi32(0x5555, c0[s]);
    c2[s] = _mm512_maskz_mov_epi32(0x5555, c2[s]);
  }
#pragma GCC unroll 10
  for (int round = 0; round < 10; ++round) {
    const __m512i k0 = _mm512_set1_epi32(static_cast<int>(keys.k0[round]));
    const __m512i k1 = _mm512_set1_epi32(static_cast<int>(keys.k1[round]));
#pragma GCC unroll 4
    for (int s = 0; s < kSets; ++s) {
      const __m512i p0 = _mm512_mul_epu32(c0[s], m0);  // lo0 (and garbage above)
      const __m512i p1 = _mm512_mul_epu32(c2[s], m1);  // lo1
      const __m512i h0 = _mm512_madd52hi_epu64(zero, c0[s], m0s);  // hi0, clean
      const __m512i h1 = _mm512_madd52hi_epu64(zero, c2[s], m1s);  // hi1, clean
      c0[s] = _mm512_maskz_ternarylogic_epi32(0x5555, h1, c1[s], k0, 0x96);  // hi1 ^ c1 ^ k0
      c2[s] = _mm512_maskz_ternarylogic_epi32(0x5555, h0, c3[s], k1, 0x96);  // hi0 ^ c3 ^ k1
      c1[s] = p1;
      c3[s] = p0;
    }
  }
}

#include "keep512-inl.hpp"

// The data steps of avx512::Ops; the keep bits from this namespace's rounds.
struct Ops : avx512::Ops, avx512ifma::KeepOps {
  using avx512ifma::KeepOps::Ctx;
  using avx512ifma::KeepOps::kGroups;
  using avx512ifma::KeepOps::keep;
  using avx512ifma::KeepOps::keep64;
  // Intel's cores also gain from a software prefetch of the input 2 KiB ahead of each
  // forward window (3-8 %, float64 up to 20 %, on the Xeon; docs/DESIGN.md)
  static constexpr unsigned kPrefetchBytes = 2048;
};

#include "loop-inl.hpp"

}  // namespace avx512ifma
}  // namespace pydropout

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#elif defined(__clang__)
#pragma clang attribute pop
#endif

// ---- float16 with AVX512-FP16 (Sapphire Rapids and later) ------------------------------
// vmulph multiplies 32 halves at once and rounds once. The product of two halves is exact
// in float32, so the other paths (convert, float32 multiply, round to half) give the same
// bits; AVX512-FP16 arithmetic handles subnormals whatever MXCSR says. Philox and the loops
// are the code above (either rounds): only the data step differs. Every CPU with
// AVX512-FP16 has IFMA, so this region may use both.
#if defined(__clang__) ? (__clang_major__ >= 14) : (defined(__GNUC__) && __GNUC__ >= 12)
#define PYDROPOUT_AVX512FP16 1
#endif

#if defined(PYDROPOUT_AVX512FP16)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,bmi2,avx512ifma,avx512fp16")
#elif defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,bmi2,avx512ifma,avx512fp16"))), apply_to = function)
#endif

namespace pydropout {
namespace avx512fp16 {

template <class Base>
struct Fp16Ops : Base {
  using Base::apply64_impl;  // float, double, bfloat16: as at the AVX-512 level

  template <class T, bool kScale, bool kStream, class S>
  static inline void apply64(const T* x, T* y, uint64_t bits, S s) {
    apply64_impl<kScale, kStream>(x, y, bits, s);
  }

  template <bool kScale, bool kStream>
  static inline void apply64_impl(const Half* x, Half* y, uint64_t bits, float s) {
    const __m512h s_f16x32 = _mm512_set1_ph(static_cast<_Float16>(s));  // s is a half: exact
    for (int v = 0; v < 2; ++v) {
      const __mmask32 k = static_cast<__mmask32>(bits >> (32 * v));
      const __m512i x_f16x32 = _mm512_loadu_si512(x + 32 * v);
      const __m512i y_f16x32 =
          kScale ? _mm512_castph_si512(_mm512_maskz_mul_ph(k, _mm512_castsi512_ph(x_f16x32), s_f16x32))
                 : _mm512_maskz_mov_epi16(k, x_f16x32);
      if (kStream) _mm512_stream_si512(reinterpret_cast<__m512i*>(y + 32 * v), y_f16x32);
      else _mm512_storeu_si512(y + 32 * v, y_f16x32);
    }
  }
};

namespace shift {
using Ops = Fp16Ops<avx512::Ops>;
#include "loop-inl.hpp"
}  // namespace shift

namespace ifma {
using Ops = Fp16Ops<avx512ifma::Ops>;
#include "loop-inl.hpp"
}  // namespace ifma

}  // namespace avx512fp16
}  // namespace pydropout

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#elif defined(__clang__)
#pragma clang attribute pop
#endif
#endif  // PYDROPOUT_AVX512FP16

namespace pydropout {
namespace avx512 {
#include "table-inl.hpp"
void register_kernels(KernelTable& table) { fill_table(table); }
}  // namespace avx512

namespace avx512ifma {
#include "table-inl.hpp"
}  // namespace avx512ifma

namespace avx512 {
bool register_ifma_kernels(KernelTable& table) {
  if (!__builtin_cpu_supports("avx512ifma")) return false;
  avx512ifma::fill_table(table);
  return true;
}

bool register_fp16_kernels(KernelTable& table, bool ifma) {
#if defined(PYDROPOUT_AVX512FP16)
  if (!__builtin_cpu_supports("avx512fp16") || !__builtin_cpu_supports("avx512ifma")) return false;
  if (ifma) {
    table.forward[static_cast<int>(DType::f16)] = &avx512fp16::ifma::forward_entry<Half>;
    table.apply[static_cast<int>(DType::f16)] = &avx512fp16::ifma::apply_entry<Half>;
  } else {
    table.forward[static_cast<int>(DType::f16)] = &avx512fp16::shift::forward_entry<Half>;
    table.apply[static_cast<int>(DType::f16)] = &avx512fp16::shift::apply_entry<Half>;
  }
  return true;
#else
  (void)table;
  (void)ifma;
  return false;
#endif
}
}  // namespace avx512
}  // namespace pydropout
