// Processor heaps: try-acquire, remote frees drained by the owner, Hoard's emptiness invariant
// and the pool.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "hoardlab/hoardlab.h"
#include "mem/heap.h"
#include "mem/internal.h"
#include "mem/stats.h"
#include "test_util.h"

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

// The first thread's exit flushes its cache, and its heap gives its empty superblocks to the pool
// (no trim: that would release them all to the arena, out of the pool).
TEST(HeapInvariant, EmptySuperblocksAreReusedFromThePoolByOtherClasses) {
  hoardlab::test::on_pu0([] {
    std::vector<void*> ps;
    for (int i = 0; i < 50000; ++i)
      ps.push_back(hl_malloc(32));
    for (void* p : ps)
      hl_free(p);
  });
  hl_stats mid{};
  hl_stats_get(&mid);
  hoardlab::test::on_pu0([] {
    std::vector<void*> ps;
    for (int i = 0; i < 10000; ++i)
      ps.push_back(hl_malloc(160));
    for (void* p : ps)
      hl_free(p);
  });
  hl_stats after{};
  hl_stats_get(&after);
  EXPECT_GT(after.superblocks_from_pool, mid.superblocks_from_pool);
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

// Sum over the heaps of what each published as C_i: the thread below may be passed over to
// another heap than its home one, and no other thread allocates meanwhile.
std::uint64_t partial_classes() {
  hl_stats s{};
  hl_stats_get(&s);
  std::uint64_t sum = 0;
  for (std::uint32_t h = 0; h < s.heaps; ++h) {
    hl_heap_stats hs{};
    if (hl_stats_heap(h, &hs) == 0) sum += hs.partial_classes;
  }
  return sum;
}

TEST(HeapStats, PartialClassesCountTheClassesWithAPartlyUsedSuperblock) {
  // No thread cache: each malloc and free is one block in or out of a superblock, so the
  // superblocks' fill is exactly what the test allocated (a cache would take blocks by batches).
  char saved[32];
  ASSERT_EQ(hl_option_get("cache.bytes", saved, sizeof(saved)), 0);
  ASSERT_EQ(hl_option_set("cache.bytes", "0"), 0);
  hoardlab::test::on_pu0([] {
    const std::uint64_t before = partial_classes();
    void* small = hl_malloc(64);
    void* medium = hl_malloc(256);
    void* large = hl_malloc(1024);
    ASSERT_LT(hl_usable_size(small), hl_usable_size(medium));
    ASSERT_LT(hl_usable_size(medium), hl_usable_size(large));
    EXPECT_EQ(partial_classes(), before + 3) << "one partly used superblock in each class";

    // A full superblock is not partly used: filling small's leaves two classes.
    hoardlab::mem::Superblock* sb = hoardlab::mem::superblock_of(small);
    std::vector<void*> fill;
    for (std::uint32_t i = 1; i < sb->capacity; ++i) {
      fill.push_back(hl_malloc(64));
      ASSERT_EQ(hoardlab::mem::superblock_of(fill.back()), sb) << "filled the only non-full one";
    }
    EXPECT_EQ(partial_classes(), before + 2);
    // The next block of that class opens a second superblock, partly used.
    void* next = hl_malloc(64);
    ASSERT_NE(hoardlab::mem::superblock_of(next), sb);
    EXPECT_EQ(partial_classes(), before + 3);
    // Two partly used superblocks of one class count as one class.
    hl_free(fill.back());
    fill.pop_back();
    EXPECT_EQ(partial_classes(), before + 3);
    // An empty superblock is not partly used either: large's class leaves.
    hl_free(large);
    EXPECT_EQ(partial_classes(), before + 2);

    for (void* p : fill)
      hl_free(p);
    hl_free(small);
    hl_free(next);
    hl_free(medium);
    EXPECT_EQ(partial_classes(), before);
  });
  EXPECT_EQ(hl_option_set("cache.bytes", saved), 0);
  EXPECT_EQ(hl_check_invariants(), 0);
}

} // namespace
