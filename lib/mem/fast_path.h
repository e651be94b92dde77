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

// A block of `size` bytes from the calling thread's cache, or nullptr on a miss.
inline void* allocate_hit(std::size_t size) noexcept {
  ThreadCache* tc = tl_cache;
  // size - 1 < limit: 1 <= size <= limit; the sentinel's limit is 0, so nothing passes.
  if (size - 1 >= tc->limit) return nullptr;
  const std::size_t cls = g.classes.class_of(size + canary_bytes());
  CacheBin bin = tc->bin(cls);
  void* p = bin.head;
  if (p == nullptr) return nullptr;
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
// sits on the header's hot line next to the class, which the bin lookup loads anyway, and `home`
// sits next to `limit`. A block of another heap (or of a pooled superblock, owner nullptr) takes
// the slow path, which buffers it for its owner or, as remote.keep allows, caches it: under the
// default, whole-lines, only a block that shares no cache line with another block, so the thread
// never writes next to another thread's blocks (Hoard §5, passive false sharing); under none,
// never (Hoard); under all, always. The sentinel's home is nullptr like a pooled superblock's
// owner, but every room of the sentinel is 0.
inline bool deallocate_hit(void* p) noexcept {
#ifdef HOARDLAB_CHECKED
  // The checked build validates every small pointer first, out of line.
  (void)p;
  return false;
#else
  if (!in_primary_range(p)) return false;
  ThreadCache* tc = tl_cache;
  Superblock* sb = superblock_of(p);
  // Hardened: a pointer that is not a live block is left to deallocate, which reports it (so the
  // hit keeps no stack frame); buffer_remote_hit, on the way there, declines it too.
  if (!looks_live(sb, p)) [[unlikely]]
    return false;
  if (sb->owner.load_relaxed() != tc->home) return false;
  CacheBin bin = tc->bin(sb->cls);
  std::uint32_t room;
  // room - 1 with the borrow as the "full" test: one subtraction instead of a test and a
  // decrement.
  if (__builtin_sub_overflow(bin.room, 1u, &room)) return false;
  store_link(p, bin.head);
  bin.head = p;
  bin.room = room;
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
