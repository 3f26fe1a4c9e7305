// variants-inl.hpp: the element loops of the dropout variants (core/variants.hpp), written as
// plain C++ that the compiler vectorises (no intrinsics). No include guard: each tier's .cpp
// that has its own variants includes it inside its namespace and target region (the
// others keep their base tier's). Every arithmetic step is one IEEE operation
// (-ffp-contract=off), so every tier gives the same bits, and pydropout's NumPy reference
// repeats the steps. The words are core/philox.hpp's, the constants core/normal.hpp's.
// The kernel files are compiled with -fno-math-errno (CMakeLists.txt), and these loops with
// -fno-trapping-math too (GCC's optimize pragma below): neither changes a result, they only
// let sqrt be inlined and both branches of the normal transform be computed and selected,
// so that its loop vectorises. (Not the whole file: without trapping math GCC turns the
// AVX-512 tier's zero-masked multiplies into slower code.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#endif

// ---- the normal transform ----------------------------------------------------------------
// A tier with its own transform (normal512-inl.hpp) defines PYDROPOUT_NORMAL_WIDE and
// kNormalWindow, normal_window and normal_entry before including this file.
#if !defined(PYDROPOUT_NORMAL_WIDE)
static inline double horner8(const double* c, double r) {
  double v = c[7];
  for (int k = 6; k >= 0; --k) v = v * r + c[k];  // a multiply, then an add: never fused
  return v;
}

// ln(x) for x in [2**-33, 0.5]: x = m * 2**e with m in [sqrt(1/2), sqrt(2)) (frexp by
// bits: exact for positive normal x), ln(m) = 2 atanh(s), s = (m - 1) / (m + 1), as
// 2s + s * s2 * sum_{k=1..10} 2/(2k+1) s2**(k-1).
static inline double ln_small(double x) {
  uint64_t u;
  std::memcpy(&u, &x, 8);
  int32_t e = static_cast<int32_t>(u >> 52) - 1022;
  const uint64_t mu = (u & 0x000fffffffffffffull) | 0x3fe0000000000000ull;
  double m;
  std::memcpy(&m, &mu, 8);  // x = m * 2**e, m in [0.5, 1)
  const bool low = m < kSqrtHalf;
  m = low ? m + m : m;
  e = low ? e - 1 : e;
  const double f = m - 1.0;  // exact (Sterbenz)
  const double s = f / (2.0 + f);
  const double s2 = s * s;
  double r = 2.0 / 21.0;
  for (int k = 9; k >= 1; --k) r = r * s2 + 2.0 / (2 * k + 1);
  const double lnm = 2.0 * s + s * (s2 * r);
  const double de = static_cast<double>(e);
  return de * kLn2Hi + (de * kLn2Lo + lnm);
}

// z[j] = the standard normal quantile of u = (w[j] + 0.5) / 2**32 (AS241), count <= 64.
// The central branch is computed for every element (a vectorised loop); the elements of the
// tails (|q| > 0.425, about 15 %) are then gathered and the tail branch, which costs most
// (a logarithm, a square root, a division), runs on them alone, again vectorised. Each element
// performs exactly the operations of its branch.
static inline void normal_batch(const uint32_t* w, double* z, uint64_t count) {
  alignas(64) double q[64];
  for (uint64_t j = 0; j < count; ++j) {
    // q = u - 1/2 = (w - 2**31 + 1/2) / 2**32, exact and never 0
    q[j] = (static_cast<double>(static_cast<int32_t>(w[j] ^ 0x80000000u)) + 0.5) * kTwoM32;
    const double r1 = kCentral - q[j] * q[j];
    z[j] = (q[j] * horner8(kAs241A, r1)) / horner8(kAs241B, r1);
  }
  uint32_t at[64];
  alignas(64) double tq[64];
  uint64_t k = 0;
  for (uint64_t j = 0; j < count; ++j) {  // branch-free gather of the tail elements
    at[k] = static_cast<uint32_t>(j);
    tq[k] = q[j];
    k += !(std::fabs(q[j]) <= kSplit);
  }
  alignas(64) double tz[64];
  for (uint64_t i = 0; i < k; ++i) {
    const double t = 0.5 - std::fabs(tq[i]);  // min(u, 1 - u): exact here (Sterbenz)
    const double r2 = std::sqrt(-ln_small(t)) - kTailShift;
    const double zt = horner8(kAs241C, r2) / horner8(kAs241D, r2);
    tz[i] = tq[i] < 0.0 ? -zt : zt;
  }
  for (uint64_t i = 0; i < k; ++i) z[at[i]] = tz[i];
}

