// dropout.hpp: the C++ API of pydropout on raw pointers and sizes (no pybind11).
// docs/CONTRACT.md sections 1-3: element i of a call draws word (offset + i) of the Philox
// stream and is kept iff word >= threshold; kept elements are optionally multiplied
// by one scale (a single IEEE multiply), dropped ones are +0.0 (a select).
#pragma once
#include <cstddef>
#include <cstdint>

namespace pydropout {

// Outputs of this many bytes or more are written with non-temporal stores from their first
// 64-byte boundary on (drivers.cpp), in 64-element windows that start there.
constexpr uint64_t kStreamBytes = uint64_t{8} << 20;

enum class DType : int { f16 = 0, bf16 = 1, f32 = 2, f64 = 3 };
constexpr int kNumDTypes = 4;

inline size_t dtype_size(DType dt) { return dt == DType::f64 ? 8 : dt == DType::f32 ? 4 : 2; }

// Storage types for the 16-bit floats (bit patterns; converted in kernels).
struct Half {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

// Where the words of one call come from.
struct Draw {
  uint64_t seed = 0;
  uint64_t stream = 0;
  uint64_t offset = 0;     // word index of element 0
  uint32_t threshold = 0;  // keep iff word >= threshold
  bool drop_all = false;   // p == 1: nothing is kept, no word is compared
};

// What a kept element becomes: x * value (apply == true) or x itself.
struct Scale {
  bool apply = true;
  double value = 1.0;  // already rounded to the array's dtype
};

// Whole-array entry points (drivers.cpp): special cases, threading, then the kernels of the
// active tier (dispatch/).
// They never throw and never touch Python.
void dropout_forward(DType dt, const void* x, void* y, uint8_t* mask, uint64_t n, const Draw& d,
                     const Scale& s);
void dropout_mask(uint8_t* mask, uint64_t n, const Draw& d);
void dropout_apply(DType dt, const void* x, void* y, const uint8_t* mask, uint64_t n,
                   const Scale& s);

// Runs: `runs` pieces of `len` elements each, laid end to end in x, y and the packed
// mask (piece r occupies elements and mask bits [r * len, (r + 1) * len)); piece r draws
// words word_starts[r] .. word_starts[r] + len - 1. One call covers every run of a block
// of a larger array (block keying). d.offset is unused; d.drop_all / threshold 0 are the
// caller's to special-case (they draw nothing).
void dropout_forward_runs(DType dt, const void* x, void* y, uint8_t* mask, uint64_t runs,
                          uint64_t len, const uint64_t* word_starts, const Draw& d, const Scale& s);
void dropout_mask_runs(uint8_t* mask, uint64_t runs, uint64_t len, const uint64_t* word_starts,
                       const Draw& d);

// A threaded memcpy with the same chunking (the benchmarks' bandwidth ceiling).
void parallel_copy(const void* src, void* dst, uint64_t nbytes);

// Threads: the count used for large arrays (>= 1).
int get_num_threads();
void set_num_threads(int n);

}  // namespace pydropout
