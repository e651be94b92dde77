// Freed page runs of large objects, kept for reuse in shards (a few per NUMA node, each with its
// own lock), binned by page count and joined with their free neighbours; unused runs go back to
// the OS after large.decay_ms (decay), and all of them when a mapping fails. Fresh runs are
// carved from each shard's own reservation, so that neighbours in memory share a shard and can
// be joined. Layer: mem (used by large.cpp only).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/atomic.h"

namespace hoardlab::mem::large_cache {

// Shards are numbered node * kShardsPerNode + k; a run's shard is fixed for its life (its
// home), whichever thread takes it, so that runs carved side by side come back to one shard.
inline constexpr std::uint32_t kShardsPerNode = 8;

// The calling thread's shard on `node` (its creation order modulo the node's shards in use).
std::uint32_t shard_for_thread(std::uint32_t node) noexcept;
inline std::uint32_t node_of_shard(std::uint32_t shard) noexcept {
  return shard / kShardsPerNode;
}

// A cached run of exactly `bytes` (the front of a longer one; the rest stays cached), from
// `shard`, else from another shard of its node; *home receives the shard it belongs to.
// nullptr when none fits.
char* take(std::uint32_t shard, std::size_t bytes, std::uint32_t* home) noexcept;
// Takes the first `extra` bytes of the cached run of `home` that starts at `end`; false if
// there is none or it is too short.
bool extend(std::uint32_t home, char* end, std::size_t extra) noexcept;
// A freed run of home's: cached (joined with its cached neighbours), or unmapped when the
// cache is off or over its hard bound.
void put(std::uint32_t home, char* base, std::size_t bytes) noexcept;
// A fresh zeroed run of *bytes for `shard` (carved from its reservation, or mapped alone when
// large; *bytes is then rounded up to whole huge pages when it is on them, and the run is that
// long). On failure every cached run and every shard's uncarved reservation is given back and
// the mapping tried once more; nullptr if that fails too. The caller counts it as mapped.
char* map_fresh(std::uint32_t shard, std::size_t* bytes) noexcept;
// Unmaps (and uncounts, through count_unmapped) every cached run; returns the bytes.
std::size_t trim() noexcept;
// For a mapping the address space refused (the small-object range's next step, a large run):
// trim() and every shard's uncarved reservation; returns the cached bytes unmapped (the
// reservations dropped are not counted).
std::size_t give_back_address_space() noexcept;
// Decay: unmaps runs cached idle for delay_ms or more; *next_due_ms gets when the next falls due
// (UINT64_MAX when none is cached).
std::size_t release_idle(std::uint64_t now_ms, std::uint64_t delay_ms,
                         std::uint64_t* next_due_ms) noexcept;
// Without the purge thread: a decay sweep (release_idle) when half a delay has passed since the
// last one. Called at every free into the cache, the threads' own included, so the check is
// inline: one load and compare until the sweep falls due.
extern core::Atomic<std::uint64_t> g_sweep_due_ms;
void sweep_due(std::uint64_t now_ms) noexcept;
inline void sweep_if_due(std::uint64_t now_ms) noexcept {
  if (now_ms >= g_sweep_due_ms.load_relaxed()) sweep_due(now_ms);
}
// large.decay_ms may have changed: the next free sweeps, and sets the next sweep by it.
void decay_changed() noexcept;
std::uint64_t cached_bytes() noexcept;
void set_bound(std::size_t bytes) noexcept;
// large.cache_share: after each fresh run, cached bytes past this percentage of the live large
// bytes go back, oldest first, up to as many as the run took (0: none).
void set_share(std::uint32_t percent) noexcept;
// large.huge_min: fresh runs mapped alone of at least this many bytes are transparent huge pages
// (pal::map_huge); 0: none. large.huge_chunks_after: the carving chunks are too, once the large
// objects have this many bytes mapped; 0: never.
void set_huge_pages(std::size_t min, std::size_t after) noexcept;

// Called for every run this file unmaps, before it unmaps it (large.cpp keeps the mapped-bytes
// counters, and in the hardened build clears the run's freed-start bits, which must not outlive
// the mapping: large.cpp's P3).
void count_unmapped(std::uint32_t node, const char* base, std::size_t bytes) noexcept;

void fork_prepare() noexcept;
void fork_parent() noexcept;
void fork_child() noexcept;

} // namespace hoardlab::mem::large_cache
