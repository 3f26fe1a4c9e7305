// loop-inl.hpp: the generic forward / mask / apply loops over an `Ops` type.
// No include guard: each tier's .cpp includes it inside its own namespace and target
// region, after defining an Ops (over OpsDefaults of ops-inl.hpp, which gives the
// defaults marked *) with
//   Ops::Ctx -> the per-call key material, constructed from Keys (*: Keys itself)
//   Ops::keep64(ctx, block, threshold) -> keep bits of words [4*block, 4*block + 64)
//   Ops::kGroups, Ops::keep(ctx, block, threshold, out) -> out[g] = keep64(block + 16g),
//     g < kGroups: several groups at once, where the ISA gains from it (*: one group)
//   Ops::apply64<kScale, kStream>(x, y, bits, s) -> y[j] = bit j ? x[j] (* s) : +0, j < 64,
//     overloaded on the element type
//   Ops::stream_fence() -> orders streaming stores (*: none)
//   Ops::kPrefetchBytes -> how far ahead of each forward window to prefetch the input
//     (*: 0, none)
//   Ops::fuses_forward<T>() -> whether dropout's forward of T does its data step inside the
//     Philox rounds (*: false); where true, also Ops::keep_with, kFuseElems, kFuseRounds and
//     apply_n (RoundWork below)
// apply64's kStream asks for non-temporal stores; the loops then start their windows on
// 64-byte boundaries of y.

template <class T>
struct ScaleOf {
  using type = float;
};
template <>
struct ScaleOf<double> {
  using type = double;
};

static inline uint64_t lanes_between(uint64_t lo, uint64_t hi) {  // bits [lo, hi), hi <= 64
  const uint64_t upto = hi >= 64 ? ~uint64_t{0} : ((uint64_t{1} << hi) - 1);
  const uint64_t below = lo >= 64 ? ~uint64_t{0} : ((uint64_t{1} << lo) - 1);
  return upto & ~below;
}

static inline void store_mask_word(uint8_t* mask, uint64_t word, uint64_t n, uint64_t bits) {
  const uint64_t nbytes = (n + 7) / 8;
  const uint64_t at = word * 8;
  // little-endian: bit i of the word is element 64*word + i
  if (nbytes - at >= 8) {
    std::memcpy(mask + at, &bits, 8);  // one 8-byte store
    return;
  }
  std::memcpy(mask + at, &bits, nbytes - at);
}

// `count` (<= 64) bits of a packed mask of n bits starting at bit `first`
static inline uint64_t load_mask_bits(const uint8_t* mask, uint64_t n, uint64_t first,
                                      uint64_t count) {
  const uint64_t at = first / 8;
  const unsigned sh = static_cast<unsigned>(first % 8);
  const uint64_t nbytes = (n + 7) / 8;
  uint8_t buf[16] = {0};
  const uint64_t want = (sh + count + 7) / 8;  // <= 9
  std::memcpy(buf, mask + at, nbytes - at < want ? nbytes - at : want);
  uint64_t lo;
  std::memcpy(&lo, buf, 8);
  uint64_t bits = lo >> sh;
  if (sh) bits |= static_cast<uint64_t>(buf[8]) << (64 - sh);
  return bits & lanes_between(0, count);
}

// The data steps of the loops below: step.window<kStream>(x, y, bits) writes the 64 elements
// y[j] from x[j] and bit j of bits (kStream: with non-temporal stores, y 64-byte aligned).
// ApplyStep is dropout's: y[j] = bit j ? x[j] (* s) : +0, the tier's apply64. The loops take
// the step by value: a local, whose constants no store through y can alias.
template <class T, bool kScale>
struct ApplyStep {
  typename ScaleOf<T>::type s;
  template <bool kStream>
  void window(const T* x, T* y, uint64_t bits) const {
    Ops::template apply64<kScale, kStream>(x, y, bits, s);
  }
  // Ops::keep(ctx, block, threshold, out) with the windows of kGroups x 64 elements at x, y
  // done inside its rounds (RoundWork), their keep bits in bits[]
  template <bool kStream, class O = Ops>  // O: a dependent name, looked up only where used
  void fused(const typename O::Ctx& ctx, uint64_t block, uint32_t threshold, uint64_t* out,
             const T* x, T* y, const uint64_t* bits) const;
};

