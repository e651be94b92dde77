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
  CacheBin bin = tc->bin(g.classes.class_of(size));
  void* p = bin.head;
  if (p == nullptr) return nullptr;
  bin.head = *static_cast<void**>(p);
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
// the slow path, which buffers it for its owner: the thread never reuses it, so it cannot write
// next to another thread's blocks (Hoard §5, passive false sharing). The sentinel's home is
// nullptr like a pooled superblock's owner, but every room of the sentinel is 0.
inline bool deallocate_hit(void* p) noexcept {
#ifdef HOARDLAB_CHECKED
  // The checked build validates every small pointer first, out of line.
  (void)p;
  return false;
#else
  if (!in_small_range(p)) return false;
  ThreadCache* tc = tl_cache;
  Superblock* sb = superblock_of(p);
  if (sb->owner.load_relaxed() != tc->home) return false;
  CacheBin bin = tc->bin(sb->cls);
  std::uint32_t room;
  // room - 1 with the borrow as the "full" test: one subtraction instead of a test and a
  // decrement.
  if (__builtin_sub_overflow(bin.room, 1u, &room)) return false;
  *static_cast<void**>(p) = bin.head;
  bin.head = p;
  bin.room = room;
  bump(tc->cached_frees);
  return true;
#endif
}

} // namespace hoardlab::mem
