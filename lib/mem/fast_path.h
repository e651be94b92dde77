// The thread-cache hits of malloc and free, inline, for lib/front's entry points. Layer: mem.
//
// The C library's malloc and free spend most of their time here, so they inline the hit and call
// out of line only on a miss: no call into mem, no saved registers, no errno work. Each function
// returns whether it served the request; on false the caller takes its ordinary path
// (mem::allocate / mem::deallocate and their checks), which also covers every case these skip
// (size 0, sizes above the threshold, an empty or full bin, the sentinel cache, large and
// foreign pointers).
//
// Only for code inside the allocator's own shared objects (lib/front): the thread-local cache
// pointer is hidden and initial-exec.
//
// What a hit does, and why nothing more is needed:
//  - no init check: before init the thread's cache is the read-only sentinel (limit 0, every
//    room 0) and the small range is empty, so neither test passes;
//  - no atomic read-modify-write: the bins and counters have one writer, this thread;
//  - no policy branch: the remote-free policy only matters once a block leaves the thread; a
//    free adds one compare (the superblock's owner against the thread's home heap), so that
//    blocks of other heaps never enter the bins.
//
// Behind the free hit, in the first out-of-line function, buffer_remote_hit takes the commonest
// miss of a producer-consumer program, a block of another heap, into the remote buffer.
#pragma once

#include <cstddef>
#include <cstdint>

#include "mem/internal.h"

