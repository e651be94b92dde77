// The address space superblocks live in: reserved in steps as the arenas need it. Layer: mem.
//
// Why steps: a reservation counts in full against RLIMIT_AS. One range reserved at init for
// every superblock the process might ever need (64 GiB, or half of what the limit left) made a
// process that lowers its limit after start lose every later mmap (large objects, thread
// stacks), and under a limit set before start it split the limit in two halves fixed in advance.
// Reserving in steps makes the split follow use.
//
// Why the test stays one compare: the first range (the primary) is reserved at a hint with
// free address space above it, and each step tries to extend it in place (MAP_FIXED_NOREPLACE
// at its end), so it stays one range in the common case and the fast paths test a block with
// one subtract and compare against g.small_base / g.small_readable. Only when the kernel refuses
// the space in place does a step open another range; blocks there miss the fast paths and take
// the out-of-line check (in_extra_ranges, a scan of at most kMaxExtra entries), which only runs
// for pointers outside the primary once such a range exists.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/atomic.h"
#include "core/spin_lock.h"

namespace hoardlab::mem {

/// Protocol:   reserve_small and extend_readable run under `lock`, which is taken only inside an
///             arena's lock (a carving thread, slow path, once per arena step or commit chunk) or
///             by init; fork_prepare holds every arena lock, so nobody holds this one across fork.
///             Any thread tests membership (in_small_range) without it.
/// Invariants: (R1) each range starts on a multiple of S and is a multiple of S long; ranges
///             never shrink and are never unmapped (pool.h, ABA: a popped header is read).
///             (R2) the primary is [g.small_base, g.small_base + g.small_size); its base is
///             fixed at init, where size 0 (nothing could be reserved) keeps it empty for good.
///             extra[0, count) are the ranges opened after it.
///             (R3) the ranges are disjoint; only the tail (extra[count-1], or the primary
///             while count == 0) grows, at its end.
///             (R4) readable <= size in each range, and [base, base + readable) can be read:
///             committed by an arena (pal::commit), or, where another node's arena reserved it
///             and has not committed it yet, read-only (it reads as zero: an unformatted header).
///             Membership (in_small_range) is the readable part: past it no superblock was
///             ever carved, and a header there would fault.
/// Ordering:   [SR1] a range's readable size grows by a relaxed store, under the lock, before
///             any superblock of the new part is carved; a block of it reaches a tester only
///             through a chain that starts at its carving (the arena lock, then whatever handed
///             the block over), so the store happens before the test, which by coherence reads
///             it or a larger size. A pointer that is not a block yet may be tested against an
///             older size: "not ours" is then the truth.
///             [SR2] a new extra range's base and sizes are stored before count's release
///             increment; in_extra_ranges loads count with acquire, pairing with it.
/// ABA:        none: nothing is ever removed.
struct SmallRanges {
  static constexpr unsigned kMaxExtra = 64;
  struct Range {
    core::Atomic<std::uintptr_t> base{0};
    core::Atomic<std::uintptr_t> size{0};
    core::Atomic<std::uintptr_t> readable{0}; // R4
  };
  core::SpinLock lock;
  core::Atomic<std::uint32_t> count{0};
  Range extra[kMaxExtra];
  std::uint64_t reserved = 0; // bytes in all ranges (under the lock; statistics)
};

// Init: reserves the primary range, per_node bytes for each of `nodes` arenas, halving
// per_node down to one superblock when the address space refuses; returns the per-node bytes
// reserved (0: none, the primary stays empty) and sets g.small_base and g.small_size.
std::size_t reserve_primary(std::size_t per_node, unsigned nodes) noexcept;

// Reserves `want` more bytes (a multiple of S) for an arena: at the tail's end when the kernel
// grants it, else as a new range; halves the request down to S when refused. Returns the start
// and sets *got, or nullptr when not even S can be reserved (or kMaxExtra ranges exist).
char* reserve_small(std::size_t want, std::size_t* got) noexcept;

// An arena committed [from, to), in one range, and will carve superblocks there: the range's
// readable part grows to cover it (R4), an unreadable stretch below it (another node's reserved
// part) made read-only first. False when that stretch cannot be made readable: the caller must
// not carve there.
bool extend_readable(char* from, char* to) noexcept;

// True when p lies in the readable part of one of the extra ranges; the slow half of
// in_small_range (internal.h).
bool in_extra_ranges(const void* p) noexcept;

// True when p lies in a range's reserved part, readable or not: a pointer past the readable part
// is no block (hardened: reported as an invalid free). Slow paths only.
bool in_reserved_small_range(const void* p) noexcept;

} // namespace hoardlab::mem
