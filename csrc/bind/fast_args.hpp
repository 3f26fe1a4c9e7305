// fast_args.hpp: the argument tests of the C++ fast hooks (register_ops.cpp,
// register_fast.cpp). A hook that finds anything it does not serve returns None, and the
// Python pipeline then runs the call (and raises its errors).
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <tuple>

#include "../core/dropout.hpp"
#include "../core/params.hpp"
#include "generator.hpp"

namespace pydropout {
namespace py = pybind11;

// numpy type numbers of the dtypes the fast path serves
inline bool native_float_dtype(const py::array& a, DType& dt) {
  const auto d = a.dtype();
  const char bo = d.byteorder();
  if (bo == '>') return false;
  switch (d.num()) {
    case 23: dt = DType::f16; return true;  // NPY_HALF
    case 11: dt = DType::f32; return true;  // NPY_FLOAT
    case 12: dt = DType::f64; return true;  // NPY_DOUBLE
    default: return false;
  }
}

struct FastArgs {
  py::array x;
  DType dt = DType::f32;
  double p = 0.0;
  Generator* gen = nullptr;
};

inline bool fast_array(py::handle h, FastArgs& a) {
  if (!py::isinstance<py::array>(h)) return false;
  a.x = py::reinterpret_borrow<py::array>(h);
  if (!native_float_dtype(a.x, a.dt)) return false;
  return (a.x.flags() & (py::array::c_style | 0x0100)) == (py::array::c_style | 0x0100);
}

inline bool fast_p(py::handle h, double& p) {
  if (PyFloat_CheckExact(h.ptr())) {
    p = PyFloat_AS_DOUBLE(h.ptr());
  } else if (PyLong_CheckExact(h.ptr())) {
    int overflow = 0;
    const long v = PyLong_AsLongAndOverflow(h.ptr(), &overflow);
    if (overflow || (v != 0 && v != 1)) return false;
    p = static_cast<double>(v);
  } else {
    return false;
  }
  return p >= 0.0 && p <= 1.0;  // NaN fails
}

inline bool fast_generator(py::handle h, Generator*& gen) {
  if (h.is_none())
    gen = &default_generator();
  else if (py::isinstance<Generator>(h))
    gen = &py::cast<Generator&>(h);
  else
    return false;
  return true;
}

// The words of a training call over nn elements, reserved from the generator (after the
// allocations: a failure changes nothing), and p's keep rule.
inline Draw reserve_draw(Generator& gen, uint64_t nn, double p) {
  const auto st = gen.reserve(nn);
  Draw d;
  d.seed = std::get<0>(st);
  d.stream = std::get<1>(st);
  d.offset = std::get<2>(st);
  d.drop_all = p == 1.0;
  d.threshold = d.drop_all ? 0u : threshold_for(p);
  return d;
}

// What a kept element becomes: x * dtype(1 / (1 - p)) in upscale_in_train (p < 1), else x.
inline Scale train_scale(DType dt, double p, bool upscale) {
  return Scale{upscale, upscale && p != 1.0 ? scale_for(dt, 1.0 / (1.0 - p)) : 1.0};
}

// Alpha dropout's constants (a, b, c) for 0 < p < 1, as the Python layer computes them: in
// float64, a = 1 / sqrt((ALPHA^2 p + 1)(1 - p)), b = (ALPHA a) p, c = b - ALPHA a, each
// rounded to the dtype (float16 via float32)
struct AlphaConstants {
  double a, b, c;
};
inline AlphaConstants alpha_constants_for(DType dt, double p) {
  constexpr double kAlpha = 1.7580993408473766;
  const double a = 1.0 / std::sqrt((kAlpha * kAlpha * p + 1.0) * (1.0 - p));
  const double alpha_a = kAlpha * a;
  const double b = alpha_a * p;
  const auto round = [dt](double v) {
    return dt == DType::f16 ? scale_for(dt, static_cast<float>(v)) : scale_for(dt, v);
  };
  return AlphaConstants{round(a), round(b), round(b - alpha_a)};
}

// A packed mask of nn bits for a backward hook: a C-contiguous 1-d uint8 array of the right
// length whose padding bits are clear (else the mask of another array: the Python layer
// raises the ValueError).
inline bool fast_mask(py::handle mh, uint64_t nn, py::array& mask) {
  if (!py::isinstance<py::array>(mh)) return false;
  mask = py::reinterpret_borrow<py::array>(mh);
  if (mask.dtype().num() != 2 /* NPY_UBYTE */ || mask.ndim() != 1 ||
      !(mask.flags() & py::array::c_style) ||
      static_cast<uint64_t>(mask.size()) != nn / 8 + (nn % 8 != 0))
    return false;
  return nn % 8 == 0 || (static_cast<const uint8_t*>(mask.data())[nn / 8] >> (nn % 8)) == 0;
}

}  // namespace pydropout
