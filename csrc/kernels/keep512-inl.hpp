// keep512-inl.hpp: the keep bits of Philox groups on AVX-512, around the `Round` of the
// including namespace. No include guard: included inside each AVX-512 tier's namespace
// and target region, after ops-inl.hpp and a `Round` (avx512_rounds-inl.hpp or
// avx512_ifma_rounds-inl.hpp) whose step works on 32-bit words in the low halves of 64-bit
// lanes and leaves the output words there.

// Philox's ten rounds on kSets sets of 8 blocks, interleaved: a round is a chain of
// multiply, shift and XOR, so four independent sets keep the vector pipes busier than two.
template <int kSets>
static inline void rounds(const Keys& keys, __m512i (&c0)[kSets], __m512i (&c1)[kSets],
                          __m512i (&c2)[kSets], __m512i (&c3)[kSets]) {
  const Round round;
  for (int s = 0; s < kSets; ++s) Round::prepare(c0[s], c2[s]);
#pragma GCC unroll 10
  for (int r = 0; r < kPhiloxRounds; ++r) {
    const __m512i k0 = _mm512_set1_epi32(static_cast<int>(keys.k0[r]));
    const __m512i k1 = _mm512_set1_epi32(static_cast<int>(keys.k1[r]));
#pragma GCC unroll 4
    for (int s = 0; s < kSets; ++s) round.step(c0[s], c1[s], c2[s], c3[s], k0, k1);
  }
}

// The Philox outputs of kSets / 2 groups of 16 blocks from `block` on: set 2g holds the even
// blocks of group g, set 2g + 1 the odd ones (64-bit lane b: block 2b, or 2b + 1), word l
// of each block in the low half of c<l>'s lane.
template <int kSets>
static inline void philox_sets(const Keys& keys, uint64_t block, __m512i (&c0)[kSets],
                               __m512i (&c1)[kSets], __m512i (&c2)[kSets], __m512i (&c3)[kSets]) {
  const __m512i base = _mm512_set1_epi64(static_cast<long long>(block));
  const __m512i even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
#pragma GCC unroll 4
  for (int s = 0; s < kSets; ++s) {
    const __m512i ctr =
        _mm512_add_epi64(base, _mm512_add_epi64(even, _mm512_set1_epi64((s & 1) + 16 * (s >> 1))));
    c0[s] = ctr;
    c1[s] = _mm512_srli_epi64(ctr, 32);
    c2[s] = _mm512_set1_epi32(static_cast<int>(keys.stream_lo));
    c3[s] = _mm512_set1_epi32(static_cast<int>(keys.stream_hi));
  }
  rounds<kSets>(keys, c0, c1, c2, c3);
}

// Keep bits of kGroups groups of 16 blocks from `block` on, group g into out[g].
// Out of line: inlined into the loops, its 16 state registers compete with theirs
// and spill (measured about 8 % slower).
template <int kGroups>
__attribute__((noinline)) static void keep_groups(const Keys& keys, uint64_t block,
                                                  uint32_t threshold, uint64_t* out) {
  constexpr int kSets = 2 * kGroups;
  __m512i c0[kSets], c1[kSets], c2[kSets], c3[kSets];
  philox_sets<kSets>(keys, block, c0, c1, c2, c3);
  // Compare the low halves only (mask 0x5555) straight into mask registers: bit 2k is
  // block 2k (even set), bit 2k + 1 block 2k + 1 (odd set). pdep then spreads the 16
  // bits of word l to element positions 4j + l. No shuffles: they would compete with
  // the shifts of the rounds. Integer threshold: every ISA decides identically.
  const __m512i thr = _mm512_set1_epi32(static_cast<int>(threshold));
#pragma GCC unroll 2
  for (int g = 0; g < kGroups; ++g) {
    const __m512i a[4] = {c0[2 * g], c1[2 * g], c2[2 * g], c3[2 * g]};
    const __m512i b[4] = {c0[2 * g + 1], c1[2 * g + 1], c2[2 * g + 1], c3[2 * g + 1]};
    uint64_t bits = 0;
    for (int l = 0; l < 4; ++l) {
      const uint32_t m =
          static_cast<uint32_t>(_mm512_mask_cmpge_epu32_mask(0x5555, a[l], thr)) |
          (static_cast<uint32_t>(_mm512_mask_cmpge_epu32_mask(0x5555, b[l], thr)) << 1);
      bits |= _pdep_u64(m, uint64_t{0x1111111111111111} << l);
    }
    out[g] = bits;
  }
}

// What loop-inl.hpp asks an Ops for to get keep bits (two groups a call), over the
// keep_groups above: each AVX-512 tier's Ops takes it from its own namespace.
struct KeepOps : OpsDefaults<KeepOps> {
  static constexpr int kGroups = 2;
  static inline uint64_t keep64(const Keys& keys, uint64_t block, uint32_t threshold) {
    uint64_t bits;
    keep_groups<1>(keys, block, threshold, &bits);
    return bits;
  }
  static inline void keep(const Keys& keys, uint64_t block, uint32_t threshold, uint64_t* out) {
    keep_groups<2>(keys, block, threshold, out);
  }
};
