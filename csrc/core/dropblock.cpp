// dropblock.cpp: DropBlock's seeds, blocks and kept count on packed bits (dropblock.hpp).
// Per plane: the seed bits come from the active tier's mask kernel; a seed row of
// W - b + 1 bits is dilated along the row by shift-ORs on 64-bit words (log2(b) of them),
// then the rows are ORed over windows of b rows (and the slices over windows of b slices),
// a separable max filter on bits: O(log2 b) word operations per row and pass, whatever the
// seed density. The keep bits of the plane are the complement, counted by popcount and appended to
// the packed mask of x. This is tier-independent integer code: every tier gives the same bits by
// construction.
#include "dropblock.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "../dispatch/dispatch.hpp"
#include "parallel.hpp"

namespace pydropout {

namespace {

inline uint64_t low_bits(uint64_t n) { return n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1; }

// n <= 64 bits of `buf` from bit k on (buf has a word of slack after its last bit)
inline uint64_t read_bits(const uint64_t* buf, uint64_t k, uint64_t n) {
  const uint64_t w = k >> 6, sh = k & 63;
  uint64_t v = buf[w] >> sh;
  if (sh != 0 && sh + n > 64) v |= buf[w + 1] << (64 - sh);
  return v & low_bits(n);
}

// r |= r << st over nw words (bit j moves to bit j + st), in place: high words first
inline void or_shifted(uint64_t* r, uint64_t nw, uint64_t st) {
  const uint64_t ws = st >> 6, bs = st & 63;
  for (uint64_t i = nw; i-- > ws;) {
    uint64_t v = r[i - ws] << bs;
    if (bs != 0 && i > ws) v |= r[i - ws - 1] >> (64 - bs);
    r[i] |= v;
  }
}

// v[y] |= v[y - 1] | ... | v[y - width + 1] for every y < count, v[y] being `words` words:
// doubling windows (log2(width) passes), each pass from the top so it reads unwidened rows
inline void or_windows(uint64_t* v, uint64_t count, uint64_t words, uint64_t width) {
  for (uint64_t span = 1; span < width;) {
    const uint64_t st = std::min(span, width - span);
    for (uint64_t y = count; y-- > st;) {
      uint64_t* dst = v + y * words;
      const uint64_t* src = v + (y - st) * words;
      for (uint64_t k = 0; k < words; ++k) dst[k] |= src[k];
    }
    span += st;
  }
}

// Appends bits to a packed mask that starts on a byte boundary (little-endian bit order).
class BitWriter {
 public:
  explicit BitWriter(uint8_t* out) : out_(out) {}
  void put(uint64_t v, uint64_t n) {  // n in [1, 64], v < 2**n
    acc_ |= v << used_;
    if (used_ + n >= 64) {
      for (int k = 0; k < 8; ++k) *out_++ = static_cast<uint8_t>(acc_ >> (8 * k));
      const uint64_t consumed = 64 - used_;
      acc_ = consumed == 64 ? 0 : (consumed < n ? v >> consumed : 0);
      used_ = used_ + n - 64;
    } else {
      used_ += n;
    }
  }
  void finish() {  // the partial last byte keeps zero padding bits
    for (uint64_t k = 0; k * 8 < used_; ++k) *out_++ = static_cast<uint8_t>(acc_ >> (8 * k));
  }

 private:
  uint8_t* out_;
  uint64_t acc_ = 0;
  uint64_t used_ = 0;
};

struct PlaneWork {
  const BlockGeometry& g;
  Keys keys;
  uint64_t offset;
  uint32_t threshold;
  bool all_seeds;
  MaskFn mask_fn;
  uint64_t ds, hs, ws, seeds, nw;  // seed array sizes, words per row

