// modern-inl.hpp: the element loops of zoneout and additive Gaussian noise (core/modern.hpp),
// plain C++ over the tier's mask loop (loop-inl.hpp) and normal transform (variants-inl.hpp).
// No include guard: variants-inl.hpp includes it inside its tier's namespace and target
// region, so every tier that compiles the variants compiles these too. Every arithmetic
// step is one IEEE operation (-ffp-contract=off); pydropout's NumPy reference repeats them.

// ---- zoneout: y[i] = word(word0 + i) >= threshold ? next[i] : prev[i] ---------------------
// The keep bits of a window go to `mask` (the caller's, when given) and are read straight
// back while they are in L1: one pass over prev, next and y, no full-size temporary. Each
// group of 64 is two selects of the tier's apply64 (next where the bit is 1, prev where it
// is 0, +0.0 elsewhere) OR-ed together: a bitwise select, NaN payloads included.
template <unsigned kBytes>
struct UintOfSize;
template <>
struct UintOfSize<2> {
  using type = uint16_t;
};
template <>
struct UintOfSize<4> {
  using type = uint32_t;
};
template <>
struct UintOfSize<8> {
  using type = uint64_t;
};

template <class T>
static void zoneout_entry(const void* pv, const void* nv, void* yv, uint8_t* mask, uint64_t n,
                          const Keys& keys, uint64_t word0, uint32_t threshold) {
  using U = typename UintOfSize<sizeof(T)>::type;
  constexpr uint64_t kWindow = 4096;  // elements: a multiple of 64, whole mask bytes
  alignas(64) uint8_t local[kWindow / 8];
  alignas(64) T a[64];
  alignas(64) T b[64];
  alignas(64) U ua[64];
  alignas(64) U ub[64];
  const typename ScaleOf<T>::type one = 1;  // unused: no scaling
  const T* prev = static_cast<const T*>(pv);
  const T* next = static_cast<const T*>(nv);
  T* y = static_cast<T*>(yv);
  for (uint64_t i = 0; i < n; i += kWindow) {
    const uint64_t count = n - i < kWindow ? n - i : kWindow;
    uint8_t* bits = mask ? mask + i / 8 : local;
    mask_entry(bits, count, keys, word0 + i, threshold);
    for (uint64_t g = 0; g < count; g += 64) {
      const uint64_t c = count - g < 64 ? count - g : 64;
      const uint64_t w = load_mask_bits(bits, count, g, c);
      if (c == 64) {  // main loop: whole groups (a and b are read before y is written)
        if (Ops::kPrefetchBytes) {  // hints only: past the ends they fault nothing
          for (unsigned l = 0; l < 64 * sizeof(T); l += 64) {
            __builtin_prefetch(
                reinterpret_cast<const char*>(next + i + g) + Ops::kPrefetchBytes + l, 0, 3);
            __builtin_prefetch(
                reinterpret_cast<const char*>(prev + i + g) + Ops::kPrefetchBytes + l, 0, 3);
          }
        }
        Ops::template apply64<false, false>(next + i + g, a, w, one);
        Ops::template apply64<false, false>(prev + i + g, b, ~w, one);
        std::memcpy(ua, a, sizeof(ua));
        std::memcpy(ub, b, sizeof(ub));
        for (int j = 0; j < 64; ++j) ua[j] = static_cast<U>(ua[j] | ub[j]);
        std::memcpy(y + i + g, ua, sizeof(ua));
      } else {  // tail
        for (uint64_t j = 0; j < c; ++j)
          y[i + g + j] = ((w >> j) & 1u) ? next[i + g + j] : prev[i + g + j];
      }
    }
  }
}

// ---- Gaussian noise: y = x + dtype(stddev * z(word)) ---------------------------------------
template <class T>
static void gaussian_add_entry(const void* xv, void* yv, uint64_t n, const Keys& keys,
                               uint64_t word0, double stddev) {
  using A = Arith<T>;
  normal_map<T>(xv, yv, n, keys, word0, [stddev](T x, double z) {
    const typename A::C noise = A::from_double(stddev * z);  // one rounding (16-bit: two)
    return A::store(A::load(x) + noise);                     // one add in the dtype
  });
}

#define PYDROPOUT_MODERN_INL 1  // table-inl.hpp fills these entries too
