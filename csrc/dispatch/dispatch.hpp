// dispatch.hpp: SIMD levels, kernel tiers, and the kernels of the tier in use.
// A level is what simd_level() names (scalar, neon, avx2, avx512); a tier is one table of
// kernels (kernels/<tier>.cpp). The AVX-512 level has four tiers, all giving the same bits:
// Philox's high halves by shifts or with IFMA, float16 by float32 or with AVX512-FP16.
// CPU detection and the tables are made once, at start-up (dispatch.cpp); PYDROPOUT_SIMD
// caps the level.
#pragma once
#include <string>
#include <vector>

#include "kernels.hpp"

namespace pydropout {

enum class Isa : int { scalar = 0, neon = 1, avx2 = 2, avx512 = 3 };

enum class Tier : int {
  scalar,
  neon,
  avx2,
  avx512,
  avx512_ifma,
  avx512_fp16,
  avx512_ifma_fp16,
};
constexpr int kNumTiers = 7;

const char* isa_name(Isa isa);
bool parse_isa(const std::string& name, Isa& out);
std::vector<Isa> supported_isas();  // every level this CPU supports, lowest first
Isa active_isa();
void set_active_isa(Isa isa);  // caller checks that the CPU supports it

const char* tier_name(Tier tier);
std::vector<Tier> supported_tiers();  // every tier this CPU (and this build) supports
Tier active_tier();
const Kernels& tier_kernels(Tier tier);  // a supported tier
const Kernels& active_kernels();
void set_active_tier(Tier tier);  // a supported tier: its level and AVX-512 switches

// The AVX-512 tiers in use: float16 arithmetic with AVX512-FP16 where the CPU has it (the
// default there; PYDROPOUT_AVX512FP16=0 turns it off), and Philox's high halves with IFMA
// where the CPU has it (the default on Intel CPUs only; PYDROPOUT_AVX512IFMA=0|1
// overrides). Callers check has_*() before turning one on.
bool has_avx512fp16();
bool avx512fp16_enabled();
void set_avx512fp16(bool on);
bool has_avx512ifma();
bool avx512ifma_enabled();
void set_avx512ifma(bool on);

}  // namespace pydropout
