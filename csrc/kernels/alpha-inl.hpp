// alpha-inl.hpp: alpha dropout's passes, the loops of loop-inl.hpp with the alpha select
// y = keep ? x * a + b : c as their data step: the draw, the mask and the select in one pass
// (forward_loop), and the select over a given mask (apply_loop); both write large outputs
// with the tier's streaming stores. No include guard: included at the end of
// variants-inl.hpp, after its optimize pragma is popped (it needs variants-inl.hpp's Arith
// and alpha64).

// One window through the tier's own alpha step where it has one (Ops::alpha64<kStream> for
// the dtype: y written directly), else through variants-inl.hpp's alpha64, which a streaming
// window writes to a buffer and then streams with the tier's apply64 (every bit set, no
// scale: a copy).
template <bool kStream, class T, class C, class O = Ops>
static inline auto alpha_window(int, const T* x, T* y, uint64_t bits, C av, C bv, T cv)
    -> decltype(O::template alpha64<kStream>(x, y, bits, av, bv, cv)) {
  return O::template alpha64<kStream>(x, y, bits, av, bv, cv);
}
template <bool kStream, class T, class C>
static inline void alpha_window(long, const T* x, T* y, uint64_t bits, C av, C bv, T cv) {
  if (!kStream) {
    alpha64<T>(x, y, bits, av, bv, cv);
    return;
  }
  alignas(64) T tmp[64];
  alpha64<T>(x, tmp, bits, av, bv, cv);
  Ops::template apply64<false, true>(tmp, y, ~uint64_t{0}, typename ScaleOf<T>::type(1));
}

// y[j] = bit j ? (x[j] * a) + b : c, two rounded operations in the dtype; a, b, c are values
// of the dtype, passed exactly as doubles
template <class T>
struct AlphaStep {
  typename Arith<T>::C a, b;
  T c;
  AlphaStep(double av, double bv, double cv)
      : a(static_cast<typename Arith<T>::C>(av)),
        b(static_cast<typename Arith<T>::C>(bv)),
        c(Arith<T>::store(static_cast<typename Arith<T>::C>(cv))) {}
  template <bool kStream>
  void window(const T* x, T* y, uint64_t bits) const {
    alpha_window<kStream>(0, x, y, bits, a, b, c);
  }
};

template <class T>
static void alpha_forward_entry(const void* x, void* y, uint8_t* mask, uint64_t n, const Keys& keys,
                                uint64_t word0, uint32_t threshold, double a, double b, double c,
                                bool stream) {
  with_flag(stream, [&](auto st) {
    forward_loop<T, true, true, decltype(st)::value>(static_cast<const T*>(x), static_cast<T*>(y),
                                                     mask, n, keys, word0, threshold,
                                                     AlphaStep<T>(a, b, c));
  });
}

// the select over a given mask (nullptr: all kept)
template <class T>
static void alpha_select_entry(const void* x, void* y, const uint8_t* mask, uint64_t n, double a,
                               double b, double c, bool stream) {
  with_flag(stream, [&](auto st) {
    apply_loop<T, decltype(st)::value>(static_cast<const T*>(x), static_cast<T*>(y), mask, n,
                                       AlphaStep<T>(a, b, c));
  });
}

#define PYDROPOUT_ALPHA_INL 1  // table-inl.hpp fills the alpha entries
