// kernels.hpp: the table of one kernel tier. Every kernel works on one contiguous chunk on
// the calling thread; the drivers of core/ cut arrays into chunks and call these. Each
// tier's file in kernels/ fills the entries it defines, after its target region.
#pragma once
#include <cstdint>
#include <type_traits>  // the kernel loops (kernels/*-inl.hpp) take flags as types

#include "../core/dropout.hpp"
#include "../core/philox.hpp"

namespace pydropout {

// forward: y[i] = keep(i) ? x[i] (* s) : +0; mask bits written when mask != nullptr.
// mask:    packed keep bits only.
// apply:   y[i] = bit(i) ? x[i] (* s) : +0 for a given packed mask (nullptr: all kept).
// stream:  y is 64-byte aligned and large: write it with non-temporal stores.
using ForwardFn = void (*)(const void* x, void* y, uint8_t* mask, uint64_t n, const Keys& keys,
                           uint64_t word0, uint32_t threshold, const Scale& scale, bool stream);
using MaskFn = void (*)(uint8_t* mask, uint64_t n, const Keys& keys, uint64_t word0,
                        uint32_t threshold);
using ApplyFn = void (*)(const void* x, void* y, const uint8_t* mask, uint64_t n,
                         const Scale& scale, bool stream);
// The variants (core/variants.hpp): alpha: y[i] = bit(i) ? x[i] * a + b : c (nullptr: all
// kept; stream as for apply); gaussian:
// y[i] = x[i] * dtype(1 + sigma * z(word0 + i)); normal: z[i] = z(w[i]).
using AlphaFn = void (*)(const void* x, void* y, const uint8_t* mask, uint64_t n, double a,
                         double b, double c, bool stream);
using GaussianFn = void (*)(const void* x, void* y, uint64_t n, const Keys& keys, uint64_t word0,
                            double sigma);
using NormalFn = void (*)(const uint32_t* w, double* z, uint64_t n);
// alpha_forward: the mask of words word0.. and y = keep ? x * a + b : c in one pass.
using AlphaForwardFn = void (*)(const void* x, void* y, uint8_t* mask, uint64_t n, const Keys& keys,
                                uint64_t word0, uint32_t threshold, double a, double b, double c,
                                bool stream);
// The modern variants (core/modern.hpp): zoneout: y[i] = keep(i) ? next[i] : prev[i] (a bitwise
// select), mask bits written when mask != nullptr;
// gaussian_add: y[i] = x[i] + dtype(stddev * z(word0 + i)).
using ZoneoutFn = void (*)(const void* prev, const void* next, void* y, uint8_t* mask, uint64_t n,
                           const Keys& keys, uint64_t word0, uint32_t threshold);
using GaussianAddFn = void (*)(const void* x, void* y, uint64_t n, const Keys& keys, uint64_t word0,
                               double stddev);
// forward_cols: the forward pass over a rows x cols block in memory whose element (r, c)
// draws word word0 + r + c * ld (a permuted layout whose logical innermost axis runs down
// the columns: channels_last), word0 % 4 == 0 and ld % 4 == 0; its mask bit (mask nullptr:
// none) is bit mbit + r + c * ld of mask, OR-ed into a byte it covers only partly (the caller
// zeroes those). Only where a tier has it (nullptr elsewhere: core/permuted.cpp transposes
// bits).
using ForwardColsFn = void (*)(const void* x, void* y, uint8_t* mask, uint64_t mbit, uint64_t rows,
                               uint64_t cols, uint64_t ld, const Keys& keys, uint64_t word0,
                               uint32_t threshold, const Scale& scale, bool stream);

struct Kernels {
  ForwardFn forward[kNumDTypes] = {};
  MaskFn mask = nullptr;
  ApplyFn apply[kNumDTypes] = {};
  AlphaFn alpha[kNumDTypes] = {};
  AlphaForwardFn alpha_forward[kNumDTypes] = {};
  GaussianFn gaussian[kNumDTypes] = {};
  NormalFn normal = nullptr;
  ZoneoutFn zoneout[kNumDTypes] = {};
  GaussianAddFn gaussian_add[kNumDTypes] = {};
  ForwardColsFn forward_cols[kNumDTypes] = {};
};

// Filled by each tier's file in kernels/, over a copy of its base tier's table
// (dispatch.cpp): a tier writes only the entries it changes.
namespace scalar { void fill(Kernels& t); }
namespace avx2 { void fill(Kernels& t); }
namespace avx512 { void fill(Kernels& t); }
namespace avx512_ifma { void fill(Kernels& t); }
namespace avx512_fp16 { void fill(Kernels& t); }
namespace avx512_ifma_fp16 { void fill(Kernels& t); }
namespace neon { void fill(Kernels& t); }

}  // namespace pydropout
