// permuted.cpp: the permuted layouts of permuted.hpp. The axes are collapsed first (size-1
// axes dropped, axes adjacent in both orders merged), which leaves one of two kinds of work:
// - the logical innermost axis is innermost in memory too: runs of elements (and of mask
//   bits) are the same in both orders, only their places differ;
// - otherwise: 64 x 64 tiles of bits are transposed between that axis (contiguous in the
//   logical mask) and the memory axes inside it (contiguous in memory order).
// The forward pass draws the logical bits of a unit of a few thousand elements, transposes
// them into a small buffer and runs the tier's apply kernel over the unit in memory order
// (the mask in memory order never exists whole) when a unit's elements are contiguous in
// memory; otherwise, and for an apply from a given mask, the mask is re-packed in memory
// order first and the contiguous kernels run over memory order. Threads own whole units,
// and whole destination bytes of a mask, so no two of them ever write the same byte.
#include "permuted.hpp"

#include <algorithm>
#include <cstring>
#include <new>
#include <vector>

#include "../dispatch/dispatch.hpp"
#include "bits.hpp"
#include "broadcast.hpp"
#include "buffers.hpp"
#include "parallel.hpp"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "permuted.cpp reads packed masks 64 bits at a time, least significant byte first"
#endif

namespace pydropout {
namespace {

// Work of one mask bit relative to a forward pass over one element.
constexpr double kBitCost = 0.05;
// Elements of one unit of a data pass (its buffer of bits stays in L1) and rows of its
// band (a logical run drawn in one kernel call).
constexpr uint64_t kUnitElements = 32768;
constexpr uint64_t kBandRows = 512;

// The collapsed axes in memory order, outer to inner, each with its bit stride in the
// logical mask.
struct Axes {
  int k = 0;
  uint64_t ext[kMaxDims];
  uint64_t stride[kMaxDims];
  int inner = -1;  // memory position of the logical innermost axis (stride 1)
};

Axes collapse(const uint64_t* shape, const int* order, int ndim) {
  uint64_t st[kMaxDims];
  uint64_t acc = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    st[d] = acc;
    acc *= shape[d];
  }
  Axes a;
  int last = -1;  // the logical axis appended last
  for (int i = 0; i < ndim; ++i) {
    const int d = order[i];
    if (shape[d] == 1) continue;  // one index: no place in either order
    bool merge = a.k > 0 && d > last;
    for (int e = last + 1; merge && e < d; ++e) merge = shape[e] == 1;
    if (merge) {  // the next logical axis, next in memory too: one axis
      a.ext[a.k - 1] *= shape[d];
      a.stride[a.k - 1] = st[d];
    } else {
      a.ext[a.k] = shape[d];
      a.stride[a.k] = st[d];
      ++a.k;
    }
    last = d;
  }
  for (int i = 0; i < a.k; ++i)
    if (a.stride[i] == 1) a.inner = i;
  return a;
}

// The logical bit offset of consecutive multi-indices over some of the axes (C order).
struct Odometer {
  int n;
  const uint64_t* ext;
  const uint64_t* str;
  uint64_t idx[kMaxDims];
  uint64_t off = 0;
  Odometer(int n_, const uint64_t* ext_, const uint64_t* str_, uint64_t linear)
      : n(n_), ext(ext_), str(str_) {
    for (int d = n - 1; d >= 0; --d) {
      idx[d] = linear % ext[d];
      linear /= ext[d];
      off += idx[d] * str[d];
    }
  }
  void next() {
    for (int d = n - 1; d >= 0; --d) {
      off += str[d];
      if (++idx[d] < ext[d]) return;
      off -= idx[d] * str[d];
      idx[d] = 0;
    }
  }
};

// Bits pos .. pos + 63 of src (those past its nbytes read as 0).
inline uint64_t load_bits(const uint8_t* src, uint64_t nbytes, uint64_t pos) {
  const uint64_t at = pos >> 3;
  const unsigned sh = static_cast<unsigned>(pos & 7);
  uint64_t lo = 0, hi = 0;
  if (at + 9 <= nbytes) {
    std::memcpy(&lo, src + at, 8);
    hi = src[at + 8];
  } else {
    for (uint64_t i = 0; i < 8 && at + i < nbytes; ++i) lo |= uint64_t{src[at + i]} << (8 * i);
    if (at + 8 < nbytes) hi = src[at + 8];
  }
  return sh ? (lo >> sh) | (hi << (64 - sh)) : lo;
}

// a[r] bit c becomes a[c] bit r: six rounds of swapping blocks across the diagonal.
inline void transpose64(uint64_t* a) {
  static constexpr uint64_t kMasks[6] = {0x00000000ffffffffULL, 0x0000ffff0000ffffULL,
                                         0x00ff00ff00ff00ffULL, 0x0f0f0f0f0f0f0f0fULL,
                                         0x3333333333333333ULL, 0x5555555555555555ULL};
  int level = 0;
  for (int j = 32; j; j >>= 1, ++level) {
    const uint64_t m = kMasks[level];
    for (int r0 = 0; r0 < 64; r0 += 2 * j) {
      for (int r = r0; r < r0 + j; ++r) {
        const uint64_t t = ((a[r] >> j) ^ a[r + j]) & m;
        a[r + j] ^= t;
        a[r] ^= t << j;
      }
    }
  }
}

// fn(u0, u1) over the units [0, units) on the threads, each chunk starting at the unit
// that start() rounds it up to (one whose destination bits begin a byte).
template <class Start, class Fn>
void for_units(uint64_t units, double unit_cost, const Start& start, const Fn& fn) {
  parallel_chunks(
      units * 64,
      [&](uint64_t b, uint64_t e) {
        const uint64_t u0 = start(b / 64), u1 = start(e / 64);
        if (u0 < u1) fn(u0, u1);
      },
      unit_cost / 64);
}

inline uint64_t gcd8(uint64_t v) {  // gcd(v, 8)
  uint64_t g = 1;
  while (g < 8 && v % (2 * g) == 0) g *= 2;
  return g;
}

// The logical innermost axis innermost in memory too: rows of `len` bits, row r of the
// destination copied from its offset in the source.
void copy_rows(const uint8_t* src, uint64_t nbytes, uint8_t* dst, const Axes& a) {
  const uint64_t len = a.ext[a.k - 1];
  uint64_t rows = 1;
  for (int i = 0; i < a.k - 1; ++i) rows *= a.ext[i];
  const uint64_t step = 8 / gcd8(len);  // rows whose first bit begins a byte
  const auto start = [&](uint64_t r) { return std::min(rows, (r + step - 1) / step * step); };
  for_units(rows, static_cast<double>(len) * kBitCost, start, [&](uint64_t r0, uint64_t r1) {
    Odometer from(a.k - 1, a.ext, a.stride, r0);
    if (len % 8 == 0) {  // whole bytes (every source offset is a multiple of len)
      for (uint64_t r = r0; r < r1; ++r, from.next())
        std::memcpy(dst + r * len / 8, src + from.off / 8, len / 8);
      return;
    }
    std::memset(dst + r0 * len / 8, 0, (r1 * len + 7) / 8 - r0 * len / 8);
    for (uint64_t r = r0; r < r1; ++r, from.next())
      for (uint64_t o = 0; o < len; o += 64)
        store_bits(dst, r * len + o, load_bits(src, nbytes, from.off + o),
                   static_cast<unsigned>(std::min<uint64_t>(64, len - o)));
  });
}

// Otherwise: axis p (memory position of the logical innermost axis, `rows` long) has the
// memory axes `outer` (0 .. p - 1) outside it and `inner` (p + 1 .. k - 1, `width`
// positions in all) inside. For one outer index s, destination row l (l along axis p)
// holds the bits of the `width` inner positions j, and bit (l, j) of the source lies at
// outer(s) + inner(j) + l. Units: one outer index, 64 rows, a span of inner positions.
void transpose_tiles(const uint8_t* src, uint64_t nbytes, uint8_t* dst, const Axes& a) {
  const int p = a.inner;
  const uint64_t rows = a.ext[p];
  uint64_t outer = 1, width = 1;
  for (int i = 0; i < p; ++i) outer *= a.ext[i];
  for (int i = p + 1; i < a.k; ++i) width *= a.ext[i];
  const uint64_t slab = rows * width;  // destination bits of one outer index
  const uint64_t bands = (rows + 63) / 64;
  // byte-aligned rows: any unit may start a thread's chunk, and spans of 1024 positions
  // keep a unit's source lines (one per position) in cache across its bands
  const bool aligned = width % 8 == 0;
  const uint64_t span = aligned ? std::min<uint64_t>(width, 1024) : width;
  const uint64_t spans = (width + span - 1) / span;
  const uint64_t units = outer * spans * bands;
  const uint64_t step = aligned ? 1 : 8 / gcd8(slab);  // outer indices whose slab begins a byte
  const auto start = [&](uint64_t u) {
    if (u >= units) return units;
    const uint64_t s = u / (spans * bands);
    return s % step == 0 ? u : std::min(units, (s / step + 1) * step * spans * bands);
  };
  const double unit_cost = static_cast<double>(64 * span) * kBitCost;
  for_units(units, unit_cost, start, [&](uint64_t u0, uint64_t u1) {
    if (!aligned) {  // partly covered bytes are OR-ed into: zero this chunk's bytes first
      const auto first = [&](uint64_t u) {
        return u >= units ? outer * slab
                          : u / bands * slab + std::min(rows, u % bands * 64) * width;
      };
      const uint64_t b0 = first(u0) / 8, b1 = (first(u1) + 7) / 8;
      std::memset(dst + b0, 0, b1 - b0);
    }
    uint64_t tile[64];
    for (uint64_t u = u0; u < u1; ++u) {
      const uint64_t s = u / (spans * bands), c = u / bands % spans, band = u % bands;
      const uint64_t l0 = band * 64, nl = std::min<uint64_t>(64, rows - l0);
      const uint64_t from = Odometer(p, a.ext, a.stride, s).off + l0;
      const uint64_t j_end = std::min(width, (c + 1) * span);
      Odometer at(a.k - p - 1, a.ext + p + 1, a.stride + p + 1, c * span);
      for (uint64_t j0 = c * span; j0 < j_end; j0 += 64) {
        const auto nj = static_cast<unsigned>(std::min<uint64_t>(64, j_end - j0));
        for (unsigned j = 0; j < nj; ++j, at.next())
          tile[j] = load_bits(src, nbytes, from + at.off);
        std::fill(tile + nj, tile + 64, uint64_t{0});
        transpose64(tile);  // tile[l] bit j: the bit of (row l0 + l, position j0 + j)
        const uint64_t base = s * slab + l0 * width + j0;
        for (uint64_t l = 0; l < nl; ++l) store_bits(dst, base + l * width, tile[l], nj);
      }
    }
  });
}

// One forward pass over a permuted layout: the tier's kernels, the words to draw and the
// logical mask to write (nullptr: none).
struct Pass {
  const char* x;
  char* y;
  size_t es;
  const Scale& scale;
  bool stream;
  ApplyFn apply;
  ForwardFn forward;
  MaskFn draw_bits;
  const Draw* draw;
  Keys keys;
  uint8_t* mask;
};

// Rows of `len` elements, each one logical run: row r of memory order is the run at
// logical offset from(r), so it runs the kernels directly (the drawn mask is written in
// place only when every run begins a byte).
void pass_rows(const Pass& P, const Axes& a) {
  const uint64_t len = a.ext[a.k - 1];
  uint64_t rows = 1;
  for (int i = 0; i < a.k - 1; ++i) rows *= a.ext[i];
  const auto cost = static_cast<double>(len);
  const auto start = [&](uint64_t r) { return std::min(rows, r); };
  for_units(rows, cost, start, [&](uint64_t r0, uint64_t r1) {
    Odometer from(a.k - 1, a.ext, a.stride, r0);
    for (uint64_t r = r0; r < r1; ++r, from.next()) {
      P.forward(P.x + r * len * P.es, P.y + r * len * P.es,
                P.mask ? P.mask + from.off / 8 : nullptr, len, P.keys, P.draw->offset + from.off,
                P.draw->threshold, P.scale, P.stream);
    }
  });
}

// The tiled case (transpose_tiles' names): a unit is one outer index s, a band of up to
// kBandRows rows and a span of inner positions. Its bits, drawn per position (one logical
// run of the band's rows), are transposed into `mem` in memory order, then the apply
// kernel runs over the unit's elements.
void pass_tiles(const Pass& P, const Axes& a) {
  const int p = a.inner;
  const uint64_t rows = a.ext[p];
  uint64_t outer = 1, width = 1;
  for (int i = 0; i < p; ++i) outer *= a.ext[i];
  for (int i = p + 1; i < a.k; ++i) width *= a.ext[i];
  const uint64_t slab = rows * width;
  const uint64_t band_rows = std::min(rows, kBandRows);
  const uint64_t bands = (rows + band_rows - 1) / band_rows;
  const uint64_t span =
      std::min(width, std::max<uint64_t>(64, kUnitElements / band_rows / 64 * 64));
  const uint64_t spans = (width + span - 1) / span;
  const bool whole = span == width;  // a unit's elements are contiguous
  const uint64_t units = outer * spans * bands;
  const auto cost = static_cast<double>(band_rows * span);
  const auto start = [&](uint64_t u) { return std::min(units, u); };
  for_units(units, cost, start, [&](uint64_t u0, uint64_t u1) {
    alignas(64) uint64_t runs[64][kBandRows / 64];  // the drawn bits of 64 positions
    alignas(64) uint64_t mem[kUnitElements / 64 + 1];
    uint64_t tile[64], inner_off[64];
    for (uint64_t u = u0; u < u1; ++u) {
      const uint64_t s = u / (spans * bands), c = u / bands % spans, band = u % bands;
      const uint64_t l0 = band * band_rows, nl = std::min(band_rows, rows - l0);
      const uint64_t jb = c * span, je = std::min(width, jb + span);
      const uint64_t from = Odometer(p, a.ext, a.stride, s).off + l0;
      const uint64_t rs = whole ? width : (je - jb + 7) / 8 * 8;  // bits of a row in mem
      auto* mb = reinterpret_cast<uint8_t*>(mem);
      if ((je - jb) % 8) std::memset(mb, 0, (nl * rs + 7) / 8);  // partial bytes: OR-ed into
      Odometer at(a.k - p - 1, a.ext + p + 1, a.stride + p + 1, jb);
      const char* fetch = P.x + (s * slab + l0 * width + jb) * P.es;
      const char* fetch_end = whole ? fetch + nl * width * P.es : fetch;
      const auto ahead = static_cast<unsigned>((nl * width * P.es / 64) / (je - jb) + 1);
      for (uint64_t j0 = jb; j0 < je; j0 += 64) {
        const auto nj = static_cast<unsigned>(std::min<uint64_t>(64, je - j0));
        for (unsigned j = 0; j < nj; ++j, at.next()) inner_off[j] = at.off;
        for (unsigned j = 0; j < nj; ++j) {
          const uint64_t off = from + inner_off[j];
          auto* run = reinterpret_cast<uint8_t*>(runs[j]);
          P.draw_bits(run, nl, P.keys, P.draw->offset + off, P.draw->threshold);
          if (P.mask) std::memcpy(P.mask + off / 8, run, nl / 8);  // whole bytes (caller)
          // the unit's input while the words are computed: the apply below then finds it
          // in cache instead of waiting on memory after the draws
          for (unsigned q = 0; q < ahead && fetch < fetch_end; ++q, fetch += 64)
            __builtin_prefetch(fetch, 0, 3);
        }
        for (uint64_t lt = 0; lt < nl; lt += 64) {
          for (unsigned j = 0; j < nj; ++j) tile[j] = runs[j][lt / 64];
          std::fill(tile + nj, tile + 64, uint64_t{0});
          transpose64(tile);
          const uint64_t rl = std::min<uint64_t>(64, nl - lt);
          for (uint64_t l = 0; l < rl; ++l) store_bits(mb, (lt + l) * rs + (j0 - jb), tile[l], nj);
        }
      }
      if (whole) {
        const uint64_t off = s * slab + l0 * width;
        P.apply(P.x + off * P.es, P.y + off * P.es, mb, nl * width, P.scale, P.stream);
      } else {
        for (uint64_t l = 0; l < nl; ++l) {
          const uint64_t off = s * slab + (l0 + l) * width + jb;
          P.apply(P.x + off * P.es, P.y + off * P.es, mb + l * rs / 8, je - jb, P.scale, P.stream);
        }
      }
    }
  });
}

// How the tier's columns kernel (kernels.hpp forward_cols) takes the axes: the logical
// innermost axis second innermost in memory, so that memory is rows (that axis) of cols
// elements, at least 16 columns (a vector's worth) and every word offset of a block row a
// multiple of 4. A mask's bytes must belong to one thread each: bands of rows do where every
// column's bits start and end on bytes; else whole slabs of one outer index whose bits are
// one range that does (only the last two axes swapped, as channels_last); else none.
enum class ColsSplit { none, rows, slabs };

ColsSplit cols_split(const Axes& a, const Draw& d, bool with_mask, ForwardColsFn f) {
  if (!f || a.k < 2 || a.inner != a.k - 2 || a.ext[a.k - 1] < 16) return ColsSplit::none;
  const uint64_t rows = a.ext[a.inner], cols = a.ext[a.k - 1], ld = a.stride[a.k - 1];
  if (d.offset % 4 != 0 || ld % 4 != 0) return ColsSplit::none;
  bool bytes = ld % 8 == 0 && rows % 8 == 0;
  for (int i = 0; i < a.inner; ++i) {
    if (a.stride[i] % 4 != 0) return ColsSplit::none;
    bytes = bytes && a.stride[i] % 8 == 0;
  }
  if (!with_mask || bytes) return ColsSplit::rows;
  const bool swapped =
      ld == rows &&
      (a.k == 2 || (a.k == 3 && a.stride[0] == rows * cols && (rows * cols) % 8 == 0));
  return swapped ? ColsSplit::slabs : ColsSplit::none;
}

// The columns kernel over units of kColsRows rows of one outer index each (split rows), or
// of a whole outer index (split slabs).
void pass_cols(const Pass& P, const Axes& a, ForwardColsFn f, ColsSplit split) {
  constexpr uint64_t kColsRows = 256;
  const int p = a.inner;
  const uint64_t rows = a.ext[p], cols = a.ext[p + 1], ld = a.stride[p + 1];
  uint64_t outer = 1;
  for (int i = 0; i < p; ++i) outer *= a.ext[i];
  const uint64_t band = split == ColsSplit::rows ? kColsRows : rows;
  const uint64_t blocks = (rows + band - 1) / band;
  const uint64_t units = outer * blocks;
  // streamed stores need every row on a 64-byte boundary
  const bool stream =
      P.stream && (cols * P.es) % 64 == 0 && reinterpret_cast<uintptr_t>(P.y) % 64 == 0;
  const auto cost = static_cast<double>(band * cols);
  const auto start = [&](uint64_t u) { return std::min(units, u); };
  for_units(units, cost, start, [&](uint64_t u0, uint64_t u1) {
    for (uint64_t u = u0; u < u1; ++u) {
      const uint64_t o = u / blocks, r0 = u % blocks * band;
      const uint64_t nr = std::min(band, rows - r0);
      const uint64_t from = Odometer(p, a.ext, a.stride, o).off + r0;  // element (r0, 0)
      const uint64_t at = (o * rows + r0) * cols * P.es;
      // a slab's columns share bytes: its whole range of bits zeroed, then OR-ed into
      if (P.mask && split == ColsSplit::slabs)
        std::memset(P.mask + from / 8, 0, (nr * cols + 7) / 8);
      f(P.x + at, P.y + at, P.mask, from, nr, cols, ld, P.keys, P.draw->offset + from,
        P.draw->threshold, P.scale, stream);
    }
  });
}

void run_pass(const Pass& P, const Axes& a) {
  if (a.inner == a.k - 1)
    pass_rows(P, a);
  else
    pass_tiles(P, a);
}

uint64_t count(const uint64_t* shape, int ndim) {
  uint64_t n = 1;
  for (int d = 0; d < ndim; ++d) n *= shape[d];
  return n;
}

Pass make_pass(DType dt, const void* x, void* y, uint64_t n, const Scale& s) {
  const size_t es = dtype_size(dt);
  const Kernels& t = active_kernels();
  const bool stream =
      n * es >= kStreamBytes && reinterpret_cast<uintptr_t>(y) % es == 0;  // as drivers.cpp
  return Pass{static_cast<const char*>(x),
              static_cast<char*>(y),
              es,
              s,
              stream,
              t.apply[static_cast<int>(dt)],
              t.forward[static_cast<int>(dt)],
              t.mask,
              nullptr,
              Keys{},
              nullptr};
}

// A recycled buffer (buffers.hpp) for a mask in memory order.
struct MemoryMask {
  uint64_t nbytes;
  uint8_t* bits;
  explicit MemoryMask(uint64_t nb)
      : nbytes(nb), bits(static_cast<uint8_t*>(buffer_alloc(static_cast<size_t>(nb)))) {
    if (!bits) throw std::bad_alloc();
  }
  ~MemoryMask() { buffer_free(bits, static_cast<size_t>(nbytes)); }
  MemoryMask(const MemoryMask&) = delete;
  MemoryMask& operator=(const MemoryMask&) = delete;
};

// Whether the fused pass suits the axes: rows that are runs (the logical innermost axis
// innermost in memory), or tiles whose units are contiguous in memory (pass_tiles' whole).
bool fused_tiles(const Axes& a) {
  if (a.inner == a.k - 1) return true;
  uint64_t width = 1;
  for (int i = a.inner + 1; i < a.k; ++i) width *= a.ext[i];
  const uint64_t band_rows = std::min(a.ext[a.inner], kBandRows);
  return std::min(width, std::max<uint64_t>(64, kUnitElements / band_rows / 64 * 64)) == width;
}

}  // namespace