// Where a tier's fuses_forward<T>() is true, its keep_with(ctx, block, threshold, out, work) makes
// the kGroups groups of keep(), calling work.round(t) after each round t of each pass of its
// Philox (a pass: a call of the rounds over some of the groups), and work.advanced(e) gives the
// work of the pass that starts e elements on. Round t < Ops::kFuseRounds of a pass writes
// elements [kFuseElems t, kFuseElems t + kFuseElems) of its windows through
// Ops::apply_n<kFuseElems>, their keep bits read from bytes (element e: bit e % 8 of byte
// e / 8). The data step and the rounds then share the vector ports in one stream of
// instructions instead of taking turns, which the out-of-order window cannot do over the
// length of a Philox pass.
template <class T, bool kScale, bool kStream, class O = Ops>
struct RoundWork {
  static constexpr int kElems = O::kFuseElems;
  static_assert(kElems % 8 == 0 && kElems <= 64, "whole bytes of keep bits");
  static_assert(O::kPrefetchBytes == 0, "no software prefetch inside the rounds");
  const T* x;
  T* y;
  const uint8_t* bytes;
  typename ScaleOf<T>::type s;
  RoundWork advanced(int e) const { return {x + e, y + e, bytes + e / 8, s}; }
  [[gnu::always_inline]] inline void round(int t) const {
    if (t >= O::kFuseRounds) return;
    uint64_t bits = 0;
    std::memcpy(&bits, bytes + kElems / 8 * t, kElems / 8);
    O::template apply_n<kElems, kScale, kStream>(x + kElems * t, y + kElems * t, bits, s);
  }
};

template <class T, bool kScale>
template <bool kStream, class O>
void ApplyStep<T, kScale>::fused(const typename O::Ctx& ctx, uint64_t block, uint32_t threshold,
                                 uint64_t* out, const T* x, T* y, const uint64_t* bits) const {
  O::keep_with(ctx, block, threshold, out,
               RoundWork<T, kScale, kStream, O>{x, y, reinterpret_cast<const uint8_t*>(bits), s});
}
// whether a step's windows run inside the rounds: ApplyStep's, where the tier's
// fuses_forward<T>() says so
template <class Step>
struct Fusable : std::false_type {};
template <class T, bool kScale>
struct Fusable<ApplyStep<T, kScale>>
    : std::integral_constant<bool, Ops::template fuses_forward<T>()> {};

// the first `count` (< 64) elements of a window, through a zero-padded buffer
template <class T, class Step>
[[gnu::always_inline]] static inline void step_partial(const Step& step, const T* x, T* y,
                                                       uint64_t count, uint64_t bits) {
  alignas(64) T in[64];
  alignas(64) T out[64];
  std::memset(in, 0, sizeof(in));
  std::memcpy(in, x, count * sizeof(T));
  step.template window<false>(in, out, bits);
  std::memcpy(y, out, count * sizeof(T));
}

// f(std::true_type{}) or f(std::false_type{}) for the run-time flag b: the flag as a template
// argument (decltype(flag)::value) of the loop f instantiates
template <class F>
static inline void with_flag(bool b, const F& f) {
  if (b)
    f(std::true_type{});
  else
    f(std::false_type{});
}

// Ops::Ctx built from the call's Keys, or the Keys themselves where Ctx is Keys.
template <class C>
struct CtxHolder {
  C ctx;
  explicit CtxHolder(const Keys& keys) : ctx(keys) {}
};
template <>
struct CtxHolder<Keys> {
  const Keys& ctx;
  explicit CtxHolder(const Keys& keys) : ctx(keys) {}
};

// The keep bits of consecutive groups (16 blocks each) from `block` on, made kGroups at
// a time while at least that many more are wanted, else one at a time.
struct GroupBits {
  const typename Ops::Ctx& ctx;
  uint32_t threshold;
  uint64_t block;  // first block of the next group to make
  uint64_t left;   // groups still wanted
  uint64_t buf[Ops::kGroups];
  int pos = 0, have = 0;

  GroupBits(const typename Ops::Ctx& c, uint32_t t, uint64_t first_block, uint64_t groups)
      : ctx(c), threshold(t), block(first_block), left(groups) {}

  // always inlined: out of line, LTO returns the refilled buffer through the stack, and the
  // wide reload of narrow stores stalls the forward loop
  [[gnu::always_inline]] uint64_t next() {
    if (pos < have) return buf[pos++];
    if (left >= static_cast<uint64_t>(Ops::kGroups)) {
      uint64_t made[Ops::kGroups];  // a local: the object itself never escapes
      Ops::keep(ctx, block, threshold, made);
      for (int g = 1; g < Ops::kGroups; ++g) buf[g] = made[g];
      block += 16 * static_cast<uint64_t>(Ops::kGroups);
      left -= static_cast<uint64_t>(Ops::kGroups);
      have = Ops::kGroups;
      pos = 1;
      return made[0];
    }
    const uint64_t bits = Ops::keep64(ctx, block, threshold);
    block += 16;
    left -= left != 0;
    return bits;
  }

