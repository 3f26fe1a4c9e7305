// broadcast.hpp: dropout over a noise shape without a full-size mask. The packed mask indexes
// the noise shape (each dimension 1 or x's); element i of x reads the bit of its noise index.
// The kernels walk x in C order in runs: the innermost dimensions of one kind (broadcast, or
// taken from the noise shape) form a run, which is either one bit (laid out as bits, with its
// neighbours, in pieces) or consecutive bits; the kernel runs over a mask's bits either way.
#pragma once
#include <cstdint>

#include "dropout.hpp"

namespace pydropout {

constexpr int kMaxDims = 64;

// The collapsed dimensions of (shape, noise): extents outer to inner, and whether each one is
// indexed in the noise shape (full) or broadcast. Both arrays have `ndim` entries, noise[d]
// is 1 or shape[d].
struct NoiseLayout {
  int ndim = 0;
  uint64_t extent[kMaxDims];
  bool full[kMaxDims];
  uint64_t nstride[kMaxDims];  // stride of the dimension in the noise shape (0: broadcast)
  NoiseLayout(const uint64_t* shape, const uint64_t* noise, int nd);
};

// y[i] = bit(noise index of i) ? x[i] (* s) : +0 over the n elements of the layout.
void dropout_apply_noise(DType dt, const void* x, void* y, const uint8_t* mask,
                         const NoiseLayout& lay, uint64_t n, const Scale& s);
// y[i] = bit ? x[i] * a + b : c, as alpha_apply, the bit read through the layout.
void alpha_apply_noise(DType dt, const void* x, void* y, const uint8_t* mask,
                       const NoiseLayout& lay, uint64_t n, double a, double b, double c);
// alpha dropout in one pass: the mask of the n words d.offset.. (written to `mask`) and
// y[i] = bit ? x[i] * a + b : c, chunk by chunk while the mask bytes are in cache.
void alpha_forward(DType dt, const void* x, void* y, uint8_t* mask, uint64_t n, const Draw& d,
                   double a, double b, double c);

}  // namespace pydropout
