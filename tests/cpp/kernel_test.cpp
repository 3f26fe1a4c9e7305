// kernel_test.cpp: checks every kernel tier this machine supports against the vectors
// of tests/data/kernel_vectors.txt (computed by pydropout.reference). Built and run by
// scripts/neon_qemu.sh natively (scalar, AVX2, the AVX-512 tiers) and for aarch64 under qemu-user
// (scalar, NEON). Each record is checked through the kernel entry points directly
// (whole array in one call, and cut into pieces at every 64-element boundary as the
// threads cut it) and through the whole-array drivers of dispatch.cpp.
//
// usage: kernel_test VECTORS_FILE   (exit status 0 iff every check passes)
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "../../csrc/core/convert.hpp"
#include "../../csrc/core/dropout.hpp"
#include "../../csrc/core/philox.hpp"
#include "../../csrc/dispatch/dispatch.hpp"

using namespace pydropout;
using Bytes = std::vector<uint8_t>;

namespace {

int failures = 0;
int checks = 0;

Bytes unhex(const std::string& s) {
  Bytes out;
  if (s == "-") return out;
  for (size_t i = 0; i + 1 < s.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoul(s.substr(i, 2), nullptr, 16)));
  return out;
}

size_t esize(int code) { return code == 3 ? 8 : code == 2 ? 4 : 2; }

double from_bits(uint64_t b) {
  double d;
  std::memcpy(&d, &b, 8);
  return d;
}

void expect(bool ok, const std::string& what, int line) {
  ++checks;
  if (!ok) {
    ++failures;
    if (failures <= 20) std::cerr << "FAIL line " << line << ": " << what << "\n";
  }
}

// Outputs get guard bytes on both sides: no kernel may write outside its array. The data
// starts `shift` bytes past a 64-byte boundary (0: aligned, as streaming stores require).
struct Guarded {
  static constexpr size_t kGuard = 128;
  Bytes buf;
  size_t n, at;
  explicit Guarded(size_t nbytes, size_t shift = 0)
      : buf(nbytes + 2 * kGuard + 64, 0xA5), n(nbytes) {
    const uintptr_t p = reinterpret_cast<uintptr_t>(buf.data()) + kGuard;
    at = kGuard + ((64 - p % 64) % 64) + shift % 64;
  }
  uint8_t* data() { return buf.data() + at; }
  Bytes body() const { return Bytes(buf.begin() + at, buf.begin() + at + n); }
  bool guards_ok() const {
    for (size_t i = 0; i < buf.size(); ++i)
      if ((i < at || i >= at + n) && buf[i] != 0xA5) return false;
    return true;
  }
};

// Where the threads may cut an array: at every multiple of 64 elements.
std::vector<uint64_t> cuts(uint64_t n) {
  std::vector<uint64_t> c{0};
  for (uint64_t b = 64; b < n; b += 64 * (1 + n / 512)) c.push_back(b);
  c.push_back(n);
  return c;
}

void check_forward(const Kernels& t, const std::string& isa, std::istringstream& in, int line) {
  int code, drop_all, apply;
  uint64_t n, seed, stream, offset, sbits;
  uint32_t threshold;
  std::string xs, ys, ms;
  in >> code >> n >> seed >> stream >> offset >> threshold >> drop_all >> apply >> sbits >> xs >>
      ys >> ms;
  const Bytes x = unhex(xs), y = unhex(ys), m = unhex(ms);
  const size_t es = esize(code);
  const Scale scale{apply != 0, from_bits(sbits)};
  const std::string tag =
      isa + " forward dtype " + std::to_string(code) + " n " + std::to_string(n);
  if (!drop_all) {
    // the kernel entry point, whole and in pieces (as threads would run it), with plain
    // and with streaming stores, into aligned and misaligned outputs
    for (int variant = 0; variant < 4; ++variant) {
      const bool pieces = variant & 1, streaming = variant & 2;
      Guarded gy(n * es, streaming ? 0 : es * variant), gm((n + 7) / 8);
      const Keys keys = make_keys(seed, stream);
      const std::vector<uint64_t> c = pieces ? cuts(n) : std::vector<uint64_t>{0, n};
      for (size_t k = 0; k + 1 < c.size(); ++k) {
        const uint64_t b = c[k], e = c[k + 1];
        if (e > b)
          t.forward[code](x.data() + b * es, gy.data() + b * es, gm.data() + b / 8, e - b, keys,
                          offset + b, threshold, scale, streaming);
      }
      const std::string how =
          std::string(pieces ? " (pieces)" : "") + (streaming ? " (stream)" : "");
      expect(gy.body() == y, tag + how + ": output", line);
      expect(gm.body() == m, tag + how + ": mask", line);
      expect(gy.guards_ok() && gm.guards_ok(), tag + how + ": write outside the arrays", line);
    }
    Guarded gy(n * es, es);  // without a mask
    t.forward[code](x.data(), gy.data(), nullptr, n, make_keys(seed, stream), offset, threshold,
                    scale, false);
    expect(gy.body() == y && gy.guards_ok(), tag + " (no mask): output", line);
  }
  // the whole-array driver (special cases of p, chunking)
  const Draw d{seed, stream, offset, threshold, drop_all != 0};
  Guarded gy(n * es), gm((n + 7) / 8);
  dropout_forward(static_cast<DType>(code), x.data(), gy.data(), gm.data(), n, d, scale);
  expect(gy.body() == y && gm.body() == m && gy.guards_ok() && gm.guards_ok(), tag + " (driver)",
         line);
}

