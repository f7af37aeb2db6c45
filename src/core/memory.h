// Process memory: figures for benchmarks and statistics, and buffers for streamed data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace joule {

// Peak resident set size of this process so far (getrusage ru_maxrss), in bytes.
size_t peak_rss_bytes();

// A buffer for data streamed through every token (packed weights, the bandwidth probe): 2 MiB
// aligned and, where the OS grants transparent huge pages on request, backed by 2 MiB pages, so
// a stream takes far fewer TLB misses and the hardware prefetchers (which stop at page
// boundaries) keep running. Uninitialised; freed when the last owner goes.
std::shared_ptr<uint8_t> alloc_huge_pages(size_t bytes);

}  // namespace joule
