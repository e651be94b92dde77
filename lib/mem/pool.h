// The per-node global superblock pool and the arena superblocks are carved from. Layer: mem.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/atomic.h"
#include "core/size_classes.h"
#include "core/spin_lock.h"
#include "core/tagged_stack.h"
#include "mem/superblock.h"

namespace hoardlab::mem {

using SuperblockStack = core::TaggedStack<Superblock, &Superblock::pool_next>;

inline constexpr std::size_t kLine = 64; // the L1 line of x86-64 and of most AArch64 parts

// A pool stack alone on its line: a refill of one class and a give of another, on two cores,
// would otherwise contend for a line that four stacks' heads shared (16 bytes each).
struct alignas(kLine) LineStack : SuperblockStack {};

/// A node's pool (Hoard's global heap): superblocks owned by no heap.
///
/// Protocol:   any thread pushes a superblock it holds (owner already set to nullptr [OW1]) and
///             pops one; the popper becomes its only user and sets its owner.
/// Invariants: (P1) each superblock is in at most one stack, and then owner == nullptr;
///             (P2) empty holds superblocks with used == 0, partial[c] superblocks of class c
///             with used > 0 at the time of the push (remote frees may empty them since).
///             superblocks == |empty| + sum_c |partial[c]| once pushes and pops settle.
/// Ordering:   the stacks' own [TS1]-[TS4]; the counters are relaxed statistics. purging and
///             sweeping are try-locks: exchange_acquire takes, store_release gives back, so a
///             pass's pushes happen before the next pass's pops of the same private chain.
/// ABA:        each head is a 32-bit superblock index and a 32-bit tag (core::TaggedStack): a
///             stalled pop is fooled only after exactly a multiple of 2^32 moves of its stack,
///             about 6 hours at 200,000 moves/s. Superblocks are never unmapped, so a pop that
///             read a superblock that has since left the stack reads mapped memory (zero, if it
///             was purged) and its CAS fails on the tag. A superblock is purged only off every
///             stack, whole, and then leaves the pool for its arena's released list: the stacks
///             hold unpurged superblocks only.
/// Layout: each stack head, the move counters, the remote-free counters and the purge state sit
///             on lines of their own, grouped by who writes them and how often
///             (paper_notes/contention.md): 8.5 KiB per node that exists.
struct Pool {
  LineStack empty;
  LineStack partial[core::SizeClasses::kMaxClasses];
  // Written on every move into or out of the stacks.
  alignas(kLine) core::Atomic<std::int64_t> superblocks{0}; // in the stacks (stats)
  core::Atomic<std::int64_t> empty_count{0};                // in the empty stack, all unpurged
  // Written by every remote free into a pooled superblock, by any thread.
  alignas(kLine) core::Atomic<std::int64_t> pending_blocks{0}; // since the last sweep (approx.)
  core::Atomic<std::int64_t> pending_bytes{0}; // this pool's shard of g.pending_bytes (state.h)
  // Read on every heap release (deferred); written by the purge passes.
  alignas(kLine) core::Atomic<bool> sweeping{false}; // [SW1], below
  // purge.delay_ms: empty superblocks beyond the retention bound wait unpurged; deferred counts
  // them (approximate: pops take them back unannounced) and oldest_deferred_ms is the earliest
  // empty_since_ms among them, 0 when none waits. A pass purges those whose delay has run out.
  core::Atomic<std::int64_t> deferred{0};
  core::Atomic<std::uint64_t> oldest_deferred_ms{0};
  core::Atomic<bool> purging{false}; // one deferred-purge pass at a time per pool
  // sweeping: one sweep at a time per pool [SW1]: a sweep holds the partial stacks' superblocks
  // in a private chain, and with many freeing threads over the threshold at once, concurrent
  // sweeps multiplied the work and left the stacks empty for the poppers, who then carved fresh
  // memory (16 threads of rptest: 1.3 M pool moves, 100 s of CPU in 6.7 s, 324 MiB held).
  // [PS1] Passes in flight (sweep, deferred purge, trim's purge), each holding superblocks of
  // this pool in a private chain while it works through them. A popper that finds the stacks
  // empty while a pass is in flight waits for the pass's pushes instead of carving fresh space
  // (heap.cpp, get_superblock): carved memory never shrinks, and a popper that carved whenever a
  // pass held the stacks made the arena grow under constant live memory (2 threads, 16 MiB
  // live: 48 -> 130 MiB in 90 s with purge.background on). A pass counts itself in with an RMW
  // before its first pop and out with an RMW after its last push; its pops are release
  // (core::TaggedStack [TS2]), so a popper whose acquire load finds the stack empty by one of
  // them sees the count raised, or else the count lowered and, through it, the pushes back.
  // The word holds two counts: passes started (high 32 bits) and passes in flight (low 32), so
  // that a popper can tell whether a pass started while it looked (heap.cpp, get_superblock).
  static constexpr std::uint64_t kPassStarted = std::uint64_t{1} << 32;
  static std::uint64_t passes_in_flight(std::uint64_t word) noexcept { return word & 0xffffffffu; }
  // Read by a popper that finds the stacks empty, written by each pass: beside the purge state.
  core::Atomic<std::uint64_t> passes{0};
  // purge.background: the purge thread missed this pool's notification (its queue was full), so
  // the slow paths purge it inline until no superblock waits.
  core::Atomic<bool> purge_inline{false};
};

// An arena's first step of address space, reserved for each node at init (pool.cpp, next_step).
inline constexpr std::size_t kArenaFirstStep = std::size_t{4} << 20;

/// A node's arena: the steps of the small-object address space reserved for the node
/// (small_range.h), carved front to back and committed in chunks, and the superblocks released
/// to it.
/// Protocol:   carve and release under lock (slow paths: once per new superblock, once per
///             purge); when [next, limit) has no superblock left, the carver reserves the next
///             step, a quarter of what the arena holds (at least its first step, at most
///             kMaxStep), and binds it to the node.
/// Invariants: next <= committed <= limit within the step being carved; reserved == the bytes
///             of every step; committed_bytes == the read-write bytes of every step.
///             (A1) a carved superblock is in exactly one of: a heap, a pool, a released list;
///             a released one reads as zero, header included (Z1), so carving it again is
///             carving fresh memory.
struct alignas(kLine) Arena { // one line or more of its own: node A's carve is no node B's miss
  core::SpinLock lock;
  char* limit = nullptr;     // end of the step being carved
  char* next = nullptr;      // next superblock to carve
  char* committed = nullptr; // end of the read-write part of the step
  std::size_t reserved = 0;
  core::Atomic<std::uint64_t> committed_bytes{0};
  // Bytes of superblocks carved from fresh space, ever: it only grows (released superblocks
  // carved again do not count), so under constant live memory it must stop growing.
  core::Atomic<std::uint64_t> carved_bytes{0};
  // The released list: superblocks purged whole, carved again before fresh memory. A stack of
  // indices (the pools' 32-bit index: (superblock - small_base) / S) in a mapping of its own, since
  // a released superblock's own memory must stay untouched to stay purged; grown by doubling as it
  // fills.
  std::uint32_t* released = nullptr;
  std::size_t released_count = 0;
  std::size_t released_capacity = 0;
  core::Atomic<std::uint64_t> released_bytes{0}; // released_count * S (stats)
  // (H1) The 2 MiB-aligned part of the last chunk committed that may be on huge pages (advised,
  // or the kernel's mode is "always"; empty otherwise): superblocks carved from it are on_huge.
  char* huge_lo = nullptr;
  char* huge_hi = nullptr;
  // The 2 MiB range last taken off huge pages: releases of its neighbours skip the madvise.
  char* no_huge_last = nullptr;
};

} // namespace hoardlab::mem
