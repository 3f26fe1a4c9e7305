// variants.hpp: the C++ side of the dropout variants (alpha and Gaussian dropout).
// Channel dropout needs no kernel of its own (a mask over a noise shape, then the core's
// apply); alpha dropout is the core's mask followed by an affine select; Gaussian
// dropout multiplies by N(1, p / (1 - p)) noise made from the same Philox words by the
// transform below (constants: normal.hpp; loops: kernels/variants-inl.hpp).
// pydropout's NumPy reference repeats every operation in NumPy, bit for bit.
#pragma once
#include <cstdint>

#include "../dispatch/kernels.hpp"
#include "dropout.hpp"

namespace pydropout {

// A standard normal deviate from one 32-bit word, by the inverse CDF: Wichura's AS241
// (Applied Statistics 37(3), 1988) rational approximations on u = (w + 0.5) / 2**32,
// with a logarithm of our own made of + - * / only (frexp is exact). Every operation is
// one correctly rounded IEEE double operation, never contracted, so NumPy reproduces it.
// Symmetric: normal_from_word(~w) == -normal_from_word(w); |z| <= 6.33796.
double normal_from_word(uint32_t w);
void normal_from_words(const uint32_t* w, double* z, uint64_t n);  // at the active SIMD level

// y[i] = bit(i) ? (x[i] * a) + b : c, two rounded operations in the dtype (mask nullptr:
// all kept). a, b, c are values of the dtype, passed exactly as doubles.
void alpha_apply(DType dt, const void* x, void* y, const uint8_t* mask, uint64_t n, double a,
                 double b, double c);

// y[i] = x[i] * noise(word(seed, stream, offset + i)), noise = dtype(1 + sigma * z) where
// z = normal_from_word; 16-bit dtypes round the double to float32 first, then to the dtype.
void gaussian_forward(DType dt, const void* x, void* y, uint64_t n, uint64_t seed, uint64_t stream,
                      uint64_t offset, double sigma);

// The threaded pass of a kernel of the normal transform's words (gaussian_forward's, and
// gaussian_add's of modern.hpp, whose kernels take the same arguments): chunk [lo, hi) draws
// words offset + lo .., so any split gives the same result.
void gaussian_pass(GaussianFn fn, DType dt, const void* x, void* y, uint64_t n, uint64_t seed,
                   uint64_t stream, uint64_t offset, double v);

}  // namespace pydropout
