// avx512_fp16.cpp: the two AVX-512 tiers with AVX512-FP16 float16 arithmetic (Sapphire
// Rapids and later): avx512_fp16 over the AVX-512 tier, avx512_ifma_fp16 over the IFMA tier,
// inside target("avx512f,avx512bw,avx512dq,avx512vl,bmi2,avx512ifma,avx512fp16"). vmulph
// multiplies 32 halves at once and rounds once. The product of two halves is exact in
// float32, so the other tiers (convert, float32 multiply, round to half) give the same
// bits; AVX512-FP16 arithmetic handles subnormals whatever MXCSR says. Philox and the loops
// are the base tiers' code: only float16's data step differs, and only the float16 entries
// are filled. Every CPU with AVX512-FP16 has IFMA, so this region may use both.
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "../core/convert.hpp"
#include "../core/normal.hpp"
#include "../core/philox.hpp"
#include "../dispatch/kernels.hpp"
#include "../dispatch/target.hpp"

#if defined(PYDROPOUT_HAVE_AVX512FP16)

PYDROPOUT_TARGET_PUSH("avx512f,avx512bw,avx512dq,avx512vl,bmi2,avx512ifma,avx512fp16")

namespace pydropout {
namespace avx512_fp16 {

#include "ops-inl.hpp"
#include "stores-inl.hpp"

// float16 with vmulph over the base tier's DataOps
template <class Base>
struct Fp16Ops : Base {
  using Base::apply64;  // float, double, bfloat16: as in the base tier

  template <bool kScale, bool kStream>
  static inline void apply64(const Half* x, Half* y, uint64_t bits, float s) {
    const __m512h s_f16x32 = _mm512_set1_ph(static_cast<_Float16>(s));  // s is a half: exact
    for (int v = 0; v < 2; ++v) {
      const __mmask32 k = static_cast<__mmask32>(bits >> (32 * v));
      const __m512i x_f16x32 = _mm512_loadu_si512(x + 32 * v);
      const __m512i y_f16x32 =
          kScale
              ? _mm512_castph_si512(_mm512_maskz_mul_ph(k, _mm512_castsi512_ph(x_f16x32), s_f16x32))
              : _mm512_maskz_mov_epi16(k, x_f16x32);
      store<kStream>(y + 32 * v, y_f16x32);
    }
  }
};

#include "avx512_rounds-inl.hpp"
#include "keep512-inl.hpp"
#include "avx512-inl.hpp"

using Ops = Fp16Ops<DataOps>;

#include "loop-inl.hpp"

}  // namespace avx512_fp16

namespace avx512_ifma_fp16 {

#include "ops-inl.hpp"
#include "stores-inl.hpp"
#include "avx512_ifma_rounds-inl.hpp"
#include "keep512-inl.hpp"
#include "avx512-inl.hpp"

struct Ops : avx512_fp16::Fp16Ops<DataOps> {
  static constexpr unsigned kPrefetchBytes = 2048;  // as the IFMA tier
};

#include "loop-inl.hpp"

}  // namespace avx512_ifma_fp16
}  // namespace pydropout

PYDROPOUT_TARGET_POP

namespace pydropout {
namespace avx512_fp16 {
void fill(Kernels& t) {
  t.forward[static_cast<int>(DType::f16)] = &forward_entry<Half>;
  t.apply[static_cast<int>(DType::f16)] = &apply_entry<Half>;
}
}  // namespace avx512_fp16

namespace avx512_ifma_fp16 {
void fill(Kernels& t) {
  t.forward[static_cast<int>(DType::f16)] = &forward_entry<Half>;
  t.apply[static_cast<int>(DType::f16)] = &apply_entry<Half>;
}
}  // namespace avx512_ifma_fp16
}  // namespace pydropout

#endif  // PYDROPOUT_HAVE_AVX512FP16
