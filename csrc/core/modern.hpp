// modern.hpp: the C++ side of the variants of modern networks (docs/CONTRACT.md section 6):
// zoneout, additive Gaussian noise and the per-row keep of stochastic depth (drop_path). The
// element loops are kernels/modern-inl.hpp (every tier); pydropout's NumPy reference repeats them.
#pragma once
#include <cstdint>

#include "dropout.hpp"

namespace pydropout {

// y[i] = word(offset + i) >= threshold ? next[i] : prev[i]; drop_all (p == 1): y = prev, no
// word compared. mask (or nullptr) gets the bits (1 where `next` was taken).
void zoneout_forward(DType dt, const void* prev, const void* next, void* y, uint8_t* mask,
                     uint64_t n, const Draw& d);

// y[i] = x[i] + dtype(stddev * z(word(seed, stream, offset + i))), z = normal_from_word; the
// product in double, rounded once (16-bit types via float32), the sum one operation.
void gaussian_add(DType dt, const void* x, void* y, uint64_t n, uint64_t seed, uint64_t stream,
                  uint64_t offset, double stddev);

// x is `rows` rows of `row_len` elements: row r of y is row r of x (* s) where bit r of the
// packed `keep` is 1, +0.0 elsewhere. No per-element mask exists anywhere.
void row_apply(DType dt, const void* x, void* y, const uint8_t* keep, uint64_t rows,
               uint64_t row_len, const Scale& s);

}  // namespace pydropout
