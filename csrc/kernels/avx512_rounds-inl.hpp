// avx512_rounds-inl.hpp: Philox's ten rounds on AVX-512 with shifts for the high halves, for
// keep512-inl.hpp. No include guard: included inside an AVX-512 tier's namespace and
// target region (avx512.cpp, avx512_fp16.cpp).

// Philox on 64-bit lanes: each lane keeps its 32-bit word in the low half (the high
// half is don't-care: vpmuludq reads only low halves), so one vpmuludq gives both
// halves of the product and a shift extracts the high one; no blends in the rounds.
// kSets sets of 8 blocks run interleaved: the rounds are a chain of multiply, shift
// and XOR, so four independent sets keep the vector pipes busier than two.
template <int kSets>
static inline void rounds(const Keys& keys, __m512i (&c0)[kSets], __m512i (&c1)[kSets],
                          __m512i (&c2)[kSets], __m512i (&c3)[kSets]) {
  const __m512i m0 = _mm512_set1_epi64(kPhiloxM0);
  const __m512i m1 = _mm512_set1_epi64(kPhiloxM1);
#pragma GCC unroll 10
  for (int round = 0; round < 10; ++round) {
    const __m512i k0 = _mm512_set1_epi32(static_cast<int>(keys.k0[round]));
    const __m512i k1 = _mm512_set1_epi32(static_cast<int>(keys.k1[round]));
#pragma GCC unroll 4
    for (int s = 0; s < kSets; ++s) {
      const __m512i p0 = _mm512_mul_epu32(c0[s], m0);
      const __m512i p1 = _mm512_mul_epu32(c2[s], m1);
      c0[s] =
          _mm512_ternarylogic_epi32(_mm512_srli_epi64(p1, 32), c1[s], k0, 0x96);  // hi1 ^ c1 ^ k0
      c2[s] =
          _mm512_ternarylogic_epi32(_mm512_srli_epi64(p0, 32), c3[s], k1, 0x96);  // hi0 ^ c3 ^ k1
      c1[s] = p1;                                                                 // lo1
      c3[s] = p0;                                                                 // lo0
    }
  }
}
