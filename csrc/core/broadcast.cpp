// broadcast.cpp: the noise-shape drivers of broadcast.hpp, over the active tier's apply and
// alpha kernels. Threads get element ranges (64-element aligned), each walked run by run.
#include "broadcast.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "../dispatch/dispatch.hpp"
#include "parallel.hpp"
#include "variants.hpp"

namespace pydropout {

namespace {

constexpr double kMemoryCost = 0.25;  // a pass that only moves memory (as drivers.cpp)
constexpr uint64_t kPiece = 4096;     // elements of a piece of bits: realigned, or laid out

bool use_stream(const void* y, uint64_t nbytes, size_t es) {
  return nbytes >= kStreamBytes && (reinterpret_cast<uintptr_t>(y) % es) == 0;
}

// elements of y before its first 64-byte boundary (0 if y is not aligned to its dtype)
uint64_t head_of(const void* y, size_t es) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(y);
  return a % es ? 0 : (64 - a % 64) % 64 / es;
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

// many(i, len, bits) over a run of consecutive mask bits from `first`, realigned in pieces if
// they do not start on a byte
template <class Many>
void bit_run(const uint8_t* mask, uint64_t first, uint64_t i, uint64_t len, const Many& many) {
  if (first % 8 == 0) {
    many(i, len, mask + first / 8);
    return;
  }
  uint8_t buf[kPiece / 8];
  for (uint64_t o = 0; o < len; o += kPiece) {
    const uint64_t k = std::min(kPiece, len - o);
    realign(mask, first + o, k, buf);
    many(i + o, k, buf);
  }
}

// The bits of a piece, laid out run by run (walk_threads): a run of one bit is OR-ed into a
// register and a word is stored once full, so short runs make no chain of read-modify-writes
// through memory. Little-endian: bit k of bits() is bit k % 64 of word k / 64.
struct PieceBits {
  uint64_t words[kPiece / 64];
  uint64_t have = 0;  // bits laid out
  uint64_t acc = 0;   // bits [have / 64 * 64, have), not stored yet
  const uint8_t* bits() {
    if (have % 64) words[have / 64] = acc;
    return reinterpret_cast<const uint8_t*>(words);
  }
  void clear() { have = acc = 0; }
};

constexpr uint64_t kTileBits = 32768;  // the longest repeating bit pattern built

// The tile of a run of L noise bits from `first`: bit k of the period bits (a multiple of lcm,
// lcm = lcm(L, 64)) is noise bit first + k % L. The L bits are realigned into row once
// (whole words, zero above L), OR-ed in at each multiple of L below lcm a word at a time, and
// the lcm bits repeated in whole words. Little-endian: bit k is bit k % 64 of word k / 64.
void lay_out_tile(const uint8_t* mask, uint64_t first, uint64_t L, uint64_t lcm, uint64_t period,
                  uint64_t* row, uint64_t* tile) {
  const uint64_t rw = (L + 63) / 64, lw = lcm / 64;
  std::memset(row, 0, rw * 8);
  realign(mask, first, L, reinterpret_cast<uint8_t*>(row));
  if (L % 64) row[rw - 1] &= (uint64_t{1} << (L % 64)) - 1;  // realign's last byte may hold more
  std::memset(tile, 0, lw * 8);
  for (uint64_t o = 0; o < lcm; o += L) {
    const uint64_t w0 = o / 64;
    const unsigned sh = static_cast<unsigned>(o % 64);
    for (uint64_t i = 0; i < rw; ++i) {
      if (w0 + i < lw) tile[w0 + i] |= row[i] << sh;
      if (sh && w0 + i + 1 < lw) tile[w0 + i + 1] |= row[i] >> (64 - sh);
    }
  }
  for (uint64_t at = lw; at < period / 64; at += lw) std::memcpy(tile + at, tile, lw * 8);
}

// Walk elements [b, e) of the layout in C order. A broadcast innermost dimension gives runs
// of one bit: one(i, len, count, bit, step), count runs of len from element i whose bits are
// bit, bit + step, ... (the runs to the end of the dimension above them, in one call). An innermost
// run of noise bits gives many(i, len, bits) with bit 0 of `bits` the bit of element i. A short
// such run under a broadcast dimension (the channels-last layouts) repeats its bits: they are laid
// out once in a tile of lcm(run, 64) bits, and the repeats read the tile.
template <class One, class Many>
void walk(const NoiseLayout& lay, const uint8_t* mask, uint64_t b, uint64_t e, const One& one,
          const Many& many) {
  const int nd = lay.ndim;
  const uint64_t L = lay.extent[nd - 1];
  const bool inner_full = lay.full[nd - 1];
  const uint64_t lcm = inner_full ? L / std::gcd<uint64_t>(L, 64) * 64 : 0;  // lcm(L, 64)
  const bool tiled = inner_full && nd >= 2 && L < 4096 && lcm <= kTileBits;
  // a tiled walk's runs are whole broadcast repeats: extent[nd - 2] runs of L
  const uint64_t R = tiled ? L * lay.extent[nd - 2] : L;
  // the tile: whole repeats of lcm bits, as many as a run reads, up to kPiece bits (fewer
  // kernel calls); each run lays its tile out anew, so no more than it reads
  const uint64_t reps = std::min((R + lcm - 1) / std::max<uint64_t>(lcm, 1),
                                 std::max<uint64_t>(1, kPiece / std::max<uint64_t>(lcm, 1)));
  const uint64_t period = tiled ? lcm * reps : 0;
  const int outer = tiled ? nd - 2 : nd - 1;  // dimensions above a run
  std::vector<uint64_t> tile(tiled ? period / 64 : 0);
  std::vector<uint64_t> row(tiled ? (L + 63) / 64 : 0);  // the L noise bits of a run
  uint64_t tile_base = ~uint64_t{0};                     // the noise index the tile holds
  // the first run's coordinates in the dimensions above it, and its noise index; the runs
  // after it step them as an odometer (no division a run)
  uint64_t coord[kMaxDims] = {};
  uint64_t off = b % R, nbase = 0;  // nbase: noise index of the run's first element
  {
    uint64_t rem = b / R;
    for (int d = outer - 1; d >= 0; --d) {
      coord[d] = rem % lay.extent[d];
      rem /= lay.extent[d];
      nbase += coord[d] * lay.nstride[d];
    }
  }
  const auto next_run = [&]() {
    for (int d = outer - 1; d >= 0; --d) {
      if (++coord[d] < lay.extent[d]) {
        nbase += lay.nstride[d];
        return;
      }
      coord[d] = 0;
      nbase -= (lay.extent[d] - 1) * lay.nstride[d];
    }
  };
  while (b < e) {
    const uint64_t len = std::min(R - off, e - b);
    if (!inner_full) {
      // whole runs to the end of the innermost dimension above them go in one call
      const int d = outer - 1;
      const uint64_t count =
          off == 0 && d >= 0 ? std::min(lay.extent[d] - coord[d], (e - b) / R) : 0;
      if (count > 1) {
        one(b, R, count, nbase, lay.nstride[d]);
        b += count * R;
        coord[d] += count - 1;
        nbase += (count - 1) * lay.nstride[d];
        next_run();
        continue;
      }
      one(b, len, 1, nbase, 0);
    } else if (!tiled) {
      bit_run(mask, nbase + off, b, len, many);
    } else {
      if (tile_base != nbase) {  // bit k of the tile: noise bit nbase + k % L
        lay_out_tile(mask, nbase, L, lcm, period, row.data(), tile.data());
        tile_base = nbase;
      }
      uint64_t i = b, left = len, phase = off % period;
      while (left) {
        const uint64_t k = std::min(period - phase, left);
        bit_run(reinterpret_cast<const uint8_t*>(tile.data()), phase, i, k, many);
        i += k;
        left -= k;
        phase = 0;
      }
    }
    b += len;
    next_run();
    off = 0;
  }
}

// Bits of a run of one bit at least kDirect long, in kPiece pieces: all set, all clear.
constexpr uint64_t kDirect = 256;
struct ConstantBits {
  uint8_t ones[kPiece / 8], zeros[kPiece / 8];
  ConstantBits() {
    std::memset(ones, 0xff, sizeof(ones));
    std::memset(zeros, 0, sizeof(zeros));
  }
};
const ConstantBits kConstant;

// kernel(x + i, y + i, bits, len, stream) over the runs of mask bits of the layout, walk()
// over threads (element ranges 64-element aligned). Short runs of one bit are laid out as
// bits too, in pieces of kPiece elements that end on 64-byte boundaries of y: one kernel call
// a piece, not a run, and no partial window (plain stores) inside a chunk's output. Where y
// stays in cache (no streaming), a run of one bit at least kDirect long goes to the kernel
// whole with constant bits, or, dropped where kZeroDropped (the kernel writes +0 there), is
// zero-filled without reading x. A streamed y keeps its pieces: a kernel call a run would
// fence its non-temporal stores once a run.
template <bool kZeroDropped, class Kernel>
void walk_threads(DType dt, const void* x, void* y, const uint8_t* mask, const NoiseLayout& lay,
                  uint64_t n, const Kernel& kernel) {
  const size_t es = dtype_size(dt);
  const bool stream = use_stream(y, n * es, es);
  const uint64_t head = head_of(y, es);
  const auto run = [&](uint64_t i, uint64_t len, const uint8_t* bits) {
    kernel(static_cast<const char*>(x) + i * es, static_cast<char*>(y) + i * es, bits, len, stream);
  };
  parallel_chunks(
      n,
      [&](uint64_t b, uint64_t e) {
        PieceBits piece;              // the bits of elements [start, start + piece.have)
        uint64_t start = b, end = b;  // the piece: elements [start, end)
        const auto flush = [&]() {
          if (piece.have) run(start, piece.have, piece.bits());
          piece.clear();
        };
        walk(
            lay, mask, b, e,
            [&](uint64_t i, uint64_t len, uint64_t count, uint64_t bit, uint64_t step) {
              if (len >= kDirect && !stream) {  // each run whole: no bits laid out
                flush();
                for (uint64_t c = 0; c < count; ++c, i += len, bit += step) {
                  const bool v = bit_at(mask, bit);
                  if (kZeroDropped && !v) {
                    std::memset(static_cast<char*>(y) + i * es, 0, len * es);
                    continue;
                  }
                  for (uint64_t o = 0; o < len; o += kPiece)
                    run(i + o, std::min(kPiece, len - o), v ? kConstant.ones : kConstant.zeros);
                }
                return;
              }
              // the piece's state in locals, which no store through its words can alias
              uint64_t have = piece.have, acc = piece.acc;
              for (uint64_t c = 0; c < count; ++c, bit += step) {
                const uint64_t fill = bit_at(mask, bit) ? ~uint64_t{0} : 0;
                for (uint64_t left = len; left;) {
                  if (have == 0) {  // a new piece at i, to the next boundary
                    start = i;
                    end = i + kPiece - (i + kPiece - head % kPiece) % kPiece;
                  }
                  uint64_t k = std::min(left, end - start - have);
                  i += k;
                  left -= k;
                  while (k) {  // k bits of fill
                    const unsigned sh = static_cast<unsigned>(have % 64);
                    const uint64_t t = std::min<uint64_t>(k, 64 - sh);
                    acc |= (t == 64 ? fill : fill & ((uint64_t{1} << t) - 1)) << sh;
                    have += t;
                    k -= t;
                    if (have % 64 == 0) {
                      piece.words[have / 64 - 1] = acc;
                      acc = 0;
                    }
                  }
                  if (start + have == end) {
                    piece.have = have;
                    piece.acc = acc;
                    flush();
                    have = acc = 0;
                  }
                }
              }
              piece.have = have;
              piece.acc = acc;
            },
            run);
        flush();
      },
      kMemoryCost);
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
  const ApplyFn apply = active_kernels().apply[static_cast<int>(dt)];
  walk_threads<true>(dt, x, y, mask, lay, n,
                     [&](const void* xi, void* yi, const uint8_t* bits, uint64_t len, bool stream) {
                       apply(xi, yi, bits, len, s, stream);
                     });
}

void alpha_apply_noise(DType dt, const void* x, void* y, const uint8_t* mask,
                       const NoiseLayout& lay, uint64_t n, double a, double b, double c) {
  const AlphaFn alpha = active_kernels().alpha[static_cast<int>(dt)];
  walk_threads<false>(dt, x, y, mask, lay, n,
                      [&](const void* xi, void* yi, const uint8_t* bits, uint64_t len,
                          bool stream) { alpha(xi, yi, bits, len, a, b, c, stream); });
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
