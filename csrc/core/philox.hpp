// philox.hpp: scalar Philox4x32-10 (Salmon et al., SC'11), exactly as Random123 defines
// it, and its key schedule. This is the readable definition that every SIMD kernel must
// match, and the only place the Philox constants are written; tests check it against
// Random123's known-answer vectors (docs/CONTRACT.md section 2).
#pragma once
#include <cstdint>

namespace pydropout {

constexpr uint32_t kPhiloxM0 = 0xD2511F53u;  // multiplier for word 0
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;  // multiplier for word 2
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;  // key bump (golden ratio)
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;  // key bump (sqrt(3) - 1)
constexpr int kPhiloxRounds = 10;

// Per-call key material, computed once: the round keys (Random123 bumps the key before
// every round but the first) and the stream, the high half of every counter.
struct Keys {
  uint32_t k0[kPhiloxRounds];
  uint32_t k1[kPhiloxRounds];
  uint32_t stream_lo;
  uint32_t stream_hi;
};

constexpr Keys make_keys(uint64_t seed, uint64_t stream) {
  Keys k{};
  uint32_t k0 = static_cast<uint32_t>(seed);
  uint32_t k1 = static_cast<uint32_t>(seed >> 32);
  for (int r = 0; r < kPhiloxRounds; ++r) {
    k.k0[r] = k0;
    k.k1[r] = k1;
    k0 += kPhiloxW0;
    k1 += kPhiloxW1;
  }
  k.stream_lo = static_cast<uint32_t>(stream);
  k.stream_hi = static_cast<uint32_t>(stream >> 32);
  return k;
}

// N blocks side by side: block b's counter is (c0[b], c1[b], c2[b], c3[b]), replaced by its
// output. Always inlined, so that a kernel built for a wider ISA vectorises the loops
// over b at its own width.
template <int N>
__attribute__((always_inline)) inline void philox_rounds(const Keys& keys, uint32_t* c0,
                                                         uint32_t* c1, uint32_t* c2, uint32_t* c3) {
  for (int round = 0; round < kPhiloxRounds; ++round) {
    for (int b = 0; b < N; ++b) {
      const uint64_t p0 = static_cast<uint64_t>(kPhiloxM0) * c0[b];
      const uint64_t p1 = static_cast<uint64_t>(kPhiloxM1) * c2[b];
      const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1[b] ^ keys.k0[round];
      const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3[b] ^ keys.k1[round];
      c1[b] = static_cast<uint32_t>(p1);
      c3[b] = static_cast<uint32_t>(p0);
      c0[b] = n0;
      c2[b] = n2;
    }
  }
}

// The stream of docs/CONTRACT.md section 2: word j is lane j % 4 of the block whose counter is
// (b lo, b hi, stream lo, stream hi) with b = j / 4. Writes words 4 * block ..
// 4 * block + 4 * N - 1 to out, in order.
template <int N>
__attribute__((always_inline)) inline void stream_words(const Keys& keys, uint64_t block,
                                                        uint32_t* out) {
  uint32_t c0[N], c1[N], c2[N], c3[N];
  for (int b = 0; b < N; ++b) {
    const uint64_t blk = block + static_cast<uint64_t>(b);
    c0[b] = static_cast<uint32_t>(blk);
    c1[b] = static_cast<uint32_t>(blk >> 32);
    c2[b] = keys.stream_lo;
    c3[b] = keys.stream_hi;
  }
  philox_rounds<N>(keys, c0, c1, c2, c3);
  for (int b = 0; b < N; ++b) {
    out[4 * b] = c0[b];
    out[4 * b + 1] = c1[b];
    out[4 * b + 2] = c2[b];
    out[4 * b + 3] = c3[b];
  }
}

struct Block4 {
  uint32_t v[4];
};

// One Philox4x32-10 block of counter ctr under key (k0, k1).
inline Block4 philox4x32_10(Block4 ctr, uint32_t k0, uint32_t k1) {
  const Keys keys = make_keys((static_cast<uint64_t>(k1) << 32) | k0, 0);
  philox_rounds<1>(keys, &ctr.v[0], &ctr.v[1], &ctr.v[2], &ctr.v[3]);
  return ctr;
}

inline uint32_t stream_word(uint64_t seed, uint64_t stream, uint64_t j) {
  uint32_t w[4];
  stream_words<1>(make_keys(seed, stream), j >> 2, w);
  return w[j & 3];
}

}  // namespace pydropout
