// What hl_stats_get reports: the program's bytes apart from the caches', the remote lists' and
// the heaps' free bytes, and a peak that is kept where the counts change, not sampled when the
// statistics are read. Each test runs in a process of its own (gtest_discover_tests), so the
// figures start from nothing.
#include <gtest/gtest.h>

#include "hoardlab/hoardlab.h"

#include <cstdint>
#include <latch>
#include <thread>
#include <vector>

namespace {

hl_stats stats() {
  hl_stats s{};
  hl_stats_get(&s);
  return s;
}

// bytes_held is the sum of the parts when no large object is mapped (hoardlab.h).
void expect_parts_add_up(const hl_stats& s) {
  EXPECT_EQ(s.bytes_held,
            s.bytes_in_use + s.bytes_in_caches + s.bytes_in_remote_lists + s.bytes_free_in_heaps)
      << "in use " << s.bytes_in_use << ", caches " << s.bytes_in_caches << ", remote "
      << s.bytes_in_remote_lists << ", free " << s.bytes_free_in_heaps;
}

TEST(StatsPeak, HundredThousandBlocksFreedBeforeAnyReadingStillShowInThePeak) {
  constexpr std::size_t kBlocks = 100000;
  std::vector<void*> blocks(kBlocks);
  for (auto& p : blocks)
    p = hl_malloc(100);
  const std::uint64_t live = kBlocks * hl_usable_size(blocks[0]);
  for (void* p : blocks)
    hl_free(p);
  const hl_stats s = stats();
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_GE(s.peak_bytes_in_use, live) << "the peak was sampled, not kept";
  // One thread, one heap: the bound exceeds the peak by the blocks the cache held then (at most
  // cache.bytes, 256 KiB by default) and by what the pool held at its own peak.
  EXPECT_LE(s.peak_bytes_in_use, live + live / 4) << "live " << live;
  hl_heap_stats h{};
  std::uint64_t heap_peaks = 0;
  for (std::uint32_t i = 0; hl_stats_heap(i, &h) == 0; ++i)
    heap_peaks += h.peak_bytes_in_use;
  EXPECT_GE(heap_peaks, live) << "no heap kept its high-water mark";
}

TEST(StatsInUse, OneBlockFreedIntoTheCacheIsNoLongerInUse) {
  void* p = hl_malloc(1000);
  const std::uint64_t size = hl_usable_size(p);
  hl_stats s = stats();
  EXPECT_EQ(s.bytes_in_use, size) << "blocks refilled into the cache were counted as in use";
  EXPECT_GE(s.bytes_in_caches, 0u);
  expect_parts_add_up(s);
  hl_free(p);
  s = stats();
  EXPECT_EQ(s.bytes_in_use, 0u) << "the freed block is still counted";
  EXPECT_GE(s.bytes_in_caches, size) << "the freed block is in the cache";
  expect_parts_add_up(s);
  EXPECT_GE(s.peak_bytes_in_use, size);
}

TEST(StatsInUse, LiveBlocksInSuperblocksGivenToThePoolStayInUse) {
  // 20,000 blocks of 64 bytes fill about twenty 64 KiB superblocks; keeping every tenth leaves
  // each at least f empty, so the emptiness invariant gives them, with their live blocks, to the
  // pool, where no heap's u_i counts them.
  constexpr std::size_t kBlocks = 20000;
  std::vector<void*> blocks(kBlocks);
  for (auto& p : blocks)
    p = hl_malloc(64);
  std::uint64_t kept = 0;
  for (std::size_t i = 0; i < kBlocks; ++i) {
    if (i % 10 == 0) {
      kept += hl_usable_size(blocks[i]);
      continue;
    }
    hl_free(blocks[i]);
  }
  hl_collect(); // the cache goes back to the heap, which gives superblocks to the pool
  hl_stats s = stats();
  ASSERT_GT(s.superblocks_to_pool, 0u) << "the test did not move a superblock to the pool";
  EXPECT_EQ(s.bytes_in_use, kept);
  EXPECT_EQ(s.bytes_in_caches, 0u);
  expect_parts_add_up(s);
  for (std::size_t i = 0; i < kBlocks; i += 10)
    hl_free(blocks[i]);
  hl_collect();
  s = stats();
  EXPECT_EQ(s.bytes_in_use, 0u);
  expect_parts_add_up(s);
}

TEST(StatsInUse, BlocksOfExitedThreadsFreedByAnotherAreInNoFigureButTheRemoteListsOrHeaps) {
  constexpr int kThreads = 4;
  constexpr std::size_t kEach = 1000;
  std::vector<std::vector<void*>> kept(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&kept, t] {
      std::vector<void*> mine(kEach);
      for (auto& p : mine)
        p = hl_malloc(48);
      for (std::size_t i = 0; i < kEach; ++i)
        if (i % 2 == 0)
          hl_free(mine[i]);
        else
          kept[t].push_back(mine[i]);
    });
  for (auto& th : threads)
    th.join();
  const std::uint64_t size = hl_usable_size(kept[0][0]);
  hl_stats s = stats();
  EXPECT_EQ(s.bytes_in_use, kThreads * (kEach / 2) * size) << "exited threads flushed caches";
  EXPECT_EQ(s.bytes_in_caches, 0u);
  for (auto& v : kept)
    for (void* p : v)
      hl_free(p); // remote frees: into this thread's remote buffer, then the owners' lists
  s = stats();
  EXPECT_EQ(s.bytes_in_use, 0u);
  expect_parts_add_up(s);
  EXPECT_GE(s.peak_bytes_in_use, kThreads * kEach * size / 2);
}

