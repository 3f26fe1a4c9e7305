// bindings.cpp: PYBIND11_MODULE(_core). Converts and checks arguments, allocates
// outputs while holding the GIL, releases the GIL around the kernels, and returns.
// No dropout maths here: that lives in dispatch.cpp and kernels/.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <tuple>

#include "buffers.hpp"
#include "pyarrays.hpp"
#include "dispatch.hpp"
#include "dropout.hpp"
#include "philox.hpp"
#include "variants.hpp"

namespace py = pybind11;
using namespace pydropout;

namespace {

std::string type_name(py::handle h) { return py::str(py::type::handle_of(h).attr("__name__")); }

// An integer in [0, 2**64): TypeError if not an integer, ValueError if out of range.
uint64_t u64_arg(py::handle h, const char* name) {
  if (PyFloat_Check(h.ptr()) || PyBool_Check(h.ptr()) || !PyIndex_Check(h.ptr()))
    throw py::type_error(std::string(name) + " must be an integer, got " + type_name(h));
  py::object idx = py::reinterpret_steal<py::object>(PyNumber_Index(h.ptr()));
  if (!idx) throw py::error_already_set();
  const int negative = PyObject_RichCompareBool(idx.ptr(), py::int_(0).ptr(), Py_LT);
  unsigned long long v = 0;
  if (negative == 0) {
    v = PyLong_AsUnsignedLongLong(idx.ptr());
    if (v == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
      PyErr_Clear();
      throw py::value_error(std::string(name) + " must be in [0, 2**64), got " +
                            std::string(py::str(idx)));
    }
    return v;
  }
  if (negative < 0) throw py::error_already_set();
  throw py::value_error(std::string(name) + " must be in [0, 2**64), got " + std::string(py::str(idx)));
}

uint64_t entropy_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ static_cast<uint64_t>(rd());
}

using u128 = unsigned __int128;
constexpr u128 kStreamEnd = u128(1) << 64;  // an exhausted generator sits at 2**64

py::int_ to_pyint(u128 v) {
  if (v <= ~uint64_t{0}) return py::int_(static_cast<uint64_t>(v));
  return py::reinterpret_steal<py::int_>(PyNumber_Lshift(py::int_(1).ptr(), py::int_(64).ptr()));
}

// A state's offset: [0, 2**64], the end included (a generator that drew its last word).
u128 state_offset_arg(py::handle h) {
  if (!(PyFloat_Check(h.ptr()) || PyBool_Check(h.ptr())) && PyIndex_Check(h.ptr())) {
    py::object idx = py::reinterpret_steal<py::object>(PyNumber_Index(h.ptr()));
    if (!idx) throw py::error_already_set();
    if (idx.equal(py::reinterpret_steal<py::object>(
            PyNumber_Lshift(py::int_(1).ptr(), py::int_(64).ptr()))))
      return u128(1) << 64;
  }
  return u64_arg(h, "offset");
}

struct Generator {
  mutable std::mutex lock;
  uint64_t seed = 0, stream = 0;
  u128 offset = 0;

  std::tuple<uint64_t, uint64_t, u128> state() const {
    std::lock_guard<std::mutex> g(lock);
    return {seed, stream, offset};
  }
  void set(uint64_t s, uint64_t q, u128 o) {
    std::lock_guard<std::mutex> g(lock);
    seed = s;
    stream = q;
    offset = o;
  }
  // Reserve n words atomically; ValueError (nothing changed) if they would pass 2**64.
  std::tuple<uint64_t, uint64_t, uint64_t> reserve(uint64_t n) {
    std::lock_guard<std::mutex> g(lock);
    if (offset + n > kStreamEnd) {
      throw py::value_error("generator offset " + std::string(py::str(to_pyint(offset))) + " + " +
                            std::to_string(n) + " words would pass 2**64: the stream never wraps");
    }
    const auto before = std::make_tuple(seed, stream, static_cast<uint64_t>(offset));
    offset += n;
    return before;
  }
};

Generator& default_generator() {
  static Generator* g = [] {
    auto* gen = new Generator();
    gen->seed = entropy_seed();
    return gen;
  }();
  return *g;
}

// numpy type numbers of the dtypes the fast path serves
bool native_float_dtype(const py::array& a, DType& dt) {
  const auto d = a.dtype();
  const char bo = d.byteorder();
  if (bo == '>') return false;
  switch (d.num()) {
    case 23: dt = DType::f16; return true;   // NPY_HALF
    case 11: dt = DType::f32; return true;   // NPY_FLOAT
    case 12: dt = DType::f64; return true;   // NPY_DOUBLE
    default: return false;
  }
}



