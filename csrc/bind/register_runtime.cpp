// register_runtime.cpp: SIMD levels and kernel tiers, threads, the scalar Philox (for the
// known-answer tests), the build's version and flags.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <string>
#include <vector>

#include "../core/dropout.hpp"
#include "../core/philox.hpp"
#include "../dispatch/dispatch.hpp"
#include "register.hpp"

namespace py = pybind11;

namespace pydropout {

void register_runtime(py::module_& m) {
#if defined(PYDROPOUT_VERSION)
  m.attr("__version__") = PYDROPOUT_VERSION;
#endif
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
      throw py::value_error("unknown SIMD level " + name +
                            "; expected scalar, avx2, avx512 or neon");
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
  m.def("kernel_tier", [] { return std::string(tier_name(active_tier())); });
  m.def("_kernel_tiers", [] {
    std::vector<std::string> out;
    for (Tier t : supported_tiers()) out.emplace_back(tier_name(t));
    return out;
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

}  // namespace pydropout
