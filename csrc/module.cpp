// module.cpp: PYBIND11_MODULE(_core), pydropout's compiled core (private: the pydropout
// package is its interface). Each area registers itself: bind/register_*.cpp.
#include <pybind11/pybind11.h>

#include "bind/register.hpp"

PYBIND11_MODULE(_core, m, pybind11::mod_gil_not_used()) {
  m.doc() = "pydropout's compiled core (private: use the pydropout package).";
  pydropout::register_generator(m);
  pydropout::register_ops(m);
  pydropout::register_fast(m);
  pydropout::register_variants(m);
  pydropout::register_modern(m);
  pydropout::register_dropblock(m);
  pydropout::register_permuted(m);
  pydropout::register_arrays(m);
  pydropout::register_runtime(m);
}
