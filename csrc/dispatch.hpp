// dispatch.hpp: SIMD levels, CPU detection, and the kernel table of the active level.
// The table of every level is filled once at start-up; PYDROPOUT_SIMD caps the level.
#pragma once
#include <string>
#include <vector>

#include "dropout.hpp"

namespace pydropout {

enum class Isa : int { scalar = 0, neon = 1, avx2 = 2, avx512 = 3 };

const char* isa_name(Isa isa);
bool parse_isa(const std::string& name, Isa& out);

Isa best_isa();                      // the best level this CPU supports
std::vector<Isa> supported_isas();   // every level this CPU supports, lowest first
Isa active_isa();
void set_active_isa(Isa isa);        // caller checks that the CPU supports it
const KernelTable& active_table();

// float16 at the AVX-512 level with AVX512-FP16 arithmetic, where the CPU has it (the
// default there; PYDROPOUT_AVX512FP16=0 turns it off at start-up). Same bits either way.
bool has_avx512fp16();
bool avx512fp16_enabled();
void set_avx512fp16(bool on);        // caller checks has_avx512fp16() before turning it on

// Filled by each ISA's translation unit, outside its target region.
namespace scalar { void register_kernels(KernelTable& table); }
#if defined(__x86_64__) || defined(_M_X64)
namespace avx2 { void register_kernels(KernelTable& table); }
namespace avx512 {
void register_kernels(KernelTable& table);
bool register_fp16_kernels(KernelTable& table);  // false where the CPU or compiler lacks it
}
#endif
#if defined(__aarch64__)
namespace neon { void register_kernels(KernelTable& table); }
#endif

}  // namespace pydropout
