// avx512_rounds-inl.hpp: one Philox round on AVX-512 with shifts for the high halves, the
// `Round` of keep512-inl.hpp. No include guard: included inside an AVX-512 tier's namespace
// and target region (avx512.cpp, avx512_fp16.cpp).
//
// Philox on 64-bit lanes: each lane keeps its 32-bit word in the low half (the high half is
// don't-care: vpmuludq reads only low halves), so one vpmuludq gives both halves of the
// product and a shift extracts the high one; no blends in the rounds.

struct Round {
  __m512i m0, m1;
  Round() : m0(_mm512_set1_epi64(kPhiloxM0)), m1(_mm512_set1_epi64(kPhiloxM1)) {}

  static inline void prepare(__m512i&, __m512i&) {}  // the high halves may hold anything

  inline void step(__m512i& c0, __m512i& c1, __m512i& c2, __m512i& c3, __m512i k0,
                   __m512i k1) const {
    const __m512i p0 = _mm512_mul_epu32(c0, m0);
    const __m512i p1 = _mm512_mul_epu32(c2, m1);
    c0 = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p1, 32), c1, k0, 0x96);  // hi1 ^ c1 ^ k0
    c2 = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p0, 32), c3, k1, 0x96);  // hi0 ^ c3 ^ k1
    c1 = p1;                                                                  // lo1
    c3 = p0;                                                                  // lo0
  }
};
