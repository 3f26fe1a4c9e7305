// modern.cpp: the whole-array entry points of modern.hpp: threads over 64-element-aligned
// chunks, each handed to a kernel of the active tier.
#include "modern.hpp"

#include <cstring>

#include "../dispatch/dispatch.hpp"
#include "parallel.hpp"
#include "variants.hpp"

namespace pydropout {

namespace {
constexpr double kMemoryCost = 0.25;  // a pass that only moves memory

}  // namespace

void zoneout_forward(DType dt, const void* prev, const void* next, void* y, uint8_t* mask,
                     uint64_t n, const Draw& d) {
  const size_t es = dtype_size(dt);
  if (d.drop_all) {  // p == 1: every element keeps its previous value, no word compared
    parallel_chunks(
        n,
        [&](uint64_t b, uint64_t e) {
          if (y != prev)
            std::memmove(static_cast<char*>(y) + b * es, static_cast<const char*>(prev) + b * es,
                         (e - b) * es);
          if (mask) std::memset(mask + b / 8, 0, (e - b + 7) / 8);
        },
        kMemoryCost);
    return;
  }
  const ZoneoutFn fn = active_kernels().zoneout[static_cast<int>(dt)];
  const Keys keys = make_keys(d.seed, d.stream);
  parallel_chunks(n, [&](uint64_t b, uint64_t e) {
    fn(static_cast<const char*>(prev) + b * es, static_cast<const char*>(next) + b * es,
       static_cast<char*>(y) + b * es, mask ? mask + b / 8 : nullptr, e - b, keys, d.offset + b,
       d.threshold);
  });
}

void gaussian_add(DType dt, const void* x, void* y, uint64_t n, uint64_t seed, uint64_t stream,
                  uint64_t offset, double stddev) {
  gaussian_pass(active_kernels().gaussian_add[static_cast<int>(dt)], dt, x, y, n, seed, stream,
                offset, stddev);
}

void row_apply(DType dt, const void* x, void* y, const uint8_t* keep, uint64_t rows,
               uint64_t row_len, const Scale& s) {
  const size_t es = dtype_size(dt);
  const ApplyFn apply = active_kernels().apply[static_cast<int>(dt)];
  const uint64_t n = rows * row_len;
  const bool stream = n * es >= kStreamBytes && reinterpret_cast<uintptr_t>(y) % es == 0;
  // chunks of the flat array, each cut at row boundaries into runs of one row's decision
  parallel_chunks(
      n,
      [&](uint64_t b, uint64_t e) {
        while (b < e) {
          const uint64_t r = b / row_len;
          const uint64_t end = (r + 1) * row_len < e ? (r + 1) * row_len : e;
          char* dst = static_cast<char*>(y) + b * es;
          if ((keep[r >> 3] >> (r & 7)) & 1u)
            apply(static_cast<const char*>(x) + b * es, dst, nullptr, end - b, s, stream);
          else
            std::memset(dst, 0, (end - b) * es);  // +0.0 in every dtype
          b = end;
        }
      },
      kMemoryCost);
}

}  // namespace pydropout
