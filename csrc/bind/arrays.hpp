// arrays.hpp: the checks and conventions shared by every binding (register_*.cpp): arrays
// reach the kernels C-contiguous and aligned with a known dtype code, large outputs come
// from core/buffers.hpp, and the GIL is released around big calls.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../core/buffers.hpp"
#include "../core/dropout.hpp"

namespace pydropout {
namespace py = pybind11;

constexpr uint64_t kGilThreshold = 8192;  // below this, releasing the GIL costs more than it frees

struct ArrayInfo {
  DType dt;
  uint64_t n;
};

inline void check_c_array(const py::array& a, const char* name) {
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + " must be C-contiguous");
  if (!(a.flags() & 0x0100))  // NPY_ARRAY_ALIGNED
    throw py::value_error(std::string(name) + " must be aligned");
}

inline ArrayInfo check_pair(const py::array& x, const py::array& y, int dtype_code) {
  if (dtype_code < 0 || dtype_code >= kNumDTypes) throw py::value_error("unknown dtype code");
  const DType dt = static_cast<DType>(dtype_code);
  if (static_cast<size_t>(x.itemsize()) != dtype_size(dt) ||
      static_cast<size_t>(y.itemsize()) != dtype_size(dt))
    throw py::type_error("dtype mismatch between the arrays and the kernel");
  check_c_array(x, "x");
  check_c_array(y, "out");
  if (!y.writeable()) throw py::value_error("out must be writeable");
  if (x.size() != y.size()) throw py::value_error("out must have as many elements as x");
  return {dt, static_cast<uint64_t>(x.size())};
}

inline uint8_t* mask_ptr(py::object mask, uint64_t n, bool write) {
  if (mask.is_none()) return nullptr;
  py::array m = py::cast<py::array>(mask);
  if (m.dtype().num() != 2 /* NPY_UBYTE */)
    throw py::value_error("mask must be a numpy.uint8 array");
  if (!(m.flags() & py::array::c_style)) throw py::value_error("mask must be C-contiguous");
  const uint64_t nbytes = n / 8 + (n % 8 != 0);  // (n + 7) / 8 would wrap for n near 2**64
  if (static_cast<uint64_t>(m.size()) != nbytes)
    throw py::value_error("mask must have ceil(n / 8) = " + std::to_string(nbytes) +
                          " bytes, got " + std::to_string(m.size()));
  if (write && !m.writeable()) throw py::value_error("mask must be writeable");
  return static_cast<uint8_t*>(const_cast<void*>(m.data()));
}

// An uninitialised C-contiguous array. Large ones come from core/buffers.hpp: 64-byte
// aligned, so kernels can stream their output past the cache, and recycled.
// `like`: the input the kernel will read along with this output. An output large enough to
// be streamed then starts at the input's offset within a 64-byte line: the kernel's
// windows start at the output's first 64-byte boundary, so the input's loads are then
// whole cache lines too, never split across two (on a 2-CPU Xeon, float32 passes over
// 128 MiB and more ran 20-38 % faster so).
inline py::array empty_array(const py::dtype& dt, const std::vector<py::ssize_t>& shape,
                             const void* like = nullptr) {
  uint64_t n = 1;
  for (auto d : shape) n *= static_cast<uint64_t>(d);
  const size_t itemsize = static_cast<size_t>(dt.itemsize());
  const size_t nbytes = static_cast<size_t>(n * static_cast<uint64_t>(itemsize));
  if (nbytes < kBufferMinBytes) return py::array(dt, shape);
  size_t offset = 0;
  if (like && nbytes >= kStreamBytes) {
    offset = reinterpret_cast<uintptr_t>(like) % 64;
    if (offset % itemsize) offset = 0;  // an input not aligned to its dtype
  }
  void* p = buffer_alloc(nbytes + offset);
  if (!p) throw std::bad_alloc();
  struct Owned {
    void* p;
    size_t n;
  };
  py::capsule owner(new Owned{p, nbytes + offset}, [](void* o) {
    auto* b = static_cast<Owned*>(o);
    buffer_free(b->p, b->n);
    delete b;
  });
  return py::array(dt, shape, static_cast<char*>(p) + offset, owner);
}

template <class Fn>
void maybe_nogil(uint64_t n, const Fn& fn) {
  if (n >= kGilThreshold) {
    py::gil_scoped_release nogil;
    fn();
  } else {
    fn();
  }
}

}  // namespace pydropout