  // whether the next kGroups groups can be made at once, with nothing buffered
  bool can_take_all() const { return pos >= have && left >= static_cast<uint64_t>(Ops::kGroups); }
  // the next kGroups groups into made[] (after can_take_all())
  [[gnu::always_inline]] void take_all(uint64_t* made) {
    Ops::keep(ctx, block, threshold, made);
    skip_all();
  }
  // past the next kGroups groups, made by the caller (Ops::keep_with from `block`)
  void skip_all() {
    block += 16 * static_cast<uint64_t>(Ops::kGroups);
    left -= static_cast<uint64_t>(Ops::kGroups);
  }
};

// bits [sh, sh + 64) of the 128-bit (hi : lo), sh < 64, without a branch on sh == 0
static inline uint64_t funnel(uint64_t lo, uint64_t hi, unsigned sh) {
  return (lo >> sh) | ((hi << 1) << (63 - sh));
}

// The tier's software prefetch of the input ahead of a window at x, where it has one: a hint
// only, which past the end of x faults nothing.
template <class T>
[[gnu::always_inline]] static inline void prefetch_window(const T* x) {
  if (Ops::kPrefetchBytes) {
    for (unsigned l = 0; l < 64 * sizeof(T); l += 64)
      __builtin_prefetch(reinterpret_cast<const char*>(x) + Ops::kPrefetchBytes + l, 0, 3);
  }
}

// Elements before the first 64-byte boundary of y: streaming stores start there.
template <class T>
static inline uint64_t stream_head(const T* y, uint64_t n) {
  const uint64_t mis = reinterpret_cast<uintptr_t>(y) & 63;
  const uint64_t head = mis ? (64 - mis) / sizeof(T) : 0;
  return head < n ? head : n;
}

// Forward over elements [0, n) whose words are word0 .. word0 + n - 1.
// Philox works on block-aligned groups: group g holds the keep bits of elements
// [64g - r, 64g - r + 64), r = word0 % 4. Mask words cover elements [64m, 64m + 64)
// and data windows [e0 + 64m, e0 + 64m + 64), where e0 puts the data windows on 64-byte
// boundaries of y (0 unless streaming). Both take their bits from groups m and m + 1
// with a funnel shift (by r, and by r + e0), so stores stay aligned to the output and
// mask words to bytes.
template <class T, bool kData, bool kMask, bool kStream, class Step>
static inline void forward_loop(const T* x, T* y, uint8_t* mask, uint64_t n, const Keys& keys,
                                uint64_t word0, uint32_t threshold, const Step step) {
  if (n == 0) return;
  const unsigned r = static_cast<unsigned>(word0 & 3);
  const uint64_t e0 = kData && kStream ? stream_head(y, n) : 0;  // < 64 / sizeof(T)
  const unsigned sh = r + static_cast<unsigned>(e0);             // < 64
  // groups 0 .. last hold words word0 .. word0 + n - 1
  const uint64_t groups = (((word0 & 3) + n - 1) >> 6) + 1;
  const CtxHolder<typename Ops::Ctx> holder(keys);
  GroupBits src(holder.ctx, threshold, word0 >> 2, groups);
  uint64_t cur = src.next();
  if (kData && e0) {  // head: elements [0, e0), all in group 0
    step_partial<T>(step, x, y, e0, (cur >> r) & lanes_between(0, e0));
  }
  // The middle: runs of kRun whole windows, each run's groups made by one keep call, with
  // none of the edges' checks. Windows m .. m + kRun - 1 take groups m + 1 .. m + kRun, all
  // of them among the call's groups exactly when kRun are still to be made. Where the tier
  // can (Fusable), a run's data step runs inside the rounds that make the next run's groups;
  // elsewhere it follows the rounds of its own.
  constexpr uint64_t kRun = static_cast<uint64_t>(Ops::kGroups);
  const auto run_ready = [&](uint64_t m) {
    return src.can_take_all() && (kData ? e0 : 0) + 64 * (m + kRun) <= n && 64 * (m + kRun) <= n;
  };
  // Windows one at a time up to the first run (the groups made with the first are used
  // first), then the runs, then the rest one at a time.
  for (uint64_t m = 0;; ++m) {
    if (run_ready(m)) {
      uint64_t made[Ops::kGroups];
      uint64_t bits[Ops::kGroups];   // the data bits of windows m .. m + kRun - 1
      const auto take_run = [&]() {  // their mask words stored; cur is group m + kRun after
        for (uint64_t w = 0; w < kRun; ++w) {
          if (kMask) {
            const uint64_t word = funnel(cur, made[w], r);
            std::memcpy(mask + 8 * (m + w), &word, 8);
          }
          bits[w] = funnel(cur, made[w], sh);
          cur = made[w];
        }
      };
      const auto data_run = [&]() {
        for (uint64_t w = 0; w < kRun; ++w) {
          const uint64_t start = e0 + 64 * (m + w);
          prefetch_window(x + start);
          step.template window<kStream>(x + start, y + start, bits[w]);
        }
      };
      if constexpr (kData && Fusable<Step>::value) {
        src.take_all(made);
        take_run();
        while (run_ready(m + kRun)) {
          step.template fused<kStream>(holder.ctx, src.block, threshold, made, x + e0 + 64 * m,
                                       y + e0 + 64 * m, bits);
          src.skip_all();
          m += kRun;
          take_run();
        }
        data_run();
        m += kRun;
      } else {
        do {
          src.take_all(made);
          take_run();
          if (kData) data_run();
          m += kRun;
        } while (run_ready(m));
      }
    }
    const uint64_t first = 64 * m;
    const bool mask_window = kMask && first < n;
    const bool data_window = kData && e0 + first < n;
    if (!mask_window && !data_window) break;
    uint64_t next = 0;
    if (first + 64 - r < n) next = src.next();  // group m + 1 is needed
    if (mask_window) {
      uint64_t bits = funnel(cur, next, r);
      if (n - first < 64) bits &= lanes_between(0, n - first);
      store_mask_word(mask, m, n, bits);
    }
    if (data_window) {
      const uint64_t start = e0 + first;
      const uint64_t bits = funnel(cur, next, sh);
      if (n - start >= 64) {
        prefetch_window(x + start);
        step.template window<kStream>(x + start, y + start, bits);
      } else {
        step_partial<T>(step, x + start, y + start, n - start,
                        bits & lanes_between(0, n - start));  // tail
      }
    }
    cur = next;
  }
  if (kStream) Ops::stream_fence();
}

