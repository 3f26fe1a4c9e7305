// philox_words.cpp: writes the words of a pydropout stream to stdout as raw little-endian
// uint32, from csrc/core/philox.hpp (the scalar definition that every kernel and the NumPy
// reference are tested against), for test batteries such as dieharder (-g 200).
//   usage: philox_words SEED STREAM [OFFSET]     (runs until the reader closes the pipe)
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "../csrc/core/philox.hpp"

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: %s SEED STREAM [OFFSET]\n", argv[0]);
    return 2;
  }
  const uint64_t seed = std::strtoull(argv[1], nullptr, 0);
  const uint64_t stream = std::strtoull(argv[2], nullptr, 0);
  uint64_t offset = argc == 4 ? std::strtoull(argv[3], nullptr, 0) : 0;
  if (offset % 4) {
    std::fprintf(stderr, "OFFSET must be a multiple of 4\n");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);  // a closed pipe ends the stream with a write error, quietly
  std::vector<uint32_t> buf(1 << 16);
  const pydropout::Keys keys = pydropout::make_keys(seed, stream);
  uint64_t block = offset / 4;
  for (;;) {
    for (size_t i = 0; i < buf.size(); i += 64, block += 16)  // buf.size() % 64 == 0
      pydropout::stream_words<16>(keys, block, &buf[i]);

    if (std::fwrite(buf.data(), sizeof(uint32_t), buf.size(), stdout) != buf.size())
      return 0;  // reader done
  }
}
