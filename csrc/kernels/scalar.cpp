// scalar.cpp: the portable tier, compiled at the baseline ISA (no target region). This is
// the reference implementation in C++: Philox as core/philox.hpp writes it, one element at
// a time; every other tier must match it bit for bit.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "../core/convert.hpp"
#include "../core/normal.hpp"
#include "../core/philox.hpp"
#include "../dispatch/kernels.hpp"

namespace pydropout {
namespace scalar {

#include "ops-inl.hpp"

struct Ops : OpsDefaults<Ops> {
  static uint64_t keep64(const Keys& keys, uint64_t block, uint32_t threshold) {
    uint32_t w[64];
    stream_words<16>(keys, block, w);
    uint64_t bits = 0;
    // integer threshold: every tier decides identically
    for (int j = 0; j < 64; ++j) bits |= static_cast<uint64_t>(w[j] >= threshold) << j;
    return bits;
  }

  template <bool kScale, bool kStream, class T, class S>
  static void apply64(const T* x, T* y, uint64_t bits, S s) {
    // select by AND with an all-ones/all-zeros lane mask: dropped lanes become +0.0
    // bit-exactly (also for NaN/inf) and the loop vectorises at the baseline ISA
    using U = typename Bits<sizeof(T)>::type;
    for (int j = 0; j < 64; ++j) {
      const T v = scale_one<kScale>(x[j], s);
      U u;
      std::memcpy(&u, &v, sizeof(T));
      u &= static_cast<U>(0) - static_cast<U>((bits >> j) & 1u);
      std::memcpy(&y[j], &u, sizeof(T));
    }
  }

 private:
  template <size_t N>
  struct Bits;

  template <bool kScale>
  static float scale_one(float v, float s) {
    return kScale ? v * s : v;
  }
  template <bool kScale>
  static double scale_one(double v, double s) {
    return kScale ? v * s : v;
  }
  template <bool kScale>
  static Half scale_one(Half v, float s) {
    return kScale ? Half{float_to_half(half_to_float(v.bits) * s)} : v;
  }
  template <bool kScale>
  static BFloat16 scale_one(BFloat16 v, float s) {
    return kScale ? BFloat16{float_to_bf16(bf16_to_float(v.bits) * s)} : v;
  }
};

template <>
struct Ops::Bits<2> {
  using type = uint16_t;
};
template <>
struct Ops::Bits<4> {
  using type = uint32_t;
};
template <>
struct Ops::Bits<8> {
  using type = uint64_t;
};

#include "loop-inl.hpp"
#include "variants-inl.hpp"
#include "table-inl.hpp"

void fill(Kernels& t) { fill_table(t); }

}  // namespace scalar
}  // namespace pydropout
