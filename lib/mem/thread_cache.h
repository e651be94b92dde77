// The per-thread cache in front of the heaps. Layer: mem.
//
// A thread's TLS holds a pointer to its cache. It starts at a read-only empty sentinel whose
// `limit` and every bin's `room` are 0: malloc sees it empty and free sees it full, so the fast
// path needs no "initialised?" branch and never writes into the sentinel.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/atomic.h"
#include "core/size_classes.h"

namespace hoardlab::mem {

struct Heap;

// One class's bin, seen through references into ThreadCache's arrays. A bin keeps its free room
// rather than its count: a cached free then tests and decrements one field, and an allocation
// increments it. count = cap - room.
struct CacheBin {
  void*& head;
  std::uint32_t& room; // blocks the bin may still take
  std::uint32_t& cap;

  std::uint32_t count() const noexcept { return cap - room; }
};

/// Invariants: (C1) bin c holds count() blocks of class c, count() <= cap (room >= 0);
///             sum_c cap_c * size_c = cap_bytes <= C, the per-thread bound (Tunables::
///             cache_bytes: cache.bytes, or the thread's share of cache.total_bytes), from
///             each slow step on: a bound lowered at run time (Tunables::cache_epoch) is
///             followed at the thread's next one, which lowers capacity in every bin and sends
///             the blocks beyond it back to the heaps (follow_cache_bound).
///             (C2) a block enters a bin only when its superblock's owner was `home` at the free
///             (the fast path's one compare), or when remote.keep allows its size and the bin has
///             room (keep_remote, fast_path.h); every other free goes to the remote buffer
///             (from free's first out-of-line step, buffer_remote_hit, or deallocate's slow
///             path), which holds remote_count < remote.batch blocks and remote_bytes <
///             cache.bytes / 4 between frees, and is sent to the owners (flush_remote) when
///             either is reached, at thread exit, at fork and at trim. A kept block goes back to
///             its owner when its bin is flushed (flush sends other heaps' blocks on). So under
///             remote.keep = none a thread never reuses a block another heap owns (Hoard: a block
///             goes back to its owner), and under whole-lines (the default) only blocks that
///             share no line with another block: no passive false sharing either way.
/// Counters have one writer (the thread using the cache) and are read by any thread with
/// relaxed loads: no read-modify-write on the fast path.
/// Layout: the bins are arrays by field, not an array of {head, room, cap}: a 16-byte record
/// costs the fast path a shift and an add to index, an 8- or 4-byte element is one addressing
/// mode.
struct ThreadCache {
  void* heads[core::SizeClasses::kMaxClasses] = {};
  std::uint32_t rooms[core::SizeClasses::kMaxClasses] = {};
  std::uint32_t caps[core::SizeClasses::kMaxClasses] = {};
  std::size_t limit = 0; // largest request served by the bins; 0 in the sentinel
  // Requests with size - 1 < near_limit (at most kNearBytes, less the canary; 0 in the sentinel)
  // find their class in near_classes (below), by (size - 1 + canary) / 16: a copy of the process's
  // table (SizeClasses) beside the bins, indexed from the cache pointer the malloc hit holds
  // already, where the process's table first needs its address (one instruction). Larger requests
  // up to `limit` use the process's table. Filled when the cache is taken (thread_cache.cpp).
  std::size_t near_limit = 0;
  // The heap this thread's slow steps map to (acquire_heap); nullptr in the sentinel. Under
  // heap.mapping=cpu it follows the thread's CPU: after a migration the blocks cached from the
  // previous heap are still served to allocations, and once freed they go back to that heap through
  // the remote buffer (batched, one push per superblock or message per heap), which is what Hoard
  // does for a thread that moved.
  Heap* home = nullptr;
  // What the free hit compares a superblock's owner with: `home`, except in the sentinel, whose
  // hit_owner is the sentinel itself. No superblock's owner equals that (a pooled superblock's
  // owner is nullptr, like the sentinel's home), so the hit never takes room in a bin of the
  // read-only sentinel (take_room, fast_path.h). Set with home (set_home).
  const void* hit_owner = nullptr;

