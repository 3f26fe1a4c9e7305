// register_dropblock.cpp: DropBlock's mask and kept count (core/dropblock.hpp): checks, the
// GIL, then the core. The Python layer (pydropout/_dropblock.py) checks the arguments,
// reserves the words, and applies the scale with `apply`.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>

#include "../core/dropblock.hpp"
#include "arrays.hpp"
#include "register.hpp"

namespace pydropout {

void register_dropblock(py::module_& m) {
  // drop_block_mask(mask, planes, depth, height, width, block, block_depth, seed, stream,
  //                 offset, threshold, all_seeds) -> kept count; mask: ceil(numel / 8) bytes
  m.def(
      "drop_block_mask", [](py::object mask, uint64_t planes, uint64_t depth, uint64_t height,
                            uint64_t width, uint64_t block, uint64_t block_depth, uint64_t seed,
                            uint64_t stream, uint64_t offset, uint32_t threshold, bool all_seeds) {
        if (block < 1 || block > height || block > width || block_depth < 1 || block_depth > depth)
          throw py::value_error("block_size must be in [1, the smallest spatial size]");
        const BlockGeometry g{planes, depth, height, width, block, block_depth};
        const uint64_t n = planes * depth * height * width;
        uint8_t* mp = mask_ptr(mask, n, true);
        if (mp == nullptr && n != 0) throw py::value_error("mask is required");
        uint64_t kept = 0;
        maybe_nogil(
            n, [&] { kept = drop_block_mask(g, seed, stream, offset, threshold, all_seeds, mp); });
        return kept;
      });
}

}  // namespace pydropout
