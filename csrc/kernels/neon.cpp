// neon.cpp: AdvSIMD kernels for aarch64 (mandatory in ARMv8-A, so no target region).
// Philox runs on 4 blocks per vector: vmull_u32 / vmull_high_u32 give the 32x32->64
// products and vuzp1q / vuzp2q split them into low and high halves. Keep bits are
// gathered with an unsigned compare, an AND with per-lane bit weights and a horizontal
// add. Kept lanes are selected with vtst masks built from the keep bits; dropped lanes
// are AND-ed to +0.0. float16 goes through FCVTL / FCVTN (round to nearest even, NaN
// payload kept and quieted), bfloat16 through integer rounding as in convert.hpp.
// The variants: variants-inl.hpp. Scalar spec: core/philox.hpp and scalar.cpp.
#include <arm_neon.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "../core/convert.hpp"
#include "../core/normal.hpp"
#include "../core/philox.hpp"
#include "../dispatch/kernels.hpp"

namespace pydropout {
namespace neon {

#include "ops-inl.hpp"

// lane masks from keep bits
static inline uint32x4_t lanes32(uint64_t nibble) {
  const uint32x4_t sel = {1, 2, 4, 8};
  return vtstq_u32(vdupq_n_u32(static_cast<uint32_t>(nibble & 0xf)), sel);
}
static inline uint64x2_t lanes64(uint64_t pair) {
  const uint64x2_t sel = {1, 2};
  return vtstq_u64(vdupq_n_u64(pair & 0x3), sel);
}
static inline uint16x8_t lanes16(uint64_t byte) {
  const uint16x8_t sel = {1, 2, 4, 8, 16, 32, 64, 128};
  return vtstq_u16(vdupq_n_u16(static_cast<uint16_t>(byte & 0xff)), sel);
}

// The data step's vectors (lanes-inl.hpp). float32 and float64: a multiply, then an AND with
// the lane masks. AdvSIMD has no non-temporal vector store intrinsic: kStream is ignored.
#include "lanes-inl.hpp"
template <bool kStream>
static inline void store(float* p, float32x4_t v) {
  vst1q_f32(p, v);
}
template <bool kStream>
static inline void store(double* p, float64x2_t v) {
  vst1q_f64(p, v);
}
static inline float32x4_t keep_f32(float32x4_t a, uint64_t bits) {
  return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), lanes32(bits)));
}
static inline float64x2_t keep_f64(float64x2_t a, uint64_t bits) {
  return vreinterpretq_f64_u64(vandq_u64(vreinterpretq_u64_f64(a), lanes64(bits)));
}
PYDROPOUT_LANES(neon, float, float32x4_t, vdupq_n_f32, vld1q_f32, vmulq_f32, keep_f32)
PYDROPOUT_LANES(neon, double, float64x2_t, vdupq_n_f64, vld1q_f64, vmulq_f64, keep_f64)

// float16 and bfloat16 (lanes16-inl.hpp): 8 elements a vector, multiplied in float32
using Bits16 = uint16x8_t;
using Scale16 = float32x4_t;  // the scale, applied to each half
static inline Bits16 load16(const void* p) { return vld1q_u16(static_cast<const uint16_t*>(p)); }
static inline Bits16 and16(Bits16 a, Bits16 b) { return vandq_u16(a, b); }
static inline Scale16 set1_f32(float s) { return vdupq_n_f32(s); }
template <bool kStream>
static inline void store16(void* p, Bits16 v) {
  vst1q_u16(static_cast<uint16_t*>(p), v);
}
#include "lanes16-inl.hpp"
template <>
struct Lanes<Half> : Lanes16 {
  static inline uint16x8_t scale(uint16x8_t x_f16x8, float32x4_t s_f32x4) {
    const float16x8_t h = vreinterpretq_f16_u16(x_f16x8);
    const float32x4_t lo = vmulq_f32(vcvt_f32_f16(vget_low_f16(h)), s_f32x4);
    const float32x4_t hi = vmulq_f32(vcvt_high_f32_f16(h), s_f32x4);
    return vreinterpretq_u16_f16(vcvt_high_f16_f32(vcvt_f16_f32(lo), hi));
  }
};
template <>
struct Lanes<BFloat16> : Lanes16 {
  // float32 bits -> bfloat16 bits (in the low half), as float_to_bf16 in convert.hpp
  static inline uint32x4_t round_bf16(uint32x4_t p) {
    const uint32x4_t lsb = vandq_u32(vshrq_n_u32(p, 16), vdupq_n_u32(1));
    const uint32x4_t r = vshrq_n_u32(vaddq_u32(vaddq_u32(p, vdupq_n_u32(0x7fff)), lsb), 16);
    const uint32x4_t nan =
        vcgtq_u32(vandq_u32(p, vdupq_n_u32(0x7fffffff)), vdupq_n_u32(0x7f800000));
    const uint32x4_t qnan =
        vorrq_u32(vandq_u32(vshrq_n_u32(p, 16), vdupq_n_u32(0x8000)), vdupq_n_u32(0x7fc0));
    return vbslq_u32(nan, qnan, r);
  }
  static inline uint16x8_t scale(uint16x8_t x_bf16x8, float32x4_t s_f32x4) {
    const float32x4_t lo = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(x_bf16x8), 16));
    const float32x4_t hi = vreinterpretq_f32_u32(vshll_high_n_u16(x_bf16x8, 16));
    const uint32x4_t plo = round_bf16(vreinterpretq_u32_f32(vmulq_f32(lo, s_f32x4)));
    const uint32x4_t phi = round_bf16(vreinterpretq_u32_f32(vmulq_f32(hi, s_f32x4)));
    return vmovn_high_u32(vmovn_u32(plo), phi);
  }
};

