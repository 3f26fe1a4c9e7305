// lanes-inl.hpp: apply64 for the tiers whose data step is, vector by vector, a load, the
// multiply by the scale where kScale, and an AND with the keep bits' lane masks, dropped lanes
// becoming +0.0 (AVX2, NEON). No include guard: included inside such a tier's namespace and
// target region, before the tier's Lanes<T> for each dtype, which LaneOps reads:
//   Lanes<T>::kLanes, load(p), set1(s), scale(v, s_v) (the product rounded to the dtype),
//   keep(v, bits) (lanes j with bit j of bits clear made +0.0), store<kStream>(p, v)
// PYDROPOUT_LANES writes Lanes<T> for float32 and float64 from the tier's names: SET1, LOAD
// and MUL (intrinsics), KEEP(v, bits) and TIER::store<kStream>(p, v) (the tier's functions).

template <class T>
struct Lanes;
#define PYDROPOUT_LANES(TIER, T, V, SET1, LOAD, MUL, KEEP)             \
  template <>                                                          \
  struct Lanes<T> {                                                    \
    static constexpr int kLanes = sizeof(V) / sizeof(T);               \
    static inline V set1(T s) { return SET1(s); }                      \
    static inline V load(const T* p) { return LOAD(p); }               \
    static inline V scale(V a, V s) { return MUL(a, s); }              \
    static inline V keep(V a, uint64_t bits) { return KEEP(a, bits); } \
    template <bool kStream>                                            \
    static inline void store(T* p, V v) {                              \
      TIER::store<kStream>(p, v);                                      \
    }                                                                  \
  };

template <class Self>
struct LaneOps : OpsDefaults<Self> {
  // y[j] = bit j ? x[j] (* s) : +0 for j < kElems (a multiple of the lane count)
  template <int kElems, bool kScale, bool kStream, class T, class S>
  static inline void apply_n(const T* x, T* y, uint64_t bits, S s) {
    using L = Lanes<T>;
    static_assert(kElems % L::kLanes == 0, "whole vectors");
    const auto s_v = L::set1(s);
    for (int v = 0; v < kElems / L::kLanes; ++v) {
      auto x_v = L::load(x + L::kLanes * v);
      if (kScale) x_v = L::scale(x_v, s_v);
      L::template store<kStream>(y + L::kLanes * v, L::keep(x_v, bits >> (L::kLanes * v)));
    }
  }
  template <bool kScale, bool kStream, class T, class S>
  static inline void apply64(const T* x, T* y, uint64_t bits, S s) {
    apply_n<64, kScale, kStream>(x, y, bits, s);
  }
};
