// avx2.cpp: AVX2 kernels inside target("avx2,fma,f16c").
// Philox runs on 64-bit lanes that hold two words each (4 blocks per pair of vectors, five
// interleaved sets), vpmuludq for the 32x32->64 products; a small table puts the compare
// bits in element order.
// AVX2 has no unsigned compare: word >= t is max(word, t) == word. Keep bits become lane
// masks again through tables; dropped lanes are AND-ed to +0.0. Dropout's forward does its
// data step inside the rounds (keep_with, loop-inl.hpp's RoundWork): AVX2's Philox fills the
// vector ports, so a data step after the rounds adds its whole cost to theirs, one inside
// them little (docs/DESIGN.md). The variants: variants-inl.hpp, vectorised for AVX2.
// Scalar spec: core/philox.hpp and scalar.cpp.
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "../core/convert.hpp"
#include "../core/normal.hpp"
#include "../core/philox.hpp"
#include "../dispatch/kernels.hpp"
#include "../dispatch/target.hpp"

PYDROPOUT_TARGET_PUSH("avx2,fma,f16c")

namespace pydropout {
namespace avx2 {

#include "ops-inl.hpp"
#include "stores-inl.hpp"

// bit pair j of the index (bits 2j, 2j + 1) moved to bits 4j, 4j + 1
constexpr uint16_t spread_entry(int m) {
  return static_cast<uint16_t>((m & 3) | ((m >> 2 & 3) << 4) | ((m >> 4 & 3) << 8) |
                               ((m >> 6 & 3) << 12));
}
struct SpreadTable {
  uint16_t v[256];
  constexpr SpreadTable() : v() {
    for (int m = 0; m < 256; ++m) v[m] = spread_entry(m);
  }
};
constexpr SpreadTable kSpreadTable{};
static const uint16_t* const kSpread = kSpreadTable.v;

// Lane masks from keep bits (8, 4 and 8 of them), read from tables: one load per vector
// instead of a broadcast, an AND and a compare on the vector ports the Philox rounds need.
// l32[b] is the mask of 8 32-bit lanes of byte b (8 KiB), l64[q] that of 4 64-bit lanes of
// nibble q, l16[b] that of 8 16-bit lanes of byte b (4 KiB).
struct LaneTables {
  alignas(64) uint32_t l32[256][8];
  alignas(64) uint64_t l64[16][4];
  alignas(64) uint16_t l16[256][8];
  constexpr LaneTables() : l32(), l64(), l16() {
    for (int b = 0; b < 256; ++b)
      for (int j = 0; j < 8; ++j) {
        l32[b][j] = (b >> j & 1) ? 0xFFFFFFFFu : 0u;
        l16[b][j] = (b >> j & 1) ? 0xFFFF : 0;
      }
    for (int q = 0; q < 16; ++q)
      for (int j = 0; j < 4; ++j) l64[q][j] = (q >> j & 1) ? ~uint64_t{0} : 0;
  }
};
alignas(64) constexpr LaneTables kLaneTables{};

static inline __m256i lanes32(uint64_t byte) {
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(kLaneTables.l32[byte & 0xff]));
}
static inline __m256i lanes64(uint64_t nibble) {
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(kLaneTables.l64[nibble & 0xf]));
}
static inline __m128i lanes16(uint64_t byte) {
  return _mm_load_si128(reinterpret_cast<const __m128i*>(kLaneTables.l16[byte & 0xff]));
}

// The data step's vectors (lanes-inl.hpp). float32 and float64: a multiply, then an AND with
// the lane masks.
#include "lanes-inl.hpp"
static inline __m256 keep_ps(__m256 a, uint64_t bits) {
  return _mm256_and_ps(a, _mm256_castsi256_ps(lanes32(bits)));
}
static inline __m256d keep_pd(__m256d a, uint64_t bits) {
  return _mm256_and_pd(a, _mm256_castsi256_pd(lanes64(bits)));
}
PYDROPOUT_LANES(avx2, float, __m256, _mm256_set1_ps, _mm256_loadu_ps, _mm256_mul_ps, keep_ps)
PYDROPOUT_LANES(avx2, double, __m256d, _mm256_set1_pd, _mm256_loadu_pd, _mm256_mul_pd, keep_pd)

