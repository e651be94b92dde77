// The per-thread cache in front of the heaps. Layer: mem.
//
// A thread's TLS holds a pointer to its cache. It starts at a read-only empty sentinel whose
// `limit` and every bin's `cap` are 0: malloc sees it empty and free sees it full, so the fast
// path needs no "initialised?" branch and never writes into the sentinel.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/atomic.h"
#include "core/size_classes.h"

namespace hoardlab::mem {

struct CacheBin {
  void* head = nullptr;
  std::uint32_t count = 0;
  std::uint32_t cap = 0;
};

/// Invariants: (C1) bins[c] holds count blocks of class c, count <= cap;
///             sum_c cap_c * size_c <= cache.bytes (the per-thread bound C).
/// Counters have one writer (the thread using the cache) and are read by any thread with
/// relaxed loads: no read-modify-write on the fast path.
struct ThreadCache {
  std::size_t limit = 0; // largest request served by the bins; 0 in the sentinel
  CacheBin bins[core::SizeClasses::kMaxClasses] = {};

  core::Atomic<std::uint64_t> hits{0};         // allocations served by the bins
  core::Atomic<std::uint64_t> cached_frees{0}; // frees absorbed by the bins
  core::Atomic<std::uint64_t> slow_allocations{0};
  core::Atomic<std::uint64_t> slow_frees{0};
  core::Atomic<std::uint64_t> remote_sent{0};
  core::Atomic<std::uint64_t> pass_overs{0};
  core::Atomic<std::uint64_t> cached_bytes{0}; // bytes in the bins (published at slow steps)

  std::uint32_t seq = 0; // creation order; picks the heap under thread-hash and per-thread
  bool live = false;
  core::Atomic<ThreadCache*> next_all{nullptr}; // registry of every cache ever made
  ThreadCache* next_free = nullptr;             // free list of caches of exited threads
};

} // namespace hoardlab::mem