void permute_mask(const uint8_t* src, uint8_t* dst, const uint64_t* shape, const int* order,
                  int ndim) {
  const uint64_t n = count(shape, ndim);
  if (n == 0) return;
  const uint64_t nbytes = (n + 7) / 8;
  const Axes a = collapse(shape, order, ndim);
  if (a.k <= 1) {  // the same order: a copy, padding bits cleared
    std::memcpy(dst, src, nbytes);
    if (n % 8) dst[nbytes - 1] &= static_cast<uint8_t>((1u << (n % 8)) - 1u);
  } else if (a.inner == a.k - 1) {
    copy_rows(src, nbytes, dst, a);
  } else {
    transpose_tiles(src, nbytes, dst, a);
  }
}

void dropout_apply_permuted(DType dt, const void* x, void* y, const uint8_t* mask,
                            const uint64_t* shape, const int* order, int ndim, const Scale& s) {
  const uint64_t n = count(shape, ndim);
  const Axes a = collapse(shape, order, ndim);
  if (n == 0) return;
  if (a.k <= 1 || !mask) {  // memory order is logical order, or no bit to move
    dropout_apply(dt, x, y, mask, n, s);
    return;
  }
  // the mask re-packed in memory order (an eighth of a float32 array's bytes: the data
  // pass over memory order then runs at the contiguous apply's speed)
  MemoryMask mem((n + 7) / 8);
  permute_mask(mask, mem.bits, shape, order, ndim);
  dropout_apply(dt, x, y, mem.bits, n, s);
}

