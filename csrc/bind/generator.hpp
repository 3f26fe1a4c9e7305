// generator.hpp: the Python Generator's state, a Philox stream position (seed, stream,
// offset) that threads share safely, and the process-wide default generator.
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <tuple>

namespace pydropout {
namespace py = pybind11;

using u128 = unsigned __int128;
constexpr u128 kStreamEnd = u128(1) << 64;  // an exhausted generator sits at 2**64

py::int_ to_pyint(u128 v);

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

Generator& default_generator();

}  // namespace pydropout
