// Statistics and invariant checks, summed on demand from per-thread and per-heap counters.
// Layer: mem. lib/front copies these into the C API's records.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hoardlab::mem {

struct TotalStats {
  std::uint64_t allocations, frees, cache_hits, remote_frees_sent, remote_frees_drained;
  std::uint64_t superblocks_to_pool, superblocks_from_pool, heap_pass_overs;
  std::uint64_t bytes_in_use, bytes_held, peak_bytes_in_use, os_bytes_mapped, os_bytes_purged;
  std::uint64_t large_allocations;
  std::uint64_t remote_batches_sent; // pushes onto remote lists and heap-queue messages
  std::uint32_t heaps, nodes;
  // For the blowup bound: bytes in every thread cache, in remote lists not yet drained, and in
  // the pools.
  std::uint64_t cached_bytes, pending_bytes, pool_bytes;
  std::uint64_t superblock_size;
  std::uint64_t large_cached_bytes;      // freed large objects kept for reuse
  std::uint64_t background_purged_bytes; // purged or unmapped by the purge thread
  // Where the held bytes are (hoardlab.h, hl_stats): bytes_in_use is what the program holds;
  // cached_bytes and pending_bytes above are the thread caches' and the remote lists' share.
  std::uint64_t heap_free_bytes;    // heaps' and pools' superblocks, not handed out
  std::uint64_t large_in_use_bytes; // large objects' part of bytes_in_use (usable size)
  std::uint64_t os_bytes_resident;  // os_bytes_mapped minus purged superblocks not reused
};
struct HeapStats {
  std::uint64_t allocations, frees, remote_frees_drained, bytes_in_use, bytes_held, superblocks;
  std::uint32_t node;
  std::uint32_t partial_classes;   // C_i: classes with a partly used superblock (H4)
  std::uint64_t peak_bytes_in_use; // max of u_i ever (Heap::peak_u)
};
struct NodeStats {
  std::uint64_t superblocks_held, bytes_placed, local_allocations, remote_allocations;
  std::uint64_t cross_node_remote_frees;
  std::int32_t os_node;
  std::uint32_t bound;
};

void stats_total(TotalStats* out) noexcept;
// false when index is out of range.
bool stats_heap(std::uint32_t index, HeapStats* out) noexcept;
bool stats_node(std::uint32_t index, NodeStats* out) noexcept;
// "fallback", "sysfs", ... (the topology the allocator booted with).
const char* topology_source() noexcept;

// Checks every heap (H1-H3) and the pools' counts; returns the number of violations.
int check_invariants() noexcept;

// One consistent reading per heap (each heap is entered while it is read), for the blowup
// test: sum_i max(u_i + (K + C_i)*S, u_i/(1-f) + C_i*S) and sum_i a_i.
struct BoundSample {
  std::uint64_t held;  // sum_i a_i
  std::uint64_t bound; // sum_i max(u_i + (K + C_i)*S, u_i/(1-f) + C_i*S) (heap_bound)
  std::uint64_t heaps_used;
};
BoundSample sample_bound() noexcept;

} // namespace hoardlab::mem
