// buffers.hpp: output buffers for large arrays. 64-byte aligned (kernels stream to
// aligned outputs), transparent huge pages where the OS has them, and a small cache of
// freed blocks: a training loop that allocates the same activations every step then
// reuses mapped memory instead of paying page faults (and the kernel's zeroing) per call.
#pragma once
#include <cstddef>

namespace pydropout {

constexpr size_t kBufferMinBytes = size_t{1} << 20;  // smaller arrays use the normal allocator

void* buffer_alloc(size_t nbytes);  // nullptr when out of memory
void buffer_free(void* p, size_t nbytes);
size_t buffer_cached_bytes();  // for tests and diagnostics
void buffer_trim();            // release every cached block

}  // namespace pydropout
