// drivers.cpp: the whole-array entry points of dropout.hpp: special cases of p, then
// threads over 64-element-aligned chunks, each chunk handed to a kernel of the active tier.
#include <algorithm>
#include <cstring>
#include <vector>

#include "../dispatch/dispatch.hpp"
#include "dropout.hpp"
#include "parallel.hpp"

namespace pydropout {

// Outputs this large would evict the input from the last-level cache: stream them
// past it (non-temporal stores from the first 64-byte boundary on), which also saves
// the read-for-ownership traffic.
// Work of a pass that only moves memory, relative to a forward pass (Philox dominates).
constexpr double kMemoryCost = 0.25;

static bool use_stream(const void* y, uint64_t nbytes, size_t es) {
  return nbytes >= kStreamBytes && (reinterpret_cast<uintptr_t>(y) % es) == 0;
}

void dropout_forward(DType dt, const void* x, void* y, uint8_t* mask, uint64_t n, const Draw& d,
                     const Scale& s) {
  const size_t es = dtype_size(dt);
  const Kernels& t = active_kernels();
  if (d.drop_all) {  // p == 1: every element is +0.0 and no word is compared
    parallel_chunks(
        n,
        [&](uint64_t b, uint64_t e) {
          std::memset(static_cast<char*>(y) + b * es, 0, (e - b) * es);
          if (mask) std::memset(mask + b / 8, 0, (e - b + 7) / 8);
        },
        kMemoryCost);
    return;
  }
  if (d.threshold == 0) {  // every word is >= 0: all kept, no word needs drawing
    const ApplyFn apply = t.apply[static_cast<int>(dt)];
    const bool stream = use_stream(y, n * es, es);
    parallel_chunks(
        n,
        [&](uint64_t b, uint64_t e) {
          apply(static_cast<const char*>(x) + b * es, static_cast<char*>(y) + b * es, nullptr,
                e - b, s, stream);
          if (mask) {
            std::memset(mask + b / 8, 0xff, (e - b) / 8);
            if ((e - b) % 8) mask[e / 8] = static_cast<uint8_t>((1u << ((e - b) % 8)) - 1u);
          }
        },
        kMemoryCost);
    return;
  }
  const Keys keys = make_keys(d.seed, d.stream);
  const ForwardFn fwd = t.forward[static_cast<int>(dt)];
  const bool stream = use_stream(y, n * es, es);
  parallel_chunks(n, [&](uint64_t b, uint64_t e) {
    fwd(static_cast<const char*>(x) + b * es, static_cast<char*>(y) + b * es,
        mask ? mask + b / 8 : nullptr, e - b, keys, d.offset + b, d.threshold, s, stream);
  });
}

void dropout_mask(uint8_t* mask, uint64_t n, const Draw& d) {
  if (d.drop_all || d.threshold == 0) {
    const uint8_t fill = d.drop_all ? 0x00 : 0xff;
    std::memset(mask, fill, n / 8);
    if (n % 8) mask[n / 8] = d.drop_all ? 0 : static_cast<uint8_t>((1u << (n % 8)) - 1u);
    return;
  }
  const Keys keys = make_keys(d.seed, d.stream);
  const MaskFn fn = active_kernels().mask;
  parallel_chunks(
      n, [&](uint64_t b, uint64_t e) { fn(mask + b / 8, e - b, keys, d.offset + b, d.threshold); });
}

void dropout_apply(DType dt, const void* x, void* y, const uint8_t* mask, uint64_t n,
                   const Scale& s) {
  const size_t es = dtype_size(dt);
  const ApplyFn apply = active_kernels().apply[static_cast<int>(dt)];
  const bool stream = use_stream(y, n * es, es);
  parallel_chunks(
      n,
      [&](uint64_t b, uint64_t e) {
        apply(static_cast<const char*>(x) + b * es, static_cast<char*>(y) + b * es,
              mask ? mask + b / 8 : nullptr, e - b, s, stream);
      },
      kMemoryCost);
}

void parallel_copy(const void* src, void* dst, uint64_t nbytes) {
  // the bandwidth ceiling of the benchmarks: the same threads and chunking as a forward pass
  parallel_chunks(nbytes / 4, [&](uint64_t b, uint64_t e) {
    const uint64_t end = e * 4 == (nbytes / 4) * 4 ? nbytes : e * 4;
    std::memcpy(static_cast<char*>(dst) + b * 4, static_cast<const char*>(src) + b * 4,
                end - b * 4);
  });
  if (nbytes < 4) std::memcpy(dst, src, nbytes);
}

namespace {

// OR `nbits` bits of src (from bit 0) into dst at bit position `at` (dst pre-zeroed there).
void or_bits(uint8_t* dst, uint64_t at, const uint8_t* src, uint64_t nbits) {
  const unsigned sh = static_cast<unsigned>(at % 8);
  uint8_t* d = dst + at / 8;
  const uint64_t nbytes = (nbits + 7) / 8;
  for (uint64_t i = 0; i < nbytes; ++i) {
    const unsigned b = src[i];
    d[i] |= static_cast<uint8_t>(b << sh);
    if (sh && (8 * i + 8 - sh) < nbits) d[i + 1] |= static_cast<uint8_t>(b >> (8 - sh));
  }
}

// The runs laid end to end (run r: elements [r * len, r * len + len), words word_starts[r] +
// j) in 64-element aligned chunks over the threads, so that a few long runs use them all and
// no two threads write the same mask byte. Per chunk: piece(i, count, word, bits) for each
// piece of a run in it, `bits` where its mask bits go: the mask itself (at element i) where
// the piece starts and ends on bytes, else a zeroed buffer whose bits are OR-ed into the
// mask after (the chunk's mask bytes are zeroed first); nullptr without a mask.
template <class Piece>
void for_pieces(uint64_t runs, uint64_t len, const uint64_t* word_starts, uint8_t* mask,
                double cost, const Piece& piece) {
  const uint64_t n = runs * len;
  const bool byte_runs = len % 8 == 0;
  parallel_chunks(
      n,
      [&](uint64_t b, uint64_t e) {
        std::vector<uint8_t> tmp(mask && !byte_runs ? (std::min(len, e - b) + 7) / 8 : 0);
        if (mask && !byte_runs) std::memset(mask + b / 8, 0, (e + 7) / 8 - b / 8);
        for (uint64_t i = b; i < e;) {
          const uint64_t r = i / len, o = i % len;
          const uint64_t count = std::min(len - o, e - i);
          if (!mask) {
            piece(i, count, word_starts[r] + o, nullptr);
          } else if (i % 8 == 0 && count % 8 == 0) {
            piece(i, count, word_starts[r] + o, mask + i / 8);
          } else {
            std::fill(tmp.begin(), tmp.end(), uint8_t{0});
            piece(i, count, word_starts[r] + o, tmp.data());
            or_bits(mask, i, tmp.data(), count);
          }
          i += count;
        }
      },
      cost);
}

}  // namespace

void dropout_forward_runs(DType dt, const void* x, void* y, uint8_t* mask, uint64_t runs,
                          uint64_t len, const uint64_t* word_starts, const Draw& d,
                          const Scale& s) {
  if (runs == 0 || len == 0) return;
  const size_t es = dtype_size(dt);
  const Keys keys = make_keys(d.seed, d.stream);
  const ForwardFn fwd = active_kernels().forward[static_cast<int>(dt)];
  for_pieces(runs, len, word_starts, mask, 1.0,
             [&](uint64_t i, uint64_t count, uint64_t word, uint8_t* bits) {
               fwd(static_cast<const char*>(x) + i * es, static_cast<char*>(y) + i * es, bits,
                   count, keys, word, d.threshold, s, false);
             });
}

void dropout_mask_runs(uint8_t* mask, uint64_t runs, uint64_t len, const uint64_t* word_starts,
                       const Draw& d) {
  if (runs == 0 || len == 0) return;
  const Keys keys = make_keys(d.seed, d.stream);
  const MaskFn fn = active_kernels().mask;
  for_pieces(runs, len, word_starts, mask, 1.0,
             [&](uint64_t, uint64_t count, uint64_t word, uint8_t* bits) {
               fn(bits, count, keys, word, d.threshold);
             });
}

}  // namespace pydropout
