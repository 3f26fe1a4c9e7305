// target.hpp: target regions as one macro pair (GCC and Clang). A kernel file includes
// everything first, then opens PYDROPOUT_TARGET_PUSH("isa,list"), defines its tier's code,
// and closes with PYDROPOUT_TARGET_POP; the code that fills its table comes after the pop,
// at the baseline ISA.
#pragma once

#define PYDROPOUT_PRAGMA(...) _Pragma(#__VA_ARGS__)
#if defined(__clang__)
#define PYDROPOUT_TARGET_PUSH(isa) \
  PYDROPOUT_PRAGMA(clang attribute push(__attribute__((target(isa))), apply_to = function))
#define PYDROPOUT_TARGET_POP PYDROPOUT_PRAGMA(clang attribute pop)
#elif defined(__GNUC__)
#define PYDROPOUT_TARGET_PUSH(isa) \
  PYDROPOUT_PRAGMA(GCC push_options) PYDROPOUT_PRAGMA(GCC target(isa))
#define PYDROPOUT_TARGET_POP PYDROPOUT_PRAGMA(GCC pop_options)
#endif

// AVX512-FP16 needs GCC 12 or Clang 14; with an older compiler its tiers are left out.
#if defined(__x86_64__) || defined(_M_X64)
#if defined(__clang__) ? (__clang_major__ >= 14) : (defined(__GNUC__) && __GNUC__ >= 12)
#define PYDROPOUT_HAVE_AVX512FP16 1
#endif
#endif
