// register_variants.cpp: the dropout variants' kernels (alpha_apply, gaussian) and the normal
// transform alone, for tests: checks, the GIL, then core/variants.hpp.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>

#include "../core/variants.hpp"
#include "arrays.hpp"
#include "register.hpp"

namespace pydropout {

void register_variants(py::module_& m) {
  // alpha_apply(x, y, mask, dtype_code, a, b, c): y = bit ? x * a + b : c
  m.def("alpha_apply",
        [](py::array x, py::array y, py::object mask, int code, double a, double b, double c) {
          const ArrayInfo info = check_pair(x, y, code);
          const DType dt = info.dt;
          const uint64_t n = info.n;
          const uint8_t* mp = mask_ptr(mask, n, false);
          const void* src = x.data();
          void* dst = y.mutable_data();
          maybe_nogil(n, [&] { alpha_apply(dt, src, dst, mp, n, a, b, c); });
        });

  // gaussian(x, y, dtype_code, sigma, seed, stream, offset): y = x * dtype(1 + sigma * z)
  m.def("gaussian", [](py::array x, py::array y, int code, double sigma, uint64_t seed,
                       uint64_t stream, uint64_t offset) {
    const ArrayInfo info = check_pair(x, y, code);
    const DType dt = info.dt;
    const uint64_t n = info.n;
    if (n > 0 && offset + (n - 1) < offset) throw py::value_error("offset + n would pass 2**64");
    const void* src = x.data();
    void* dst = y.mutable_data();
    maybe_nogil(8 * n, [&] { gaussian_forward(dt, src, dst, n, seed, stream, offset, sigma); });
  });

  // normal_from_words(words uint32) -> float64: the transform alone, for tests
  m.def("normal_from_words", [](py::array_t<uint32_t, py::array::c_style> words) {
    const uint64_t n = static_cast<uint64_t>(words.size());
    py::array_t<double> out(static_cast<py::ssize_t>(n));
    const uint32_t* w = words.data();
    double* z = out.mutable_data();
    maybe_nogil(8 * n, [&] { normal_from_words(w, z, n); });  // ~8x a dropout element
    return out;
  });
}

}  // namespace pydropout
