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

// Variants of the AVX-512 level, all giving the same bits: float16 arithmetic with
// AVX512-FP16 where the CPU has it (the default there; PYDROPOUT_AVX512FP16=0 turns it
// off), and Philox's high halves with IFMA where the CPU has it (the default on Intel
// CPUs only; PYDROPOUT_AVX512IFMA=0|1 overrides). Callers check has_*() before turning
// one on.
bool has_avx512fp16();
bool avx512fp16_enabled();
void set_avx512fp16(bool on);
bool has_avx512ifma();
bool avx512ifma_enabled();
void set_avx512ifma(bool on);

// Filled by each ISA's translation unit, outside its target region.
namespace scalar { void register_kernels(KernelTable& table); }
#if defined(__x86_64__) || defined(_M_X64)
namespace avx2 { void register_kernels(KernelTable& table); }
namespace avx512 {
void register_kernels(KernelTable& table);
// each false (and the table untouched) where the CPU or the compiler lacks the extension
bool register_ifma_kernels(KernelTable& table);
bool register_fp16_kernels(KernelTable& table, bool ifma);  // float16 entries only
}
#endif
#if defined(__aarch64__)
namespace neon { void register_kernels(KernelTable& table); }
#endif

}  // namespace pydropout
