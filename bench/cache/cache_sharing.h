// cache-scratch and cache-thrash (Hoard, ASPLOS 2000 §5): false sharing caused by the
// allocator. Each thread allocates a small object, writes it many times, frees it, and repeats.
// - cache-thrash (active false sharing): the threads' objects come from their own allocations;
//   an allocator that carves consecutive small blocks for different threads out of one cache
//   line makes the threads' writes fight over that line.
// - cache-scratch (passive false sharing): the main thread first allocates one object per
//   thread, consecutively (so they likely share cache lines), and each thread starts by freeing
//   the object it was given. An allocator that hands a freed block to the thread that freed it
//   reuses that shared line in every thread from then on. With --warm N each thread first
//   allocates N blocks of that size and holds them, so that its free of the given object meets a
//   cache in use with room (a first free, with no cache yet, may send the object home).
// Throughput is writes per second; with no false sharing it grows linearly with threads (on
// distinct cores). ops = object writes.
#pragma once

#include <cstdlib>
#include <vector>

#include "bench/common/bench_common.h"

namespace hoardlab::bench {

inline int run_cache_sharing(int argc, char** argv, bool passive) {
  const char* name = passive ? "cache-scratch" : "cache-thrash";
  Flags flags(name, passive ? "Passive false sharing: threads free objects the main thread "
                              "allocated side by side, then allocate, write and free their own."
                            : "Active false sharing: threads allocate, write and free small "
                              "objects of their own.");
  Common c;
  c.iterations = 400000;
  c.min_size = 8;
  c.max_size = 8;
  uint64_t writes = 500;
  uint64_t warm = 0;
  add_common(flags, c, kUseIterations | kUseSizes);
  flags.add_u64("writes", &writes, "writes to each object's bytes before it is freed", 1,
                1ULL << 32);
  if (passive)
    flags.add_u64("warm", &warm,
                  "blocks of the given object's size each thread allocates before it frees that "
                  "object and holds to the end (0: none), so that its free meets a cache in use",
                  0, 1ULL << 20);
  flags.set_quick([&] { c.iterations = 1000; });
  flags.parse(argc, argv);
  finish_common(flags, c, kUseIterations | kUseSizes);

  // Passive: the objects each thread starts with, allocated side by side by this thread.
  std::vector<void*> given(c.threads, nullptr);
  std::vector<uint64_t> given_size(c.threads, 0);
  if (passive) {
    Rng rng(c.seed, 99);
    for (uint64_t t = 0; t < c.threads; ++t) {
      given_size[t] = rng.uniform(c.min_size, c.max_size);
      given[t] = checked_malloc(name, given_size[t]);
      pattern_fill(given[t], given_size[t], make_tag(0xffff, t));
    }
  }

  double elapsed = run_threads(c.threads, [&](uint64_t t) {
    // A warm thread's free of the given object meets a cache of its own with room in it, where
    // an allocator may keep the object (tcmalloc and jemalloc keep every block, hoardlab under
    // remote.keep=all): the thread then reuses the shared line from its first iteration.
    std::vector<void*> held;
    if (passive) {
      for (uint64_t w = 0; w < warm; ++w)
        held.push_back(checked_malloc(name, given_size[t]));
      pattern_verify(name, given[t], given_size[t], make_tag(0xffff, t));
      std::free(given[t]);
    }
    Rng rng(c.seed, t);
    for (uint64_t it = 0; it < c.iterations; ++it) {
      size_t n = rng.uniform(c.min_size, c.max_size);
      auto* p = static_cast<volatile unsigned char*>(checked_malloc(name, n));
      uint64_t tag = make_tag(t, it);
      pattern_fill(const_cast<unsigned char*>(p), n, tag);
      // Every byte is bumped `writes` times through a volatile pointer: stores the compiler
      // must keep, to exactly the bytes that might share a line with another thread's object.
      // Taking the bumps back off must give the pattern again, unless another thread wrote here.
      for (uint64_t w = 0; w < writes; ++w)
        for (size_t i = 0; i < n; ++i)
          p[i] = static_cast<unsigned char>(p[i] + 1);
      for (size_t i = 0; i < n; ++i)
        p[i] = static_cast<unsigned char>(p[i] - writes);
      pattern_verify(name, const_cast<unsigned char*>(p), n, tag);
      std::free(const_cast<unsigned char*>(p));
    }
    for (void* h : held)
      std::free(h);
  });

  Result r;
  r.elapsed_s = elapsed;
  r.ops = c.threads * c.iterations * writes;
  print_result(flags, c, r);
  return 0;
}

} // namespace hoardlab::bench
