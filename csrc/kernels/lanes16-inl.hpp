// lanes16-inl.hpp: the vectors of float16 and bfloat16 for the tiers of lanes-inl.hpp. Eight
// elements a vector, loaded, masked and stored as 16-bit patterns; Lanes<Half>::scale and
// Lanes<BFloat16>::scale (the tier's own) multiply them in float32 and round back. No include
// guard: included inside such a tier's namespace and target region, after its
//   Bits16 (8 x 16 bits), Scale16 (the float32 vector of a scale), lanes16(bits),
//   load16(p), and16(a, b), set1_f32(s), store16<kStream>(p, v)

struct Lanes16 {
  static constexpr int kLanes = 8;
  static inline Scale16 set1(float s) { return set1_f32(s); }
  static inline Bits16 load(const void* p) { return load16(p); }
  static inline Bits16 keep(Bits16 a, uint64_t bits) { return and16(a, lanes16(bits)); }
  template <bool kStream>
  static inline void store(void* p, Bits16 v) {
    store16<kStream>(p, v);
  }
};
