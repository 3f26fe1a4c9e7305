// scalar.cpp: the portable kernels, compiled at the baseline ISA. This is the
// reference implementation in C++: one Philox block at a time (philox.hpp), one
// element at a time; the SIMD levels must match it bit for bit.
#include <cstdint>
#include <cstring>

#include "../convert.hpp"
#include "../dispatch.hpp"
#include "../philox.hpp"

namespace pydropout {
namespace scalar {

struct Ops {
  static uint64_t keep64(const Keys& keys, uint64_t block, uint32_t threshold) {
    uint64_t bits = 0;
    for (int b = 0; b < 16; ++b) {
      const uint64_t blk = block + static_cast<uint64_t>(b);
      Block4 ctr{{static_cast<uint32_t>(blk), static_cast<uint32_t>(blk >> 32), keys.stream_lo,
                  keys.stream_hi}};
      const Block4 w = philox4x32_10(ctr, keys.k0[0], keys.k1[0]);
      for (int l = 0; l < 4; ++l) {
        // integer threshold: every ISA decides identically
        bits |= static_cast<uint64_t>(w.v[l] >= threshold) << (4 * b + l);
      }
    }
    return bits;
  }

  // one group per keep call
  using Ctx = Keys;
  static constexpr int kGroups = 1;
  static constexpr unsigned kPrefetchBytes = 0;  // no software prefetch of the input
  static inline void keep(const Ctx& keys, uint64_t block, uint32_t threshold, uint64_t* out) {
    out[0] = keep64(keys, block, threshold);
  }

  static void stream_fence() {}

  template <class T, bool kScale, bool kStream, class S>
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
  template <size_t N> struct Bits;

  template <bool kScale> static float scale_one(float v, float s) { return kScale ? v * s : v; }
  template <bool kScale> static double scale_one(double v, double s) { return kScale ? v * s : v; }
  template <bool kScale> static Half scale_one(Half v, float s) {
    return kScale ? Half{float_to_half(half_to_float(v.bits) * s)} : v;
  }
  template <bool kScale> static BFloat16 scale_one(BFloat16 v, float s) {
    return kScale ? BFloat16{float_to_bf16(bf16_to_float(v.bits) * s)} : v;
  }
};

template <> struct Ops::Bits<2> { using type = uint16_t; };
template <> struct Ops::Bits<4> { using type = uint32_t; };
template <> struct Ops::Bits<8> { using type = uint64_t; };

#include "loop-inl.hpp"
#include "table-inl.hpp"

void register_kernels(KernelTable& table) { fill_table(table); }

}  // namespace scalar
}  // namespace pydropout
