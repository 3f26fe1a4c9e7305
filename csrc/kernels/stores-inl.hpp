// stores-inl.hpp: x86 vector stores, plain or (kStream) non-temporal; a streamed address is
// 64-byte aligned (core/drivers.cpp). No include guard: included inside each x86 tier's
// namespace and target region; a tier instantiates only the widths it has.

template <bool kStream>
static inline void store(float* p, __m256 v) {
  if (kStream)
    _mm256_stream_ps(p, v);
  else
    _mm256_storeu_ps(p, v);
}
template <bool kStream>
static inline void store(double* p, __m256d v) {
  if (kStream)
    _mm256_stream_pd(p, v);
  else
    _mm256_storeu_pd(p, v);
}
template <bool kStream>
static inline void store(void* p, __m128i v) {
  if (kStream)
    _mm_stream_si128(reinterpret_cast<__m128i*>(p), v);
  else
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v);
}
template <bool kStream>
static inline void store(void* p, __m256i v) {
  if (kStream)
    _mm256_stream_si256(reinterpret_cast<__m256i*>(p), v);
  else
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
}
template <bool kStream>
static inline void store(float* p, __m512 v) {
  if (kStream)
    _mm512_stream_ps(p, v);
  else
    _mm512_storeu_ps(p, v);
}
template <bool kStream>
static inline void store(double* p, __m512d v) {
  if (kStream)
    _mm512_stream_pd(p, v);
  else
    _mm512_storeu_pd(p, v);
}
template <bool kStream>
static inline void store(void* p, __m512i v) {
  if (kStream)
    _mm512_stream_si512(reinterpret_cast<__m512i*>(p), v);
  else
    _mm512_storeu_si512(p, v);
}
