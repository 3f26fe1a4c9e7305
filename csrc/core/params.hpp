// params.hpp: what a call derives from p (docs/CONTRACT.md section 3), written once for the C++
// side: the integer threshold (keep iff word >= floor(p * 2**32)) and the scale 1 / (1 - p) rounded
// once to the array's dtype. The Python layer computes the same for its calls.
#pragma once
#include <cmath>
#include <cstdint>

#include "dropout.hpp"

namespace pydropout {

// floor(p * 2**32) for p in [0, 1) (p == 1 draws nothing: Draw::drop_all)
inline uint32_t threshold_for(double p) {
  return static_cast<uint32_t>(std::floor(p * 4294967296.0));
}

// double -> float16 bits, rounded once to nearest even (as numpy.float16(double) does)
inline uint16_t double_to_half(double v) {
  const uint16_t sign = std::signbit(v) ? 0x8000 : 0;
  const double a = std::fabs(v);
  if (std::isnan(v)) return static_cast<uint16_t>(sign | 0x7e00);
  if (a >= 65520.0) return static_cast<uint16_t>(sign | 0x7c00);
  if (a < 6.103515625e-05) {  // below 2^-14: units of 2^-24
    return static_cast<uint16_t>(sign | static_cast<uint16_t>(std::nearbyint(a * 16777216.0)));
  }
  int e;
  std::frexp(a, &e);                                 // a = m * 2^e, m in [0.5, 1)
  double q = std::nearbyint(std::ldexp(a, 11 - e));  // in [1024, 2048]
  if (q == 2048.0) {
    q = 1024.0;
    ++e;
  }
  return static_cast<uint16_t>(sign | ((e - 1 + 15) << 10) | (static_cast<uint16_t>(q) - 1024));
}

// s rounded once to the dtype, as a double (exact: every value of the dtype is one)
inline double scale_for(DType dt, double s) {
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
    default: return s;  // bfloat16: the fast paths, the only callers, never serve it
  }
}

}  // namespace pydropout