void check_mask(const Kernels& t, const std::string& isa, std::istringstream& in, int line) {
  uint64_t n, seed, stream, offset;
  uint32_t threshold;
  int drop_all;
  std::string ms;
  in >> n >> seed >> stream >> offset >> threshold >> drop_all >> ms;
  const Bytes m = unhex(ms);
  const std::string tag = isa + " mask n " + std::to_string(n);
  if (!drop_all) {
    Guarded gm((n + 7) / 8);
    const Keys keys = make_keys(seed, stream);
    const std::vector<uint64_t> c = cuts(n);
    for (size_t k = 0; k + 1 < c.size(); ++k)
      if (c[k + 1] > c[k])
        t.mask(gm.data() + c[k] / 8, c[k + 1] - c[k], keys, offset + c[k], threshold);
    expect(gm.body() == m && gm.guards_ok(), tag, line);
  }
  const Draw d{seed, stream, offset, threshold, drop_all != 0};
  Guarded gm((n + 7) / 8);
  dropout_mask(gm.data(), n, d);
  expect(gm.body() == m && gm.guards_ok(), tag + " (driver)", line);
}

void check_apply(const Kernels& t, const std::string& isa, std::istringstream& in, int line) {
  int code, apply;
  uint64_t n, sbits;
  std::string xs, ms, ys;
  in >> code >> n >> apply >> sbits >> xs >> ms >> ys;
  const Bytes x = unhex(xs), y = unhex(ys);
  const bool has_mask = ms != "none";
  const Bytes m = has_mask ? unhex(ms) : Bytes{};
  const size_t es = esize(code);
  const Scale scale{apply != 0, from_bits(sbits)};
  const std::string tag = isa + " apply dtype " + std::to_string(code) + " n " + std::to_string(n);
  for (int streaming = 0; streaming < 2; ++streaming) {
    Guarded gy(n * es, streaming ? 0 : 3 * es);
    const std::vector<uint64_t> c = cuts(n);
    for (size_t k = 0; k + 1 < c.size(); ++k) {
      const uint64_t b = c[k], e = c[k + 1];
      if (e > b)
        t.apply[code](x.data() + b * es, gy.data() + b * es, has_mask ? m.data() + b / 8 : nullptr,
                      e - b, scale, streaming != 0);
    }
    expect(gy.body() == y && gy.guards_ok(), tag + (streaming ? " (stream)" : ""), line);
  }
  Guarded gy2(n * es);
  dropout_apply(static_cast<DType>(code), x.data(), gy2.data(), has_mask ? m.data() : nullptr, n,
                scale);
  expect(gy2.body() == y && gy2.guards_ok(), tag + " (driver)", line);
}

void check_philox(std::istringstream& in, int line) {
  uint32_t c[4], k[2], r[4];
  for (auto& v : c) in >> v;
  for (auto& v : k) in >> v;
  for (auto& v : r) in >> v;
  const Block4 got = philox4x32_10(Block4{{c[0], c[1], c[2], c[3]}}, k[0], k[1]);
  expect(std::memcmp(got.v, r, sizeof(r)) == 0, "philox known answer", line);
}