// double -> float16 bits, rounded once to nearest even (as numpy.float16(double) does)
uint16_t double_to_half(double v) {
  const uint16_t sign = std::signbit(v) ? 0x8000 : 0;
  const double a = std::fabs(v);
  if (std::isnan(v)) return static_cast<uint16_t>(sign | 0x7e00);
  if (a >= 65520.0) return static_cast<uint16_t>(sign | 0x7c00);
  if (a < 6.103515625e-05) {  // below 2^-14: units of 2^-24
    return static_cast<uint16_t>(sign | static_cast<uint16_t>(std::nearbyint(a * 16777216.0)));
  }
  int e;
  std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  double q = std::nearbyint(std::ldexp(a, 11 - e));  // in [1024, 2048]
  if (q == 2048.0) {
    q = 1024.0;
    ++e;
  }
  return static_cast<uint16_t>(sign | ((e - 1 + 15) << 10) | (static_cast<uint16_t>(q) - 1024));
}

double scale_for(DType dt, double s) {
  switch (dt) {
    case DType::f64: return s;
    case DType::f32: return static_cast<double>(static_cast<float>(s));
    case DType::f16: {
      const uint16_t h = double_to_half(s);
      // exact: every float16 is a double
      const uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
      if (exp == 31) return man ? NAN : (h & 0x8000 ? -INFINITY : INFINITY);
      const double mag = exp == 0 ? std::ldexp(man, -24) : std::ldexp(1024 + man, int(exp) - 25);
      return h & 0x8000 ? -mag : mag;
    }
    default: return s;
  }
}

struct FastArgs {
  py::array x;
  DType dt = DType::f32;
  double p = 0.0;
  Generator* gen = nullptr;
};

bool fast_array(py::handle h, FastArgs& a) {
  if (!py::isinstance<py::array>(h)) return false;
  a.x = py::reinterpret_borrow<py::array>(h);
  if (!native_float_dtype(a.x, a.dt)) return false;
  return (a.x.flags() & (py::array::c_style | 0x0100)) == (py::array::c_style | 0x0100);
}

bool fast_p(py::handle h, double& p) {
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

bool fast_generator(py::handle h, Generator*& gen) {
  if (h.is_none()) gen = &default_generator();
  else if (py::isinstance<Generator>(h)) gen = &py::cast<Generator&>(h);
  else return false;
  return true;
}

py::object fast_forward(const FastArgs& a, bool upscale, bool with_mask) {
  const uint64_t n = static_cast<uint64_t>(a.x.size());
  std::vector<py::ssize_t> shape(a.x.shape(), a.x.shape() + a.x.ndim());
  py::array y = empty_array(a.x.dtype(), shape, a.x.data());
  py::array_t<uint8_t> mask(with_mask ? static_cast<py::ssize_t>(n / 8 + (n % 8 != 0)) : 0);
  const auto st = a.gen->reserve(n);  // after the allocations: a failure changes nothing
  Draw d;
  d.seed = std::get<0>(st);
  d.stream = std::get<1>(st);
  d.offset = std::get<2>(st);
  d.drop_all = a.p == 1.0;
  d.threshold = d.drop_all ? 0u : static_cast<uint32_t>(std::floor(a.p * 4294967296.0));
  const Scale s{upscale, upscale && !d.drop_all ? scale_for(a.dt, 1.0 / (1.0 - a.p)) : 1.0};
  const void* src = a.x.data();
  void* dst = y.mutable_data();
  uint8_t* mp = with_mask ? mask.mutable_data() : nullptr;
  const DType dt = a.dt;
  maybe_nogil(n, [&] { dropout_forward(dt, src, dst, mp, n, d, s); });
  if (with_mask) return py::make_tuple(std::move(y), std::move(mask));
  return std::move(y);
}

}  // namespace

