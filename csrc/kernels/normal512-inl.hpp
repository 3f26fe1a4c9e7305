// normal512-inl.hpp: the normal transform of variants-inl.hpp (AS241 over 32-bit words) in
// AVX-512 intrinsics, and the Philox words that feed it. No include guard: included inside
// the AVX-512 tier's namespace and target region, after keep512-inl.hpp (its Philox rounds)
// and before variants-inl.hpp, which then takes normal_window and normal_entry from here.
//
// Each lane performs exactly the IEEE operations of variants-inl.hpp's normal_batch, in the
// same order (a multiply, then an add: never fused, -ffp-contract=off; vdivpd and vsqrtpd
// are correctly rounded), so the bits are those of every other tier. What differs is the
// schedule: a window of 512 words, the central branch for all of them, the tail elements
// (|q| > 0.425, about 15 %) packed with vcompresspd (register form: the memory form is
// microcoded on some cores) into full vectors for the tail branch, and put back with
// vexpandpd.
#define PYDROPOUT_NORMAL_WIDE 1

constexpr uint64_t kNormalWindow = 512;  // words (and deviates) of one window

// ---- Philox words in element order -----------------------------------------------------
// Words 4 * block .. 4 * block + 127 to out, in order: 32 blocks in four sets of 8
// (keep512-inl.hpp's philox_sets), shuffled into element order. Out of line, as
// keep_groups: its 16 state registers would spill inside the transform's loops.
__attribute__((noinline)) static void philox_words128(const Keys& keys, uint64_t block,
                                                      uint32_t* out) {
  constexpr int kSets = 4;
  __m512i c0[kSets], c1[kSets], c2[kSets], c3[kSets];
  philox_sets<kSets>(keys, block, c0, c1, c2, c3);
  // 64-bit lane b of a set is block 2b (+1 for the odd set); its word l is in c<l>.
  const __m512i lo_halves = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
  const __m512i hi_halves = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
  const __m512i first4 = _mm512_setr_epi64(0, 1, 2, 3, 8, 9, 10, 11);
  const __m512i last4 = _mm512_setr_epi64(4, 5, 6, 7, 12, 13, 14, 15);
  for (int g = 0; g < kSets / 2; ++g) {
    __m512i blocks[4];  // [0] blocks 0,4,8,12; [1] 2,6,10,14; [2] 1,5,9,13; [3] 3,7,11,15
    for (int odd = 0; odd < 2; ++odd) {
      const int s = 2 * g + odd;
      // words (0, 1) and (2, 3) of each block side by side in one 64-bit lane
      const __m512i w01 = _mm512_mask_blend_epi32(0xAAAA, c0[s], _mm512_slli_epi64(c1[s], 32));
      const __m512i w23 = _mm512_mask_blend_epi32(0xAAAA, c2[s], _mm512_slli_epi64(c3[s], 32));
      blocks[2 * odd] = _mm512_unpacklo_epi64(w01, w23);      // 128-bit lane k: block 8k (+1)
      blocks[2 * odd + 1] = _mm512_unpackhi_epi64(w01, w23);  // block 8k + 2 (+1)
    }
    const __m512i b0145 = _mm512_permutex2var_epi64(blocks[0], lo_halves, blocks[2]);
    const __m512i b89 = _mm512_permutex2var_epi64(blocks[0], hi_halves, blocks[2]);
    const __m512i b2367 = _mm512_permutex2var_epi64(blocks[1], lo_halves, blocks[3]);
    const __m512i b1011 = _mm512_permutex2var_epi64(blocks[1], hi_halves, blocks[3]);
    __m512i* o = reinterpret_cast<__m512i*>(out + 64 * g);
    _mm512_storeu_si512(o + 0, _mm512_permutex2var_epi64(b0145, first4, b2367));
    _mm512_storeu_si512(o + 1, _mm512_permutex2var_epi64(b0145, last4, b2367));
    _mm512_storeu_si512(o + 2, _mm512_permutex2var_epi64(b89, first4, b1011));
    _mm512_storeu_si512(o + 3, _mm512_permutex2var_epi64(b89, last4, b1011));
  }
}

