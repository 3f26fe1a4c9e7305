// register_modern.cpp: the kernels of the modern variants (zoneout, additive Gaussian noise,
// the per-row keep of drop_path): checks, the GIL, then core/modern.hpp.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>

#include "../core/modern.hpp"
#include "arrays.hpp"
#include "register.hpp"

namespace pydropout {

void register_modern(py::module_& m) {
  // zoneout(prev, next, y, mask, code, t, drop_all, seed, stream, offset):
  // y = word >= t ? next : prev; mask (or None) gets the bits
  m.def("zoneout", [](py::array prev, py::array next, py::array y, py::object mask, int code,
                      uint32_t t, bool drop_all, uint64_t seed, uint64_t stream, uint64_t offset) {
    const ArrayInfo info = check_pair(prev, y, code);
    check_pair(next, y, code);
    const uint64_t n = info.n;
    if (n > 0 && offset + (n - 1) < offset) throw py::value_error("offset + n would pass 2**64");
    uint8_t* mp = mask_ptr(mask, n, true);
    const void* pp = prev.data();
    const void* np_ = next.data();
    void* dst = y.mutable_data();
    const Draw d{seed, stream, offset, t, drop_all};
    maybe_nogil(n, [&] { zoneout_forward(info.dt, pp, np_, dst, mp, n, d); });
  });

  // gaussian_add(x, y, code, stddev, seed, stream, offset): y = x + dtype(stddev * z)
  m.def("gaussian_add", [](py::array x, py::array y, int code, double stddev, uint64_t seed,
                           uint64_t stream, uint64_t offset) {
    const ArrayInfo info = check_pair(x, y, code);
    const uint64_t n = info.n;
    if (n > 0 && offset + (n - 1) < offset) throw py::value_error("offset + n would pass 2**64");
    const void* src = x.data();
    void* dst = y.mutable_data();
    maybe_nogil(8 * n, [&] { gaussian_add(info.dt, src, dst, n, seed, stream, offset, stddev); });
  });

  // row_apply(x, y, keep, code, rows, s, apply): row r of y = bit r ? row r of x (* s) : +0
  m.def("row_apply", [](py::array x, py::array y, py::array keep, int code, uint64_t rows, double s,
                        bool apply) {
    const ArrayInfo info = check_pair(x, y, code);
    const uint64_t n = info.n;
    if (rows == 0 ? n != 0 : n % rows != 0)
      throw py::value_error("x.size must be a multiple of rows");
    const uint8_t* kp = mask_ptr(keep, rows, false);
    const void* src = x.data();
    void* dst = y.mutable_data();
    const Scale sc{apply, s};
    if (rows == 0 || n == 0) return;
    maybe_nogil(n, [&] { row_apply(info.dt, src, dst, kp, rows, n / rows, sc); });
  });
}

}  // namespace pydropout
