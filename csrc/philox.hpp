// philox.hpp: scalar Philox4x32-10 (Salmon et al., SC'11), exactly as Random123
// defines it. This is the readable definition that every SIMD kernel must match;
// tests check it against Random123's known-answer vectors (SPEC.md section 2).
#pragma once
#include <cstdint>

namespace pydropout {

constexpr uint32_t kPhiloxM0 = 0xD2511F53u;  // multiplier for word 0
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;  // multiplier for word 2
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;  // key bump (golden ratio)
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;  // key bump (sqrt(3) - 1)
constexpr int kPhiloxRounds = 10;

struct Block4 {
  uint32_t v[4];
};

inline void mulhilo32(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t product = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(product >> 32);
  lo = static_cast<uint32_t>(product);
}

// One Philox4x32-10 block: ten rounds of S-box + key bump.
inline Block4 philox4x32_10(Block4 ctr, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < kPhiloxRounds; ++round) {
    if (round > 0) {  // Random123 bumps the key before every round but the first
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
    }
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo32(kPhiloxM0, ctr.v[0], hi0, lo0);
    mulhilo32(kPhiloxM1, ctr.v[2], hi1, lo1);
    ctr = Block4{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
  }
  return ctr;
}

// The stream of SPEC.md section 2: word j is lane j % 4 of the block whose
// counter is (b lo, b hi, stream lo, stream hi) with b = j / 4.
inline Block4 stream_block(uint64_t seed, uint64_t stream, uint64_t block) {
  Block4 ctr{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
              static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)}};
  return philox4x32_10(ctr, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

inline uint32_t stream_word(uint64_t seed, uint64_t stream, uint64_t j) {
  return stream_block(seed, stream, j >> 2).v[j & 3];
}

}  // namespace pydropout
