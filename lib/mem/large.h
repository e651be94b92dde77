// Large objects (above large.threshold, or aligned beyond what a size class serves): page runs
// carved from reservations mapped from the OS (or mapped alone when large), placed on a NUMA node
// (numa.policy), found again through a pagemap mark on their first page (owns(): the start of a
// live large object; claimed by clearing it, so that an object is released once), and kept when
// freed in a sharded cache that splits and joins runs and gives
// them back after large.decay_ms unused (large_cache.h). Layer: mem.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hoardlab::mem {
enum class MisuseOp : std::uint8_t; // internal.h
} // namespace hoardlab::mem

namespace hoardlab::mem::large {

// The header sits just below the (page-aligned) user pointer.
struct Header {
  std::uintptr_t magic;
  void* base;            // the mapping
  std::size_t map_bytes; // its length
  std::size_t usable;    // bytes from the user pointer to the mapping's end
  std::size_t requested;
  std::uint64_t reserved[3]; // [0]: the run's logical node; [1]: its home shard in the cache;
                             // [2]: who counts it in use (set_counter)
};
static_assert(sizeof(Header) == 64);

void* allocate(std::size_t size, std::size_t alignment, bool zeroed) noexcept;
// p is the start of a live large object (a filter: deallocate's claim decides).
bool owns(const void* p) noexcept;
// Releases the object at p, a pointer owns() accepted, when this call claims it (clears its start
// mark) and returns its usable size, its counter word (set_counter) in *counter; 0 when another
// free claimed it first (hardened: reported as a double free), so that the caller counts the
// object freed once.
std::size_t deallocate(void* p, std::uintptr_t* counter) noexcept;
// free()'s filter and claim in one: false when p is not the start of a live large object (left
// to the caller), else deallocate()'s result in *usable. The default build reads the pagemap
// once for both; hardened, owns() comes first, so that losing the claim is reported.
bool release(void* p, std::size_t* usable, std::uintptr_t* counter) noexcept;
// Hardened: p, which owns() rejected, is still known to the pagemap: the start of an object freed
// before (its pages cached), or inside a live object's run. Default build: false.
bool knows(const void* p) noexcept;
// Hardened: reports such a p as the misuse `op` makes of it ("double free", "invalid free (not the
// start of a large object)", or their realloc forms) and returns true: the caller leaves p alone
// (report_pointer_misuse aborts unless hardened.on_error=report). false when p is not known.
bool reported(const void* p, MisuseOp op) noexcept;
// Inline: the free and malloc paths read them once per large object.
inline Header* header_of(void* p) noexcept {
  return reinterpret_cast<Header*>(static_cast<char*>(p) - sizeof(Header));
}
inline const Header* header_of(const void* p) noexcept {
  return header_of(const_cast<void*>(p));
}
// The header's reserved words: the run's logical node, and its home shard in the cache
// (large_cache.h), where the run goes back when freed and where the object's bytes are counted
// in use (stats.cpp).
inline std::uint32_t node_of(const Header* h) noexcept {
  return static_cast<std::uint32_t>(h->reserved[0]);
}
inline std::uint32_t home_of(const Header* h) noexcept {
  return static_cast<std::uint32_t>(h->reserved[1]);
}
inline std::size_t usable_size(const void* p) noexcept {
  return header_of(p)->usable;
}
// The object's counter word: mem's statistics store who counts the object in use (the address
// of a thread cache record, or 0), once it is installed; nothing here reads it.
inline std::uintptr_t counter_of(const void* p) noexcept {
  return static_cast<std::uintptr_t>(header_of(p)->reserved[2]);
}
inline void set_counter(void* p, std::uintptr_t counter) noexcept {
  header_of(p)->reserved[2] = counter;
}
// Grows in place when the run has room, else by mremap, else by a copy; nullptr on failure (p
// still valid).
void* reallocate(void* p, std::size_t size) noexcept;
// Unmaps every cached run; returns the bytes released.
std::size_t trim() noexcept;
// Decay (the purge thread's, or a large free's without it): unmaps cached runs idle for
// delay_ms or more; returns the bytes
// released, and in *next_due_ms when the next one falls due (UINT64_MAX when none is cached).
std::size_t release_idle(std::uint64_t now_ms, std::uint64_t delay_ms,
                         std::uint64_t* next_due_ms) noexcept;
// Live and cached large-object mappings on a logical node, in bytes.
std::uint64_t node_mapped_bytes(unsigned node) noexcept;

// (Large objects in use are counted by their allocating threads: LargeInUse, state.h.)
struct Stats {
  std::uint64_t mapped_bytes; // live + cached mappings
  std::uint64_t cached_bytes;
  std::uint64_t mapped_peak_bytes; // the high-water mark of mapped_bytes
};
Stats stats() noexcept;
// Stats::mapped_bytes alone, without the walk over the threads' caches that cached_bytes takes.
std::uint64_t mapped_bytes() noexcept;
// large.cache_bytes (the shards' hard ceiling) and large.thread_cache_bytes (each thread's, at
// most the former). Called at each publish of the options, so it also has the next large free
// sweep for decay (large.decay_ms may have been lowered).
void set_cache_bounds(std::size_t shared, std::size_t per_thread,
                      std::uint32_t share_percent) noexcept;
// large.huge_min and large.huge_chunks_after (large_cache.h).
void set_huge_pages(std::size_t min, std::size_t after) noexcept;
// Gives the calling thread's cached runs to the shards (large_thread_cache.h).
void thread_exit() noexcept;

void fork_prepare() noexcept;
void fork_parent() noexcept;
void fork_child() noexcept;

} // namespace hoardlab::mem::large
