// variants.cpp: kernels and bindings of the dropout variants (see variants.hpp).
// The element loops live in variants-inl.hpp as plain C++, compiled three times: at the
// baseline (namespace variants_scalar), and on x86-64 inside target("avx2") and
// target("avx512f,avx512dq,avx512vl") regions; the level in use follows the core's
// (active_isa(): PYDROPOUT_SIMD and _set_simd apply). Every step is one IEEE operation,
// never contracted (-ffp-contract=off), so all levels give the same bits, and
// pydropout/reference.py reproduces them. This file is compiled with -fno-math-errno and
// -fno-trapping-math (CMakeLists.txt), which change no result: they only let sqrt be
// inlined and both branches of the normal transform be computed and selected, so that
// its loop vectorises.
#include "variants.hpp"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstring>
#include <string>

#include "convert.hpp"
#include "dispatch.hpp"
#include "parallel.hpp"
#include "philox.hpp"
#include "pyarrays.hpp"

namespace py = pybind11;

namespace pydropout {

namespace {

// ---- constants of the normal transform -----------------------------------------------------
// Hex literals (exact); reference.py spells the same hex strings.
constexpr double kTwoM32 = 0x1p-32;
constexpr double kSplit = 0x1.b333333333333p-2;      // 0.425
constexpr double kCentral = 0x1.71eb851eb851fp-3;    // 0.180625 = 0.425**2
constexpr double kTailShift = 0x1.999999999999ap+0;  // 1.6
constexpr double kSqrtHalf = 0x1.6a09e667f3bcdp-1;
constexpr double kLn2Hi = 0x1.62e42fee00000p-1;  // ln 2 = hi + lo; e * hi is exact
constexpr double kLn2Lo = 0x1.a39ef35793c76p-33;

// Wichura, AS241 (Applied Statistics 37(3), 1988), PPND16, lowest coefficient first.
// |q| <= 0.425: z = q * A(r) / B(r), r = 0.180625 - q*q.
constexpr double kAs241A[8] = {0x1.b18d91e9eef75p+1, 0x1.0a4888b1a436ep+7, 0x1.ece5d2213c0ccp+10,
                               0x1.ad1d8cd4ee71dp+13, 0x1.66c3e869b752ap+15, 0x1.06c1c55b78f20p+16,
                               0x1.052d26b2e45e4p+15, 0x1.39a296f7d925ep+11};
constexpr double kAs241B[8] = {0x1.0000000000000p+0, 0x1.5281b386e1ab5p+5, 0x1.5797efdc8b3f7p+9,
                               0x1.512322e75c89fp+12, 0x1.4b772d5d65266p+14, 0x1.3317caa64f4bep+15,
                               0x1.c0e457cb1ae76p+14, 0x1.46a7eca984b69p+12};
// Otherwise: z = +-C(r) / D(r), r = sqrt(-ln(min(u, 1 - u))) - 1.6. With 32-bit words
// min(u, 1 - u) >= 2**-33, so sqrt(-ln(.)) <= 4.78 and AS241's third branch (> 5) is
// never reached.
constexpr double kAs241C[8] = {0x1.6c665fde9526ap+0, 0x1.2857748cab19bp+2, 0x1.713f71462256ap+2,
                               0x1.d2ecb1a3d02c4p+1, 0x1.453cc085375b2p+0, 0x1.ef2abb9b85c37p-3,
                               0x1.744eb6c45ec67p-6, 0x1.9615ac0b7ace9p-11};
constexpr double kAs241D[8] = {0x1.0000000000000p+0, 0x1.06cefbb46a449p+1, 0x1.ad278e6526633p+0,
                               0x1.61292f23385c9p-1, 0x1.2f5123394f040p-3, 0x1.f207a7eab17bfp-7,
                               0x1.1f18cbfdf2728p-11, 0x1.20d3f686439e4p-30};

struct WordKeys {
  uint32_t k0, k1, stream_lo, stream_hi;
};

WordKeys word_keys(uint64_t seed, uint64_t stream) {
  return {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
          static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)};
}

using AlphaFn = void (*)(const void* x, void* y, const uint8_t* mask, uint64_t n, double a,
                         double b, double c);
using GaussianFn = void (*)(const void* x, void* y, uint64_t n, const WordKeys& keys,
                            uint64_t word0, double sigma);
using NormalFn = void (*)(const uint32_t* w, double* z, uint64_t n);

struct VariantTable {
  AlphaFn alpha[kNumDTypes] = {};
  GaussianFn gaussian[kNumDTypes] = {};
  NormalFn normal = nullptr;
};

}  // namespace

// ---- the loops, once per level ------------------------------------------------------------
namespace variants_scalar {
#include "variants-inl.hpp"
}  // namespace variants_scalar
namespace variants_scalar {
#include "variants-table-inl.hpp"
}  // namespace variants_scalar

