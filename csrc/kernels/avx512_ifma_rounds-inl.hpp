// avx512_ifma_rounds-inl.hpp: one Philox round on AVX-512 with IFMA's high halves, the
// `Round` of keep512-inl.hpp. No include guard: included inside an IFMA tier's namespace and
// target region (avx512_ifma.cpp, avx512_fp16.cpp).
//
// vpmadd52huq of a word by its multiplier shifted left by 20 gives the high half of the
// 32x32 product, already in the low half of the lane and clean (bits 52..103 of the
// 84-bit product), so it replaces the shift. It needs clean words (nothing above bit 31):
// the XORs are zero-masked to the low halves. Same instruction count; measured 3-10 %
// faster on an Intel Xeon (docs/DESIGN.md) and slower on AMD Zen 4, so it is the default
// only on Intel CPUs (PYDROPOUT_AVX512IFMA=0|1 overrides).

struct Round {
  __m512i m0, m1;    // for the low halves
  __m512i m0s, m1s;  // for the high halves
  __m512i zero;
  Round()
      : m0(_mm512_set1_epi64(kPhiloxM0)),
        m1(_mm512_set1_epi64(kPhiloxM1)),
        m0s(_mm512_set1_epi64(uint64_t{kPhiloxM0} << 20)),
        m1s(_mm512_set1_epi64(uint64_t{kPhiloxM1} << 20)),
        zero(_mm512_setzero_si512()) {}

  // the multiplied words must be clean for IFMA
  static inline void prepare(__m512i& c0, __m512i& c2) {
    c0 = _mm512_maskz_mov_epi32(0x5555, c0);
    c2 = _mm512_maskz_mov_epi32(0x5555, c2);
  }

  inline void step(__m512i& c0, __m512i& c1, __m512i& c2, __m512i& c3, __m512i k0,
                   __m512i k1) const {
    const __m512i p0 = _mm512_mul_epu32(c0, m0);                     // lo0 (and garbage above)
    const __m512i p1 = _mm512_mul_epu32(c2, m1);                     // lo1
    const __m512i h0 = _mm512_madd52hi_epu64(zero, c0, m0s);         // hi0, clean
    const __m512i h1 = _mm512_madd52hi_epu64(zero, c2, m1s);         // hi1, clean
    c0 = _mm512_maskz_ternarylogic_epi32(0x5555, h1, c1, k0, 0x96);  // hi1 ^ c1 ^ k0
    c2 = _mm512_maskz_ternarylogic_epi32(0x5555, h0, c3, k1, 0x96);  // hi0 ^ c3 ^ k1
    c1 = p1;
    c3 = p0;
  }
};
