// Processor heaps: try-acquire, remote frees drained by the owner, Hoard's emptiness invariant
// and the pool.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "hoardlab/hoardlab.h"
#include "mem/heap.h"
#include "mem/stats.h"

namespace {

TEST(HeapTryAcquire, FailsWhileHeldAndSucceedsAfterRelease) {
  auto* h = new hoardlab::mem::Heap();
  EXPECT_TRUE(h->try_acquire());
  EXPECT_FALSE(h->try_acquire());
  bool other = true;
  std::thread([&] { other = h->try_acquire(); }).join();
  EXPECT_FALSE(other);
  h->release_lock();
  std::thread([&] {
    other = h->try_acquire();
    h->release_lock();
  }).join();
  EXPECT_TRUE(other);
  delete h;
}

TEST(HeapInvariant, HoldsAfterAManyAllocationsAreFreed) {
  std::vector<void*> ps;
  for (int i = 0; i < 200000; ++i)
    ps.push_back(hl_malloc(64 + (i % 8) * 16));
  EXPECT_EQ(hl_check_invariants(), 0);
  for (std::size_t i = 0; i < ps.size(); ++i)
    if (i % 10 != 0) hl_free(ps[i]);
  EXPECT_EQ(hl_check_invariants(), 0);
  hoardlab::mem::BoundSample s = hoardlab::mem::sample_bound();
  hoardlab::mem::TotalStats t{};
  hoardlab::mem::stats_total(&t);
  // After the frees the heaps hold at most H3's bound, max(u_i + (K + C_i)S, u_i/(1-f) + C_i*S)
  // per heap, where u_i counts the blocks the thread cache keeps.
  EXPECT_LE(s.held, s.bound);
  EXPECT_GT(t.superblocks_to_pool, 0u) << "the emptiness invariant gave nothing back";
  for (std::size_t i = 0; i < ps.size(); i += 10)
    hl_free(ps[i]);
  EXPECT_EQ(hl_check_invariants(), 0);
}

TEST(HeapInvariant, EmptySuperblocksAreReusedFromThePoolByOtherClasses) {
  std::vector<void*> ps;
  for (int i = 0; i < 50000; ++i)
    ps.push_back(hl_malloc(32));
  for (void* p : ps)
    hl_free(p);
  hl_collect();
  hl_stats mid{};
  hl_stats_get(&mid);
  ps.clear();
  for (int i = 0; i < 10000; ++i)
    ps.push_back(hl_malloc(160));
  hl_stats after{};
  hl_stats_get(&after);
  EXPECT_GT(after.superblocks_from_pool, mid.superblocks_from_pool);
  for (void* p : ps)
    hl_free(p);
  EXPECT_EQ(hl_check_invariants(), 0);
}

TEST(RemoteFree, BlocksFreedByAnotherThreadReturnToTheirSuperblock) {
  std::vector<void*> ps;
  std::thread([&] {
    for (int i = 0; i < 20000; ++i)
      ps.push_back(hl_malloc(96));
  }).join();
  hl_stats before{};
  hl_stats_get(&before);
  for (void* p : ps)
    hl_free(p);
  hl_collect(); // flushes this thread's cache: the blocks go to their superblocks
  hl_stats after{};
  hl_stats_get(&after);
  EXPECT_EQ(hl_check_invariants(), 0);
  EXPECT_GE(after.frees - before.frees, 20000u);
  hoardlab::mem::TotalStats t{};
  hoardlab::mem::stats_total(&t);
  EXPECT_EQ(t.pending_bytes, 0u) << "collect drains every remote list";
  EXPECT_EQ(t.bytes_in_use, 0u);
}

} // namespace
