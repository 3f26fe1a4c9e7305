// dropblock.hpp: DropBlock (Ghiasi et al., 2018) on packed bits (docs/CONTRACT.md section 6).
// A call draws only its seeds: the active tier's mask kernel over each plane's seed array
// (keep bit = word >= t, so a seed is a 0 bit). The seeds are dilated into b-squares
// (b-cubes) on 64-bit words, a separable max filter: shift-ORs along each seed row, then
// ORs over windows of b rows (and of b slices); the kept count comes from popcounts of those words.
// The packed keep mask over x is what the caller hands to dropout_apply, one pass over the data.
#pragma once
#include <cstdint>

namespace pydropout {

struct BlockGeometry {
  uint64_t planes = 0;       // N * C
  uint64_t depth = 1;        // D (1 for drop_block2d)
  uint64_t height = 0;       // H
  uint64_t width = 0;        // W
  uint64_t block = 1;        // b
  uint64_t block_depth = 1;  // b for drop_block3d, 1 for drop_block2d
};

// Writes the packed keep mask of x (ceil(planes * D * H * W / 8) bytes, padding bits 0)
// and returns K, the number of kept elements. Plane q's seed array, of
// (D - bd + 1) * (H - b + 1) * (W - b + 1) positions, draws the words that follow plane
// q - 1's, from `offset` on. all_seeds: every position is a seed (gamma >= 1), no word
// compared; threshold 0 (and not all_seeds): no seed. Threads over planes.
uint64_t drop_block_mask(const BlockGeometry& g, uint64_t seed, uint64_t stream, uint64_t offset,
                         uint32_t threshold, bool all_seeds, uint8_t* mask);

}  // namespace pydropout
