// ops-inl.hpp: the defaults of an Ops type for loop-inl.hpp, so that a tier writes only what
// differs: `struct Ops : OpsDefaults<Ops> { keep64, apply64 ... }`. No include guard:
// included inside each tier's namespace and target region, like the loops.

// what a tier's Philox rounds do beside: nothing
struct NoWork {
  static inline void round(int) {}
};

template <class Self>
struct OpsDefaults {
  using Ctx = Keys;                              // the call's Keys, as they are
  static constexpr int kGroups = 1;              // one group per keep call
  static constexpr unsigned kPrefetchBytes = 0;  // no software prefetch of the input
  static inline void stream_fence() {}           // no streaming stores to order
  // whether the forward of T runs its data step inside the rounds (keep_with, loop-inl.hpp's
  // RoundWork): not by default
  template <class T>
  static constexpr bool fuses_forward() {
    return false;
  }
  static inline void keep(const Keys& keys, uint64_t block, uint32_t threshold, uint64_t* out) {
    out[0] = Self::keep64(keys, block, threshold);
  }
};
