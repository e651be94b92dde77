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
//  - no policy branch: the remote-free policy only matters once a block leaves the cache.
#pragma once

#include <cstddef>

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

// Puts p back in the calling thread's cache when p is a small block and its bin has room.
// p may be anything, nullptr included.
inline bool deallocate_hit(void* p) noexcept {
#ifdef HOARDLAB_CHECKED
  // The checked build validates every small pointer first, out of line.
  (void)p;
  return false;
#else
  if (!in_small_range(p)) return false;
  ThreadCache* tc = tl_cache;
  CacheBin bin = tc->bin(superblock_of(p)->cls);
  if (bin.room == 0) return false; // the sentinel has no room: full from the start
  *static_cast<void**>(p) = bin.head;
  bin.head = p;
  --bin.room;
  bump(tc->cached_frees);
  return true;
#endif
}

} // namespace hoardlab::mem
