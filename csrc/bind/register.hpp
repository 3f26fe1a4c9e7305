// register.hpp: one register_* function per area of the module (module.cpp calls them).
#pragma once
#include <pybind11/pybind11.h>

namespace pydropout {

void register_generator(pybind11::module_& m);  // Generator, default_generator
void register_ops(pybind11::module_& m);        // dropout kernels and the fast paths
void register_fast(pybind11::module_& m);       // noise shapes, fused alpha, hooks with out=
void register_variants(pybind11::module_& m);   // alpha, Gaussian, the normal transform
void register_modern(pybind11::module_& m);     // zoneout, additive noise, per-row keep
void register_dropblock(pybind11::module_& m);  // DropBlock's mask and kept count
void register_permuted(pybind11::module_& m);   // masks of permuted layouts in memory order
void register_arrays(pybind11::module_& m);     // output buffers, the threaded copy
void register_runtime(pybind11::module_& m);    // levels, tiers, threads, build info

}  // namespace pydropout
