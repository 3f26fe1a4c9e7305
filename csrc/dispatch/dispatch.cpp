// dispatch.cpp: CPU detection (the one place), the tiers in order, the PYDROPOUT_SIMD cap and
// the AVX-512 tier switches. Every supported tier's table is filled once, at start-up, over a
// copy of its base tier's; the choice of table is tier_for() below.
#include "dispatch.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "target.hpp"

namespace pydropout {
namespace {

// What this CPU has, as far as the tiers care.
struct Cpu {
  bool avx2 = false, avx512 = false, ifma = false, fp16 = false, intel = false;
};

Cpu detect_cpu() {
  Cpu c;
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  c.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("bmi2");
  c.avx2 = c.avx512 || (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                        __builtin_cpu_supports("f16c"));
  c.ifma = c.avx512 && __builtin_cpu_supports("avx512ifma");
  // every CPU with AVX512-FP16 has IFMA: its tiers may use both
  c.fp16 = c.ifma && __builtin_cpu_supports("avx512fp16");
  c.intel = __builtin_cpu_is("intel");
#endif
  return c;
}

// The tiers in order: each is filled over a copy of its base's table (listed before it).
struct TierDef {
  Tier tier;
  const char* name;
  Isa isa;
  Tier base;
  bool (*runs_on)(const Cpu&);
  void (*fill)(Kernels&);
};

constexpr TierDef kTiers[] = {
    {Tier::scalar, "scalar", Isa::scalar, Tier::scalar, [](const Cpu&) { return true; },
     &scalar::fill},
#if defined(__x86_64__) || defined(_M_X64)
    {Tier::avx2, "avx2", Isa::avx2, Tier::scalar, [](const Cpu& c) { return c.avx2; }, &avx2::fill},
    {Tier::avx512, "avx512", Isa::avx512, Tier::avx2, [](const Cpu& c) { return c.avx512; },
     &avx512::fill},
    {Tier::avx512_ifma, "avx512_ifma", Isa::avx512, Tier::avx512,
     [](const Cpu& c) { return c.ifma; }, &avx512_ifma::fill},
#if defined(PYDROPOUT_HAVE_AVX512FP16)
    {Tier::avx512_fp16, "avx512_fp16", Isa::avx512, Tier::avx512,
     [](const Cpu& c) { return c.fp16; }, &avx512_fp16::fill},
    {Tier::avx512_ifma_fp16, "avx512_ifma_fp16", Isa::avx512, Tier::avx512_ifma,
     [](const Cpu& c) { return c.fp16; }, &avx512_ifma_fp16::fill},
#endif
#endif
#if defined(__aarch64__)
    {Tier::neon, "neon", Isa::neon, Tier::scalar, [](const Cpu&) { return true; }, &neon::fill},
#endif
};

constexpr int idx(Tier t) { return static_cast<int>(t); }

// The one choice of table: the level, then the AVX-512 switches.
Tier tier_for(Isa isa, bool ifma, bool fp16) {
  switch (isa) {
    case Isa::neon: return Tier::neon;
    case Isa::avx2: return Tier::avx2;
    case Isa::avx512:
      if (fp16) return ifma ? Tier::avx512_ifma_fp16 : Tier::avx512_fp16;
      return ifma ? Tier::avx512_ifma : Tier::avx512;
    default: return Tier::scalar;
  }
}

bool env_is(const char* name, const char* value) {
  const char* env = std::getenv(name);
  return env && std::strcmp(env, value) == 0;
}

// The level and the AVX-512 switches (effective at the avx512 level).
struct Switches {
  Isa isa = Isa::scalar;
  bool ifma = false, fp16 = false;
};

struct Dispatch {
  Kernels table[kNumTiers];
  bool supported[kNumTiers] = {};
  std::vector<Isa> levels;  // lowest first
  std::mutex lock;          // guards sw
  Switches sw;
  std::atomic<int> active{0};  // tier_for(sw): what every kernel call reads

