// permuted.hpp: packed masks of the permuted layouts (channels_last, Fortran order, any
// permutation of the axes of a dense array). Words and masks are keyed by logical C order
// (docs/CONTRACT.md section 5) while a permuted array's kernel runs over memory order: this
// re-packs a logical-order mask in memory order, a threaded bit transpose.
#pragma once
#include <cstdint>

#include "dropout.hpp"

namespace pydropout {

// dst gets the ceil(n / 8) bytes of the mask over the C order of shape[order[0]],
// shape[order[1]], ... (the memory order of a permuted layout), src being the mask over
// the logical C order of `shape`: bit j of dst is src's bit of the element at memory
// position j. Padding bits of dst are 0; those of src are never read. `order` is a
// permutation of 0 .. ndim - 1 and ndim <= kMaxDims (broadcast.hpp).
void permute_mask(const uint8_t* src, uint8_t* dst, const uint64_t* shape, const int* order,
                  int ndim);

// Dropout over a permuted layout in one pass over memory order: x and y are the arrays in
// memory order (C-contiguous over shape[order[0]], shape[order[1]], ...), `shape` and
// `order` as above. Element at logical C-order index i draws word d.offset + i, and `mask`
// (nullptr: none) gets its bit at logical position i, as dropout_forward does for a
// C-contiguous array.
void dropout_forward_permuted(DType dt, const void* x, void* y, uint8_t* mask,
                              const uint64_t* shape, const int* order, int ndim, const Draw& d,
                              const Scale& s);
// y = bit ? x (* s) : +0 over a permuted layout, the bits read from `mask` over logical
// C order (nullptr: every element kept).
void dropout_apply_permuted(DType dt, const void* x, void* y, const uint8_t* mask,
                            const uint64_t* shape, const int* order, int ndim, const Scale& s);

}  // namespace pydropout
