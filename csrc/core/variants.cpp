// variants.cpp: the whole-array entry points of the dropout variants (variants.hpp):
// threads over 64-element-aligned chunks, each chunk handed to a kernel of the active tier.
// The element loops are kernels/variants-inl.hpp, compiled in every tier's file.
#include "variants.hpp"

#include "../dispatch/dispatch.hpp"
#include "parallel.hpp"

namespace pydropout {

namespace {
// work per element of the normal transform relative to a dropout element (parallel_chunks)
constexpr double kGaussianCost = 8.0;
}  // namespace

double normal_from_word(uint32_t w) {
  double z;
  tier_kernels(Tier::scalar).normal(&w, &z, 1);
  return z;
}

void alpha_apply(DType dt, const void* x, void* y, const uint8_t* mask, uint64_t n, double a,
                 double b, double c) {
  const size_t es = dtype_size(dt);
  const AlphaFn fn = active_kernels().alpha[static_cast<int>(dt)];
  // outputs that would evict the input from the cache are streamed past it (drivers.cpp)
  const bool stream = n * es >= kStreamBytes && reinterpret_cast<uintptr_t>(y) % es == 0;
  // chunks start on multiples of 64 elements: whole mask bytes
  parallel_chunks(n, [&](uint64_t lo, uint64_t hi) {
    fn(static_cast<const char*>(x) + lo * es, static_cast<char*>(y) + lo * es,
       mask ? mask + lo / 8 : nullptr, hi - lo, a, b, c, stream);
  });
}

void gaussian_forward(DType dt, const void* x, void* y, uint64_t n, uint64_t seed, uint64_t stream,
                      uint64_t offset, double sigma) {
  gaussian_pass(active_kernels().gaussian[static_cast<int>(dt)], dt, x, y, n, seed, stream, offset,
                sigma);
}

void gaussian_pass(GaussianFn fn, DType dt, const void* x, void* y, uint64_t n, uint64_t seed,
                   uint64_t stream, uint64_t offset, double v) {
  const size_t es = dtype_size(dt);
  const Keys keys = make_keys(seed, stream);
  // about ten times the work of a dropout element, so threads pay off on smaller arrays
  parallel_chunks(
      n,
      [&](uint64_t lo, uint64_t hi) {
        fn(static_cast<const char*>(x) + lo * es, static_cast<char*>(y) + lo * es, hi - lo, keys,
           offset + lo, v);
      },
      kGaussianCost);
}

void normal_from_words(const uint32_t* w, double* z, uint64_t n) {
  const NormalFn fn = active_kernels().normal;
  parallel_chunks(n, [&](uint64_t lo, uint64_t hi) { fn(w + lo, z + lo, hi - lo); }, kGaussianCost);
}

}  // namespace pydropout