constexpr uint64_t kNormalWindow = 64;  // words (and deviates) of one window

// z[j] = z(word(word + j)), j < the count returned, min(n, kNormalWindow - word % 4)
static inline uint64_t normal_window(const Keys& keys, uint64_t word, uint64_t n, double* z) {
  alignas(64) uint32_t w[kNormalWindow];
  const uint64_t skip = word & 3;  // words of the first block before element 0
  const uint64_t count = n < kNormalWindow - skip ? n : kNormalWindow - skip;
  stream_words<kNormalWindow / 4>(keys, word >> 2, w);
  normal_batch(w + skip, z, count);
  return count;
}

static void normal_entry(const uint32_t* w, double* z, uint64_t n) {
  for (uint64_t i = 0; i < n; i += 64) normal_batch(w + i, z + i, n - i < 64 ? n - i : 64);
}
#endif  // PYDROPOUT_NORMAL_WIDE

// y[i] = f(x[i], z(word0 + i)), i < n: Gaussian dropout and additive Gaussian noise
template <class T, class F>
static inline void normal_map(const void* xv, void* yv, uint64_t n, const Keys& keys,
                              uint64_t word0, F f) {
  const T* x = static_cast<const T*>(xv);
  T* y = static_cast<T*>(yv);
  alignas(64) double z[kNormalWindow];
  for (uint64_t i = 0; i < n;) {
    const uint64_t count = normal_window(keys, word0 + i, n - i, z);
    for (uint64_t j = 0; j < count; ++j) y[i + j] = f(x[i + j], z[j]);
    i += count;
  }
}

// ---- per-dtype arithmetic ------------------------------------------------------------------
// 16-bit types compute in float32 and round once per operation; float32 has at least
// 2p + 2 bits for both, so each operation is correctly rounded in the 16-bit type (as
// NumPy computes float16 and ml_dtypes bfloat16).
template <class T>
struct Arith {  // float32 and float64: the dtype itself
  using C = T;
  static C load(T v) { return v; }
  static T store(C v) { return v; }
  static C from_double(double v) { return static_cast<C>(v); }
};
template <class T, float (*kToFloat)(uint16_t), uint16_t (*kFromFloat)(float)>
struct Arith16 {  // float16 and bfloat16: float32, rounded to the dtype
  using C = float;
  static C load(T v) { return kToFloat(v.bits); }
  static T store(C v) { return T{kFromFloat(v)}; }
  static C from_double(double v) { return kToFloat(kFromFloat(static_cast<float>(v))); }
};
template <>
struct Arith<Half> : Arith16<Half, half_to_float, float_to_half> {};
template <>
struct Arith<BFloat16> : Arith16<BFloat16, bf16_to_float, float_to_bf16> {};

// ---- alpha dropout: y = bit ? (x * a) + b : c ---------------------------------------------
// One 64-element window: the keep bits of each half in a 32-bit word, so that the bit test is
// a vector shift of 32-bit lanes (which every SIMD level has) and the loops vectorise.
template <class T>
static inline void alpha64(const T* x, T* y, uint64_t bits, typename Arith<T>::C av,
                           typename Arith<T>::C bv, T cv) {
  using A = Arith<T>;
  using C = typename A::C;
  alignas(64) T kept[64];  // a local: it cannot alias y (which may be x)
  for (int j = 0; j < 64; ++j) {
    const C prod = A::load(A::store(A::load(x[j]) * av));  // rounded to the dtype
    kept[j] = A::store(prod + bv);                         // and again
  }
  for (int h = 0; h < 2; ++h) {
    const uint32_t w = static_cast<uint32_t>(bits >> (32 * h));
    for (int j = 0; j < 32; ++j)  // a select: x never reaches a dropped element
      y[32 * h + j] = ((w >> j) & 1u) ? kept[32 * h + j] : cv;
  }
}

// ---- Gaussian dropout: y = x * dtype(1 + sigma * z(word)) ----------------------------------
template <class T>
static void gaussian_entry(const void* xv, void* yv, uint64_t n, const Keys& keys, uint64_t word0,
                           double sigma) {
  using A = Arith<T>;
  normal_map<T>(xv, yv, n, keys, word0, [sigma](T x, double z) {
    const double noise = 1.0 + sigma * z;
    return A::store(A::load(x) * A::from_double(noise));
  });
}

#include "modern-inl.hpp"  // zoneout and additive Gaussian noise, under the same flags
#undef PYDROPOUT_NORMAL_WIDE

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

#include "alpha-inl.hpp"  // alpha's passes (after the pop: see above)

#define PYDROPOUT_VARIANTS_INL 1  // table-inl.hpp fills the variants' entries too
