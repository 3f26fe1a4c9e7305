// register_ops.cpp: the dropout kernels (forward, mask, runs, apply) and the fast paths of
// the common calls: convert and check the arguments, allocate, release the GIL, call the
// drivers of core/dropout.hpp.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <vector>

#include "../core/dropout.hpp"
#include "arrays.hpp"
#include "fast_args.hpp"
#include "generator.hpp"
#include "register.hpp"

namespace pydropout {

namespace {

py::object fast_forward(const FastArgs& a, bool upscale, bool with_mask) {
  const uint64_t n = static_cast<uint64_t>(a.x.size());
  std::vector<py::ssize_t> shape(a.x.shape(), a.x.shape() + a.x.ndim());
  py::array y = empty_array(a.x.dtype(), shape, a.x.data());
  py::array_t<uint8_t> mask(with_mask ? static_cast<py::ssize_t>(n / 8 + (n % 8 != 0)) : 0);
  const Draw d = reserve_draw(*a.gen, n, a.p);
  const Scale s = train_scale(a.dt, a.p, upscale);
  const void* src = a.x.data();
  void* dst = y.mutable_data();
  uint8_t* mp = with_mask ? mask.mutable_data() : nullptr;
  const DType dt = a.dt;
  maybe_nogil(n, [&] { dropout_forward(dt, src, dst, mp, n, d, s); });
  if (with_mask) return py::make_tuple(std::move(y), std::move(mask));
  return std::move(y);
}

}  // namespace

void register_ops(py::module_& m) {
  // forward(x, y, mask, dtype_code, threshold, drop_all, scale, apply_scale, seed, stream, offset)
  m.def("forward", [](py::array x, py::array y, py::object mask, int dtype_code, int64_t threshold,
                      bool drop_all, double scale, bool apply_scale, uint64_t seed, uint64_t stream,
                      uint64_t offset) {
    const ArrayInfo info = check_pair(x, y, dtype_code);
    uint8_t* mp = mask_ptr(mask, info.n, true);
    const Draw d{seed, stream, offset, static_cast<uint32_t>(threshold), drop_all};
    const Scale s{apply_scale, scale};
    const void* src = x.data();
    void* dst = y.mutable_data();
    maybe_nogil(info.n, [&] { dropout_forward(info.dt, src, dst, mp, info.n, d, s); });
  });

  m.def("mask", [](py::array mask, uint64_t n, int64_t threshold, bool drop_all, uint64_t seed,
                   uint64_t stream, uint64_t offset) {
    uint8_t* mp = mask_ptr(mask, n, true);
    const Draw d{seed, stream, offset, static_cast<uint32_t>(threshold), drop_all};
    maybe_nogil(n, [&] { dropout_mask(mp, n, d); });
  });

  // forward_runs(x, y, mask, code, t, s, apply, seed, stream, word_starts, run_length):
  // block keying's pieces in one call (see dropout.hpp); threshold > 0 and p < 1 only.
  m.def("forward_runs", [](py::array x, py::array y, py::object mask, int dtype_code,
                           int64_t threshold, double scale, bool apply_scale, uint64_t seed,
                           uint64_t stream, py::array_t<uint64_t, py::array::c_style> starts,
                           uint64_t len) {
    const ArrayInfo info = check_pair(x, y, dtype_code);
    const uint64_t runs = static_cast<uint64_t>(starts.size());
    if (runs * len != info.n) throw py::value_error("runs * run_length must equal x.size");
    uint8_t* mp = mask_ptr(mask, info.n, true);
    const Draw d{seed, stream, 0, static_cast<uint32_t>(threshold), false};
    const Scale s{apply_scale, scale};
    const void* src = x.data();
    void* dst = y.mutable_data();
    const uint64_t* ws = starts.data();
    maybe_nogil(info.n, [&] { dropout_forward_runs(info.dt, src, dst, mp, runs, len, ws, d, s); });
  });

  m.def("mask_runs", [](py::array mask, int64_t threshold, uint64_t seed, uint64_t stream,
                        py::array_t<uint64_t, py::array::c_style> starts, uint64_t len) {
    const uint64_t runs = static_cast<uint64_t>(starts.size());
    uint8_t* mp = mask_ptr(mask, runs * len, true);
    const Draw d{seed, stream, 0, static_cast<uint32_t>(threshold), false};
    const uint64_t* ws = starts.data();
    maybe_nogil(runs * len, [&] { dropout_mask_runs(mp, runs, len, ws, d); });
  });

  m.def("apply", [](py::array x, py::array y, py::object mask, int dtype_code, double scale,
                    bool apply_scale) {
    const ArrayInfo info = check_pair(x, y, dtype_code);
    const uint8_t* mp = mask_ptr(mask, info.n, false);
    const Scale s{apply_scale, scale};
    const void* src = x.data();
    void* dst = y.mutable_data();
    maybe_nogil(info.n, [&] { dropout_apply(info.dt, src, dst, mp, info.n, s); });
  });

  // The common call, done entirely here: training, upscale_in_train, a native aligned
  // C-contiguous float16/32/64 array, a Python float p in [0, 1], no out/inplace/noise
  // shape. Returns None when it does not apply; the Python layer then handles the call.
  // The common calls, done entirely here (the Python layer's checks cost more than a
  // small array's kernel): a native aligned C-contiguous float16/32/64 array, a Python
  // float p in [0, 1], no out/inplace/noise shape. They return None when they do not
  // apply, and the Python layer then handles the call.
  // dropout_fast(x, p, gen) -> y (training, upscale_in_train)
  m.def("dropout_fast", [](py::handle xh, py::handle ph, py::handle gh) -> py::object {
    FastArgs a;
    if (!fast_array(xh, a) || !fast_p(ph, a.p) || !fast_generator(gh, a.gen)) return py::none();
    return fast_forward(a, true, false);
  });
  // dropout_with_mask_fast(x, p, gen, upscale) -> (y, mask)
  m.def("dropout_with_mask_fast",
        [](py::handle xh, py::handle ph, py::handle gh, bool upscale) -> py::object {
          FastArgs a;
          if (!fast_array(xh, a) || !fast_p(ph, a.p) || !fast_generator(gh, a.gen))
            return py::none();
          return fast_forward(a, upscale, true);
        });
  // backward_fast(grad, mask, p, upscale) -> dx (p < 1)
  m.def("backward_fast",
        [](py::handle gh, py::handle mh, py::handle ph, bool upscale) -> py::object {
          FastArgs a;
          py::array mask;
          if (!fast_array(gh, a) || !fast_p(ph, a.p) || a.p == 1.0) return py::none();
          const uint64_t n = static_cast<uint64_t>(a.x.size());
          if (!fast_mask(mh, n, mask)) return py::none();
          std::vector<py::ssize_t> shape(a.x.shape(), a.x.shape() + a.x.ndim());
          py::array y = empty_array(a.x.dtype(), shape, a.x.data());
          const Scale s = train_scale(a.dt, a.p, upscale);
          const void* src = a.x.data();
          const uint8_t* mp = static_cast<const uint8_t*>(mask.data());
          void* dst = y.mutable_data();
          const DType dt = a.dt;
          maybe_nogil(n, [&] { dropout_apply(dt, src, dst, mp, n, s); });
          return std::move(y);
        });
}

}  // namespace pydropout
