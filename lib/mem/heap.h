// Processor heaps (Hoard §3): superblocks per size class in fullness groups, entered by an
// atomic try-acquire. Layer: mem.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/atomic.h"
#include "core/intrusive_list.h"
#include "core/size_classes.h"
#include "mem/remote_queue.h"
#include "mem/superblock.h"

namespace hoardlab::mem {

inline constexpr std::size_t kMaxGroups = 16;

/// A processor heap.
///
/// Protocol:   a thread enters with try_acquire (or acquire, which spins and yields) and leaves
///             with release; everything but `busy_`, `pending_head`, `queue` and the published
///             counters
///             is touched only in between. Any thread pushes superblocks onto pending_head
///             (notify) and messages of freed blocks onto queue (remote.policy=heap-queue); the
///             holder takes either whole by exchange, on every entry whatever the policy now is.
/// Invariants: (H1) every superblock s with s.owner == this is in exactly one list:
///             row_of(this, s.cls)[s.group] (s.group in [0, G], G = full; internal.h) or
///             empty (s.used == 0).
///             (H2) u == sum of s.used * s.block_size, a == S * |superblocks|, peak_u >= u.
///             (H3, Hoard's emptiness invariant with a per-class allowance, after each drain,
///                  flush, free and refill):
///                  u >= a - (K + C)*S  or  u >= (1-f)*a  or  no superblock is releasable,
///                  where C = nonfull_class_count and a superblock is releasable when it is
///                  empty, or non-full, at least f empty and not its class's only non-full one.
///             (H4) bit c of nonfull_classes[c/64] is set iff nonfull[c] >= 1, and
///                  nonfull_class_count == |{c : nonfull[c] >= 1}|.
///             (H5) bit c of spare_classes[c/64] is set iff nonfull[c] >= 2.
/// Ordering:   [HP1] try_acquire's exchange is acquire, pairing with [HP2] release's store.
///             [HN1] notify's CAS on pending_head is release; [HN2] the holder's exchange is
///             acquire and pairs with it. queue: its own [MQ1]/[MQ2] (remote_queue.h).
/// ABA:        pending_head and queue are emptied whole by exchange, never popped singly.
struct Heap {
  core::Atomic<bool> busy{false};
  std::uint32_t index = 0;
  std::uint32_t node = 0;
  std::uint32_t node_rank = 0; // its place among its node's heaps (heap_map.cpp)
  bool ready = false; // groups built (on first entry: unused heaps cost no resident memory)
  // Idle drain (heap.cpp, drain_an_idle_heap; remote.cpp, drain_if_piling_up): entries counts the
  // threads' own entries (written by the holder, read by any thread); idle_seen is entries as the
  // last looker saw it (written by probers and by freeing threads past the drain threshold, racing
  // benignly: a lost write costs one look more or less). Relaxed both.
  bool probe_due = false;         // the holder probes another heap on its way out
  std::uint32_t probe_cursor = 0; // the holder's: the next heap it probes
  core::Atomic<std::uint32_t> entries{0};
  core::Atomic<std::uint32_t> idle_seen{0};

  alignas(64) std::size_t u = 0; // Hoard's u_i: bytes in blocks handed out
  std::size_t a = 0;             // Hoard's a_i: bytes of superblocks held
  std::size_t superblocks = 0;
  std::size_t peak_u = 0; // max of u ever: raised wherever u grows (hand-outs, adoptions)
  std::uint32_t checks = 0;
  core::IntrusiveList empty;
  // Superblocks in a non-full group (groups 0..G-1), per class: a heap needs one superblock with
  // free blocks per class it serves, and H3 allows it that one (C). The masks let the release
  // search visit only the classes that have a second one (H4, H5).
  std::uint32_t nonfull[core::SizeClasses::kMaxClasses] = {};
  std::size_t nonfull_class_count = 0; // C: classes with a non-full superblock
  std::uint64_t nonfull_classes[2] = {};
  std::uint64_t spare_classes[2] = {};

  alignas(64) core::Atomic<Superblock*> pending_head{nullptr};
  RemoteQueue queue; // heap-queue: messages of blocks freed by other threads
  // Blocks pushed to this heap's superblocks since its last drain (approximate: a statistic
  // that decides when a freeing thread drains the heap itself).
  core::Atomic<std::int64_t> pending_blocks{0};
  // This heap's shard of g.pending_bytes (state.h, PendingBytes): beside pending_blocks, so a
  // remote free writes one line of its owner's, shared only with the threads freeing to it.
  core::Atomic<std::int64_t> pending_bytes{0};

  // Published for readers on other threads (single writer: the holder; relaxed).
  alignas(64) core::Atomic<std::uint64_t> allocations{0};
  core::Atomic<std::uint64_t> frees{0};
  core::Atomic<std::uint64_t> remote_drained{0};
  core::Atomic<std::uint64_t> to_pool{0};
  core::Atomic<std::uint64_t> from_pool{0};
  core::Atomic<std::uint64_t> pub_u{0};
  core::Atomic<std::uint64_t> pub_peak_u{0};
  core::Atomic<std::uint64_t> pub_a{0};
  core::Atomic<std::uint64_t> pub_superblocks{0};
  core::Atomic<std::uint64_t> pub_partial_classes{0}; // C, for the bound the harness checks

  // Built on the heap's first entry (ensure_ready), and only the lists of the classes and
  // groups in use, class by class in rows of G + 1 (row_of, internal.h): the whole array is
  // 51 KiB, and
  // built by the constructor it made every heap cost that much resident memory at init, entered
  // or not (paper_notes/peers-research.md, "Footprint"). Rows of kMaxGroups + 1 lists spread a
  // program's 36 classes over four pages where rows of G + 1 = 5 take one or two; and last in the
  // record, so that its head and its tail lines (pending, queue, counters) share a page or two
  // instead of lying 51 KiB apart ("Fifth pass").
  struct LazyGroups {
    LazyGroups() noexcept {} // leaves the lists unbuilt: the constructor writes none of them
    union {
      core::IntrusiveList lists[core::SizeClasses::kMaxClasses * (kMaxGroups + 1)];
    };
  } groups;

  bool try_acquire() noexcept {
    return !busy.load_relaxed() && !busy.exchange_acquire(true); // [HP1]
  }
  void release_lock() noexcept { busy.store_release(false); } // [HP2]
};

} // namespace hoardlab::mem
