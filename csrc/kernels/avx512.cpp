// avx512.cpp: the AVX-512 tier, inside target("avx512f,avx512bw,avx512dq,avx512vl,bmi2").
// Philox runs on 32 blocks at once (two groups of 16) in 64-bit lanes (vpmuludq for the
// 32x32->64 products and shifts for the high halves, vpternlogd for the three-way XOR:
// avx512_rounds-inl.hpp); keep/drop is an unsigned integer compare straight into mask
// registers, whose bits pdep puts in element order (keep512-inl.hpp), and a zero-masked
// multiply (avx512-inl.hpp). Every AVX-512 CPU has BMI2. The variants: variants-inl.hpp,
// vectorised for AVX-512. Scalar spec: core/philox.hpp and scalar.cpp.
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "../core/bits.hpp"
#include "../core/convert.hpp"
#include "../core/normal.hpp"
#include "../core/philox.hpp"
#include "../dispatch/kernels.hpp"
#include "../dispatch/target.hpp"

PYDROPOUT_TARGET_PUSH("avx512f,avx512bw,avx512dq,avx512vl,bmi2")

namespace pydropout {
namespace avx512 {

#include "ops-inl.hpp"
#include "stores-inl.hpp"
#include "avx512_rounds-inl.hpp"
#include "keep512-inl.hpp"
#include "avx512-inl.hpp"

struct Ops : DataOps {
  // the input 2 KiB ahead of each forward window: without it AMD Zen 5 ran a forward from
  // memory at a third of its in-cache speed (docs/DESIGN.md)
  static constexpr unsigned kPrefetchBytes = 2048;
};

#include "loop-inl.hpp"
#include "cols512-inl.hpp"    // channels_last's forward without a bit transposition
#include "normal512-inl.hpp"  // the normal transform for variants-inl.hpp
#include "variants-inl.hpp"

}  // namespace avx512
}  // namespace pydropout

PYDROPOUT_TARGET_POP

namespace pydropout {
namespace avx512 {
#include "table-inl.hpp"
void fill(Kernels& t) {
  fill_table(t);
  t.forward_cols[static_cast<int>(DType::f32)] = &forward_cols_entry_f32;
}
}  // namespace avx512
}  // namespace pydropout
