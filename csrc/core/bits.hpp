// bits.hpp: storing a run of bits at any bit position of a packed mask (least significant
// bit first), shared by the permuted layouts' drivers and kernels.
#pragma once
#include <cstdint>
#include <cstring>

namespace pydropout {

// The low `nbits` (1 .. 64) of v at bit `pos` of dst. Bytes the bits cover whole are
// stored; a partly covered byte is OR-ed into (the caller has zeroed it). No other byte
// is touched.
inline void store_bits(uint8_t* dst, uint64_t pos, uint64_t v, unsigned nbits) {
  if (nbits < 64) v &= (uint64_t{1} << nbits) - 1;
  const unsigned sh = static_cast<unsigned>(pos & 7);
  uint8_t* d = dst + (pos >> 3);
  if (sh == 0 && nbits % 8 == 0) {  // whole bytes: the fast case of byte-aligned layouts
    std::memcpy(d, &v, nbits / 8);
    return;
  }
  const unsigned end = sh + nbits;
  for (unsigned i = 0; 8 * i < end; ++i) {
    const auto b = static_cast<uint8_t>(i == 0 ? v << sh : v >> (8 * i - sh));
    if (8 * i >= sh && 8 * i + 8 <= end)
      d[i] = b;
    else
      d[i] |= b;
  }
}

}  // namespace pydropout
