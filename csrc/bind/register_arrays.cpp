// register_arrays.cpp: output buffers (empty, the buffer cache) and the threaded copy that the
// benchmarks use as a bandwidth ceiling.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <vector>

#include "../core/buffers.hpp"
#include "../core/dropout.hpp"
#include "arrays.hpp"
#include "register.hpp"

namespace pydropout {

void register_arrays(py::module_& m) {
  m.def(
      "empty",
      [](std::vector<py::ssize_t> shape, py::dtype dt, py::object like) {
        const void* lp = nullptr;
        if (!like.is_none()) lp = py::cast<py::array>(like).data();
        return empty_array(dt, shape, lp);
      },
      py::arg("shape"), py::arg("dtype"), py::arg("like") = py::none());

  m.def("_buffer_cached_bytes", &buffer_cached_bytes);
  m.def("_buffer_trim", &buffer_trim);

  m.def("copy", [](py::array x, py::array y) {
    check_c_array(x, "x");
    check_c_array(y, "out");
    if (!y.writeable()) throw py::value_error("out must be writeable");
    if (x.nbytes() != y.nbytes()) throw py::value_error("out must have as many bytes as x");
    const void* src = x.data();
    void* dst = y.mutable_data();
    const uint64_t nbytes = static_cast<uint64_t>(x.nbytes());
    maybe_nogil(nbytes / 4, [&] { parallel_copy(src, dst, nbytes); });
  });
}

}  // namespace pydropout