// ---- the transform -----------------------------------------------------------------------
// Each step below works on kV independent vectors side by side: a Horner step waits on the
// one before it, so interleaved chains keep the multiply and add pipes busy.
template <int kV>
static inline void horner8_512(const double* c, const __m512d (&r)[kV], __m512d (&v)[kV]) {
  for (int i = 0; i < kV; ++i) v[i] = _mm512_set1_pd(c[7]);
#pragma GCC unroll 7
  for (int k = 6; k >= 0; --k) {
    const __m512d ck = _mm512_set1_pd(c[k]);
    for (int i = 0; i < kV; ++i) v[i] = _mm512_add_pd(_mm512_mul_pd(v[i], r[i]), ck);
  }
}

// variants-inl.hpp's ln_small, lane by lane: x in [2**-33, 0.5]
template <int kV>
static inline void ln_small_512(const __m512d (&x)[kV], __m512d (&out)[kV]) {
  __m512d s[kV], s2[kV], r[kV];
  __m512i e[kV];
  for (int i = 0; i < kV; ++i) {
    const __m512i u = _mm512_castpd_si512(x[i]);
    e[i] = _mm512_sub_epi64(_mm512_srli_epi64(u, 52), _mm512_set1_epi64(1022));
    const __m512i mu = _mm512_or_si512(_mm512_and_si512(u, _mm512_set1_epi64(0x000fffffffffffffll)),
                                       _mm512_set1_epi64(0x3fe0000000000000ll));
    __m512d m = _mm512_castsi512_pd(mu);  // x = m * 2**e, m in [0.5, 1)
    const __mmask8 low = _mm512_cmp_pd_mask(m, _mm512_set1_pd(kSqrtHalf), _CMP_LT_OQ);
    m = _mm512_mask_add_pd(m, low, m, m);
    e[i] = _mm512_mask_sub_epi64(e[i], low, e[i], _mm512_set1_epi64(1));
    const __m512d f = _mm512_sub_pd(m, _mm512_set1_pd(1.0));  // exact (Sterbenz)
    s[i] = _mm512_div_pd(f, _mm512_add_pd(_mm512_set1_pd(2.0), f));
    s2[i] = _mm512_mul_pd(s[i], s[i]);
    r[i] = _mm512_set1_pd(2.0 / 21.0);
  }
#pragma GCC unroll 9
  for (int k = 9; k >= 1; --k) {
    const __m512d ck = _mm512_set1_pd(2.0 / (2 * k + 1));
    for (int i = 0; i < kV; ++i) r[i] = _mm512_add_pd(_mm512_mul_pd(r[i], s2[i]), ck);
  }
  for (int i = 0; i < kV; ++i) {
    const __m512d lnm = _mm512_add_pd(_mm512_mul_pd(_mm512_set1_pd(2.0), s[i]),
                                      _mm512_mul_pd(s[i], _mm512_mul_pd(s2[i], r[i])));
    const __m512d de = _mm512_cvtepi64_pd(e[i]);
    out[i] = _mm512_add_pd(_mm512_mul_pd(de, _mm512_set1_pd(kLn2Hi)),
                           _mm512_add_pd(_mm512_mul_pd(de, _mm512_set1_pd(kLn2Lo)), lnm));
  }
}

constexpr int kCentralV = 4;  // vectors of the central branch at once
constexpr int kTailV = 4;     // vectors of the tail branch at once (fewer for the last ones)

// The tail branch on kV vectors of q at p, in place: z = +-C(r) / D(r) (see normal_batch)
template <int kV>
static inline void tail_vectors(double* p) {
  const __m512d sign = _mm512_set1_pd(-0.0);
  __m512d q[kV], t[kV], ln[kV], r2[kV], c[kV], d[kV];
  for (int i = 0; i < kV; ++i) {
    q[i] = _mm512_load_pd(p + 8 * i);
    t[i] = _mm512_sub_pd(_mm512_set1_pd(0.5), _mm512_andnot_pd(sign, q[i]));  // exact
  }
  ln_small_512<kV>(t, ln);
  for (int i = 0; i < kV; ++i)
    r2[i] = _mm512_sub_pd(_mm512_sqrt_pd(_mm512_xor_pd(ln[i], sign)), _mm512_set1_pd(kTailShift));
  horner8_512<kV>(kAs241C, r2, c);
  horner8_512<kV>(kAs241D, r2, d);
  for (int i = 0; i < kV; ++i) {  // q < 0 ? -zt : zt
    const __m512d zt = _mm512_div_pd(c[i], d[i]);
    _mm512_store_pd(p + 8 * i, _mm512_xor_pd(zt, _mm512_and_pd(q[i], sign)));
  }
}

