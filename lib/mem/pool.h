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

/// A node's pool (Hoard's global heap): superblocks owned by no heap.
///
/// Protocol:   any thread pushes a superblock it holds (owner already set to nullptr [OW1]) and
///             pops one; the popper becomes its only user and sets its owner.
/// Invariants: (P1) each superblock is in at most one stack, and then owner == nullptr;
///             (P2) empty holds superblocks with used == 0, partial[c] superblocks of class c
///             with used > 0 at the time of the push (remote frees may empty them since).
///             superblocks == |empty| + sum_c |partial[c]| once pushes and pops settle.
/// Ordering:   the stacks' own [TS1]/[TS2]; the counters are relaxed statistics. purging and
///             sweeping are try-locks: exchange_acquire takes, store_release gives back, so a
///             pass's pushes happen before the next pass's pops of the same private chain.
/// ABA:        tag in the low log2(S) bits of each head (core::TaggedStack). Superblocks are never
///             unmapped, so a pop that read a superblock that has since left the stack reads
///             mapped memory (zero, if it was purged) and its CAS fails on the tag. A superblock
///             is purged only off every stack, whole, and then leaves the pool for its arena's
///             released list: the stacks hold unpurged superblocks only.
struct Pool {
  SuperblockStack empty;
  SuperblockStack partial[core::SizeClasses::kMaxClasses];
  core::Atomic<std::int64_t> superblocks{0};    // in the stacks: what the pool holds (stats)
  core::Atomic<std::int64_t> empty_count{0};    // in the empty stack, all unpurged
  core::Atomic<std::int64_t> pending_blocks{0}; // remote frees into pooled superblocks (approx.)
  // purge.delay_ms: empty superblocks beyond the retention bound wait unpurged; deferred counts
  // them (approximate: pops take them back unannounced) and oldest_deferred_ms is the earliest
  // empty_since_ms among them, 0 when none waits. A pass purges those whose delay has run out.
  core::Atomic<std::int64_t> deferred{0};
  core::Atomic<std::uint64_t> oldest_deferred_ms{0};
  core::Atomic<bool> purging{false}; // one deferred-purge pass at a time per pool
  // One sweep at a time per pool [SW1]: a sweep holds the partial stacks' superblocks in a
  // private chain, and with many freeing threads over the threshold at once, concurrent sweeps
  // multiplied the work and left the stacks empty for the poppers, who then carved fresh memory
  // (16 threads of rptest: 1.3 M pool moves, 100 s of CPU in 6.7 s, 324 MiB held).
  core::Atomic<bool> sweeping{false};
  // purge.background: the purge thread missed this pool's notification (its queue was full), so
  // the slow paths purge it inline until no superblock waits.
  core::Atomic<bool> purge_inline{false};
};

/// A node's arena: a slice of the reserved small-object range, committed in chunks.
/// Protocol: carve and release under lock (slow paths: once per new superblock, once per purge).
/// Invariants: (A1) a superblock below next is in exactly one of: a heap, the node's pool, the
///             released list; a released one reads as zero, header included (Z1), so carving it
///             again is carving fresh memory. released_count <= (next - begin) / S.
struct Arena {
  core::SpinLock lock;
  char* begin = nullptr;
  char* limit = nullptr;
  char* next = nullptr;      // next superblock to carve
  char* committed = nullptr; // end of the read-write part
  core::Atomic<std::uint64_t> committed_bytes{0};
  // The released list: superblocks purged whole, carved again before fresh memory. A stack of
  // indices ((superblock - begin) / S) in a mapping of its own, since a released superblock's
  // own memory must stay untouched to stay purged; grown by doubling as it fills.
  std::uint32_t* released = nullptr;
  std::size_t released_count = 0;
  std::size_t released_capacity = 0;
  core::Atomic<std::uint64_t> released_bytes{0}; // released_count * S (stats)
};

} // namespace hoardlab::mem
