// The thread cache in front of the heaps: hits served inline, per-class capacity that adapts to
// use, and the per-thread bound (sum of cap * size <= cache.bytes) kept however capacity moves.
// Each test runs its work on a thread of its own, so that it starts from an empty cache.
#include <gtest/gtest.h>

#include <cstdint>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "batches.h"
#include "hoardlab/hoardlab.h"
#include "mem/fast_path.h"
#include "pal/pal.h"

namespace {

namespace mem = hoardlab::mem;
using hoardlab::test::batch;
using hoardlab::test::OptionScope;

template <class F>
void on_new_thread(F f) {
  std::thread(f).join();
}

hl_stats stats() {
  hl_stats s{};
  hl_stats_get(&s);
  return s;
}

// The largest small request (init runs on the first allocation).
std::size_t threshold() {
  hl_free(hl_malloc(1));
  return mem::g.threshold;
}

bool batch_fits(std::size_t size) {
  const std::size_t largest = threshold(); // first: the bound is read from the options at init
  // A class may hold up to 4 refill batches, and no more than the bound holds of it.
  return 64 * size <= mem::g.tune.cache_bytes.load_relaxed() && size <= largest &&
         4 * mem::g.tune.cache_batch.load_relaxed() >= 64;
}

// Bytes in the calling thread's bins, counted from the bins themselves.
std::uint64_t bin_bytes() {
  mem::ThreadCache* tc = mem::tl_cache;
  std::uint64_t bytes = 0;
  for (std::size_t c = 0; c < mem::g.classes.count(); ++c)
    bytes += std::uint64_t{tc->bin(c).count()} * mem::g.classes.size_of(c);
  return bytes;
}

// Every allocation of `rounds` batches of 64 `size`-byte blocks is a cache hit.
void expect_all_hits(std::size_t size, int rounds) {
  hl_stats before = stats();
  batch(size, rounds);
  hl_stats after = stats();
  const std::uint64_t n = 64 * static_cast<std::uint64_t>(rounds);
  EXPECT_EQ(after.allocations - before.allocations, n) << size << " bytes";
  EXPECT_EQ(after.cache_hits - before.cache_hits, n) << size << " bytes";
}

// Checks C1 on the calling thread's cache: every bin holds count() <= cap blocks, its chain is
// that long, and the capacity of all bins together is within the bound.
void expect_cache_within_bound() {
  mem::ThreadCache* tc = mem::tl_cache;
  std::uint64_t cap_bytes = 0;
  for (std::size_t c = 0; c < mem::g.classes.count(); ++c) {
    mem::CacheBin bin = tc->bin(c);
    ASSERT_LE(bin.room, bin.cap) << "class " << c;
    std::uint32_t chain = 0;
    for (void* p = bin.head; p != nullptr && chain <= bin.cap; p = *static_cast<void**>(p))
      ++chain;
    EXPECT_EQ(chain, bin.count()) << "class " << c;
    cap_bytes += std::uint64_t{bin.cap} * mem::g.classes.size_of(c);
  }
  EXPECT_EQ(cap_bytes, tc->cap_bytes);
  EXPECT_LE(cap_bytes, mem::g.tune.cache_bytes.load_relaxed());
}

TEST(ThreadCache, ABlockJustFreedIsTheNextOneHandedOut) {
  on_new_thread([] {
    void* p = hl_malloc(64);
    hl_free(p);
    void* q = hl_malloc(64);
    EXPECT_EQ(p, q);
    hl_free(q);
  });
}

// The free hit takes a bin's room before it knows the bin has any (one subtract, its borrow the
// test); on the sentinel, which is read-only, that write would fault. A pooled superblock's owner
// is nullptr, as the sentinel's home heap is: the hit must still miss there.
TEST(ThreadCache,
     AThreadWithoutACacheFreesABlockOfAnOwnerlessSuperblockWithoutTouchingTheSentinel) {
  void* p = nullptr;
  on_new_thread([&] { p = hl_malloc(64); });
  ASSERT_NE(p, nullptr);
  mem::Superblock* sb = mem::superblock_of(p);
  mem::Heap* owner = sb->owner.load_relaxed();
  bool hit = true;
  on_new_thread([&] {
    ASSERT_EQ(mem::tl_cache, &mem::kSentinel) << "the thread must start without a cache";
    sb->owner.store_relaxed(nullptr); // as if the superblock were in the pool
    hit = mem::deallocate_hit(p);
    sb->owner.store_relaxed(owner);
  });
  EXPECT_FALSE(hit);
  hl_free(p);
}

TEST(ThreadCache, KeepsWholeBatchesOf64BlocksOnceWarmAtEverySizeTheBoundHolds) {
  for (std::size_t size : {16, 64, 256, 1024, 4096}) {
    if (!batch_fits(size)) continue;
    on_new_thread([size] {
      batch(size, 8); // the class earns its capacity on its first misses
      expect_all_hits(size, 10);
    });
  }
}

// A thread's first allocation of a class refills a page's worth of its blocks (at least one, at
// most a batch), not a whole batch: the refill links, and so touches, every block it brings, and
// a batch of 4 KiB blocks was 35 resident pages for one block (paper_notes/peers-research.md,
// "Footprint").
TEST(ThreadCache, AThreadsFirstRefillOfAClassBringsAPageOfItsBlocksNotABatch) {
  const std::size_t largest = threshold();
  const std::size_t refill = mem::g.tune.cache_batch.load_relaxed();
  for (std::size_t size : {16, 64, 256, 1024, 4096, 8192}) {
    if (size > largest || 64 * size > mem::g.tune.cache_bytes.load_relaxed()) continue;
    const std::size_t cls = mem::g.classes.class_of(size);
    const std::size_t block = mem::g.classes.size_of(cls);
    std::size_t expected = hoardlab::pal::kPageSize / block;
    if (expected < 1) expected = 1;
    if (expected > refill) expected = refill;
    on_new_thread([&] {
      void* p = hl_malloc(size);
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(mem::tl_cache->bin(cls).count() + 1, expected) << size << "-byte blocks";
      hl_free(p);
    });
  }
}

// The refills of a class that is new to a thread add up to no more than its capacity, so the
// blocks of a working set that fits it, freed back, all fit in the bin: from its second round on,
// every allocation is a hit. (Refills of the whole capacity at each doubling, 1 + 2 + ... + 32 +
// 32 for 4 KiB blocks, overshot a capacity of 64 and every round paid a refill and a flush.)
TEST(ThreadCache, AWorkingSetThatFitsTheCapacityIsAllHitsFromItsSecondRound) {
  const std::size_t largest = threshold();
  for (std::size_t size : {64, 256, 1024, 4096}) {
    if (!batch_fits(size) || size > largest) continue;
    for (std::size_t working_set : {1, 5, 17, 33, 48, 64}) {
      on_new_thread([size, working_set] {
        std::vector<void*> blocks(working_set);
        hl_stats before{};
        for (int round = 0; round < 6; ++round) {
          if (round == 1) before = stats();
          for (void*& p : blocks)
            p = hl_malloc(size);
          for (void* p : blocks)
            hl_free(p);
        }
        const hl_stats after = stats();
        EXPECT_EQ(after.cache_hits - before.cache_hits, after.allocations - before.allocations)
            << working_set << " blocks of " << size << " bytes";
      });
    }
  }
}

TEST(ThreadCache, AClassThatNeedsTheWholeBoundTakesItFromTheOthersAndGivesItBack) {
  if (!batch_fits(4096)) GTEST_SKIP() << "the options leave no room for 64 blocks of 4096 bytes";
  on_new_thread([] {
    batch(256, 4);
    batch(48, 4);
    batch(4096, 8);
    expect_all_hits(4096, 10);
    expect_cache_within_bound();
    batch(256, 8);
    expect_all_hits(256, 10);
    expect_cache_within_bound();
  });
}

// A class of which two refill batches do not fit in the bound takes only the capacity the
// others leave free, however often it misses: the blocks a small class holds stay cached. (Were it
// to flush them, the small class would flush it back on its next misses: mstress's 4-8 KiB
// classes did, with every flush a trip to the heaps.)
TEST(ThreadCache, AClassOfWhichTwoBatchesDoNotFitTakesOnlyFreeCapacity) {
  const std::size_t largest = threshold();
  const std::size_t bound = mem::g.tune.cache_bytes.load_relaxed();
  const std::size_t refill = mem::g.tune.cache_batch.load_relaxed();
  const std::size_t big_cls = mem::g.classes.class_of(6144);
  const std::size_t big = mem::g.classes.size_of(big_cls);
  if (big > largest || big * refill > bound || 2 * big * refill <= bound)
    GTEST_SKIP() << "the options do not make 6 KiB blocks such a class";
  on_new_thread([big] {
    batch(256, 4);
    const std::size_t small_cls = mem::g.classes.class_of(256);
    const std::uint32_t kept = mem::tl_cache->bin(small_cls).count();
    ASSERT_GT(kept, 0u);
    batch(big, 16); // misses on every round: 64 blocks of it do not fit
    EXPECT_EQ(mem::tl_cache->bin(small_cls).count(), kept) << "the small class was flushed";
    expect_cache_within_bound();
  });
}

TEST(ThreadCache, CapacityStaysWithinTheBoundUnderARandomMixOfSizes) {
  on_new_thread([] {
    std::mt19937_64 rng(20261124);
    const std::size_t largest = threshold();
    std::uniform_int_distribution<std::size_t> small(1, 512);
    std::uniform_int_distribution<std::size_t> any(1, largest);
    std::vector<void*> live;
    for (int i = 0; i < 40000; ++i) {
      if (live.size() < 600 && (live.empty() || rng() % 2 == 0)) {
        std::size_t size = rng() % 4 == 0 ? any(rng) : small(rng);
        void* p = hl_malloc(size);
        ASSERT_NE(p, nullptr);
        static_cast<char*>(p)[0] = 1;
        live.push_back(p);
      } else {
        std::size_t k = rng() % live.size();
        hl_free(live[k]);
        live[k] = live.back();
        live.pop_back();
      }
      if (i % 500 == 0) expect_cache_within_bound();
    }
    for (void* p : live)
      hl_free(p);
    expect_cache_within_bound();
  });
}

// cache.bytes lowered at run time by another thread reaches a thread whose bins are warm at its
// next slow step, here a miss of `slow_size`, a class the thread never used: every bin's capacity
// falls within the new bound and the blocks beyond it go back to the heaps, including those of
// bins that could otherwise serve hits indefinitely (a bin that has blocks never misses on
// allocation).
void expect_lowered_bound_followed(const char* bound_text, std::uint64_t bound,
                                   std::size_t slow_size) {
  threshold();
  std::promise<void> warm;
  std::promise<void> lowered;
  std::thread worker([&] {
    batch(16, 8);
    batch(256, 8);
    EXPECT_GT(bin_bytes(), bound) << "the bins were not warm";
    warm.set_value();
    lowered.get_future().wait();
    hl_free(hl_malloc(slow_size));
    EXPECT_LE(bin_bytes(), bound);
    EXPECT_LE(mem::tl_cache->cached_bytes.load_relaxed(), bound);
    expect_cache_within_bound();
    hl_stats before = stats();
    batch(16, 4);
    batch(256, 4);
    hl_stats after = stats();
    if (bound == 0) {
      EXPECT_EQ(after.cache_hits - before.cache_hits, 0u);
    }
    EXPECT_LE(bin_bytes(), bound);
    expect_cache_within_bound();
  });
  warm.get_future().wait();
  {
    OptionScope scope("cache.bytes", bound_text);
    lowered.set_value();
    worker.join();
  }
}

TEST(ThreadCache, ABoundLoweredToZeroEmptiesAWarmThreadsBinsAtItsNextSlowStep) {
  expect_lowered_bound_followed("0", 0, 1024);
  expect_lowered_bound_followed("0", 0, threshold());
}

// The slow step may be a miss of a class that can grow within the new bound, or of one none of
// whose blocks fits in it (the largest small class): either brings the other bins within it.
TEST(ThreadCache, ABoundLoweredTo4KiBShrinksAWarmThreadsBinsToItAtItsNextSlowStep) {
  if (threshold() <= 4096) GTEST_SKIP() << "no small class is larger than 4 KiB";
  expect_lowered_bound_followed("4KiB", 4096, 1024);
  expect_lowered_bound_followed("4KiB", 4096, threshold());
}

// The thread that lowers the bound follows it at once: without a slow step, a thread allocating
// and freeing fewer blocks than its bins hold would otherwise keep hitting them.
TEST(ThreadCache, TheThreadThatSetsCacheBytesToZeroHasNoMoreCacheHits) {
  on_new_thread([] {
    std::vector<void*> blocks(2000);
    for (int r = 0; r < 3; ++r) {
      for (void*& p : blocks)
        p = hl_malloc(16);
      for (void* p : blocks)
        hl_free(p);
    }
    ASSERT_GT(bin_bytes(), 0u);
    OptionScope scope("cache.bytes", "0");
    EXPECT_EQ(bin_bytes(), 0u);
    EXPECT_EQ(mem::tl_cache->cached_bytes.load_relaxed(), 0u);
    hl_stats before = stats();
    for (int r = 0; r < 2; ++r) {
      for (std::size_t i = 0; i < 1000; ++i)
        blocks[i] = hl_malloc(16);
      for (std::size_t i = 0; i < 1000; ++i)
        hl_free(blocks[i]);
    }
    hl_stats after = stats();
    EXPECT_EQ(after.cache_hits - before.cache_hits, 0u);
  });
}

} // namespace
