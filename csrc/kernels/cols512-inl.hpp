// cols512-inl.hpp: the forward pass over a layout whose memory rows run across the logical
// innermost axis (channels_last: a row of memory is the channels of one position, and each
// channel's logical run goes down a column), on AVX-512, float32. No include guard: included
// by avx512.cpp inside its namespace and target region, after keep512-inl.hpp,
// stores-inl.hpp and loop-inl.hpp (and core/bits.hpp outside them).
//
// Element (r, c) of the rows x cols block at x draws word word0 + r + c * ld. With word0 and
// ld multiples of 4 (the caller checks), rows r .. r + 3 of a column are one Philox block,
// and the blocks of 16 neighbouring columns are the lanes of two sets (even columns, odd
// columns), as keep512-inl.hpp lays out 16 consecutive blocks: the compare of word l then
// gives the keep bits of row r + l over those 16 columns in memory order, so the data pass
// needs no transposition. The logical mask (when given) is the transposition of those bits:
// each column's 64 rows are one word of its run.
// Element (r, c)'s mask bit (when mask is given) is bit mbit + r + c * ld of mask, stored by
// core/bits.hpp's store_bits: a byte it only partly covers is OR-ed into (the caller zeroes
// such bytes and gives a thread whole bytes).

// The block is walked in chunks of 64 rows and up to kChunkCols columns, 8 rows at a time
// across the chunk's columns, so that loads and stores go along memory.
template <bool kStream, bool kScale>
static void forward_cols_f32(const float* x, float* y, uint8_t* mask, uint64_t mbit, uint64_t rows,
                             uint64_t cols, uint64_t ld, const Keys& keys, uint64_t word0,
                             uint32_t threshold, float s) {
  constexpr uint64_t kChunkCols = 256;
  const __m512i thr = _mm512_set1_epi32(static_cast<int>(threshold));
  const __m512 s_v = _mm512_set1_ps(s);
  const uint64_t q = ld / 4;  // blocks from one column to the next
  const __m512i step = _mm512_set1_epi64(static_cast<long long>(q));
  // block offsets of the even columns 0, 2, .., 14 of a vector
  const __m512i even = _mm512_mullo_epi64(_mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14), step);
  const __m512i lo = _mm512_set1_epi32(static_cast<int>(keys.stream_lo));
  const __m512i hi = _mm512_set1_epi32(static_cast<int>(keys.stream_hi));
  const uint64_t ahead = (2048 + cols * sizeof(float) - 1) / (cols * sizeof(float));  // rows
  // the keep bits of a chunk, a row of 16 columns each
  alignas(64) uint16_t kept[kChunkCols / 16][64];
  for (uint64_t r0 = 0; r0 < rows; r0 += 64) {
    const uint64_t nr = rows - r0 < 64 ? rows - r0 : 64;
    for (uint64_t cb = 0; cb < cols; cb += kChunkCols) {
      const uint64_t ce = cols - cb < kChunkCols ? cols : cb + kChunkCols;
      for (uint64_t g = 0; g < nr; g += 8) {  // two block rows: rows r0 + g .. r0 + g + 7
        const uint64_t block = (word0 + r0 + g) / 4;
        for (uint64_t c0 = cb; c0 < ce; c0 += 16) {
          const uint64_t nc = ce - c0 < 16 ? ce - c0 : 16;
          const auto lanes = static_cast<__mmask16>(nc == 16 ? 0xffffu : (1u << nc) - 1u);
          const __m512i col_even =
              _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(block + c0 * q)), even);
          __m512i c0v[4], c1v[4], c2v[4], c3v[4];
#pragma GCC unroll 4
          for (int t = 0; t < 4; ++t) {
            __m512i ctr = (t & 1) ? _mm512_add_epi64(col_even, step) : col_even;
            if (t >> 1) ctr = _mm512_add_epi64(ctr, _mm512_set1_epi64(1));
            c0v[t] = ctr;
            c1v[t] = _mm512_srli_epi64(ctr, 32);
            c2v[t] = lo;
            c3v[t] = hi;
          }
          rounds<4>(keys, c0v, c1v, c2v, c3v);
          uint16_t* kp = kept[(c0 - cb) / 16];
          for (int h = 0; h < 2; ++h) {
            const __m512i a[4] = {c0v[2 * h], c1v[2 * h], c2v[2 * h], c3v[2 * h]};
            const __m512i b[4] = {c0v[2 * h + 1], c1v[2 * h + 1], c2v[2 * h + 1], c3v[2 * h + 1]};
            for (int l = 0; l < 4; ++l) {
              const uint64_t r = g + 4 * static_cast<uint64_t>(h) + static_cast<uint64_t>(l);
              if (r >= nr) break;
              const auto k = static_cast<__mmask16>(
                  (static_cast<uint32_t>(_mm512_mask_cmpge_epu32_mask(0x5555, a[l], thr)) |
                   (static_cast<uint32_t>(_mm512_mask_cmpge_epu32_mask(0x5555, b[l], thr)) << 1)) &
                  lanes);
              kp[r] = k;
              const float* xp = x + (r0 + r) * cols + c0;
              float* yp = y + (r0 + r) * cols + c0;
              if (nc == 16) {
                const __m512 v = _mm512_loadu_ps(xp);
                store<kStream>(yp,
                               kScale ? _mm512_maskz_mul_ps(k, v, s_v) : _mm512_maskz_mov_ps(k, v));
              } else {  // the last columns of a row: masked, nothing past the row is touched
                const __m512 v = _mm512_maskz_loadu_ps(lanes, xp);
                _mm512_mask_storeu_ps(
                    yp, lanes, kScale ? _mm512_maskz_mul_ps(k, v, s_v) : _mm512_maskz_mov_ps(k, v));
              }
            }
          }
          // the lines this step reads `ahead` rows later (about 2 KiB on, as the forward
          // loop's prefetch: farther ahead ran slower on AMD Zen 5)
          if (r0 + g + ahead + 8 <= rows)
            for (uint64_t f = 0; f < 8; ++f)
              __builtin_prefetch(x + (r0 + g + ahead + f) * cols + c0, 0, 3);
        }
      }
      if (mask) {  // column c's bits of rows r0 .. r0 + nr: 64 rows a word
        for (uint64_t c0 = cb; c0 < ce; c0 += 16) {
          const uint16_t* kp = kept[(c0 - cb) / 16];
          const __m512i k_lo = _mm512_load_si512(kp);
          const __m512i k_hi = _mm512_load_si512(kp + 32);
          const uint64_t nc = ce - c0 < 16 ? ce - c0 : 16;
          for (uint64_t j = 0; j < nc; ++j) {
            const __m512i bit = _mm512_set1_epi16(static_cast<short>(1u << j));
            const uint64_t w = (static_cast<uint64_t>(_mm512_test_epi16_mask(k_lo, bit)) |
                                (static_cast<uint64_t>(_mm512_test_epi16_mask(k_hi, bit)) << 32));
            store_bits(mask, mbit + (c0 + j) * ld + r0, w, static_cast<unsigned>(nr));
          }
        }
      }
    }
  }
  if (kStream) _mm_sfence();
}

static void forward_cols_entry_f32(const void* x, void* y, uint8_t* mask, uint64_t mbit,
                                   uint64_t rows, uint64_t cols, uint64_t ld, const Keys& keys,
                                   uint64_t word0, uint32_t threshold, const Scale& scale,
                                   bool stream) {
  const auto s = static_cast<float>(scale.value);
  with_flag(stream, [&](auto st) {
    with_flag(scale.apply, [&](auto sc) {
      forward_cols_f32<decltype(st)::value, decltype(sc)::value>(
          static_cast<const float*>(x), static_cast<float*>(y), mask, mbit, rows, cols, ld, keys,
          word0, threshold, s);
    });
  });
}