template <class T, bool kStream, class Step>
static inline void apply_loop(const T* x, T* y, const uint8_t* mask, uint64_t n, const Step step) {
  const uint64_t e0 = kStream ? stream_head(y, n) : 0;
  if (e0) {  // head up to the first 64-byte boundary of y
    const uint64_t bits = mask ? load_mask_bits(mask, n, 0, e0) : lanes_between(0, e0);
    step_partial<T>(step, x, y, e0, bits);
  }
  uint64_t i = e0;
  for (; i + 64 <= n; i += 64) {  // main loop
    uint64_t bits = ~uint64_t{0};
    if (mask) {
      if (e0 % 8 == 0)
        std::memcpy(&bits, mask + i / 8, 8);
      else
        bits = load_mask_bits(mask, n, i, 64);
    }
    prefetch_window(x + i);
    step.template window<kStream>(x + i, y + i, bits);
  }
  if (i < n) {  // tail
    const uint64_t count = n - i;
    const uint64_t bits = mask ? load_mask_bits(mask, n, i, count) : lanes_between(0, count);
    step_partial<T>(step, x + i, y + i, count, bits);
  }
  if (kStream) Ops::stream_fence();
}

template <class T>
static void forward_entry(const void* xv, void* yv, uint8_t* mask, uint64_t n, const Keys& keys,
                          uint64_t word0, uint32_t threshold, const Scale& scale, bool stream) {
  const T* x = static_cast<const T*>(xv);
  T* y = static_cast<T*>(yv);
  const auto s = static_cast<typename ScaleOf<T>::type>(scale.value);
  with_flag(stream, [&](auto st) {
    with_flag(scale.apply, [&](auto sc) {
      with_flag(mask != nullptr, [&](auto mk) {
        forward_loop<T, true, decltype(mk)::value, decltype(st)::value>(
            x, y, mask, n, keys, word0, threshold, ApplyStep<T, decltype(sc)::value>{s});
      });
    });
  });
}

template <class T>
static void apply_entry(const void* xv, void* yv, const uint8_t* mask, uint64_t n,
                        const Scale& scale, bool stream) {
  const T* x = static_cast<const T*>(xv);
  T* y = static_cast<T*>(yv);
  const auto s = static_cast<typename ScaleOf<T>::type>(scale.value);
  with_flag(stream, [&](auto st) {
    with_flag(scale.apply, [&](auto sc) {
      apply_loop<T, decltype(st)::value>(x, y, mask, n, ApplyStep<T, decltype(sc)::value>{s});
    });
  });
}

[[maybe_unused]] static void mask_entry(uint8_t* mask, uint64_t n, const Keys& keys, uint64_t word0,
                                        uint32_t threshold) {
  forward_loop<float, false, true, false>(nullptr, nullptr, mask, n, keys, word0, threshold,
                                          ApplyStep<float, false>{1.0f});
}
