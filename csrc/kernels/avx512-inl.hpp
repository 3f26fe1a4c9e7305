// avx512-inl.hpp: the data steps of every AVX-512 tier (apply64 for each dtype, zero-masked
// so that dropped lanes are +0.0 even for NaN), over the KeepOps of keep512-inl.hpp. No
// include guard: included inside each AVX-512 tier's namespace and target region, after
// keep512-inl.hpp and stores-inl.hpp.

// float32 and float64 differ only in the lane count and the intrinsics' suffix
template <class T>
struct Float512;
#define PYDROPOUT_FLOAT512(T, V, M, SFX)                                                          \
  template <>                                                                                     \
  struct Float512<T> {                                                                            \
    using Vec = V;                                                                                \
    using Mask = M;                                                                               \
    static constexpr int kLanes = 64 / sizeof(T);                                                 \
    static inline Vec set1(T s) { return _mm512_set1_##SFX(s); }                                  \
    static inline Vec load(const T* p) { return _mm512_loadu_##SFX(p); }                          \
    static inline Vec maskz_mul(Mask k, Vec a, Vec b) { return _mm512_maskz_mul_##SFX(k, a, b); } \
    static inline Vec maskz_mov(Mask k, Vec a) { return _mm512_maskz_mov_##SFX(k, a); }           \
    static inline Vec mul(Vec a, Vec b) { return _mm512_mul_##SFX(a, b); }                        \
    static inline Vec mask_add(Vec src, Mask k, Vec a, Vec b) {                                   \
      return _mm512_mask_add_##SFX(src, k, a, b);                                                 \
    }                                                                                             \
  };
PYDROPOUT_FLOAT512(float, __m512, __mmask16, ps)
PYDROPOUT_FLOAT512(double, __m512d, __mmask8, pd)
#undef PYDROPOUT_FLOAT512

struct DataOps : KeepOps {
  static inline void stream_fence() { _mm_sfence(); }

  // float32 and float64: a zero-masked multiply (or move) per vector
  template <bool kScale, bool kStream, class T, class F = Float512<T>>
  static inline void apply64(const T* x, T* y, uint64_t bits, T s) {
    const typename F::Vec s_v = F::set1(s);
    for (int v = 0; v < 64 / F::kLanes; ++v) {
      const auto k = static_cast<typename F::Mask>(bits >> (F::kLanes * v));
      const typename F::Vec x_v = F::load(x + F::kLanes * v);
      store<kStream>(y + F::kLanes * v, kScale ? F::maskz_mul(k, x_v, s_v) : F::maskz_mov(k, x_v));
    }
  }

  // alpha dropout's window for float32 and float64 (alpha-inl.hpp): y = bit ? (x * a) + b : c,
  // a multiply, then an add merged over c under the keep bits
  template <bool kStream, class T, class F = Float512<T>, class V = typename F::Vec>
  static inline void alpha64(const T* x, T* y, uint64_t bits, T a, T b, T c) {
    const V a_v = F::set1(a), b_v = F::set1(b), c_v = F::set1(c);
    for (int v = 0; v < 64 / F::kLanes; ++v) {
      const auto k = static_cast<typename F::Mask>(bits >> (F::kLanes * v));
      const V p = F::mul(F::load(x + F::kLanes * v), a_v);
      store<kStream>(y + F::kLanes * v, F::mask_add(c_v, k, p, b_v));
    }
  }

  template <bool kScale, bool kStream>
  static inline void apply64(const Half* x, Half* y, uint64_t bits, float s) {
    const __m512 s_f32x16 = _mm512_set1_ps(s);
    for (int v = 0; v < 4; ++v) {
      const __mmask16 k = static_cast<__mmask16>(bits >> (16 * v));
      const __m256i x_f16x16 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 16 * v));
      __m256i y_f16x16;
      if (kScale) {
        const __m512 p = _mm512_maskz_mul_ps(k, _mm512_cvtph_ps(x_f16x16), s_f32x16);
        y_f16x16 = _mm512_cvtps_ph(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      } else {
        y_f16x16 = _mm256_maskz_mov_epi16(k, x_f16x16);
      }
      store<kStream>(y + 16 * v, y_f16x16);
    }
  }

  template <bool kScale, bool kStream>
  static inline void apply64(const BFloat16* x, BFloat16* y, uint64_t bits, float s) {
    const __m512 s_f32x16 = _mm512_set1_ps(s);
    const __m512i exp_mask = _mm512_set1_epi32(0x7f800000);
    for (int v = 0; v < 4; ++v) {
      const __mmask16 k = static_cast<__mmask16>(bits >> (16 * v));
      const __m256i x_bf16x16 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 16 * v));
      __m256i y_bf16x16;
      if (kScale) {
        const __m512 xf =
            _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(x_bf16x16), 16));
        const __m512i p = _mm512_castps_si512(_mm512_maskz_mul_ps(k, xf, s_f32x16));
        // round to nearest even; NaN becomes the canonical quiet NaN with its sign
        const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(p, 16), _mm512_set1_epi32(1));
        __m512i r = _mm512_srli_epi32(
            _mm512_add_epi32(_mm512_add_epi32(p, _mm512_set1_epi32(0x7fff)), lsb), 16);
        const __mmask16 nan =
            _mm512_cmpgt_epu32_mask(_mm512_and_si512(p, _mm512_set1_epi32(0x7fffffff)), exp_mask);
        const __m512i qnan =
            _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(p, 16), _mm512_set1_epi32(0x8000)),
                            _mm512_set1_epi32(0x7fc0));
        r = _mm512_mask_blend_epi32(nan, r, qnan);
        y_bf16x16 = _mm512_cvtepi32_epi16(r);
      } else {
        y_bf16x16 = _mm256_maskz_mov_epi16(k, x_bf16x16);
      }
      store<kStream>(y + 16 * v, y_bf16x16);
    }
  }
};
