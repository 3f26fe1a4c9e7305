// avx512_ifma.cpp: the AVX-512 tier with IFMA's high halves (avx512_ifma_rounds-inl.hpp),
// inside target("avx512f,avx512bw,avx512dq,avx512vl,bmi2,avx512ifma"); everything else is
// the AVX-512 tier's code (keep512-inl.hpp, avx512-inl.hpp), and its variants are the
// AVX-512 tier's table entries. The default on Intel CPUs only (PYDROPOUT_AVX512IFMA=0|1
// overrides). Scalar spec: core/philox.hpp and scalar.cpp.
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "../core/convert.hpp"
#include "../core/normal.hpp"
#include "../core/philox.hpp"
#include "../dispatch/kernels.hpp"
#include "../dispatch/target.hpp"

PYDROPOUT_TARGET_PUSH("avx512f,avx512bw,avx512dq,avx512vl,bmi2,avx512ifma")

namespace pydropout {
namespace avx512_ifma {

#include "ops-inl.hpp"
#include "stores-inl.hpp"
#include "avx512_ifma_rounds-inl.hpp"
#include "keep512-inl.hpp"
#include "avx512-inl.hpp"

struct Ops : DataOps {
  // Intel's cores also gain from a software prefetch of the input 2 KiB ahead of each
  // forward window (3-8 %, float64 up to 20 %, on the Xeon; docs/DESIGN.md)
  static constexpr unsigned kPrefetchBytes = 2048;
};

#include "loop-inl.hpp"

}  // namespace avx512_ifma
}  // namespace pydropout

PYDROPOUT_TARGET_POP

namespace pydropout {
namespace avx512_ifma {
#include "table-inl.hpp"
void fill(Kernels& t) { fill_table(t); }  // over the AVX-512 tier's variants
}  // namespace avx512_ifma
}  // namespace pydropout
