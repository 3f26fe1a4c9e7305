// avx512_ifma_rounds-inl.hpp: Philox's ten rounds on AVX-512 with IFMA's high halves, for
// keep512-inl.hpp. No include guard: included inside an IFMA tier's namespace and target
// region (avx512_ifma.cpp, avx512_fp16.cpp).
// vpmadd52huq of a word by its multiplier shifted left by 20 gives the high half of the
// 32x32 product, already in the low half of the lane and clean (bits 52..103 of the
// 84-bit product), so it replaces the shift. It needs clean words (nothing above bit 31):
// the XORs are zero-masked to the low halves. Same instruction count; measured 3-10 %
// faster on an Intel Xeon (docs/DESIGN.md) and slower on AMD Zen 4, so it is the default
// only on Intel CPUs (PYDROPOUT_AVX512IFMA=0|1 overrides).
template <int kSets>
static inline void rounds(const Keys& keys, __m512i (&c0)[kSets], __m512i (&c1)[kSets],
                          __m512i (&c2)[kSets], __m512i (&c3)[kSets]) {
  const __m512i m0 = _mm512_set1_epi64(kPhiloxM0);
  const __m512i m1 = _mm512_set1_epi64(kPhiloxM1);
  const __m512i m0s = _mm512_set1_epi64(uint64_t{kPhiloxM0} << 20);
  const __m512i m1s = _mm512_set1_epi64(uint64_t{kPhiloxM1} << 20);
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
      const __m512i p0 = _mm512_mul_epu32(c0[s], m0);              // lo0 (and garbage above)
      const __m512i p1 = _mm512_mul_epu32(c2[s], m1);              // lo1
      const __m512i h0 = _mm512_madd52hi_epu64(zero, c0[s], m0s);  // hi0, clean
      const __m512i h1 = _mm512_madd52hi_epu64(zero, c2[s], m1s);  // hi1, clean
      c0[s] = _mm512_maskz_ternarylogic_epi32(0x5555, h1, c1[s], k0, 0x96);  // hi1 ^ c1 ^ k0
      c2[s] = _mm512_maskz_ternarylogic_epi32(0x5555, h0, c3[s], k1, 0x96);  // hi0 ^ c3 ^ k1
      c1[s] = p1;
      c3[s] = p0;
    }
  }
}