TEST(StatsInUse, LargeObjectsCountAtTheirUsableSizeAndKeepTheirPeak) {
  void* p = hl_malloc(std::size_t{1} << 20);
  const std::uint64_t first = hl_usable_size(p);
  hl_stats s = stats();
  EXPECT_EQ(s.large_bytes_in_use, first);
  EXPECT_EQ(s.bytes_in_use, first);
  p = hl_realloc(p, std::size_t{4} << 20);
  const std::uint64_t grown = hl_usable_size(p);
  s = stats();
  EXPECT_EQ(s.large_bytes_in_use, grown);
  hl_free(p);
  s = stats();
  EXPECT_EQ(s.large_bytes_in_use, 0u);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_GE(s.peak_bytes_in_use, grown);
}

// Large objects count in the record of the thread that allocated them (LargeInUse, state.h), and
// their free takes them out of that record whichever thread frees: four threads allocate, the
// main thread frees, twice over. The total is exact at each step (a free counted in the freeing
// thread's record would wrap that record's count), and the peak, the sum of the records' peaks,
// stays at one round's live bytes. The main thread takes its record first: made at its first free
// instead, it would be an exited thread's, a second-round thread would take a fresh one, and the
// sum would count that round's objects in a fifth record (2.5 MiB against 2 MiB live: the sum of
// peaks is an upper bound, looser where records change hands; README, "Statistics").
TEST(StatsInUse, LargeObjectsFreedByAnotherThreadLeaveTheirAllocatorsCountsAndPeakExact) {
  hl_free(hl_malloc(16)); // the main thread's record
  constexpr int kThreads = 4;
  constexpr int kEach = 8;
  constexpr std::size_t kSize = std::size_t{64} << 10;
  std::uint64_t live = 0;
  // Counted by the installing thread as well (ThreadCache::large_allocations): every install, once.
  const std::uint64_t allocations_before = stats().large_allocations;
  for (int round = 0; round < 2; ++round) {
    std::vector<std::vector<void*>> kept(kThreads);
    std::vector<std::thread> threads;
    std::latch all_have_caches(kThreads);
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&kept, &all_have_caches, t] {
        // A thread cache each, alive at once: their creation order picks the threads' shards (an
        // exited thread's cache is reused, with its place in that order).
        hl_free(hl_malloc(16));
        all_have_caches.arrive_and_wait();
        for (int i = 0; i < kEach; ++i)
          kept[t].push_back(hl_malloc(kSize));
      });
    for (auto& th : threads)
      th.join();
    live = 0;
    for (auto& v : kept)
      for (void* p : v)
        live += hl_usable_size(p);
    hl_stats s = stats();
    EXPECT_EQ(s.large_bytes_in_use, live) << "round " << round;
    EXPECT_EQ(s.large_allocations - allocations_before,
              static_cast<std::uint64_t>((round + 1) * kThreads * kEach))
        << "round " << round;
    for (auto& v : kept)
      for (void* p : v)
        hl_free(p);
    s = stats();
    EXPECT_EQ(s.large_bytes_in_use, 0u) << "round " << round;
  }
  const hl_stats s = stats();
  EXPECT_GE(s.peak_bytes_in_use, live);
  EXPECT_LE(s.peak_bytes_in_use, live + live / 4) << "live " << live;
}

// A run a thread keeps in its own run cache counts as cached from the free that put it there,
// while the thread lives on: each cache's figure is read where it lies (held_bytes walks the
// threads' caches). It used to reach the total only once the thread's figure had moved 64 KiB,
// through one counter all threads wrote, so a thread keeping a 24 KiB run showed nothing.
TEST(StatsCached, ARunAThreadKeepsCountsAsCachedWhileItLives) {
  constexpr std::size_t kSize = 20 << 10; // a 24 KiB run: its header page and the object
  const std::uint64_t before = stats().large_cached_bytes;
  std::latch kept(1);
  std::latch read(1);
  std::thread keeper([&] {
    hl_free(hl_malloc(16)); // a thread cache, which a thread keeping runs needs
    // Two pairs: the first free of a thread's life gives its run to the shards here, the second
    // keeps it in the thread's cache. Either way it counts once as cached.
    hl_free(hl_malloc(kSize));
    hl_free(hl_malloc(kSize));
    kept.count_down();
    read.wait();
  });
  kept.wait();
  const std::uint64_t cached = stats().large_cached_bytes;
  read.count_down();
  keeper.join();
  EXPECT_EQ(cached - before, std::uint64_t{24} << 10)
      << "before " << before << ", cached " << cached;
}

} // namespace