  void set_home(Heap* h) noexcept {
    home = h;
    hit_owner = h;
  }

  CacheBin bin(std::size_t cls) noexcept { return CacheBin{heads[cls], rooms[cls], caps[cls]}; }

  core::Atomic<std::uint64_t> hits{0};         // allocations served by the bins
  core::Atomic<std::uint64_t> cached_frees{0}; // frees absorbed by the bins
  // After the fields above, which share a cache line: the hits touch one line of this table.
  static constexpr std::size_t kNearBytes = 4096;
  std::uint8_t near_classes[kNearBytes / core::SizeClasses::kGranule] = {};
  core::Atomic<std::uint64_t> slow_allocations{0};
  core::Atomic<std::uint64_t> large_allocations{0}; // large objects installed (a subset)
  // Large objects counted in use here (LargeInUse, state.h): bytes the owner added at its large
  // mallocs less its own frees of them (the owner's alone), bytes of them other threads freed
  // (their RMW), and the owner's high-water mark of the difference.
  core::Atomic<std::uint64_t> large_own{0};
  core::Atomic<std::uint64_t> large_remote{0};
  core::Atomic<std::uint64_t> large_peak{0};
  core::Atomic<std::uint64_t> slow_frees{0};
  core::Atomic<std::uint64_t> remote_sent{0};    // blocks freed here that another heap owns
  core::Atomic<std::uint64_t> remote_batches{0}; // pushes/messages that carried them
  core::Atomic<std::uint64_t> pass_overs{0};
  // Bytes in the bins and the remote buffer, published at slow steps (publish_cached): each
  // class counts with the blocks it held at its own last slow step (published[c]), so that a
  // step republishes its one class, not all of them (a walk over every class cost about 250
  // instructions per refill and per flush).
  core::Atomic<std::uint64_t> cached_bytes{0};
  std::uint32_t published[core::SizeClasses::kMaxClasses] = {}; // bin c's count when published
  std::uint64_t published_bin_bytes = 0;                        // sum_c published[c] * size_c

  std::size_t cap_bytes = 0;     // sum_c cap_c * size_c; the owner's alone (slow steps)
  std::uint64_t bound_epoch = 0; // Tunables::cache_epoch when the thread last followed the bound
  // The remote buffer (C2): blocks of other heaps, linked through their first word; the
  // owner's alone.
  void* remote_head = nullptr;
  std::uint32_t remote_count = 0;
  std::size_t remote_bytes = 0;
  std::uint8_t misses[core::SizeClasses::kMaxClasses] = {}; // at the bound, since it last grew

  std::uint32_t seq = 0; // creation order; picks the heap under thread-hash and per-thread
  bool live = false;
  core::Atomic<ThreadCache*> next_all{nullptr}; // registry of every cache ever made
  ThreadCache* next_free = nullptr;             // free list of caches of exited threads
};

// Adds 1 to a counter that only the calling thread writes (other threads only load it, relaxed).
// A relaxed load then store is all that needs, but compilers emit it as three instructions; on
// x86-64 one `add` to memory is the same two accesses and cannot tear (aligned 8 bytes). Under
// ThreadSanitizer the portable form, so that the tool sees the write.
#if defined(__SANITIZE_THREAD__)
#define HOARDLAB_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HOARDLAB_TSAN 1
#endif
#endif
inline void bump(core::Atomic<std::uint64_t>& counter) noexcept {
#if defined(__x86_64__) && !defined(HOARDLAB_TSAN)
  static_assert(sizeof(counter) == sizeof(std::uint64_t), "the counter is its value alone");
  asm volatile("addq $1, %0" : "+m"(counter));
#else
  counter.add_single_writer(1);
#endif
}

} // namespace hoardlab::mem
