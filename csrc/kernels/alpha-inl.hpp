// alpha-inl.hpp: alpha dropout's passes over the tier's Ops: the draw, the mask and the
// select y = keep ? x * a + b : c in one pass (the forward loop of loop-inl.hpp with the
// alpha select in place of apply64), and the select over a given mask; both write large
// outputs with the tier's streaming stores. No include guard: included at the end of
// variants-inl.hpp (it needs loop-inl.hpp's GroupBits and variants-inl.hpp's alpha64).

// the first `count` (< 64) elements of a window, one by one
template <class T>
static inline void alpha_partial(const T* x, T* y, uint64_t count, uint64_t bits,
                                 typename Arith<T>::C av, typename Arith<T>::C bv, T cv) {
  using A = Arith<T>;
  using C = typename A::C;
  for (uint64_t j = 0; j < count; ++j) {
    const C prod = A::load(A::store(A::load(x[j]) * av));
    const T kept = A::store(prod + bv);
    y[j] = ((bits >> j) & 1u) ? kept : cv;
  }
}

// one whole window; with kStream y is 64-byte aligned and written past the cache (the
// tier's apply64 with every bit set and no scale is a streaming copy)
template <class T, bool kStream>
static inline void alpha64_to(const T* x, T* y, uint64_t bits, typename Arith<T>::C av,
                              typename Arith<T>::C bv, T cv) {
  if (!kStream) {
    alpha64<T>(x, y, bits, av, bv, cv);
    return;
  }
  alignas(64) T tmp[64];
  alpha64<T>(x, tmp, bits, av, bv, cv);
  Ops::template apply64<false, true>(tmp, y, ~uint64_t{0}, typename ScaleOf<T>::type(1));
}

// forward_loop (loop-inl.hpp) with data and mask, the alpha select as the data step
template <class T, bool kStream>
static inline void alpha_forward_loop(const T* x, T* y, uint8_t* mask, uint64_t n, const Keys& keys,
                                      uint64_t word0, uint32_t threshold, typename Arith<T>::C av,
                                      typename Arith<T>::C bv, T cv) {
  if (n == 0) return;
  const unsigned r = static_cast<unsigned>(word0 & 3);
  const uint64_t e0 = kStream ? stream_head(y, n) : 0;
  const unsigned sh = r + static_cast<unsigned>(e0);
  const uint64_t groups = (((word0 & 3) + n - 1) >> 6) + 1;
  const CtxHolder<typename Ops::Ctx> holder(keys);
  GroupBits src(holder.ctx, threshold, word0 >> 2, groups);
  uint64_t cur = src.next();
  if (e0) alpha_partial<T>(x, y, e0, (cur >> r) & lanes_between(0, e0), av, bv, cv);
  for (uint64_t m = 0;; ++m) {
    const uint64_t first = 64 * m;
    const bool mask_window = first < n;
    const bool data_window = e0 + first < n;
    if (!mask_window && !data_window) break;
    uint64_t next = 0;
    if (first + 64 - r < n) next = src.next();
    if (mask_window) {
      uint64_t bits = r ? (cur >> r) | (next << (64 - r)) : cur;
      if (n - first < 64) bits &= lanes_between(0, n - first);
      store_mask_word(mask, m, n, bits);
    }
    if (data_window) {
      const uint64_t start = e0 + first;
      const uint64_t bits = sh ? (cur >> sh) | (next << (64 - sh)) : cur;
      if (n - start >= 64) {
        if (Ops::kPrefetchBytes) {  // as forward_loop: a hint only, it faults nothing
          for (unsigned l = 0; l < 64 * sizeof(T); l += 64)
            __builtin_prefetch(reinterpret_cast<const char*>(x + start) + Ops::kPrefetchBytes + l,
                               0, 3);
        }
        alpha64_to<T, kStream>(x + start, y + start, bits, av, bv, cv);
      } else {
        alpha_partial<T>(x + start, y + start, n - start, bits, av, bv, cv);
      }
    }
    cur = next;
  }
  if (kStream) Ops::stream_fence();
}

template <class T>
static void alpha_forward_entry(const void* xv, void* yv, uint8_t* mask, uint64_t n,
                                const Keys& keys, uint64_t word0, uint32_t threshold, double a,
                                double b, double c, bool stream) {
  using A = Arith<T>;
  using C = typename A::C;
  const T* x = static_cast<const T*>(xv);
  T* y = static_cast<T*>(yv);
  const C av = static_cast<C>(a), bv = static_cast<C>(b);
  const T cv = A::store(static_cast<C>(c));
  if (stream)
    alpha_forward_loop<T, true>(x, y, mask, n, keys, word0, threshold, av, bv, cv);
  else
    alpha_forward_loop<T, false>(x, y, mask, n, keys, word0, threshold, av, bv, cv);
}

// the select over a given mask (nullptr: all kept), streaming from y's first 64-byte boundary
template <class T>
static void alpha_stream_entry(const void* xv, void* yv, const uint8_t* mask, uint64_t n, double a,
                               double b, double c) {
  using A = Arith<T>;
  using C = typename A::C;
  const T* x = static_cast<const T*>(xv);
  T* y = static_cast<T*>(yv);
  const C av = static_cast<C>(a), bv = static_cast<C>(b);
  const T cv = A::store(static_cast<C>(c));
  const uint64_t e0 = stream_head(y, n);
  if (e0) {
    const uint64_t bits = mask ? load_mask_bits(mask, n, 0, e0) : lanes_between(0, e0);
    alpha_partial<T>(x, y, e0, bits, av, bv, cv);
  }
  uint64_t i = e0;
  for (; i + 64 <= n; i += 64) {
    const uint64_t bits = mask ? load_mask_bits(mask, n, i, 64) : ~uint64_t{0};
    alpha64_to<T, true>(x + i, y + i, bits, av, bv, cv);
  }
  if (i < n) {
    const uint64_t bits = mask ? load_mask_bits(mask, n, i, n - i) : lanes_between(0, n - i);
    alpha_partial<T>(x + i, y + i, n - i, bits, av, bv, cv);
  }
  Ops::stream_fence();
}

#define PYDROPOUT_ALPHA_INL 1  // table-inl.hpp fills the fused alpha entries