PYBIND11_MODULE(_core, m, py::mod_gil_not_used()) {
  m.doc() = "pydropout's compiled core (private: use the pydropout package).";

  py::class_<Generator>(m, "Generator")
      .def(py::init([](py::object seed, py::object stream, py::object offset) {
             auto* g = new Generator();
             g->seed = seed.is_none() ? entropy_seed() : u64_arg(seed, "seed");
             g->stream = u64_arg(stream, "stream");
             g->offset = u64_arg(offset, "offset");
             return g;
           }),
           py::arg("seed") = py::none(), py::kw_only(), py::arg("stream") = 0, py::arg("offset") = 0)
      .def_property(
          "seed", [](const Generator& g) { return std::get<0>(g.state()); },
          [](Generator& g, py::object v) {
            const uint64_t s = u64_arg(v, "seed");
            std::lock_guard<std::mutex> l(g.lock);
            g.seed = s;
          })
      .def_property(
          "stream", [](const Generator& g) { return std::get<1>(g.state()); },
          [](Generator& g, py::object v) {
            const uint64_t s = u64_arg(v, "stream");
            std::lock_guard<std::mutex> l(g.lock);
            g.stream = s;
          })
      .def_property(
          "offset", [](const Generator& g) { return to_pyint(std::get<2>(g.state())); },
          [](Generator& g, py::object v) {
            const uint64_t o = u64_arg(v, "offset");
            std::lock_guard<std::mutex> l(g.lock);
            g.offset = o;
          })
      .def("get_state", [](const Generator& g) {
        const auto s = g.state();
        return py::make_tuple(std::get<0>(s), std::get<1>(s), to_pyint(std::get<2>(s)));
      })
      .def("set_state",
           [](Generator& g, py::object state) {
             if (py::isinstance<py::dict>(state)) {
               py::dict d = state;
               for (const char* key : {"seed", "stream", "offset"}) {
                 if (!d.contains(key))
                   throw py::value_error(std::string("state must have the keys seed, stream and offset; ") +
                                         key + " is missing");
               }
               const uint64_t seed = u64_arg(d["seed"], "seed");
               const uint64_t stream = u64_arg(d["stream"], "stream");
               g.set(seed, stream, state_offset_arg(d["offset"]));
               return;
             }
             if (!PySequence_Check(state.ptr()))
               throw py::type_error("state must be a (seed, stream, offset) tuple, got " +
                                    type_name(state));
             py::sequence s = py::reinterpret_borrow<py::sequence>(state);
             if (py::isinstance<py::str>(state) || py::isinstance<py::bytes>(state) || py::len(s) != 3)
               throw py::value_error("state must be a (seed, stream, offset) tuple of 3 integers");
             const uint64_t seed = u64_arg(s[0], "seed");
             const uint64_t stream = u64_arg(s[1], "stream");
             g.set(seed, stream, state_offset_arg(s[2]));
           },
           py::arg("state"))
      .def("manual_seed",
           [](Generator& g, py::object seed) -> Generator& {
             const uint64_t s = u64_arg(seed, "seed");
             std::lock_guard<std::mutex> l(g.lock);
             g.seed = s;
             g.offset = 0;
             return g;
           },
           py::arg("seed"), py::return_value_policy::reference)
      .def("_reserve",
           [](Generator& g, py::object n) {
             const auto s = g.reserve(u64_arg(n, "n"));
             return py::make_tuple(std::get<0>(s), std::get<1>(s), std::get<2>(s));
           },
           py::arg("n"))
      .def("__repr__",
           [](const Generator& g) {
             const auto s = g.state();
             return "Generator(seed=" + std::to_string(std::get<0>(s)) +
                    ", stream=" + std::to_string(std::get<1>(s)) +
                    ", offset=" + std::string(py::str(to_pyint(std::get<2>(s)))) + ")";
           })
      .def(py::pickle(
          [](const Generator& g) {
            const auto s = g.state();
            return py::make_tuple(std::get<0>(s), std::get<1>(s), to_pyint(std::get<2>(s)));
          },
          [](py::tuple t) {
            auto* g = new Generator();
            g->set(u64_arg(t[0], "seed"), u64_arg(t[1], "stream"), state_offset_arg(t[2]));
            return g;
          }));

  m.attr("default_generator") = py::cast(&default_generator(), py::return_value_policy::reference);

  // forward(x, y, mask, dtype_code, threshold, drop_all, scale, apply_scale, seed, stream, offset)
  m.def("forward",
        [](py::array x, py::array y, py::object mask, int dtype_code, int64_t threshold,
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
  m.def("dropout_with_mask_fast", [](py::handle xh, py::handle ph, py::handle gh, bool upscale) -> py::object {
    FastArgs a;
    if (!fast_array(xh, a) || !fast_p(ph, a.p) || !fast_generator(gh, a.gen)) return py::none();
    return fast_forward(a, upscale, true);
  });
  // backward_fast(grad, mask, p, upscale) -> dx (p < 1)
  m.def("backward_fast", [](py::handle gh, py::handle mh, py::handle ph, bool upscale) -> py::object {
    FastArgs a;
    if (!fast_array(gh, a) || !fast_p(ph, a.p) || a.p == 1.0 || !py::isinstance<py::array>(mh))
      return py::none();
    py::array mask = py::reinterpret_borrow<py::array>(mh);
    const uint64_t n = static_cast<uint64_t>(a.x.size());
    if (mask.dtype().num() != 2 /* NPY_UBYTE */ || mask.ndim() != 1 ||
        !(mask.flags() & py::array::c_style) || static_cast<uint64_t>(mask.size()) != n / 8 + (n % 8 != 0))
      return py::none();
    std::vector<py::ssize_t> shape(a.x.shape(), a.x.shape() + a.x.ndim());
    py::array y = empty_array(a.x.dtype(), shape, a.x.data());
    const Scale s{upscale, upscale ? scale_for(a.dt, 1.0 / (1.0 - a.p)) : 1.0};
    const void* src = a.x.data();
    const uint8_t* mp = static_cast<const uint8_t*>(mask.data());
    void* dst = y.mutable_data();
    const DType dt = a.dt;
    maybe_nogil(n, [&] { dropout_apply(dt, src, dst, mp, n, s); });
    return std::move(y);
  });

  m.def("empty", [](std::vector<py::ssize_t> shape, py::dtype dt, py::object like) {
    const void* lp = nullptr;
    if (!like.is_none()) lp = py::cast<py::array>(like).data();
    return empty_array(dt, shape, lp);
  }, py::arg("shape"), py::arg("dtype"), py::arg("like") = py::none());

  m.def("_buffer_cached_bytes", &buffer_cached_bytes);
  m.def("_buffer_trim", &buffer_trim);

  register_variants(m);  // alpha_apply, gaussian, normal_from_words (variants.cpp)

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

  m.def("philox4x32", [](std::array<uint32_t, 4> ctr, std::array<uint32_t, 2> key) {
    Block4 c{{ctr[0], ctr[1], ctr[2], ctr[3]}};
    const Block4 r = philox4x32_10(c, key[0], key[1]);
    return std::array<uint32_t, 4>{r.v[0], r.v[1], r.v[2], r.v[3]};
  });

  m.def("simd_level", [] { return std::string(isa_name(active_isa())); });
  m.def("supported_simd_levels", [] {
    std::vector<std::string> out;
    for (Isa isa : supported_isas()) out.emplace_back(isa_name(isa));
    return out;
  });
  m.def("_set_simd", [](const std::string& name) {
    Isa isa;
    if (!parse_isa(name, isa))
      throw py::value_error("unknown SIMD level " + name + "; expected scalar, avx2, avx512 or neon");
    for (Isa s : supported_isas()) {
      if (s == isa) {
        set_active_isa(isa);
        return;
      }
    }
    throw py::value_error("SIMD level " + name + " is not supported by this CPU");
  });
  m.def("_avx512fp16", [] {
    return std::string(!has_avx512fp16() ? "unsupported" : avx512fp16_enabled() ? "on" : "off");
  });
  m.def("_set_avx512fp16", [](bool on) {
    if (on && !has_avx512fp16())
      throw py::value_error("this CPU (or the compiler of this build) has no AVX512-FP16");
    set_avx512fp16(on);
  });
  m.def("_avx512ifma", [] {
    return std::string(!has_avx512ifma() ? "unsupported" : avx512ifma_enabled() ? "on" : "off");
  });
  m.def("_set_avx512ifma", [](bool on) {
    if (on && !has_avx512ifma()) throw py::value_error("this CPU has no AVX512-IFMA");
    set_avx512ifma(on);
  });
  m.def("get_num_threads", &get_num_threads);
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw py::value_error("num_threads must be >= 1, got " + std::to_string(n));
    set_num_threads(n);
  });
  m.def("build_info", [] {
    py::dict d;
#if defined(PYDROPOUT_HAS_OPENMP)
    d["openmp"] = py::int_(_OPENMP);
#else
    d["openmp"] = py::none();
#endif
#if defined(__clang__)
    d["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    d["compiler"] = std::string("gcc ") + __VERSION__;
#else
    d["compiler"] = std::string("unknown");
#endif
#if defined(PYDROPOUT_BUILD_FLAGS)
    d["flags"] = std::string(PYDROPOUT_BUILD_FLAGS);
#else
    d["flags"] = std::string("");
#endif
    return d;
  });
}