void dropout_forward_permuted(DType dt, const void* x, void* y, uint8_t* mask,
                              const uint64_t* shape, const int* order, int ndim, const Draw& d,
                              const Scale& s) {
  const uint64_t n = count(shape, ndim);
  const Axes a = collapse(shape, order, ndim);
  if (n == 0) return;
  if (a.k <= 1 || d.drop_all || d.threshold == 0) {  // no word compared, or the same order
    dropout_forward(dt, x, y, mask, n, d, s);
    return;
  }
  const ForwardColsFn cols = active_kernels().forward_cols[static_cast<int>(dt)];
  const ColsSplit split = cols_split(a, d, mask != nullptr, cols);
  if (split != ColsSplit::none) {  // rows of memory across the logical runs: no transposition
    Pass P = make_pass(dt, x, y, n, s);
    P.draw = &d;
    P.keys = make_keys(d.seed, d.stream);
    P.mask = mask;
    pass_cols(P, a, cols, split);
    return;
  }
  const uint64_t run = a.ext[a.inner];  // the logical runs: one kernel call each
  if (run < 64 || (mask && run % 8 != 0) || !fused_tiles(a)) {
    // short runs, runs whose drawn bits share bytes of the mask, or units whose rows lie
    // far apart in memory: draw the logical mask in one pass (the caller's, else a
    // buffer), then re-pack and apply it
    if (mask) {
      dropout_mask(mask, n, d);
      dropout_apply_permuted(dt, x, y, mask, shape, order, ndim, s);
      return;
    }
    MemoryMask own((n + 7) / 8);
    dropout_mask(own.bits, n, d);
    dropout_apply_permuted(dt, x, y, own.bits, shape, order, ndim, s);
    return;
  }
  Pass P = make_pass(dt, x, y, n, s);
  P.draw = &d;
  P.keys = make_keys(d.seed, d.stream);
  P.mask = mask;
  run_pass(P, a);
}

}  // namespace pydropout
