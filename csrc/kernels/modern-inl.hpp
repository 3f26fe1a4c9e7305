// modern-inl.hpp: the element loops of zoneout and additive Gaussian noise (core/modern.hpp),
// plain C++ over the tier's mask loop (loop-inl.hpp) and normal transform (variants-inl.hpp).
// No include guard: variants-inl.hpp includes it inside its tier's namespace and target
// region, so every tier that compiles the variants compiles these too. Every arithmetic
// step is one IEEE operation (-ffp-contract=off); pydropout's NumPy reference repeats them.

// ---- zoneout: y[i] = word(word0 + i) >= threshold ? next[i] : prev[i] ---------------------
// The keep bits of a window go to `mask` (the caller's, when given) and are read straight
// back while they are in L1: one pass over prev, next and y, no full-size temporary.
template <class U>
static inline void select_bits(const U* prev, const U* next, U* y, const uint8_t* bits,
                               uint64_t count) {
  for (uint64_t j = 0; j < count; ++j) {
    const U take = static_cast<U>(U(0) - static_cast<U>((bits[j >> 3] >> (j & 7)) & 1u));
    y[j] = static_cast<U>((next[j] & take) | (prev[j] & static_cast<U>(~take)));
  }
}

template <class U>
static void zoneout_entry(const void* pv, const void* nv, void* yv, uint8_t* mask, uint64_t n,
                          const Keys& keys, uint64_t word0, uint32_t threshold) {
  constexpr uint64_t kWindow = 4096;  // elements: a multiple of 64, whole mask bytes
  alignas(64) uint8_t local[kWindow / 8];
  const U* prev = static_cast<const U*>(pv);
  const U* next = static_cast<const U*>(nv);
  U* y = static_cast<U*>(yv);
  for (uint64_t i = 0; i < n; i += kWindow) {
    const uint64_t count = n - i < kWindow ? n - i : kWindow;
    uint8_t* bits = mask ? mask + i / 8 : local;
    mask_entry(bits, count, keys, word0 + i, threshold);
    select_bits<U>(prev + i, next + i, y + i, bits, count);
  }
}

// ---- Gaussian noise: y = x + dtype(stddev * z(word)) ---------------------------------------
template <class T>
static void gaussian_add_entry(const void* xv, void* yv, uint64_t n, const Keys& keys,
                               uint64_t word0, double stddev) {
  using A = Arith<T>;
  const T* x = static_cast<const T*>(xv);
  T* y = static_cast<T*>(yv);
  alignas(64) uint32_t w[64];
  alignas(64) double z[64];
  uint64_t block = word0 >> 2;
  uint64_t skip = word0 & 3;  // words of the first block before element 0
  for (uint64_t i = 0; i < n; block += 16) {
    stream_words<16>(keys, block, w);
    const uint64_t count = n - i < 64 - skip ? n - i : 64 - skip;
    normal_batch(w + skip, z, count);
    for (uint64_t j = 0; j < count; ++j) {
      const typename A::C noise = A::from_double(stddev * z[j]);  // one rounding (16-bit: two)
      y[i + j] = A::store(A::load(x[i + j]) + noise);             // one add in the dtype
    }
    i += count;
    skip = 0;
  }
}

#define PYDROPOUT_MODERN_INL 1  // table-inl.hpp fills these entries too