#if defined(__x86_64__) || defined(_M_X64)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC target("avx2")
#elif defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#endif
namespace variants_avx2 {
#include "variants-inl.hpp"
}  // namespace variants_avx2
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512vl")
#elif defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512vl"))), apply_to = function)
#endif
namespace variants_avx512 {
#include "variants-inl.hpp"
}  // namespace variants_avx512
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#elif defined(__clang__)
#pragma clang attribute pop
#endif
namespace variants_avx2 {
#include "variants-table-inl.hpp"
}  // namespace variants_avx2
namespace variants_avx512 {
#include "variants-table-inl.hpp"
}  // namespace variants_avx512
#endif

namespace {

struct VariantTables {
  VariantTable table[4];  // indexed by Isa; levels the CPU lacks keep the scalar loops
  VariantTables() {
    for (auto& t : table) variants_scalar::fill_variant_table(t);
#if defined(__x86_64__) || defined(_M_X64)
    for (Isa isa : supported_isas()) {
      if (isa == Isa::avx2) variants_avx2::fill_variant_table(table[static_cast<int>(isa)]);
      if (isa == Isa::avx512) variants_avx512::fill_variant_table(table[static_cast<int>(isa)]);
    }
#endif
  }
};

const VariantTable& variant_table() {
  static const VariantTables tables;
  return tables.table[static_cast<int>(active_isa())];
}


// work per element of the normal transform relative to a dropout element (parallel_chunks)
constexpr double kGaussianCost = 8.0;

}  // namespace

double normal_from_word(uint32_t w) {
  double z;
  variants_scalar::normal_entry(&w, &z, 1);
  return z;
}

void alpha_apply(DType dt, const void* x, void* y, const uint8_t* mask, uint64_t n, double a,
                 double b, double c) {
  const size_t es = dtype_size(dt);
  const AlphaFn fn = variant_table().alpha[static_cast<int>(dt)];
  // chunks start on multiples of 64 elements: whole mask bytes
  parallel_chunks(n, [&](uint64_t lo, uint64_t hi) {
    fn(static_cast<const char*>(x) + lo * es, static_cast<char*>(y) + lo * es,
       mask ? mask + lo / 8 : nullptr, hi - lo, a, b, c);
  });
}

void gaussian_forward(DType dt, const void* x, void* y, uint64_t n, uint64_t seed,
                      uint64_t stream, uint64_t offset, double sigma) {
  const size_t es = dtype_size(dt);
  const GaussianFn fn = variant_table().gaussian[static_cast<int>(dt)];
  const WordKeys keys = word_keys(seed, stream);
  // element i draws word offset + i: any split gives the same result. About ten times the
  // work of a dropout element, so threads pay off on smaller arrays.
  parallel_chunks(n, [&](uint64_t lo, uint64_t hi) {
    fn(static_cast<const char*>(x) + lo * es, static_cast<char*>(y) + lo * es, hi - lo, keys,
       offset + lo, sigma);
  }, kGaussianCost);
}

void normal_from_words(const uint32_t* w, double* z, uint64_t n) {
  const NormalFn fn = variant_table().normal;
  parallel_chunks(n, [&](uint64_t lo, uint64_t hi) { fn(w + lo, z + lo, hi - lo); }, kGaussianCost);
}

// ---- bindings ------------------------------------------------------------------------------
void register_variants(py::module_& m) {
  // alpha_apply(x, y, mask, dtype_code, a, b, c): y = bit ? x * a + b : c
  m.def("alpha_apply", [](py::array x, py::array y, py::object mask, int code, double a, double b,
                          double c) {
    const ArrayInfo info = check_pair(x, y, code);
    const DType dt = info.dt;
    const uint64_t n = info.n;
    const uint8_t* mp = mask_ptr(mask, n, false);
    const void* src = x.data();
    void* dst = y.mutable_data();
    maybe_nogil(n, [&] { alpha_apply(dt, src, dst, mp, n, a, b, c); });
  });

  // gaussian(x, y, dtype_code, sigma, seed, stream, offset): y = x * dtype(1 + sigma * z)
  m.def("gaussian", [](py::array x, py::array y, int code, double sigma, uint64_t seed,
                       uint64_t stream, uint64_t offset) {
    const ArrayInfo info = check_pair(x, y, code);
    const DType dt = info.dt;
    const uint64_t n = info.n;
    if (n > 0 && offset + (n - 1) < offset) throw py::value_error("offset + n would pass 2**64");
    const void* src = x.data();
    void* dst = y.mutable_data();
    maybe_nogil(8 * n, [&] { gaussian_forward(dt, src, dst, n, seed, stream, offset, sigma); });
  });

  // normal_from_words(words uint32) -> float64: the transform alone, for tests
  m.def("normal_from_words", [](py::array_t<uint32_t, py::array::c_style> words) {
    const uint64_t n = static_cast<uint64_t>(words.size());
    py::array_t<double> out(static_cast<py::ssize_t>(n));
    const uint32_t* w = words.data();
    double* z = out.mutable_data();
    maybe_nogil(8 * n, [&] { normal_from_words(w, z, n); });  // ~8x a dropout element
    return out;
  });
}

}  // namespace pydropout
