// broadcast.cpp: the noise-shape drivers of broadcast.hpp, over the active tier's apply and
// alpha kernels. Threads get element ranges (64-element aligned), each walked run by run.
#include "broadcast.hpp"

#include <algorithm>
#include <cstring>

#include "../dispatch/dispatch.hpp"
#include "parallel.hpp"
#include "variants.hpp"

namespace pydropout {

namespace {

constexpr double kMemoryCost = 0.25;  // a pass that only moves memory (as drivers.cpp)
constexpr uint64_t kPiece = 4096;     // elements of one run piece whose bits are realigned

bool use_stream(const void* y, uint64_t nbytes, size_t es) {
  return nbytes >= kStreamBytes && (reinterpret_cast<uintptr_t>(y) % es) == 0;
}

// Walk elements [b, e) of the layout in runs of the innermost collapsed dimension. For each
// piece: fn(elem, len, bit) for a broadcast run (one bit), or fn_bits(elem, len, first_bit)
// for a full run (bits first_bit .. first_bit + len - 1 of the mask).
template <class One, class Many>
void walk(const NoiseLayout& lay, uint64_t b, uint64_t e, const One& one, const Many& many) {
  const int nd = lay.ndim;
  const uint64_t L = lay.extent[nd - 1];
  const bool inner_full = lay.full[nd - 1];
  uint64_t run = b / L, off = b % L;
  while (b < e) {
    // noise index of the run's first element
    uint64_t rem = run, nbase = 0;
    for (int d = nd - 2; d >= 0; --d) {
      const uint64_t c = rem % lay.extent[d];
      rem /= lay.extent[d];
      nbase += c * lay.nstride[d];
    }
    const uint64_t len = std::min(L - off, e - b);
    if (inner_full)
      many(b, len, nbase + off);
    else
      one(b, len, nbase);
    b += len;
    ++run;
    off = 0;
  }
}

inline bool bit_at(const uint8_t* mask, uint64_t i) { return (mask[i >> 3] >> (i & 7)) & 1u; }

// bits first .. first + len - 1 of mask, realigned to bit 0 of buf ((len + 7) / 8 bytes)
void realign(const uint8_t* mask, uint64_t first, uint64_t len, uint8_t* buf) {
  const unsigned sh = static_cast<unsigned>(first & 7);
  const uint8_t* src = mask + first / 8;
  const uint64_t nbytes = (len + 7) / 8;
  const uint64_t have = (sh + len + 7) / 8;  // source bytes that hold the bits
  for (uint64_t i = 0; i < nbytes; ++i) {
    unsigned v = src[i] >> sh;
    if (i + 1 < have) v |= static_cast<unsigned>(src[i + 1]) << (8 - sh);
    buf[i] = static_cast<uint8_t>(v);
  }
}

// fn(x, y, bits, len) over a run of consecutive mask bits, realigned in pieces if needed
template <class Fn>
void bit_run(const uint8_t* mask, uint64_t first, uint64_t len, size_t es, const char* x, char* y,
             const Fn& fn) {
  if (first % 8 == 0) {
    fn(x, y, mask + first / 8, len);
    return;
  }
  uint8_t buf[kPiece / 8];
  for (uint64_t o = 0; o < len; o += kPiece) {
    const uint64_t k = std::min(kPiece, len - o);
    realign(mask, first + o, k, buf);
    fn(x + o * es, y + o * es, buf, k);
  }
}

}  // namespace

NoiseLayout::NoiseLayout(const uint64_t* shape, const uint64_t* noise, int nd) {
  int k = 0;
  for (int d = 0; d < nd; ++d) {
    if (shape[d] == 1) continue;  // either kind: one index
    const bool f = noise[d] != 1;
    if (k > 0 && full[k - 1] == f) {
      extent[k - 1] *= shape[d];
    } else {
      extent[k] = shape[d];
      full[k] = f;
      ++k;
    }
  }
  if (k == 0) {  // a single element
    extent[0] = 1;
    full[0] = true;
    k = 1;
  }
  ndim = k;
  uint64_t st = 1;
  for (int d = k - 1; d >= 0; --d) {
    nstride[d] = full[d] ? st : 0;
    if (full[d]) st *= extent[d];
  }
}

void dropout_apply_noise(DType dt, const void* x, void* y, const uint8_t* mask,
                         const NoiseLayout& lay, uint64_t n, const Scale& s) {
  const size_t es = dtype_size(dt);
  const ApplyFn apply = active_kernels().apply[static_cast<int>(dt)];
  const bool stream = use_stream(y, n * es, es);
  const char* xc = static_cast<const char*>(x);
  char* yc = static_cast<char*>(y);
  parallel_chunks(
      n,
      [&](uint64_t b, uint64_t e) {
        walk(
            lay, b, e,
            [&](uint64_t i, uint64_t len, uint64_t bit) {
              if (bit_at(mask, bit))
                apply(xc + i * es, yc + i * es, nullptr, len, s, stream);
              else
                std::memset(yc + i * es, 0, len * es);
            },
            [&](uint64_t i, uint64_t len, uint64_t first) {
              bit_run(mask, first, len, es, xc + i * es, yc + i * es,
                      [&](const char* xs, char* ys, const uint8_t* bits, uint64_t k) {
                        apply(xs, ys, bits, k, s, stream);
                      });
            });
      },
      kMemoryCost);
}

void alpha_apply_noise(DType dt, const void* x, void* y, const uint8_t* mask,
                       const NoiseLayout& lay, uint64_t n, double a, double b, double c) {
  const size_t es = dtype_size(dt);
  const Kernels& t = active_kernels();
  const AlphaFn alpha = use_stream(y, n * es, es) ? t.alpha_stream[static_cast<int>(dt)]
                                                  : t.alpha[static_cast<int>(dt)];
  // the dropped value's bit pattern in the dtype, from the kernel itself
  unsigned char cbytes[8] = {0}, zero_in[8] = {0};
  const uint8_t dropped = 0;
  alpha(zero_in, cbytes, &dropped, 1, a, b, c);
  const char* xc = static_cast<const char*>(x);
  char* yc = static_cast<char*>(y);
  parallel_chunks(
      n,
      [&](uint64_t lo, uint64_t hi) {
        walk(
            lay, lo, hi,
            [&](uint64_t i, uint64_t len, uint64_t bit) {
              if (bit_at(mask, bit)) {
                alpha(xc + i * es, yc + i * es, nullptr, len, a, b, c);
              } else {
                char* p = yc + i * es;
                for (uint64_t j = 0; j < len; ++j) std::memcpy(p + j * es, cbytes, es);
              }
            },
            [&](uint64_t i, uint64_t len, uint64_t first) {
              bit_run(mask, first, len, es, xc + i * es, yc + i * es,
                      [&](const char* xs, char* ys, const uint8_t* bits, uint64_t k) {
                        alpha(xs, ys, bits, k, a, b, c);
                      });
            });
      },
      kMemoryCost);
}

void alpha_forward(DType dt, const void* x, void* y, uint8_t* mask, uint64_t n, const Draw& d,
                   double a, double b, double c) {
  if (d.drop_all || d.threshold == 0) {  // no word compared: the mask is constant
    dropout_mask(mask, n, d);
    alpha_apply(dt, x, y, mask, n, a, b, c);
    return;
  }
  const size_t es = dtype_size(dt);
  const AlphaForwardFn fn = active_kernels().alpha_forward[static_cast<int>(dt)];
  const Keys keys = make_keys(d.seed, d.stream);
  const bool stream = use_stream(y, n * es, es);
  parallel_chunks(n, [&](uint64_t lo, uint64_t hi) {
    fn(static_cast<const char*>(x) + lo * es, static_cast<char*>(y) + lo * es, mask + lo / 8,
       hi - lo, keys, d.offset + lo, d.threshold, a, b, c, stream);
  });
}

}  // namespace pydropout