// float16 and bfloat16 (lanes16-inl.hpp): 8 elements a vector, multiplied in float32
using Bits16 = __m128i;
using Scale16 = __m256;
static inline Bits16 load16(const void* p) {
  return _mm_loadu_si128(static_cast<const Bits16*>(p));
}
static inline Bits16 and16(Bits16 a, Bits16 b) { return _mm_and_si128(a, b); }
static inline Scale16 set1_f32(float s) { return _mm256_set1_ps(s); }
template <bool kStream>
static inline void store16(void* p, Bits16 v) {
  avx2::store<kStream>(p, v);
}
#include "lanes16-inl.hpp"
template <>
struct Lanes<Half> : Lanes16 {
  static inline __m128i scale(__m128i x_f16x8, __m256 s_f32x8) {
    const __m256 p = _mm256_mul_ps(_mm256_cvtph_ps(x_f16x8), s_f32x8);
    return _mm256_cvtps_ph(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
};
template <>
struct Lanes<BFloat16> : Lanes16 {
  static inline __m128i scale(__m128i x_bf16x8, __m256 s_f32x8) {
    const __m256 xf = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(x_bf16x8), 16));
    const __m256i p = _mm256_castps_si256(_mm256_mul_ps(xf, s_f32x8));
    // round to nearest even; NaN becomes the canonical quiet NaN with its sign
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(p, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(
        _mm256_add_epi32(_mm256_add_epi32(p, _mm256_set1_epi32(0x7fff)), lsb), 16);
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(p, _mm256_set1_epi32(0x7fffffff)),
                                           _mm256_set1_epi32(0x7f800000));
    const __m256i qnan =
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(p, 16), _mm256_set1_epi32(0x8000)),
                        _mm256_set1_epi32(0x7fc0));
    r = _mm256_blendv_epi8(r, qnan, nan);
    // pack 8 x 32-bit (values < 2^16) to 8 x 16-bit
    return _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
  }
};

struct Ops : LaneOps<Ops> {
  // Per-call key material: the round keys broadcast once into vectors, so the rounds
  // XOR them straight from memory instead of holding them in the 16 registers.
  struct Ctx {
    alignas(32) uint32_t k[20][8];  // k[r]: k0 of round r, k[10 + r]: k1 of round r
    uint32_t stream_lo, stream_hi;
    explicit Ctx(const Keys& keys) : stream_lo(keys.stream_lo), stream_hi(keys.stream_hi) {
      for (int r = 0; r < 10; ++r) {
        _mm256_store_si256(reinterpret_cast<__m256i*>(k[r]),
                           _mm256_set1_epi32(static_cast<int>(keys.k0[r])));
        _mm256_store_si256(reinterpret_cast<__m256i*>(k[10 + r]),
                           _mm256_set1_epi32(static_cast<int>(keys.k1[r])));
      }
    }
  };