namespace hoardlab::mem {

// The calling thread's cache; &the sentinel until its first slow step (allocator.cpp).
extern constinit thread_local ThreadCache* tl_cache;

// in_primary_range for the free hit: p - small_base < small_readable with both bounds read as the
// memory operands of the subtract and the compare. The compiler keeps an atomic load out of
// another instruction's operand, which cost the hit two loads and a base address (3 instructions);
// an x86-64 load from memory is the relaxed load the bounds need (Globals: they only grow, [SR1]).
inline bool in_primary_range_hit(const void* p) noexcept {
#if defined(__x86_64__) && !defined(HOARDLAB_TSAN)
  static_assert(sizeof(g.small_base) == sizeof(std::uintptr_t), "a bound is its value alone");
  static_assert(sizeof(g.small_readable) == sizeof(std::uintptr_t), "a bound is its value alone");
  auto offset = reinterpret_cast<std::uintptr_t>(p);
  bool inside;
  asm("subq %[base], %[offset]\n\tcmpq %[size], %[offset]"
      : [offset] "+r"(offset), "=@ccb"(inside)
      : [base] "m"(g.small_base), [size] "m"(g.small_readable));
  return inside;
#else
  return in_primary_range(p);
#endif
}

// Takes one block's room in bin cls for a free: room - 1 in place, the borrow as the "full" test
// (one read-modify-write and a branch, where a load, a test and a store took three), undone on
// the full path, which is a miss anyway. Never called on the sentinel, which is read-only: its
// hit_owner is no superblock's owner, so the owner compare in front fails first.
inline bool take_room(ThreadCache* tc, std::size_t cls) noexcept {
#if defined(__x86_64__) && !defined(HOARDLAB_TSAN)
  bool full;
  asm("subl $1, %[room]" : [room] "+m"(tc->rooms[cls]), "=@ccb"(full));
  if (full) [[unlikely]] {
    // The undo's address is computed apart (the empty asm hides that it is the same): shared with
    // the subtract, the compiler would compute it into a register first, one more instruction on
    // the hit.
    asm("" : "+r"(tc), "+r"(cls));
    tc->rooms[cls] = 0;
    return false;
  }
  return true;
#else
  if (tc->rooms[cls] == 0) return false;
  --tc->rooms[cls];
  return true;
#endif
}

// A block of `size` bytes from the calling thread's cache, or nullptr on a miss.
inline void* allocate_hit(std::size_t size) noexcept {
  ThreadCache* tc = tl_cache;
  // size - 1 < near_limit <= limit: 1 <= size <= limit; the sentinel's limits are 0, so nothing
  // passes.
  const std::size_t below = size - 1;
  std::size_t cls;
  if (below < tc->near_limit) [[likely]]
    cls = tc->near_classes[(below + canary_bytes()) / core::SizeClasses::kGranule];
  else if (below < tc->limit)
    cls = g.classes.class_of_nonzero(below + canary_bytes());
  else
    return nullptr;
  CacheBin bin = tc->bin(cls);
  void* p = bin.head;
  if (p == nullptr) return nullptr;
#if defined(__x86_64__)
  // p in the return register from here: the compiler would otherwise keep the cache pointer
  // there (where the thread-local load left it) and move p over at the end, one instruction.
  asm("" : "+a"(p));
#endif
  void* next;
  // Hardened: a link the hit cannot vouch for is left to the slow path, which reports it.
  if (!try_next_in_class(cls, p, &next)) [[unlikely]]
    return nullptr;
  bin.head = next;
  mark_in_use(p);
  arm_canary(p, g.classes.size_of(cls));
  ++bin.room;
  bump(tc->hits);
  return p;
}

// Puts p back in the calling thread's cache when p is a small block of the thread's home heap
// and its bin has room. p may be anything, nullptr included.
//
// The owner compare is the only remote-free test on this path (C2, thread_cache.h): the owner
// sits on the header's hot line next to the class, which the bin lookup loads anyway, and
// `hit_owner` (the home heap) on the cache's line of `limit`. A block of another heap (or of a
// pooled superblock, owner nullptr) takes the slow path, which buffers it for its owner or, as
// remote.keep allows, caches it: under the default, whole-lines, only a block that shares no cache
// line with another block, so the thread never writes next to another thread's blocks (Hoard §5,
// passive false sharing); under none, never (Hoard); under all, always. The sentinel's hit_owner is
// the sentinel itself, no superblock's owner: every free misses it before a room is taken.
inline bool deallocate_hit(void* p) noexcept {
#ifdef HOARDLAB_CHECKED
  // The checked build validates every small pointer first, out of line.
  (void)p;
  return false;
#else
  if (!in_primary_range_hit(p)) return false;
  ThreadCache* tc = tl_cache;
  Superblock* sb = superblock_of(p);
  // Hardened: a pointer that is not a live block is left to deallocate, which reports it (so the
  // hit keeps no stack frame); buffer_remote_hit, on the way there, declines it too.
  if (!looks_live(sb, p)) [[unlikely]]
    return false;
  if (sb->owner.load_relaxed() != tc->hit_owner) return false;
  const std::size_t cls = sb->cls;
  if (!take_room(tc, cls)) [[unlikely]]
    return false;
  store_link(p, tc->heads[cls]);
  tc->heads[cls] = p;
  bump(tc->cached_frees);
  return true;
#endif
}

// Appends p, a block of sb that another heap owns (or a pooled superblock), to tc's remote buffer
// (C2); true when the buffer has reached its bound, remote.batch blocks or bound / 4 bytes
// (bound: cache.bytes, not 0), and must be sent before the next free.
inline bool append_remote(ThreadCache* tc, Superblock* sb, void* p, std::uint64_t bound) noexcept {
  store_link(p, tc->remote_head);
  tc->remote_head = p;
  const std::uint32_t count = ++tc->remote_count;
  const std::size_t bytes = tc->remote_bytes += sb->block_size;
  return count >= g.tune.remote_batch.load_relaxed() || bytes >= bound / 4;
}

// Puts p, a block of sb that another heap owns (or a pooled superblock), in tc's bin when
// remote.keep allows blocks of its size (Tunables::remote_keep_mask; under whole-lines, blocks
// that share no cache line with another block) and the bin has room; false otherwise, and the
// block goes to the remote buffer. Such a block stays counted in its owner heap's u while cached
// (as every cached block does), so the heaps' bound and the cache bound (C1) are unchanged; it
// goes back to its owner when the bin is flushed (flush sends the blocks of other heaps on).
inline bool keep_remote(ThreadCache* tc, Superblock* sb, void* p) noexcept {
  if ((sb->block_size & g.tune.remote_keep_mask.load_relaxed()) != 0) return false;
  CacheBin bin = tc->bin(sb->cls);
  if (bin.room == 0) return false;
  store_link(p, bin.head);
  bin.head = p;
  --bin.room;
  return true;
}

// Sends the calling thread's remote buffer to the blocks' owners (allocator.cpp); out of line,
// called by buffer_remote_hit once the buffer reaches its bound. Preserves errno.
void send_remote_buffer(ThreadCache* tc) noexcept;

// Appends p to the calling thread's remote buffer (C2, thread_cache.h), or keeps it in its bin
// when remote.keep allows (keep_remote), when p is a small block whose superblock's owner is not
// the thread's home heap (another heap's, or a pooled superblock's: owner nullptr). For the first
// out-of-line function behind deallocate_hit (the shim's and the C API's free_miss): the commonest
// miss of a producer-consumer program is this one, and here it costs no further call, no errno work
// and no cache lookup.
//
// It does what deallocate's slow path does for such a block, in the same order (count the free,
// keep or append, send at the bound), and declines (false: the caller takes deallocate) in every
// case that path treats otherwise:
//  - not in the primary small range: nullptr, large objects, the bootstrap arena, foreign
//    pointers, and blocks of the extra ranges (small_range.h), which deallocate tests in full;
//  - the owner is the home heap: the block belongs in the bins, whose bin was full;
//  - the sentinel cache (limit 0): the thread has no cache yet, or is exiting (thread_exit puts
//    the sentinel back), and its frees go to the owners directly;
//  - cache.bytes == 0: pure Hoard, and general.checked (publish_options), where every free must
//    reach checked_free; nothing is buffered.
// Nothing it runs can set errno; the send, which can, saves it (send_remote_buffer).
inline bool buffer_remote_hit(void* p) noexcept {
#ifdef HOARDLAB_CHECKED
  // The checked build validates every small pointer first, out of line.
  (void)p;
  return false;
#else
  if (!in_primary_range(p)) return false;
  ThreadCache* tc = tl_cache;
  Superblock* sb = superblock_of(p);
  if (sb->owner.load_relaxed() == tc->home || tc->limit == 0) return false;
  const std::uint64_t bound = g.tune.cache_bytes.load_relaxed();
  if (bound == 0) return false;
  // Hardened: deallocate reports it. Default: an unformatted header (a never carved superblock
  // of another node's reserved part, read-only) is left to deallocate, which leaves it alone.
  if (!looks_live(sb, p) || !is_formatted(sb)) [[unlikely]]
    return false;
  bump(tc->slow_frees);
  if (keep_remote(tc, sb, p)) return true;
  if (append_remote(tc, sb, p, bound)) [[unlikely]]
    send_remote_buffer(tc);
  return true;
#endif
}

} // namespace hoardlab::mem
