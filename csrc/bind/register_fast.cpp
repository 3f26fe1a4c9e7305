// register_fast.cpp: the noise-shape and fused alpha kernels (core/broadcast.hpp) and the
// fast hooks of the calls with a destination (out=, inplace), the downscale mode or a noise
// shape. A hook returns None for anything it does not serve; the Python pipeline then runs
// the call and raises its errors.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "../core/broadcast.hpp"
#include "../core/dropout.hpp"
#include "../core/variants.hpp"
#include "arrays.hpp"
#include "fast_args.hpp"
#include "generator.hpp"
#include "register.hpp"

namespace pydropout {

namespace {

bool same_dtype(const py::array& a, const py::array& b) {
  return a.dtype().num() == b.dtype().num() && a.dtype().byteorder() != '>' &&
         b.dtype().byteorder() != '>';
}

bool same_shape(const py::array& a, const py::array& b) {
  if (a.ndim() != b.ndim()) return false;
  for (py::ssize_t d = 0; d < a.ndim(); ++d)
    if (a.shape(d) != b.shape(d)) return false;
  return true;
}

// [p, p + n) and [q, q + m) share a byte
bool overlaps(const void* p, size_t n, const void* q, size_t m) {
  const auto a = reinterpret_cast<uintptr_t>(p), b = reinterpret_cast<uintptr_t>(q);
  return n && m && a < b + m && b < a + n;
}

// The array the kernel writes: `out`, x itself (inplace) or a new one. False when the
// destination is one the pipeline must handle (strided, another dtype, partly overlapping).
bool fast_dest(const FastArgs& a, py::handle outh, bool inplace, py::array& y) {
  if (inplace) {
    if (!outh.is_none() && !outh.is(a.x)) return false;
    if (!a.x.writeable()) return false;
    y = a.x;
    return true;
  }
  if (outh.is_none()) {
    std::vector<py::ssize_t> shape(a.x.shape(), a.x.shape() + a.x.ndim());
    y = empty_array(a.x.dtype(), shape, a.x.data());
    return true;
  }
  if (!py::isinstance<py::array>(outh)) return false;
  y = py::reinterpret_borrow<py::array>(outh);
  const int need = py::array::c_style | 0x0100 | 0x0400;  // C, aligned, writeable
  if ((y.flags() & need) != need || !same_dtype(a.x, y) || !same_shape(a.x, y)) return false;
  const size_t nb = static_cast<size_t>(a.x.nbytes());
  if (y.data() == a.x.data()) return true;  // the same buffer: element i read, then written
  return !overlaps(y.data(), nb, a.x.data(), nb);
}

// A noise shape of Python ints (leading 1s implied), each 1 or x's dimension. `has` is false
// when it is None or x's shape itself.
bool fast_noise(py::handle nh, const py::array& x, std::vector<uint64_t>& shape,
                std::vector<uint64_t>& noise, bool& has) {
  const int nd = static_cast<int>(x.ndim());
  shape.assign(nd, 0);
  for (int d = 0; d < nd; ++d) shape[d] = static_cast<uint64_t>(x.shape(d));
  has = false;
  if (nh.is_none()) return true;
  if (!PyTuple_Check(nh.ptr()) || nd > kMaxDims) return false;
  const int k = static_cast<int>(PyTuple_GET_SIZE(nh.ptr()));
  if (k > nd) return false;
  noise.assign(nd, 1);
  for (int i = 0; i < k; ++i) {
    PyObject* v = PyTuple_GET_ITEM(nh.ptr(), i);
    if (!PyLong_CheckExact(v)) return false;
    int overflow = 0;
    const long long d = PyLong_AsLongLongAndOverflow(v, &overflow);
    const int at = nd - k + i;
    if (overflow || d < 0) return false;
    if (static_cast<uint64_t>(d) != shape[at] && d != 1) return false;
    noise[at] = static_cast<uint64_t>(d);
  }
  has = noise != shape;
  return true;
}

uint64_t product(const std::vector<uint64_t>& v) {
  uint64_t p = 1;
  for (auto d : v) p *= d;
  return p;
}

// The frame of a training forward with an optional noise shape: checks, destination, the
// mask (returned, or a buffer where the pass needs one: always when `own_mask`, else with a
// noise shape) and the reserved words; pass(dt, src, dst, mask, n, nn, draw, layout or
// nullptr) runs without the GIL for large arrays. keep: 0 the output alone, 1 with its mask,
// 2 with its key (no noise shape), for a DropoutState built in Python.
template <class Pass>
py::object fast_forward(py::handle xh, py::handle ph, py::handle gh, py::handle outh, bool inplace,
                        py::handle nh, int keep, bool own_mask, const Pass& pass) {
  const bool with_mask = keep == 1;
  FastArgs a;
  if (!fast_array(xh, a) || !fast_p(ph, a.p) || !fast_generator(gh, a.gen)) return py::none();
  if (own_mask && (a.p == 0.0 || a.p == 1.0)) return py::none();
  std::vector<uint64_t> shape, noise;
  bool has = false;
  if (!fast_noise(nh, a.x, shape, noise, has) || (keep == 2 && has)) return py::none();
  py::array y;
  if (!fast_dest(a, outh, inplace, y)) return py::none();
  const uint64_t n = static_cast<uint64_t>(a.x.size());
  const uint64_t nn = has ? product(noise) : n;
  const uint64_t mbytes = nn / 8 + (nn % 8 != 0);
  py::array_t<uint8_t> mask(with_mask ? static_cast<py::ssize_t>(mbytes) : 0);
  std::vector<uint8_t> tmp(!with_mask && (has || own_mask) ? mbytes : 0);
  const Draw d = reserve_draw(*a.gen, nn, a.p);
  const void* src = a.x.data();
  void* dst = y.mutable_data();
  uint8_t* mp = with_mask ? mask.mutable_data() : (tmp.empty() ? nullptr : tmp.data());
  const DType dt = a.dt;
  const double p = a.p;
  maybe_nogil(n, [&] {
    if (!has) {
      pass(dt, p, src, dst, mp, n, nn, d, nullptr);
      return;
    }
    const NoiseLayout lay(shape.data(), noise.data(), static_cast<int>(shape.size()));
    pass(dt, p, src, dst, mp, n, nn, d, &lay);
  });
  if (with_mask) return py::make_tuple(std::move(y), std::move(mask));
  if (keep == 2) return py::make_tuple(std::move(y), d.seed, d.stream, d.offset);
  return std::move(y);
}

py::object fast_train(py::handle xh, py::handle ph, py::handle gh, py::handle outh, bool inplace,
                      bool upscale, py::handle nh, int keep) {
  return fast_forward(xh, ph, gh, outh, inplace, nh, keep, false,
                      [upscale](DType dt, double p, const void* src, void* dst, uint8_t* mp,
                                uint64_t n, uint64_t nn, const Draw& d, const NoiseLayout* lay) {
                        const Scale s = train_scale(dt, p, upscale);
                        if (!lay) {
                          dropout_forward(dt, src, dst, mp, n, d, s);
                          return;
                        }
                        dropout_mask(mp, nn, d);
                        dropout_apply_noise(dt, src, dst, mp, *lay, n, s);
                      });
}

std::vector<uint64_t> dims_of(const py::array& x) {
  std::vector<uint64_t> v(static_cast<size_t>(x.ndim()));
  for (py::ssize_t d = 0; d < x.ndim(); ++d) v[d] = static_cast<uint64_t>(x.shape(d));
  return v;
}

NoiseLayout layout_of(const py::array& x, const std::vector<uint64_t>& noise) {
  const std::vector<uint64_t> shape = dims_of(x);
  if (noise.size() != shape.size() || shape.size() > static_cast<size_t>(kMaxDims))
    throw py::value_error("noise must have x's number of dimensions");
  for (size_t d = 0; d < shape.size(); ++d)
    if (noise[d] != 1 && noise[d] != shape[d])
      throw py::value_error("noise does not broadcast to x");
  return NoiseLayout(shape.data(), noise.data(), static_cast<int>(shape.size()));
}

// A tuple or list of Python ints >= 0 (at most kMaxDims of them), into v
bool fast_dims(py::handle h, std::vector<uint64_t>& v) {
  PyObject* o = h.ptr();
  if (!PyTuple_Check(o) && !PyList_Check(o)) return false;
  const Py_ssize_t k = PySequence_Fast_GET_SIZE(o);
  if (k > kMaxDims) return false;
  v.resize(static_cast<size_t>(k));
  for (Py_ssize_t i = 0; i < k; ++i) {
    PyObject* e = PySequence_Fast_GET_ITEM(o, i);
    if (!PyLong_CheckExact(e)) return false;
    int overflow = 0;
    const long long d = PyLong_AsLongLongAndOverflow(e, &overflow);
    if (overflow || d < 0) return false;
    v[static_cast<size_t>(i)] = static_cast<uint64_t>(d);
  }
  return true;
}

// A Python int in [0, 2**64)
bool fast_u64(py::handle h, uint64_t& v) {
  if (!PyLong_CheckExact(h.ptr())) return false;
  v = PyLong_AsUnsignedLongLong(h.ptr());
  if (v == ~0ull && PyErr_Occurred()) {
    PyErr_Clear();
    return false;
  }
  return true;
}

// A block of `shape` at `org` of `full` whose words start at `offset`, as runs of words:
// the trailing axes the block spans whole merge with the partial one before them into runs
// of `len` consecutive words, one a multi-index of the axes above. False when the block
// does not fit, is empty, passes 2**64 words, or has many short runs (the Python plans).
bool block_runs(const std::vector<uint64_t>& shape, const std::vector<uint64_t>& full,
                const std::vector<uint64_t>& org, uint64_t offset, std::vector<uint64_t>& starts,
                uint64_t& len) {
  const size_t nd = shape.size();
  if (nd == 0 || full.size() != nd || org.size() != nd) return false;
  uint64_t n = 1, nfull = 1;
  for (size_t d = 0; d < nd; ++d) {
    if (org[d] > full[d] || shape[d] > full[d] - org[d]) return false;
    n *= shape[d];  // <= nfull: no overflow once nfull has none
    if (__builtin_mul_overflow(nfull, full[d], &nfull)) return false;
  }
  if (n == 0 || offset > ~0ull - (nfull - 1)) return false;  // offset + nfull <= 2**64
  size_t j = nd - 1;
  while (j > 0 && shape[j] == full[j]) --j;
  uint64_t runs = 1;
  for (size_t d = 0; d < j; ++d) runs *= shape[d];
  len = n / runs;
  if (runs > 1 && len < 64) return false;
  std::vector<uint64_t> st(nd, 1), idx(j, 0);
  for (size_t d = nd - 1; d > 0; --d) st[d - 1] = st[d] * full[d];
  uint64_t cur = offset;
  for (size_t d = 0; d < nd; ++d) cur += org[d] * st[d];
  starts.resize(runs);
  for (uint64_t r = 0; r < runs; ++r) {
    starts[r] = cur;
    for (size_t d = j; d-- > 0;) {  // the next multi-index of the axes above the runs
      cur += st[d];
      if (++idx[d] < shape[d]) break;
      cur -= shape[d] * st[d];
      idx[d] = 0;
    }
  }
  return true;
}

// dropout_block / dropout_block_mask (data false: xh is the block's shape): the block's
// words as runs, drawn by the fused forward (or mask) kernel in one call
py::object block_fast(py::handle xh, py::handle ph, py::handle fullh, py::handle orgh,
                      py::handle seedh, py::handle streamh, py::handle offh, bool upscale,
                      bool with_mask, bool data) {
  FastArgs a;
  std::vector<uint64_t> shape, full, org, starts;
  uint64_t seed = 0, stream = 0, offset = 0, len = 0;
  if (data) {
    if (!fast_array(xh, a)) return py::none();
    shape = dims_of(a.x);
  } else if (!fast_dims(xh, shape)) {
    return py::none();
  }
  if (!fast_p(ph, a.p) || !fast_dims(fullh, full) || !fast_dims(orgh, org) ||
      !fast_u64(seedh, seed) || !fast_u64(streamh, stream) || !fast_u64(offh, offset) ||
      !block_runs(shape, full, org, offset, starts, len))
    return py::none();
  const uint64_t n = starts.size() * len;
  py::array y;
  if (data)
    y = empty_array(a.x.dtype(), std::vector<py::ssize_t>(a.x.shape(), a.x.shape() + a.x.ndim()),
                    a.x.data());
  py::array_t<uint8_t> mask(with_mask ? static_cast<py::ssize_t>(n / 8 + (n % 8 != 0)) : 0);
  const bool drop_all = a.p == 1.0;
  const Draw d{seed, stream, 0, drop_all ? 0u : threshold_for(a.p), drop_all};
  const Scale s = train_scale(a.dt, a.p, upscale);
  const void* src = data ? a.x.data() : nullptr;
  void* dst = data ? y.mutable_data() : nullptr;
  uint8_t* mp = with_mask ? mask.mutable_data() : nullptr;
  const DType dt = a.dt;
  maybe_nogil(n, [&] {
    const uint64_t runs = starts.size();
    if (d.drop_all || d.threshold == 0) {  // no word decides anything: one call
      if (data)
        dropout_forward(dt, src, dst, mp, n, d, s);
      else
        dropout_mask(mp, n, d);
    } else if (data) {
      dropout_forward_runs(dt, src, dst, mp, runs, len, starts.data(), d, s);
    } else {
      dropout_mask_runs(mp, runs, len, starts.data(), d);
    }
  });
  if (!data) return std::move(mask);
  if (with_mask) return py::make_tuple(std::move(y), std::move(mask));
  return std::move(y);
}

// The backward of plain dropout (kept: grad * dtype(1 / (1 - p)) where upscale) or of alpha
// dropout (kept: grad * a) from a packed mask; dropped +0.
py::object fast_backward(py::handle gh, py::handle mh, py::handle ph, py::handle outh,
                         py::handle nh, bool upscale, bool alpha) {
  FastArgs a;
  py::array mask;
  if (!fast_array(gh, a) || !fast_p(ph, a.p) || a.p == 1.0) return py::none();
  std::vector<uint64_t> shape, noise;
  bool has = false;
  if (!fast_noise(nh, a.x, shape, noise, has)) return py::none();
  const uint64_t n = static_cast<uint64_t>(a.x.size());
  if (!fast_mask(mh, has ? product(noise) : n, mask)) return py::none();
  py::array y;
  if (!fast_dest(a, outh, false, y)) return py::none();
  if (!outh.is_none() && overlaps(y.data(), static_cast<size_t>(y.nbytes()), mask.data(),
                                  static_cast<size_t>(mask.nbytes())))
    return py::none();
  const Scale s =
      alpha ? Scale{true, alpha_constants_for(a.dt, a.p).a} : train_scale(a.dt, a.p, upscale);
  const void* src = a.x.data();
  const uint8_t* mp = static_cast<const uint8_t*>(mask.data());
  void* dst = y.mutable_data();
  const DType dt = a.dt;
  maybe_nogil(n, [&] {
    if (!has) {
      dropout_apply(dt, src, dst, mp, n, s);
      return;
    }
    const NoiseLayout lay(shape.data(), noise.data(), static_cast<int>(shape.size()));
    dropout_apply_noise(dt, src, dst, mp, lay, n, s);
  });
  return std::move(y);
}

// Training-mode alpha dropout for 0 < p < 1 (the draw and the select fused without a noise
// shape; with one, the noise mask drawn, then read through its broadcast); keep as above
py::object fast_alpha(py::handle xh, py::handle ph, py::handle gh, py::handle outh, bool inplace,
                      py::handle nh, int keep) {
  return fast_forward(xh, ph, gh, outh, inplace, nh, keep, true,
                      [](DType dt, double p, const void* src, void* dst, uint8_t* mp, uint64_t n,
                         uint64_t nn, const Draw& d, const NoiseLayout* lay) {
                        const AlphaConstants k = alpha_constants_for(dt, p);
                        if (!lay) {
                          alpha_forward(dt, src, dst, mp, n, d, k.a, k.b, k.c);
                          return;
                        }
                        dropout_mask(mp, nn, d);
                        alpha_apply_noise(dt, src, dst, mp, *lay, n, k.a, k.b, k.c);
                      });
}

// The packed keep mask of prod(shape) elements from the generator's words
py::object mask_fast(py::handle sh, py::handle ph, py::handle gh) {
  std::vector<uint64_t> dims;
  double p = 0.0;
  Generator* gen = nullptr;
  if (!fast_dims(sh, dims) || !fast_p(ph, p) || !fast_generator(gh, gen)) return py::none();
  uint64_t n = 1;
  for (const uint64_t d : dims) {
    if (d != 0 && n > ~uint64_t{0} / d) return py::none();
    n *= d;
  }
  py::array_t<uint8_t> mask(static_cast<py::ssize_t>(n / 8 + (n % 8 != 0)));
  const Draw d = reserve_draw(*gen, n, p);
  uint8_t* mp = mask.mutable_data();
  maybe_nogil(n, [&] { dropout_mask(mp, n, d); });
  return std::move(mask);
}

// A DropoutState's fields (seed, stream, offset, shape, p, mode, noise_shape, kind) of a
// state for x's shape, no noise shape, the same float p and the given kind: its key out
bool fast_state(py::handle fh, const FastArgs& a, const char* kind, uint64_t& seed,
                uint64_t& stream, uint64_t& offset) {
  if (!PyTuple_Check(fh.ptr()) || PyTuple_GET_SIZE(fh.ptr()) != 8) return false;
  PyObject* f = fh.ptr();
  const auto item = [f](int i) { return py::handle(PyTuple_GET_ITEM(f, i)); };
  std::vector<uint64_t> shape;
  PyObject* sp = item(4).ptr();  // the forward's p: the same float
  PyObject* k = item(7).ptr();
  return fast_u64(item(0), seed) && fast_u64(item(1), stream) && fast_u64(item(2), offset) &&
         fast_dims(item(3), shape) && shape == dims_of(a.x) && item(6).is_none() &&
         PyFloat_CheckExact(sp) && PyFloat_AS_DOUBLE(sp) == a.p && PyUnicode_Check(k) &&
         PyUnicode_CompareWithASCIIString(k, kind) == 0;
}

py::object redraw_fast(py::handle gh, py::handle fh, py::handle ph, bool upscale, bool alpha) {
  FastArgs a;
  uint64_t seed = 0, stream = 0, offset = 0;
  if (!fast_array(gh, a) || !fast_p(ph, a.p) ||
      !fast_state(fh, a, alpha ? "alpha" : "dropout", seed, stream, offset))
    return py::none();
  PyObject* mode = PyTuple_GET_ITEM(fh.ptr(), 5);
  if (alpha) {
    if (mode != Py_None || a.p == 1.0) return py::none();
  } else if (!PyUnicode_Check(mode) ||
             PyUnicode_CompareWithASCIIString(
                 mode, upscale ? "upscale_in_train" : "downscale_in_infer") != 0) {
    return py::none();
  }
  const uint64_t n = static_cast<uint64_t>(a.x.size());
  std::vector<py::ssize_t> dims(a.x.shape(), a.x.shape() + a.x.ndim());
  py::array y = empty_array(a.x.dtype(), dims, a.x.data());
  const bool drop_all = a.p == 1.0;
  const Draw d{seed, stream, offset, drop_all ? 0u : threshold_for(a.p), drop_all};
  const Scale s =
      alpha ? Scale{true, alpha_constants_for(a.dt, a.p).a} : train_scale(a.dt, a.p, upscale);
  const void* src = a.x.data();
  void* dst = y.mutable_data();
  const DType dt = a.dt;
  maybe_nogil(n, [&] { dropout_forward(dt, src, dst, nullptr, n, d, s); });
  return std::move(y);
}

// Gaussian dropout for 0 <= p < 1: y = x * dtype(1 + sigma z), word offset + i for element
// i; with_key: (y, seed, stream, offset) of the words drawn
py::object gaussian_fast(py::handle xh, py::handle ph, py::handle gh, py::handle outh,
                         bool with_key) {
  FastArgs a;
  if (!fast_array(xh, a) || !fast_p(ph, a.p) || a.p == 1.0 || !fast_generator(gh, a.gen))
    return py::none();
  py::array y;
  if (!fast_dest(a, outh, false, y)) return py::none();
  const uint64_t n = static_cast<uint64_t>(a.x.size());
  const Draw d = reserve_draw(*a.gen, n, a.p);
  const double sigma = std::sqrt(a.p / (1.0 - a.p));
  const void* src = a.x.data();
  void* dst = y.mutable_data();
  const DType dt = a.dt;
  maybe_nogil(8 * n, [&] { gaussian_forward(dt, src, dst, n, d.seed, d.stream, d.offset, sigma); });
  if (with_key) return py::make_tuple(std::move(y), d.seed, d.stream, d.offset);
  return std::move(y);
}

// The backward of Gaussian dropout from its DropoutState's fields: the same noise, drawn again
py::object gaussian_backward_fast(py::handle gh, py::handle fh, py::handle ph, py::handle outh) {
  FastArgs a;
  uint64_t seed = 0, stream = 0, offset = 0;
  if (!fast_array(gh, a) || !fast_p(ph, a.p) || a.p == 1.0 ||
      !fast_state(fh, a, "gaussian", seed, stream, offset))
    return py::none();
  const uint64_t n = static_cast<uint64_t>(a.x.size());
  py::array y;
  if (!fast_dest(a, outh, false, y)) return py::none();
  const double sigma = std::sqrt(a.p / (1.0 - a.p));
  const void* src = a.x.data();
  void* dst = y.mutable_data();
  const DType dt = a.dt;
  maybe_nogil(8 * n, [&] { gaussian_forward(dt, src, dst, n, seed, stream, offset, sigma); });
  return std::move(y);
}
}  // namespace

void register_fast(py::module_& m) {
  // apply_noise(x, y, mask, code, noise, scale, apply): y = bit(noise index) ? x (* s) : +0
  m.def("apply_noise", [](py::array x, py::array y, py::object mask, int dtype_code,
                          std::vector<uint64_t> noise, double scale, bool apply_scale) {
    const ArrayInfo info = check_pair(x, y, dtype_code);
    const NoiseLayout lay = layout_of(x, noise);
    const uint8_t* mp = mask_ptr(mask, product(noise), false);
    if (!mp) throw py::value_error("apply_noise needs a mask");
    const Scale s{apply_scale, scale};
    const void* src = x.data();
    void* dst = y.mutable_data();
    maybe_nogil(info.n, [&] { dropout_apply_noise(info.dt, src, dst, mp, lay, info.n, s); });
  });
  // alpha_noise(x, y, mask, code, noise, a, b, c): y = bit(noise index) ? x * a + b : c
  m.def("alpha_noise", [](py::array x, py::array y, py::object mask, int dtype_code,
                          std::vector<uint64_t> noise, double a, double b, double c) {
    const ArrayInfo info = check_pair(x, y, dtype_code);
    const NoiseLayout lay = layout_of(x, noise);
    const uint8_t* mp = mask_ptr(mask, product(noise), false);
    if (!mp) throw py::value_error("alpha_noise needs a mask");
    const void* src = x.data();
    void* dst = y.mutable_data();
    maybe_nogil(info.n, [&] { alpha_apply_noise(info.dt, src, dst, mp, lay, info.n, a, b, c); });
  });
  // alpha_forward(x, y, mask, code, threshold, drop_all, a, b, c, seed, stream, offset)
  m.def("alpha_forward", [](py::array x, py::array y, py::object mask, int dtype_code,
                            int64_t threshold, bool drop_all, double a, double b, double c,
                            uint64_t seed, uint64_t stream, uint64_t offset) {
    const ArrayInfo info = check_pair(x, y, dtype_code);
    uint8_t* mp = mask_ptr(mask, info.n, true);
    if (!mp) throw py::value_error("alpha_forward needs a mask");
    const Draw d{seed, stream, offset, static_cast<uint32_t>(threshold), drop_all};
    const void* src = x.data();
    void* dst = y.mutable_data();
    maybe_nogil(info.n, [&] { alpha_forward(info.dt, src, dst, mp, info.n, d, a, b, c); });
  });

  // block_fast(x or shape, p, full_shape, origin, seed, stream, offset, upscale, with_mask,
  //   data) -> y, (y, mask), or the mask alone (data false); training mode
  m.def("block_fast", &block_fast);
  // dropout_any_fast(x, p, gen, out, inplace, upscale, noise_shape, keep) -> y (keep 0),
  //   (y, mask) (keep 1) or (y, seed, stream, offset) (keep 2, no noise shape); training mode
  m.def("dropout_any_fast",
        [](py::handle xh, py::handle ph, py::handle gh, py::handle outh, py::handle inplace,
           bool upscale, py::handle nh, int keep) -> py::object {
          if (inplace.ptr() != Py_True && inplace.ptr() != Py_False) return py::none();
          return fast_train(xh, ph, gh, outh, inplace.ptr() == Py_True, upscale, nh, keep);
        });
  // backward_any_fast(grad, mask, p, upscale, out, noise_shape) -> dx (p < 1)
  m.def("backward_any_fast",
        [](py::handle gh, py::handle mh, py::handle ph, bool upscale, py::handle outh,
           py::handle nh) { return fast_backward(gh, mh, ph, outh, nh, upscale, false); });
  // alpha_backward_fast(grad, mask, p, out, noise_shape) -> dx = grad * a where kept (p < 1)
  m.def("alpha_backward_fast",
        [](py::handle gh, py::handle mh, py::handle ph, py::handle outh, py::handle nh) {
          return fast_backward(gh, mh, ph, outh, nh, true, true);
        });
  // alpha_any_fast(x, p, gen, out, inplace, noise_shape, keep) -> y (keep 0), (y, mask)
  // (keep 1) or (y, seed, stream, offset) (keep 2, no noise shape)
  m.def("alpha_any_fast",
        [](py::handle xh, py::handle ph, py::handle gh, py::handle outh, py::handle inplace,
           py::handle nh, int keep) -> py::object {
          if (inplace.ptr() != Py_True && inplace.ptr() != Py_False) return py::none();
          return fast_alpha(xh, ph, gh, outh, inplace.ptr() == Py_True, nh, keep);
        });
  // redraw_fast(grad, state_fields, p, upscale, alpha) -> dx: a backward from a DropoutState
  // (its fields tuple) of plain (alpha false) or alpha dropout, with no noise shape
  m.def("redraw_fast", &redraw_fast);
  // gaussian_fast(x, p, gen, out, with_key) -> y, or (y, seed, stream, offset) with with_key
  m.def("gaussian_fast", &gaussian_fast);
  // gaussian_backward_fast(grad, state_fields, p, out) -> dx (into out where not None)
  m.def("gaussian_backward_fast", &gaussian_backward_fast);
  // mask_fast(shape, p, gen) -> the packed mask (dropout_mask)
  m.def("mask_fast", &mask_fast);
}

}  // namespace pydropout