  static inline __m256i key(const Ctx& ctx, int i) {
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(ctx.k[i]));
  }

  // Philox on 64-bit lanes holding two words each: A = (word 1 : word 0) and
  // B = (word 3 : word 2), high half : low half. vpmuludq reads only the low halves, so
  // it multiplies words 0 and 2 and gives both halves of each product. A round is then
  //   A' = swap(p1 ^ ((A ^ k0) & high)) = (lo1 : hi1 ^ word 1 ^ k0)
  //   B' = swap(p0 ^ ((B ^ k1) & high)) = (lo0 : hi0 ^ word 3 ^ k1)
  // Five operations per product instead of four, but two registers per 4 blocks instead
  // of four: more sets fit in the 16 registers, and their chains keep the pipes busy.
  // kSets sets of 4 consecutive blocks (set s, lane j: block + 4s + j) run interleaved.
  // Returns 16 keep bits per set in out[s] (bit 4j + l: word l of block 4s + j).
  // Beside the rounds, work.round(t) after round t: nothing (NoWork), or a share of the
  // forward's data step (keep_with).
  template <int kSets, class Work = NoWork>
  __attribute__((noinline)) static void keep_sets(const Ctx& ctx, uint64_t block,
                                                  uint32_t threshold, uint16_t* out,
                                                  const Work work = Work{}) {
    const __m256i m0 = _mm256_set1_epi64x(kPhiloxM0);
    const __m256i m1 = _mm256_set1_epi64x(kPhiloxM1);
    const __m256i high = _mm256_set1_epi64x(static_cast<long long>(0xFFFFFFFF00000000ull));
    __m256i a[kSets], b[kSets];
    const __m256i base = _mm256_add_epi64(_mm256_set1_epi64x(static_cast<long long>(block)),
                                          _mm256_setr_epi64x(0, 1, 2, 3));
    const __m256i stream = _mm256_set1_epi64x(
        static_cast<long long>((static_cast<uint64_t>(ctx.stream_hi) << 32) | ctx.stream_lo));
#pragma GCC unroll 8
    for (int s = 0; s < kSets; ++s) {
      a[s] = _mm256_add_epi64(base, _mm256_set1_epi64x(4 * s));  // the 64-bit block counter
      b[s] = stream;
    }
#pragma GCC unroll 10
    for (int t = 0; t < 10; ++t) {
#pragma GCC unroll 8
      for (int s = 0; s < kSets; ++s) {
        const __m256i p0 = _mm256_mul_epu32(a[s], m0);
        const __m256i p1 = _mm256_mul_epu32(b[s], m1);
        // (keys as memory operands: holding them would take registers the sets need)
        const __m256i ta =
            _mm256_xor_si256(p1, _mm256_and_si256(_mm256_xor_si256(a[s], key(ctx, t)), high));
        const __m256i tb =
            _mm256_xor_si256(p0, _mm256_and_si256(_mm256_xor_si256(b[s], key(ctx, 10 + t)), high));
        a[s] = _mm256_shuffle_epi32(ta, 0xB1);
        b[s] = _mm256_shuffle_epi32(tb, 0xB1);
      }
      work.round(t);
    }
    // AVX2 has no unsigned compare: word >= t is max(word, t) == word. Integer
    // threshold: every ISA decides identically. movemask puts words 0, 1 (2, 3) of block
    // j at bits 2j, 2j + 1; the table moves bit pair j to bits 4j, 4j + 1.
    const __m256i thr = _mm256_set1_epi32(static_cast<int>(threshold));
#pragma GCC unroll 8
    for (int s = 0; s < kSets; ++s) {
      const __m256i ka = _mm256_cmpeq_epi32(_mm256_max_epu32(a[s], thr), a[s]);
      const __m256i kb = _mm256_cmpeq_epi32(_mm256_max_epu32(b[s], thr), b[s]);
      const int ma = _mm256_movemask_ps(_mm256_castsi256_ps(ka));
      const int mb = _mm256_movemask_ps(_mm256_castsi256_ps(kb));
      out[s] = static_cast<uint16_t>(kSpread[ma] | (kSpread[mb] << 2));
    }
  }

  // the 64 keep bits of a group from its four sets' 16
  static inline uint64_t group_bits(const uint16_t* q) {
    return static_cast<uint64_t>(q[0]) | (static_cast<uint64_t>(q[1]) << 16) |
           (static_cast<uint64_t>(q[2]) << 32) | (static_cast<uint64_t>(q[3]) << 48);
  }

  // kGroups groups (4 kGroups sets) per call, as four runs of five sets. Five sets (ten
  // state registers, the two multipliers, the high-half mask and temporaries) are the
  // most the 16 registers hold without spilling, and were the fastest of 3 to 7 on Zen 4
  // (benchmarks/ab_builds.py).
  static constexpr int kSets = 5;
  static constexpr int kGroups = 5;
  static_assert((4 * kGroups) % kSets == 0, "whole runs of sets");
  static inline void keep(const Ctx& ctx, uint64_t block, uint32_t threshold, uint64_t* out) {
    uint16_t q[4 * kGroups];
    for (int c = 0; c < 4 * kGroups / kSets; ++c)
      keep_sets<kSets>(ctx, block + 4 * kSets * static_cast<uint64_t>(c), threshold, q + kSets * c);
    for (int g = 0; g < kGroups; ++g) out[g] = group_bits(q + 4 * g);
  }

  // The forward's data step inside the rounds (loop-inl.hpp's RoundWork): 8 elements in
  // each of a keep_sets call's 10 rounds, 80 a call, the kGroups windows of 64 in four calls.
  template <class T>
  static constexpr bool fuses_forward() {
    return true;
  }
  static constexpr int kFuseElems = 8;
  static constexpr int kFuseRounds = 10;
  static_assert(4 * kGroups / kSets * kFuseRounds * kFuseElems == 64 * kGroups,
                "a run's windows, in the rounds of keep()");
  template <class Work>
  static inline void keep_with(const Ctx& ctx, uint64_t block, uint32_t threshold, uint64_t* out,
                               const Work& work) {
    uint16_t q[4 * kGroups];
    for (int c = 0; c < 4 * kGroups / kSets; ++c)
      keep_sets<kSets>(ctx, block + 4 * kSets * static_cast<uint64_t>(c), threshold, q + kSets * c,
                       work.advanced(kFuseRounds * kFuseElems * c));
    for (int g = 0; g < kGroups; ++g) out[g] = group_bits(q + 4 * g);
  }

  static inline uint64_t keep64(const Ctx& ctx, uint64_t block, uint32_t threshold) {
    uint16_t q[4];
    keep_sets<4>(ctx, block, threshold, q);
    return group_bits(q);
  }

  static inline void stream_fence() { _mm_sfence(); }
};

#include "loop-inl.hpp"
#include "variants-inl.hpp"

}  // namespace avx2
}  // namespace pydropout

PYDROPOUT_TARGET_POP

namespace pydropout {
namespace avx2 {
#include "table-inl.hpp"
void fill(Kernels& t) { fill_table(t); }
}  // namespace avx2
}  // namespace pydropout
