// stores-inl.hpp: x86 vector stores, plain or (kStream) non-temporal; a streamed address is
// 64-byte aligned (core/drivers.cpp). No include guard: included inside each x86 tier's
// namespace and target region; a tier instantiates only the widths it has.

// store<kStream>(p, v) for a pointer type P (as the caller holds it), a vector type V, the
// pointer type A the intrinsics take, and the streaming and the unaligned store
#define PYDROPOUT_STORE(P, V, A, STREAM, STOREU) \
  template <bool kStream>                        \
  static inline void store(P* p, V v) {          \
    if (kStream)                                 \
      STREAM(reinterpret_cast<A*>(p), v);        \
    else                                         \
      STOREU(reinterpret_cast<A*>(p), v);        \
  }
PYDROPOUT_STORE(float, __m256, float, _mm256_stream_ps, _mm256_storeu_ps)
PYDROPOUT_STORE(double, __m256d, double, _mm256_stream_pd, _mm256_storeu_pd)
PYDROPOUT_STORE(void, __m128i, __m128i, _mm_stream_si128, _mm_storeu_si128)
PYDROPOUT_STORE(void, __m256i, __m256i, _mm256_stream_si256, _mm256_storeu_si256)
PYDROPOUT_STORE(float, __m512, float, _mm512_stream_ps, _mm512_storeu_ps)
PYDROPOUT_STORE(double, __m512d, double, _mm512_stream_pd, _mm512_storeu_pd)
PYDROPOUT_STORE(void, __m512i, __m512i, _mm512_stream_si512, _mm512_storeu_si512)
#undef PYDROPOUT_STORE