  // keep bits of plane q appended to `out`; returns the plane's kept count
  uint64_t plane(uint64_t q, BitWriter& out, std::vector<uint64_t>& seed_buf,
                 std::vector<uint64_t>& rows, std::vector<uint64_t>& r) const {
    const uint64_t d = g.depth, h = g.height, w = g.width, b = g.block, bd = g.block_depth;
    const uint64_t nrows = d * h;
    std::fill(rows.begin(), rows.end(), 0);
    bool seeded = false;
    if (all_seeds) {
      std::fill(rows.begin(), rows.end(), ~uint64_t{0});
    } else if (threshold != 0) {
      mask_fn(reinterpret_cast<uint8_t*>(seed_buf.data()), seeds, keys, offset + q * seeds,
              threshold);
      for (uint64_t dd = 0; dd < ds; ++dd) {
        for (uint64_t i = 0; i < hs; ++i) {
          const uint64_t start = (dd * hs + i) * ws;
          bool any = false;
          for (uint64_t k = 0; k < nw; ++k) {  // seed = a 0 keep bit
            const uint64_t lo = k * 64;
            const uint64_t v =
                lo < ws ? ~read_bits(seed_buf.data(), start + lo, std::min<uint64_t>(64, ws - lo)) &
                              low_bits(ws - lo)
                        : 0;
            r[k] = v;
            any |= v != 0;
          }
          if (!any) continue;
          for (uint64_t span = 1; span < b;) {  // dilate along the row: b bits per seed
            const uint64_t st = std::min(span, b - span);
            or_shifted(r.data(), nw, st);
            span += st;
          }
          std::copy(r.begin(), r.end(),
                    rows.begin() + static_cast<std::ptrdiff_t>((dd * h + i) * nw));
          seeded = true;
        }
      }
      if (seeded) {
        // over the b rows of a block: row y becomes the OR of rows y - b + 1 .. y, by
        // doubling windows (rows high to low, so each reads rows not yet widened)
        for (uint64_t dd = 0; dd < ds; ++dd) or_windows(rows.data() + dd * h * nw, h, nw, b);
        // and over the bd slices of a cube, the same on whole slices
        if (bd > 1) or_windows(rows.data(), d, h * nw, bd);
      }
    }
    uint64_t kept = 0;
    for (uint64_t row = 0; row < nrows; ++row) {
      const uint64_t* src = rows.data() + row * nw;
      for (uint64_t k = 0; k < nw; ++k) {
        const uint64_t n = std::min<uint64_t>(64, w - k * 64);
        const uint64_t v = ~src[k] & low_bits(n);
        kept += static_cast<uint64_t>(__builtin_popcountll(v));
        out.put(v, n);
      }
    }
    return kept;
  }
};

}  // namespace

uint64_t drop_block_mask(const BlockGeometry& g, uint64_t seed, uint64_t stream, uint64_t offset,
                         uint32_t threshold, bool all_seeds, uint8_t* mask) {
  if (g.planes == 0) return 0;
  const uint64_t per_plane = g.depth * g.height * g.width;
  PlaneWork work{g,
                 make_keys(seed, stream),
                 offset,
                 threshold,
                 all_seeds,
                 active_kernels().mask,
                 g.depth - g.block_depth + 1,
                 g.height - g.block + 1,
                 g.width - g.block + 1,
                 0,
                 (g.width + 63) / 64};
  work.seeds = work.ds * work.hs * work.ws;
  // planes in groups that start on byte boundaries of the mask
  const uint64_t group = 8 / std::gcd<uint64_t>(per_plane % 8 == 0 ? 8 : per_plane % 8, 8);
  const uint64_t groups = (g.planes + group - 1) / group;
  uint64_t threads = static_cast<uint64_t>(get_num_threads());
  threads = std::min(threads, g.planes * per_plane / kGrain);
  threads = std::min(threads, groups);
  if (openmp_unusable()) threads = 1;
  uint64_t kept = 0;
  struct Scratch {
    std::vector<uint64_t> seed_buf, rows, r;
  };
  auto scratch = [&] {
    return Scratch{std::vector<uint64_t>(work.seeds / 64 + 2, 0),
                   std::vector<uint64_t>(g.depth * g.height * work.nw),
                   std::vector<uint64_t>(work.nw)};
  };
  // groups [lo, hi): their bits start and end on byte boundaries (the last group's end
  // excepted, whose padding bits finish() writes as 0), so pieces never share a byte
  auto run = [&](Scratch& s, uint64_t lo, uint64_t hi) -> uint64_t {
    BitWriter out(mask + lo * group * per_plane / 8);
    uint64_t k = 0;
    const uint64_t qend = std::min(hi * group, g.planes);
    for (uint64_t q = lo * group; q < qend; ++q) k += work.plane(q, out, s.seed_buf, s.rows, s.r);
    out.finish();
    return k;
  };
  if (threads <= 1) {
    Scratch s = scratch();
    return run(s, 0, groups);
  }
#if defined(PYDROPOUT_HAS_OPENMP)
  // pieces of about 1/8 of a thread's share, taken dynamically: a thread that the OS
  // deschedules (other processes on the cores) holds up the call by one piece at most
  const uint64_t piece = std::max<uint64_t>(1, groups / (8 * threads));
  const int64_t pieces = static_cast<int64_t>((groups + piece - 1) / piece);
#pragma omp parallel num_threads(static_cast<int>(threads)) reduction(+ : kept)
  {
    Scratch s = scratch();
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < pieces; ++i) {
      const uint64_t lo = static_cast<uint64_t>(i) * piece;
      kept += run(s, lo, std::min(lo + piece, groups));
    }
  }
#else
  Scratch s = scratch();
  kept = run(s, 0, groups);
#endif
  return kept;
}

}  // namespace pydropout
