// loop-inl.hpp: the generic forward / mask / apply loops over an `Ops` type.
// No include guard: each ISA's .cpp includes it inside its own namespace and target
// region, after defining
//   Ops::keep64(keys, block, threshold) -> keep bits of words [4*block, 4*block + 64)
//   Ops::apply64<T, kScale>(x, y, bits, s) -> y[j] = bit j ? x[j] (* s) : +0, j < 64
// Words come in groups of 16 Philox blocks; group g covers elements [64g - r, 64g - r + 64)
// where r = word0 % 4, so every group starts on a block. The packed mask, which is
// element-aligned, is assembled from neighbouring groups with a funnel shift.

template <class T> struct ScaleOf { using type = float; };
template <> struct ScaleOf<double> { using type = double; };

static inline uint64_t lanes_between(uint64_t lo, uint64_t hi) {  // bits [lo, hi), hi <= 64
  const uint64_t upto = hi >= 64 ? ~uint64_t{0} : ((uint64_t{1} << hi) - 1);
  const uint64_t below = lo >= 64 ? ~uint64_t{0} : ((uint64_t{1} << lo) - 1);
  return upto & ~below;
}

static inline void store_mask_word(uint8_t* mask, uint64_t word, uint64_t n, uint64_t bits) {
  const uint64_t nbytes = (n + 7) / 8;
  const uint64_t at = word * 8;
  const uint64_t len = nbytes - at < 8 ? nbytes - at : 8;
  std::memcpy(mask + at, &bits, len);  // little-endian: bit i of the word is element 64*word + i
}

static inline uint64_t load_mask_bits(const uint8_t* mask, uint64_t first, uint64_t count) {
  // bits of elements [first, first + count), first % 64 == 0, count <= 64
  uint64_t bits = 0;
  std::memcpy(&bits, mask + first / 8, (count + 7) / 8);
  return bits & lanes_between(0, count);
}

template <class T, bool kScale>
static inline void apply_partial(const T* x, T* y, uint64_t lo, uint64_t hi, uint64_t bits,
                                 typename ScaleOf<T>::type s) {
  // lanes [lo, hi) of a 64-lane group through a zero-padded buffer
  alignas(64) T in[64];
  alignas(64) T out[64];
  std::memset(in, 0, sizeof(in));
  std::memcpy(in + lo, x + lo, (hi - lo) * sizeof(T));
  Ops::template apply64<T, kScale>(in, out, bits, s);
  std::memcpy(y + lo, out + lo, (hi - lo) * sizeof(T));
}

template <class T, bool kScale, bool kData, bool kMask>
static inline void forward_loop(const T* x, T* y, uint8_t* mask, uint64_t n, const Keys& keys,
                                uint64_t word0, uint32_t threshold, typename ScaleOf<T>::type s) {
  if (n == 0) return;
  const uint64_t r = word0 & 3;
  uint64_t block = word0 >> 2;
  const uint64_t groups = (n + r + 63) / 64;
  uint64_t prev = 0;
  for (uint64_t g = 0; g < groups; ++g, block += 16) {
    uint64_t bits = Ops::keep64(keys, block, threshold);
    const uint64_t first = 64 * g;  // element index of lane 0, plus r
    const uint64_t lo = first < r ? r - first : 0;
    const uint64_t hi = n + r - first < 64 ? n + r - first : 64;
    if (lo != 0 || hi != 64) bits &= lanes_between(lo, hi);
    if (kData) {
      const T* xg = x + first - r;  // may point before x: only lanes [lo, hi) are touched
      T* yg = y + first - r;
      if (lo == 0 && hi == 64) {
        Ops::template apply64<T, kScale>(xg, yg, bits, s);  // main loop
      } else {
        apply_partial<T, kScale>(xg, yg, lo, hi, bits, s);  // head / tail
      }
    }
    if (kMask) {
      if (r == 0) {
        store_mask_word(mask, g, n, bits);
      } else if (g > 0) {
        store_mask_word(mask, g - 1, n, (prev >> r) | (bits << (64 - r)));
      }
      prev = bits;
    }
  }
  if (kMask && r != 0 && (n + 63) / 64 == groups) store_mask_word(mask, groups - 1, n, prev >> r);
}

template <class T, bool kScale>
static inline void apply_loop(const T* x, T* y, const uint8_t* mask, uint64_t n,
                              typename ScaleOf<T>::type s) {
  uint64_t i = 0;
  for (; i + 64 <= n; i += 64) {  // main loop
    uint64_t bits = ~uint64_t{0};
    if (mask) std::memcpy(&bits, mask + i / 8, 8);
    Ops::template apply64<T, kScale>(x + i, y + i, bits, s);
  }
  if (i < n) {  // tail
    const uint64_t count = n - i;
    const uint64_t bits = mask ? load_mask_bits(mask, i, count) : lanes_between(0, count);
    apply_partial<T, kScale>(x + i, y + i, 0, count, bits, s);
  }
}

template <class T>
static void forward_entry(const void* xv, void* yv, uint8_t* mask, uint64_t n, const Keys& keys,
                          uint64_t word0, uint32_t threshold, const Scale& scale) {
  const T* x = static_cast<const T*>(xv);
  T* y = static_cast<T*>(yv);
  const auto s = static_cast<typename ScaleOf<T>::type>(scale.value);
  if (scale.apply) {
    if (mask) forward_loop<T, true, true, true>(x, y, mask, n, keys, word0, threshold, s);
    else forward_loop<T, true, true, false>(x, y, mask, n, keys, word0, threshold, s);
  } else {
    if (mask) forward_loop<T, false, true, true>(x, y, mask, n, keys, word0, threshold, s);
    else forward_loop<T, false, true, false>(x, y, mask, n, keys, word0, threshold, s);
  }
}

template <class T>
static void apply_entry(const void* xv, void* yv, const uint8_t* mask, uint64_t n,
                        const Scale& scale) {
  const T* x = static_cast<const T*>(xv);
  T* y = static_cast<T*>(yv);
  const auto s = static_cast<typename ScaleOf<T>::type>(scale.value);
  if (scale.apply) apply_loop<T, true>(x, y, mask, n, s);
  else apply_loop<T, false>(x, y, mask, n, s);
}

static void mask_entry(uint8_t* mask, uint64_t n, const Keys& keys, uint64_t word0,
                       uint32_t threshold) {
  forward_loop<float, false, false, true>(nullptr, nullptr, mask, n, keys, word0, threshold, 1.0f);
}

