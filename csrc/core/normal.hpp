// normal.hpp: the constants of the variants' normal transform (kernels/variants-inl.hpp),
// part of the specification: pydropout's NumPy reference spells the same hex strings.
#pragma once

namespace pydropout {

// ---- constants of the normal transform -----------------------------------------------------
// Hex literals (exact); reference.py spells the same hex strings.
constexpr double kTwoM32 = 0x1p-32;
constexpr double kSplit = 0x1.b333333333333p-2;      // 0.425
constexpr double kCentral = 0x1.71eb851eb851fp-3;    // 0.180625 = 0.425**2
constexpr double kTailShift = 0x1.999999999999ap+0;  // 1.6
constexpr double kSqrtHalf = 0x1.6a09e667f3bcdp-1;
constexpr double kLn2Hi = 0x1.62e42fee00000p-1;  // ln 2 = hi + lo; e * hi is exact
constexpr double kLn2Lo = 0x1.a39ef35793c76p-33;

// Wichura, AS241 (Applied Statistics 37(3), 1988), PPND16, lowest coefficient first.
// |q| <= 0.425: z = q * A(r) / B(r), r = 0.180625 - q*q.
constexpr double kAs241A[8] = {0x1.b18d91e9eef75p+1,  0x1.0a4888b1a436ep+7,  0x1.ece5d2213c0ccp+10,
                               0x1.ad1d8cd4ee71dp+13, 0x1.66c3e869b752ap+15, 0x1.06c1c55b78f20p+16,
                               0x1.052d26b2e45e4p+15, 0x1.39a296f7d925ep+11};
constexpr double kAs241B[8] = {0x1.0000000000000p+0,  0x1.5281b386e1ab5p+5,  0x1.5797efdc8b3f7p+9,
                               0x1.512322e75c89fp+12, 0x1.4b772d5d65266p+14, 0x1.3317caa64f4bep+15,
                               0x1.c0e457cb1ae76p+14, 0x1.46a7eca984b69p+12};
// Otherwise: z = +-C(r) / D(r), r = sqrt(-ln(min(u, 1 - u))) - 1.6. With 32-bit words
// min(u, 1 - u) >= 2**-33, so sqrt(-ln(.)) <= 4.78 and AS241's third branch (> 5) is
// never reached.
constexpr double kAs241C[8] = {0x1.6c665fde9526ap+0, 0x1.2857748cab19bp+2, 0x1.713f71462256ap+2,
                               0x1.d2ecb1a3d02c4p+1, 0x1.453cc085375b2p+0, 0x1.ef2abb9b85c37p-3,
                               0x1.744eb6c45ec67p-6, 0x1.9615ac0b7ace9p-11};
constexpr double kAs241D[8] = {0x1.0000000000000p+0,  0x1.06cefbb46a449p+1, 0x1.ad278e6526633p+0,
                               0x1.61292f23385c9p-1,  0x1.2f5123394f040p-3, 0x1.f207a7eab17bfp-7,
                               0x1.1f18cbfdf2728p-11, 0x1.20d3f686439e4p-30};

}  // namespace pydropout