  Dispatch() {
    const Cpu cpu = detect_cpu();
    for (const TierDef& d : kTiers) {
      if (!d.runs_on(cpu)) continue;
      table[idx(d.tier)] = table[idx(d.base)];
      d.fill(table[idx(d.tier)]);
      supported[idx(d.tier)] = true;
    }
    for (Isa level : {Isa::scalar, Isa::neon, Isa::avx2, Isa::avx512})
      if (supported[idx(tier_for(level, false, false))]) levels.push_back(level);
    // PYDROPOUT_SIMD caps the level: the best supported level not above the request.
    sw.isa = levels.back();
    if (const char* env = std::getenv("PYDROPOUT_SIMD")) {
      Isa cap;
      if (parse_isa(env, cap)) {
        sw.isa = Isa::scalar;
        for (Isa level : levels)
          if (static_cast<int>(level) <= static_cast<int>(cap)) sw.isa = level;
      }
    }
    sw.fp16 = has_fp16() && !env_is("PYDROPOUT_AVX512FP16", "0");
    bool want_ifma = cpu.intel;  // faster on Intel's cores, slower on AMD Zen 4 (DESIGN.md)
    if (env_is("PYDROPOUT_AVX512IFMA", "0")) want_ifma = false;
    if (env_is("PYDROPOUT_AVX512IFMA", "1")) want_ifma = true;
    sw.ifma = has_ifma() && want_ifma;
    active.store(idx(tier_for(sw.isa, sw.ifma, sw.fp16)));
  }

  bool has_ifma() const { return supported[idx(Tier::avx512_ifma)]; }
  bool has_fp16() const { return supported[idx(Tier::avx512_fp16)]; }

  Switches read() {
    std::lock_guard<std::mutex> g(lock);
    return sw;
  }
  // every change of a switch chooses the tier again
  template <class Fn>
  void change(const Fn& fn) {
    std::lock_guard<std::mutex> g(lock);
    fn(sw);
    active.store(idx(tier_for(sw.isa, sw.ifma, sw.fp16)));
  }
};

Dispatch& dispatch() {
  static Dispatch d;
  return d;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::neon: return "neon";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "scalar";
}

bool parse_isa(const std::string& name, Isa& out) {
  for (Isa isa : {Isa::scalar, Isa::neon, Isa::avx2, Isa::avx512}) {
    if (name == isa_name(isa)) {
      out = isa;
      return true;
    }
  }
  return false;
}

std::vector<Isa> supported_isas() { return dispatch().levels; }

Isa active_isa() { return dispatch().read().isa; }
void set_active_isa(Isa isa) {
  dispatch().change([&](Switches& sw) { sw.isa = isa; });
}

const char* tier_name(Tier tier) {
  for (const TierDef& d : kTiers)
    if (d.tier == tier) return d.name;
  return "scalar";
}

std::vector<Tier> supported_tiers() {
  std::vector<Tier> out;
  for (const TierDef& d : kTiers)
    if (dispatch().supported[idx(d.tier)]) out.push_back(d.tier);
  return out;
}

Tier active_tier() { return static_cast<Tier>(dispatch().active.load()); }
const Kernels& tier_kernels(Tier tier) { return dispatch().table[idx(tier)]; }
const Kernels& active_kernels() {
  Dispatch& d = dispatch();
  return d.table[d.active.load(std::memory_order_relaxed)];
}

void set_active_tier(Tier tier) {
  for (const TierDef& def : kTiers) {
    if (def.tier != tier) continue;
    dispatch().change([&](Switches& sw) {
      sw.isa = def.isa;
      sw.ifma = tier == Tier::avx512_ifma || tier == Tier::avx512_ifma_fp16;
      sw.fp16 = tier == Tier::avx512_fp16 || tier == Tier::avx512_ifma_fp16;
    });
  }
}

bool has_avx512fp16() { return dispatch().has_fp16(); }
bool has_avx512ifma() { return dispatch().has_ifma(); }
bool avx512fp16_enabled() { return dispatch().read().fp16; }
bool avx512ifma_enabled() { return dispatch().read().ifma; }
void set_avx512fp16(bool on) {
  dispatch().change([&](Switches& sw) { sw.fp16 = on && dispatch().has_fp16(); });
}
void set_avx512ifma(bool on) {
  dispatch().change([&](Switches& sw) { sw.ifma = on && dispatch().has_ifma(); });
}

}  // namespace pydropout
