// register_permuted.cpp: dropout over permuted layouts (channels_last, Fortran order, any
// axis permutation) in memory order, and a logical-order mask re-packed in memory order
// (core/permuted.hpp). Checks, allocation and the GIL; the work is core's.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../core/broadcast.hpp"
#include "../core/permuted.hpp"
#include "arrays.hpp"
#include "register.hpp"

namespace pydropout {

namespace {

// The logical shape of `order` over x's memory-order shape (logical axis order[k] is
// memory axis k), after checking that order is a permutation of x's axes.
std::vector<uint64_t> logical_shape(const std::vector<py::ssize_t>& mem,
                                    const std::vector<int>& order) {
  const int nd = static_cast<int>(mem.size());
  if (nd > kMaxDims) throw py::value_error("at most " + std::to_string(kMaxDims) + " axes");
  std::vector<bool> seen(mem.size(), false);
  bool perm = order.size() == mem.size();
  for (int d : order) {
    perm = perm && d >= 0 && d < nd && !seen[static_cast<size_t>(d)];
    if (perm) seen[static_cast<size_t>(d)] = true;
  }
  if (!perm) throw py::value_error("order must be a permutation of the axes");
  std::vector<uint64_t> shape(mem.size());
  for (size_t k = 0; k < mem.size(); ++k)
    shape[static_cast<size_t>(order[k])] = static_cast<uint64_t>(mem[k]);
  return shape;
}

std::vector<py::ssize_t> shape_of(const py::array& x) {
  return std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim());
}

}  // namespace

void register_permuted(py::module_& m) {
  // forward_permuted(x, y, mask, dtype_code, order, threshold, drop_all, scale, apply_scale,
  // seed, stream, offset): x and y in memory order, the words and the mask in logical order
  m.def("forward_permuted",
        [](py::array x, py::array y, py::object mask, int dtype_code, std::vector<int> order,
           int64_t threshold, bool drop_all, double scale, bool apply_scale, uint64_t seed,
           uint64_t stream, uint64_t offset) {
          const ArrayInfo info = check_pair(x, y, dtype_code);
          const std::vector<uint64_t> shape = logical_shape(shape_of(x), order);
          uint8_t* mp = mask_ptr(mask, info.n, true);
          const Draw d{seed, stream, offset, static_cast<uint32_t>(threshold), drop_all};
          const Scale s{apply_scale, scale};
          const void* src = x.data();
          void* dst = y.mutable_data();
          const int nd = static_cast<int>(order.size());
          maybe_nogil(info.n, [&] {
            dropout_forward_permuted(info.dt, src, dst, mp, shape.data(), order.data(), nd, d, s);
          });
        });

  // apply_permuted(x, y, mask, dtype_code, order, scale, apply_scale)
  m.def("apply_permuted", [](py::array x, py::array y, py::object mask, int dtype_code,
                             std::vector<int> order, double scale, bool apply_scale) {
    const ArrayInfo info = check_pair(x, y, dtype_code);
    const std::vector<uint64_t> shape = logical_shape(shape_of(x), order);
    const uint8_t* mp = mask_ptr(mask, info.n, false);
    const Scale s{apply_scale, scale};
    const void* src = x.data();
    void* dst = y.mutable_data();
    const int nd = static_cast<int>(order.size());
    maybe_nogil(info.n, [&] {
      dropout_apply_permuted(info.dt, src, dst, mp, shape.data(), order.data(), nd, s);
    });
  });

  // permute_mask(mask, shape, order) -> the mask over shape[order[0]], shape[order[1]], ...
  m.def("permute_mask", [](py::array mask, std::vector<py::ssize_t> shape, std::vector<int> order) {
    std::vector<py::ssize_t> mem(shape.size());
    for (size_t k = 0; k < shape.size() && k < order.size(); ++k)
      if (order[k] >= 0 && static_cast<size_t>(order[k]) < shape.size())
        mem[k] = shape[static_cast<size_t>(order[k])];
    const std::vector<uint64_t> logical = logical_shape(mem, order);
    if (logical != std::vector<uint64_t>(shape.begin(), shape.end()))
      throw py::value_error("order must be a permutation of the axes");
    const int nd = static_cast<int>(shape.size());
    uint64_t n = 1;
    for (uint64_t e : logical) n *= e;
    const uint8_t* src = mask_ptr(mask, n, false);
    py::array_t<uint8_t> out(static_cast<py::ssize_t>(n / 8 + (n % 8 != 0)));
    uint8_t* dst = out.mutable_data();
    maybe_nogil(n, [&] { permute_mask(src, dst, logical.data(), order.data(), nd); });
    return out;
  });
}

}  // namespace pydropout
