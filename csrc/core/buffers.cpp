// buffers.cpp: see buffers.hpp.
#include "buffers.hpp"

#include <cstdlib>
#include <mutex>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace pydropout {
namespace {

constexpr size_t kGranule = size_t{2} << 20;  // huge-page size on x86-64 and arm64
// most memory ever held back: 256 MiB of arrays, plus one granule for the line offset a
// large output may start at (pyarrays.hpp), so that a 256 MiB output is still recycled
constexpr size_t kCacheBytes = (size_t{256} << 20) + kGranule;
constexpr size_t kCacheBlocks = 8;

struct Block {
  void* p;
  size_t size;
};

struct Cache {
  std::mutex lock;
  std::vector<Block> blocks;
  size_t bytes = 0;
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: buffers may outlive static teardown
  return *c;
}

size_t rounded(size_t nbytes) { return (nbytes + kGranule - 1) / kGranule * kGranule; }

}  // namespace

void* buffer_alloc(size_t nbytes) {
  const size_t size = rounded(nbytes);
  {
    Cache& c = cache();
    std::lock_guard<std::mutex> g(c.lock);
    // the most recently freed block of the size first: its lines are the likeliest to
    // still be in the caches
    for (size_t i = c.blocks.size(); i-- > 0;) {
      if (c.blocks[i].size == size) {
        void* p = c.blocks[i].p;
        c.bytes -= size;
        c.blocks.erase(c.blocks.begin() + static_cast<std::ptrdiff_t>(i));
        return p;
      }
    }
  }
  void* p = std::aligned_alloc(kGranule, size);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (p) madvise(p, size, MADV_HUGEPAGE);
#endif
  return p;
}

void buffer_free(void* p, size_t nbytes) {
  if (!p) return;
  const size_t size = rounded(nbytes);
  Cache& c = cache();
  std::unique_lock<std::mutex> g(c.lock);
  if (size <= kCacheBytes) {
    while (!c.blocks.empty() && (c.bytes + size > kCacheBytes || c.blocks.size() >= kCacheBlocks)) {
      std::free(c.blocks.front().p);  // oldest first
      c.bytes -= c.blocks.front().size;
      c.blocks.erase(c.blocks.begin());
    }
    c.blocks.push_back({p, size});
    c.bytes += size;
    return;
  }
  g.unlock();
  std::free(p);
}

size_t buffer_cached_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> g(c.lock);
  return c.bytes;
}

void buffer_trim() {
  Cache& c = cache();
  std::lock_guard<std::mutex> g(c.lock);
  for (const Block& b : c.blocks) std::free(b.p);
  c.blocks.clear();
  c.bytes = 0;
}

}  // namespace pydropout