// The variants' kernels have no vectors of their own: each tier's must give the scalar
// tier's bytes (which tests/test_variants.py checks against the reference), whole and cut
// at 64-element boundaries as the threads cut them.
void check_variants(const Kernels& t, const Kernels& ref, const std::string& tier) {
  uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&] {  // splitmix64
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  const uint64_t n = 1000;
  const Keys keys = make_keys(0x0123456789abcdefull, 7);
  for (int code = 0; code < kNumDTypes; ++code) {
    const size_t es = esize(code);
    Bytes x(n * es), m((n + 7) / 8);
    for (uint64_t i = 0; i < n; ++i) {  // finite values in [-4, 4)
      const float f =
          static_cast<float>(static_cast<int64_t>(next() >> 40) - (1 << 23)) / (1 << 21);
      const uint16_t h = code == 0 ? float_to_half(f) : float_to_bf16(f);
      const double d = f;
      if (code < 2)
        std::memcpy(&x[i * es], &h, 2);
      else if (code == 2)
        std::memcpy(&x[i * es], &f, 4);
      else
        std::memcpy(&x[i * es], &d, 8);
    }
    for (auto& b : m) b = static_cast<uint8_t>(next());
    const std::string tag = tier + " variants dtype " + std::to_string(code);
    for (const uint64_t cut : {n, uint64_t{448}}) {
      Bytes want(n * es), got(n * es);
      const uint64_t parts[2][2] = {{0, cut}, {cut, n}};
      for (const bool stream : {false, true}) {  // the reference's plain stores, each kind here
        for (const auto& part : parts) {
          const uint64_t b = part[0], len = part[1] - part[0];
          if (!len) continue;
          ref.alpha[code](&x[b * es], &want[b * es], &m[b / 8], len, 1.5, 0.25, -1.0, false);
          t.alpha[code](&x[b * es], &got[b * es], &m[b / 8], len, 1.5, 0.25, -1.0, stream);
        }
        expect(got == want, tag + (stream ? " alpha stream" : " alpha"), 0);
      }
      for (const auto& part : parts) {
        const uint64_t b = part[0], len = part[1] - part[0];
        if (!len) continue;
        ref.gaussian[code](&x[b * es], &want[b * es], len, keys, 3 + b, 0.5);
        t.gaussian[code](&x[b * es], &got[b * es], len, keys, 3 + b, 0.5);
      }
      expect(got == want, tag + " gaussian", 0);
    }
  }
  std::vector<uint32_t> w(n);
  for (auto& v : w) v = static_cast<uint32_t>(next());
  w[0] = 0, w[1] = ~0u, w[2] = 0x80000000u, w[3] = 0x7fffffffu;  // the ends and the middle
  std::vector<double> want(n), got(n);
  ref.normal(w.data(), want.data(), n);
  t.normal(w.data(), got.data(), n);
  expect(std::memcmp(want.data(), got.data(), n * 8) == 0, tier + " normal", 0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: kernel_test VECTORS_FILE\n";
    return 2;
  }
  std::ifstream file(argv[1]);
  if (!file) {
    std::cerr << "cannot read " << argv[1] << "\n";
    return 2;
  }
  std::vector<std::string> lines;
  for (std::string s; std::getline(file, s);) lines.push_back(s);

  set_num_threads(1);
  for (Tier tier : supported_tiers()) {
    set_active_tier(tier);
    const Kernels& t = active_kernels();
    const std::string name = tier_name(tier);
    const int before = failures, checks_before = checks;
    for (size_t i = 0; i < lines.size(); ++i) {
      std::istringstream in(lines[i]);
      std::string kind;
      in >> kind;
      const int line = static_cast<int>(i + 1);
      if (kind == "philox")
        check_philox(in, line);
      else if (kind == "forward")
        check_forward(t, name, in, line);
      else if (kind == "mask")
        check_mask(t, name, in, line);
      else if (kind == "apply")
        check_apply(t, name, in, line);
    }
    check_variants(t, tier_kernels(Tier::scalar), name);
    std::printf("%-16s %5d checks, %d failures\n", name.c_str(), checks - checks_before,
                failures - before);
  }
  std::printf("%s: %d checks over %zu records, %d failures\n", failures ? "FAILED" : "OK", checks,
              lines.size(), failures);
  return failures ? 1 : 0;
}