// z[j] = the standard normal quantile of word w[j], j < count <= kNormalWindow
static inline void normal_words(const uint32_t* w, double* z, uint64_t count) {
  const __m512d sign = _mm512_set1_pd(-0.0);
  alignas(64) double tq[kNormalWindow + 8 * kTailV];  // q of the tail elements, then their z
  __mmask8 tail[kNormalWindow / 8];                   // the tail lanes of each vector
  uint32_t at[kNormalWindow / 8];  // where each vector's tail elements start in tq
  const uint64_t vecs = (count + 7) / 8;
  uint32_t k = 0;
  for (uint64_t v0 = 0; v0 < vecs; v0 += kCentralV) {  // the central branch, every element
    __mmask8 valid[kCentralV];
    __m512d q[kCentralV], r1[kCentralV], a[kCentralV], b[kCentralV];
    for (int i = 0; i < kCentralV; ++i) {
      const uint64_t first = 8 * (v0 + i);
      const uint64_t left = count > first ? count - first : 0;
      valid[i] = left >= 8 ? 0xff : static_cast<__mmask8>((1u << left) - 1);
      const __m256i wv = _mm256_maskz_loadu_epi32(valid[i], w + first);
      // q = u - 1/2 = (w - 2**31 + 1/2) / 2**32, exact and never 0
      const __m512d qi = _mm512_cvtepi32_pd(_mm256_xor_si256(wv, _mm256_set1_epi32(INT32_MIN)));
      q[i] = _mm512_mul_pd(_mm512_add_pd(qi, _mm512_set1_pd(0.5)), _mm512_set1_pd(kTwoM32));
      r1[i] = _mm512_sub_pd(_mm512_set1_pd(kCentral), _mm512_mul_pd(q[i], q[i]));
    }
    horner8_512<kCentralV>(kAs241A, r1, a);
    horner8_512<kCentralV>(kAs241B, r1, b);
    for (int i = 0; i < kCentralV; ++i) {
      if (!valid[i]) break;
      const uint64_t v = v0 + i;
      _mm512_mask_storeu_pd(z + 8 * v, valid[i], _mm512_div_pd(_mm512_mul_pd(q[i], a[i]), b[i]));
      const __mmask8 t = _mm512_mask_cmp_pd_mask(valid[i], _mm512_andnot_pd(sign, q[i]),
                                                 _mm512_set1_pd(kSplit), _CMP_NLE_UQ);
      _mm512_storeu_pd(tq + k, _mm512_maskz_compress_pd(t, q[i]));  // register form, then a store
      tail[v] = t;
      at[v] = k;
      k += static_cast<uint32_t>(__builtin_popcount(t));
    }
  }
  // the tail branch on the tail elements only; spare lanes hold q = 0
  for (int i = 0; i < kTailV; ++i) _mm512_storeu_pd(tq + k + 8 * i, _mm512_setzero_pd());
  uint32_t j = 0;
  for (; j + 8 * (kTailV - 2) < k; j += 8 * kTailV) tail_vectors<kTailV>(tq + j);
  if (j + 8 < k) {
    tail_vectors<2>(tq + j);
  } else if (j < k) {
    tail_vectors<1>(tq + j);
  }
  for (uint64_t v = 0; v < vecs; ++v) {  // the tail elements back in place (no branch)
    const __m512d zt = _mm512_maskz_expand_pd(tail[v], _mm512_loadu_pd(tq + at[v]));
    _mm512_mask_storeu_pd(z + 8 * v, tail[v], zt);
  }
}

// z[j] = z(word(word + j)), j < the count returned, min(n, kNormalWindow - word % 4)
static inline uint64_t normal_window(const Keys& keys, uint64_t word, uint64_t n, double* z) {
  alignas(64) uint32_t w[kNormalWindow];
  const uint64_t skip = word & 3;
  const uint64_t count = n < kNormalWindow - skip ? n : kNormalWindow - skip;
  const uint64_t block = word >> 2;
  for (uint64_t f = 0; f < skip + count; f += 128) philox_words128(keys, block + f / 4, w + f);
  normal_words(w + skip, z, count);
  return count;
}

static void normal_entry(const uint32_t* w, double* z, uint64_t n) {
  for (uint64_t i = 0; i < n; i += kNormalWindow)
    normal_words(w + i, z + i, n - i < kNormalWindow ? n - i : kNormalWindow);
}