struct Ops : LaneOps<Ops> {
  static inline void mulhilo(uint32x4_t a, uint32_t m, uint32x4_t& hi, uint32x4_t& lo) {
    const uint64x2_t p_lo = vmull_u32(vget_low_u32(a), vdup_n_u32(m));
    const uint64x2_t p_hi = vmull_high_u32(a, vdupq_n_u32(m));
    lo = vuzp1q_u32(vreinterpretq_u32_u64(p_lo), vreinterpretq_u32_u64(p_hi));
    hi = vuzp2q_u32(vreinterpretq_u32_u64(p_lo), vreinterpretq_u32_u64(p_hi));
  }

  // keep bits of 4 blocks (16 words) starting at `block`: bit 4i + l is lane l of block i
  static inline uint64_t keep16(const Keys& keys, uint64_t block, uint32_t threshold) {
    uint32_t lo32[4], hi32[4];
    for (int i = 0; i < 4; ++i) {
      const uint64_t b = block + static_cast<uint64_t>(i);
      lo32[i] = static_cast<uint32_t>(b);
      hi32[i] = static_cast<uint32_t>(b >> 32);
    }
    uint32x4_t c0 = vld1q_u32(lo32);
    uint32x4_t c1 = vld1q_u32(hi32);
    uint32x4_t c2 = vdupq_n_u32(keys.stream_lo);
    uint32x4_t c3 = vdupq_n_u32(keys.stream_hi);
    for (int round = 0; round < 10; ++round) {
      uint32x4_t hi0, lo0, hi1, lo1;
      mulhilo(c0, kPhiloxM0, hi0, lo0);
      mulhilo(c2, kPhiloxM1, hi1, lo1);
      c0 = veorq_u32(veorq_u32(hi1, c1), vdupq_n_u32(keys.k0[round]));
      c1 = lo1;
      c2 = veorq_u32(veorq_u32(hi0, c3), vdupq_n_u32(keys.k1[round]));
      c3 = lo0;
    }
    // integer threshold: every ISA decides identically
    const uint32x4_t thr = vdupq_n_u32(threshold);
    const uint32x4_t weight = {1u, 1u << 4, 1u << 8, 1u << 12};  // block i of the vector
    uint32_t bits = 0;
    bits |= vaddvq_u32(vandq_u32(vcgeq_u32(c0, thr), weight));
    bits |= vaddvq_u32(vandq_u32(vcgeq_u32(c1, thr), weight)) << 1;
    bits |= vaddvq_u32(vandq_u32(vcgeq_u32(c2, thr), weight)) << 2;
    bits |= vaddvq_u32(vandq_u32(vcgeq_u32(c3, thr), weight)) << 3;
    return bits;
  }

  static inline uint64_t keep64(const Keys& keys, uint64_t block, uint32_t threshold) {
    uint64_t bits = 0;
    for (int q = 0; q < 4; ++q)
      bits |= keep16(keys, block + 4 * static_cast<uint64_t>(q), threshold) << (16 * q);
    return bits;
  }
};

#include "loop-inl.hpp"
#include "variants-inl.hpp"
#include "table-inl.hpp"

void fill(Kernels& t) { fill_table(t); }

}  // namespace neon
}  // namespace pydropout
