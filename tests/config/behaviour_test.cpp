// Each option changes what it says it changes, seen through the allocator's statistics or
// behaviour, not by reading the option back. Every case runs in a fresh process (threadsafe
// death-test style) whose environment is set before the allocator's first call, so init-only
// options apply.
#include <gtest/gtest.h>

#include "hoardlab/hoardlab.h"
#include "tests/config/child_case.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <map>
#include <sched.h>
#include <string>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using hoardlab::config::testing::Environment;
using hoardlab::config::testing::first_refill_of_a_fresh_thread;
using hoardlab::config::testing::report;
using hoardlab::config::testing::run_case;

// Allocates and frees n blocks of `size` bytes in rounds, keeping them alive across the round.
void churn(std::size_t size, int rounds, int n) {
  std::vector<void*> blocks(static_cast<std::size_t>(n));
  for (int r = 0; r < rounds; ++r) {
    for (auto& b : blocks) {
      b = hl_malloc(size);
      std::memset(b, r, size);
    }
    for (auto* b : blocks)
      hl_free(b);
  }
}

hl_stats stats() {
  hl_stats s{};
  hl_stats_get(&s);
  return s;
}

TEST(OptionEffect, ZeroCacheBytesGivesNoCacheHits) {
  const Environment env = {{"HOARDLAB_CACHE_BYTES", "0"}};
  EXPECT_CASE(env, [] {
    churn(64, 50, 100);
    return report(stats().cache_hits == 0, "cache hits with cache.bytes = 0");
  });
  const Environment defaults = {};
  EXPECT_CASE(defaults, [] {
    churn(64, 50, 100);
    return report(stats().cache_hits > 0, "no cache hits with the default cache");
  });
}

TEST(OptionEffect, SuperblockSizeIsTheUnitOfEveryHeapsHoldings) {
  for (const char* s : {"16KiB", "256KiB"}) {
    const std::size_t bytes = std::strcmp(s, "16KiB") == 0 ? 16 * 1024 : 256 * 1024;
    const Environment env = {{"HOARDLAB_HEAP_SUPERBLOCK_SIZE", s}};
    EXPECT_CASE(env, [bytes] {
      std::vector<void*> live;
      for (int i = 0; i < 20000; ++i)
        live.push_back(hl_malloc(48));
      bool ok = true;
      std::uint64_t superblocks = 0;
      const hl_stats s = stats();
      for (std::uint32_t h = 0; h < s.heaps; ++h) {
        hl_heap_stats hs{};
        if (hl_stats_heap(h, &hs) == 0) {
          ok = ok && hs.bytes_held == hs.superblocks * bytes;
          superblocks += hs.superblocks;
        }
      }
      // 20000 x 48 bytes need more than one superblock of either size.
      ok = ok && superblocks * bytes >= 20000u * 48;

      for (void* p : live)
        hl_free(p);
      return report(ok, "a heap's a_i is not its superblock count times S");
    });
  }
}

TEST(OptionEffect, LargeThresholdSplitsSmallFromLargeAllocations) {
  const Environment env = {{"HOARDLAB_LARGE_THRESHOLD", "8KiB"}};
  EXPECT_CASE(env, [] {
    const std::uint64_t before = stats().large_allocations;
    void* small = hl_malloc(8 * 1024);
    const std::uint64_t after_small = stats().large_allocations;
    void* large = hl_malloc(8 * 1024 + 1);
    const std::uint64_t after_large = stats().large_allocations;
    hl_free(small);
    hl_free(large);
    return report(after_small == before && after_large == before + 1,
                  "8KiB should be small and 8KiB+1 large");
  });
}

TEST(OptionEffect, HeapCountSetsTheNumberOfHeaps) {
  const Environment env = {{"HOARDLAB_HEAP_COUNT", "3"}};
  EXPECT_CASE(env, [] {
    hl_free(hl_malloc(16));
    return report(stats().heaps == 3, "heap.count = 3 did not give 3 heaps");
  });
}

TEST(OptionEffect, SyntheticTopologyGivesItsNodes) {
  const Environment env = {{"HOARDLAB_TOPOLOGY", "pack:2 numa:2 core:1 pu:1"}};
  EXPECT_CASE(env, [] {
    hl_free(hl_malloc(16));
    return report(stats().nodes == 4 && std::strcmp(hl_topology_source(), "synthetic") == 0,
                  "a 4-node synthetic topology did not give 4 nodes");
  });
}

TEST(OptionEffect, NoRetentionAndNoDelayPurgesEmptySuperblocks) {
  const Environment env = {{"HOARDLAB_PURGE_RETAIN_SUPERBLOCKS", "0"},
                           {"HOARDLAB_PURGE_DELAY_MS", "0"}};
  EXPECT_CASE(env, [] {
    churn(1024, 1, 20000);
    hl_collect();
    return report(stats().os_bytes_purged > 0, "nothing purged with retention 0 and delay 0");
  });
}

TEST(OptionEffect, StatsOnePrintsTheSummaryAtExit) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const Environment env = {{"HOARDLAB_STATS", "1"}};
  EXPECT_EXIT(run_case(env,
                       [] {
                         churn(100, 1, 10);
                         return true;
                       }),
              ::testing::ExitedWithCode(0), "hoardlab statistics.*allocations +[1-9]");
}

// Hoard's release rule: a heap gives a superblock back while u < a - (K + C)S and u < (1-f)a.
// One heap, no cache: freeing 40000 live 64-byte blocks empties ~40 superblocks.
TEST(OptionEffect, EmptinessSlackKKeepsSuperblocksInTheHeap) {
  const Environment keep = {{"HOARDLAB_CACHE_BYTES", "0"},
                            {"HOARDLAB_HEAP_COUNT", "1"},
                            {"HOARDLAB_HEAP_EMPTINESS_K", "1024"}};
  EXPECT_CASE(keep, [] {
    churn(64, 1, 40000);
    return report(stats().superblocks_to_pool == 0, "K = 1024 still gave superblocks back");
  });
  const Environment release = {{"HOARDLAB_CACHE_BYTES", "0"},
                               {"HOARDLAB_HEAP_COUNT", "1"},
                               {"HOARDLAB_HEAP_EMPTINESS_K", "0"}};
  EXPECT_CASE(release, [] {
    churn(64, 1, 40000);
    return report(stats().superblocks_to_pool > 0, "K = 0 gave no superblock back");
  });
}

// Allocates n blocks of `size` bytes and frees all but every `keep_every`-th, so that every
// superblock of the class is left partly used at once, then frees the rest. Returns how many
// superblocks went to the pool during the first frees.
std::uint64_t thin_out(std::size_t size, int n, int keep_every) {
  std::vector<void*> blocks(static_cast<std::size_t>(n));
  for (auto& b : blocks) {
    b = hl_malloc(size);
    std::memset(b, 1, size);
  }
  const std::uint64_t start = stats().superblocks_to_pool;
  for (std::size_t i = 0; i < blocks.size(); ++i)
    if (i % static_cast<std::size_t>(keep_every) != 0) hl_free(blocks[i]);
  const std::uint64_t given = stats().superblocks_to_pool - start;
  for (std::size_t i = 0; i < blocks.size(); i += static_cast<std::size_t>(keep_every))
    hl_free(blocks[i]);
  return given;
}

// A smaller f makes the (1-f)a threshold higher, so the heap gives superblocks back sooner. f
// acts on the classes that hold two or more partly used superblocks: a class's only one is
// within H3's per-class allowance whatever f is. So the frees leave each of the ~40 superblocks
// 3/4 empty at once: with f = 0.99 none is empty enough to go, with f = 1/8 all but one do (39).
// f is a run-time option: both phases run in one process through hl_option_set.
TEST(OptionEffect, SmallerEmptinessFractionGivesMoreSuperblocksBack) {
  const Environment env = {{"HOARDLAB_CACHE_BYTES", "0"},
                           {"HOARDLAB_HEAP_COUNT", "1"},
                           {"HOARDLAB_HEAP_EMPTINESS_K", "0"}};
  EXPECT_CASE(env, [] {
    if (hl_option_set("heap.emptiness_f", "0.99") != 0) return report(false, "set f = 0.99");
    const std::uint64_t lax = thin_out(64, 40000, 4);
    if (hl_option_set("heap.emptiness_f", "1/8") != 0) return report(false, "set f = 1/8");
    const std::uint64_t eager = thin_out(64, 40000, 4);
    return report(lax == 0 && eager >= 20,
                  "f = 0.99 gave back superblocks 3/4 empty, or f = 1/8 gave back fewer than 20");
  });
}

// H3's per-class allowance: even with no slack (K = 0), a class keeps its one partly used
// superblock. Freed newest first, each of the two classes empties one superblock at a time and
// has only that one partly used, so every free finds its superblock still in the heap (none goes
// the remote way through the pool), while the superblocks the frees empty are given back.
TEST(OptionEffect, ZeroSlackStillLeavesEachClassItsPartlyUsedSuperblock) {
  const Environment env = {{"HOARDLAB_CACHE_BYTES", "0"},
                           {"HOARDLAB_HEAP_COUNT", "1"},
                           {"HOARDLAB_HEAP_EMPTINESS_K", "0"}};
  EXPECT_CASE(env, [] {
    std::vector<void*> blocks(40000);
    for (std::size_t i = 0; i < blocks.size(); ++i)
      blocks[i] = hl_malloc(i % 2 == 0 ? 64 : 256);
    for (auto b = blocks.rbegin(); b != blocks.rend(); ++b)
      hl_free(*b);
    const hl_stats s = stats();
    return report(s.remote_frees_sent == 0 && s.superblocks_to_pool > 0,
                  "a class's only partly used superblock went to the pool, or nothing did");
  });
}

// per-thread: every live thread has a heap of its own.
// How many heaps have served an allocation.
int heaps_with_allocations() {
  const hl_stats s = stats();
  int used = 0;
  for (std::uint32_t i = 0; i < s.heaps; ++i) {
    hl_heap_stats h{};
    if (hl_stats_heap(i, &h) == 0 && h.allocations > 0) ++used;
  }
  return used;
}

TEST(OptionEffect, PerThreadMappingGivesEachLiveThreadItsOwnHeap) {
  const Environment env = {{"HOARDLAB_HEAP_MAPPING", "per-thread"}};
  EXPECT_CASE(env, [] {
    constexpr int kThreads = 6;
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&ready] {
        std::vector<void*> blocks;
        for (int k = 0; k < 100; ++k)
          blocks.push_back(hl_malloc(64));
        ready.fetch_add(1);
        while (ready.load() < kThreads) // all alive at once: none can adopt another's heap
          std::this_thread::yield();
        for (void* b : blocks)
          hl_free(b);
      });
    for (auto& t : threads)
      t.join();
    const int used = heaps_with_allocations();
    return report(used >= kThreads, "six live threads did not use six heaps");
  });
}

// heap.count = 0 under `per-thread`: 2 x PUs heaps and at least 256, so a machine of 200 PUs
// (synthetic) has 400. One per PU under `cpu` must not lower it to 256.
TEST(OptionEffect, PerThreadMappingKeepsTwiceThePusWhenThatIsOver256) {
  const Environment env = {{"HOARDLAB_HEAP_MAPPING", "per-thread"},
                           {"HOARDLAB_TOPOLOGY", "pack:1 numa:1 core:200 pu:1"}};
  EXPECT_CASE(env, [] {
    hl_free(hl_malloc(64));
    const hl_stats s = stats();
    return report(
        s.heaps == 400,
        ("per-thread mapping on 200 PUs: " + std::to_string(s.heaps) + " heaps, not 400").c_str());
  });
}

// remote.policy: with superblock-list a block freed by another thread waits in its
// superblock's lock-free list until the owner drains it; with owner-lock (Hoard 2000) the
// freeing thread returns it under the owner's lock, so nothing is ever left to drain.
bool frees_from_another_thread_are_drained() {
  std::vector<void*> blocks(5000);
  for (auto& b : blocks)
    b = hl_malloc(64);
  std::thread([&blocks] {
    for (void* b : blocks)
      hl_free(b);
  }).join();
  for (auto& b : blocks) // the owner allocates again: its heap drains what is pending
    b = hl_malloc(64);
  // Through a list: lock-free sends happened and were drained (under owner-lock the frees are
  // drained too, at once under the owner's lock, but nothing is ever sent through a list).
  const hl_stats s = stats();
  const bool drained = s.remote_batches_sent > 0 && s.remote_frees_drained > 0;
  for (void* b : blocks)
    hl_free(b);
  return drained;
}

TEST(OptionEffect, RemotePolicyDecidesWhetherCrossThreadFreesAreDrained) {
  const Environment lock_free = {{"HOARDLAB_HEAP_MAPPING", "per-thread"},
                                 {"HOARDLAB_REMOTE_POLICY", "superblock-list"}};
  EXPECT_CASE(lock_free, [] {
    return report(frees_from_another_thread_are_drained(),
                  "superblock-list: no remote free was drained");
  });
  const Environment owner_lock = {{"HOARDLAB_HEAP_MAPPING", "per-thread"},
                                  {"HOARDLAB_REMOTE_POLICY", "owner-lock"}};
  EXPECT_CASE(owner_lock, [] {
    return report(!frees_from_another_thread_are_drained(),
                  "owner-lock: remote frees were drained from a list");
  });
}

// ---- heap.fullness_groups ----
// Allocation takes from the fullest group (Hoard §3); within a group, from the superblock that
// entered it last. Two superblocks of one class, A at 45% used and B at 10%, B emptied last:
// with 16 groups they sit in groups 7 and 1 and the next block comes from A; with 2 groups both
// sit in group 0 (below half full) and the next block comes from B, the emptier one.
bool next_block_comes_from_the_fuller_superblock() {
  constexpr std::size_t kSize = 64;
  constexpr std::uintptr_t kSuperblock = 64 * 1024;
  std::vector<void*> blocks;
  for (int i = 0; i < 3000; ++i)
    blocks.push_back(hl_malloc(kSize));
  // Blocks by superblock, in the order their superblocks were first used.
  std::vector<std::uintptr_t> order;
  std::map<std::uintptr_t, std::vector<void*>> by_superblock;
  for (void* b : blocks) {
    const std::uintptr_t sb = reinterpret_cast<std::uintptr_t>(b) & ~(kSuperblock - 1);
    if (by_superblock.find(sb) == by_superblock.end()) order.push_back(sb);
    by_superblock[sb].push_back(b);
  }
  if (order.size() < 3) return report(false, "3000 blocks of 64 bytes fit in < 3 superblocks");
  // Every superblock but the first two is emptied, so only A and B have blocks to give.
  for (std::size_t i = 2; i < order.size(); ++i)
    for (void* b : by_superblock[order[i]])
      hl_free(b);
  std::vector<void*>& a = by_superblock[order[0]];
  std::vector<void*>& b = by_superblock[order[1]];
  const std::size_t capacity = a.size();
  const auto keep_a = static_cast<std::size_t>(static_cast<double>(capacity) * 0.45);
  const auto keep_b = static_cast<std::size_t>(static_cast<double>(capacity) * 0.10);
  for (std::size_t i = keep_a; i < a.size(); ++i)
    hl_free(a[i]);
  for (std::size_t i = keep_b; i < b.size(); ++i)
    hl_free(b[i]);
  void* next = hl_malloc(kSize);
  const std::uintptr_t from = reinterpret_cast<std::uintptr_t>(next) & ~(kSuperblock - 1);
  const bool fuller = from == order[0];
  if (from != order[0] && from != order[1])
    std::fprintf(stderr, "the block came from neither A nor B\n");
  hl_free(next);
  for (std::size_t i = 0; i < keep_a; ++i)
    hl_free(a[i]);
  for (std::size_t i = 0; i < keep_b; ++i)
    hl_free(b[i]);
  return fuller;
}

TEST(OptionEffect, MoreFullnessGroupsTellAFullerSuperblockFromAnEmptierOne) {
  const Environment fine = {{"HOARDLAB_CACHE_BYTES", "0"},
                            {"HOARDLAB_HEAP_COUNT", "1"},
                            {"HOARDLAB_HEAP_EMPTINESS_K", "1024"},
                            {"HOARDLAB_HEAP_SUPERBLOCK_SIZE", "64KiB"},
                            {"HOARDLAB_HEAP_FULLNESS_GROUPS", "16"}};
  EXPECT_CASE(fine, [] {
    return report(next_block_comes_from_the_fuller_superblock(),
                  "16 groups: the next block did not come from the 45%-used superblock");
  });
  const Environment coarse = {{"HOARDLAB_CACHE_BYTES", "0"},
                              {"HOARDLAB_HEAP_COUNT", "1"},
                              {"HOARDLAB_HEAP_EMPTINESS_K", "1024"},
                              {"HOARDLAB_HEAP_SUPERBLOCK_SIZE", "64KiB"},
                              {"HOARDLAB_HEAP_FULLNESS_GROUPS", "2"}};
  EXPECT_CASE(coarse, [] {
    return report(!next_block_comes_from_the_fuller_superblock(),
                  "2 groups: the next block came from the fuller superblock of the same group");
  });
}

// ---- sizes.classes_per_doubling ----
// The spacing shows in the usable sizes: k classes per power of two bound the waste of a
// request to about 1/k of it.
struct Spacing {
  std::size_t distinct = 0; // distinct usable sizes for requests 64..1024
  double worst = 0;         // largest usable / requested over those requests
};
Spacing measure_spacing() {
  Spacing s;
  std::vector<std::size_t> seen;
  for (std::size_t n = 64; n <= 1024; ++n) {
    void* p = hl_malloc(n);
    const std::size_t usable = hl_usable_size(p);
    hl_free(p);
    if (std::find(seen.begin(), seen.end(), usable) == seen.end()) seen.push_back(usable);
    s.worst = std::max(s.worst, static_cast<double>(usable) / static_cast<double>(n));
  }
  s.distinct = seen.size();
  return s;
}

TEST(OptionEffect, ClassesPerDoublingSetsTheSizeClassSpacing) {
  const Environment one = {{"HOARDLAB_SIZES_CLASSES_PER_DOUBLING", "1"}};
  EXPECT_CASE(one, [] {
    const Spacing s = measure_spacing();
    // Powers of two only: 64, 128, ..., 1024, and 65 bytes take 128.
    return report(s.distinct == 5 && s.worst > 1.9, "1 class per doubling is not powers of two");
  });
  const Environment four = {{"HOARDLAB_SIZES_CLASSES_PER_DOUBLING", "4"}};
  EXPECT_CASE(four, [] {
    const Spacing s = measure_spacing();
    return report(s.distinct == 17 && s.worst <= 1.25,
                  "4 classes per doubling: not 4 per power of two, or waste above 25%");
  });
}

// ---- cache.batch ----
// A thread's first allocation of a class refills its bin with one batch from the heap: the
// heaps' allocation counters grow by exactly cache.batch. A run-time option: each value is
// set, then seen by a fresh thread.
TEST(OptionEffect, CacheBatchIsTheNumberOfBlocksARefillTakes) {
  const Environment env = {};
  EXPECT_CASE(env, [] {
    hl_free(hl_malloc(64));
    bool ok = true;
    for (const char* batch : {"8", "64", "5"}) {
      if (hl_option_set("cache.batch", batch) != 0) return report(false, "set cache.batch");
      const std::uint64_t taken = first_refill_of_a_fresh_thread();
      if (taken != std::strtoull(batch, nullptr, 10)) {
        std::fprintf(stderr, "cache.batch = %s: the first refill took %llu blocks\n", batch,
                     static_cast<unsigned long long>(taken));
        ok = false;
      }
    }
    return ok;
  });
}

// ---- heap.drain_threshold ----
// The main thread's blocks are freed by another thread while the main thread stays out of its
// heap. Below the threshold the frees wait in the superblocks' remote lists; past it, the freeing
// thread drains the heap itself.
std::uint64_t drained_while_the_owner_is_idle() {
  std::vector<void*> blocks(5000);
  for (auto& b : blocks)
    b = hl_malloc(64);
  std::thread([&blocks] {
    for (void* b : blocks)
      hl_free(b);
  }).join(); // its exit sends whatever it still buffers
  return stats().remote_frees_drained;
}

TEST(OptionEffect, DrainThresholdDecidesWhenAFreeingThreadDrainsAnotherHeap) {
  const Environment low = {{"HOARDLAB_HEAP_MAPPING", "per-thread"},
                           {"HOARDLAB_HEAP_DRAIN_THRESHOLD", "1"}};
  EXPECT_CASE(low, [] {
    return report(drained_while_the_owner_is_idle() > 0,
                  "drain_threshold = 1: nothing drained by the freeing thread");
  });
  const Environment high = {{"HOARDLAB_HEAP_MAPPING", "per-thread"},
                            {"HOARDLAB_HEAP_DRAIN_THRESHOLD", "1048576"}};
  EXPECT_CASE(high, [] {
    return report(drained_while_the_owner_is_idle() == 0,
                  "drain_threshold = 1Mi: remote frees drained while the owner was idle");
  });
}

// The main thread keeps entering its heap (each round allocates from a class it never used, so
// the bin is empty and the refill enters the heap) while another thread frees more than the
// threshold of its blocks per round. Its own entries drain them; a freeing thread that drained
// the heap on its behalf would move the heap to its core and lock the owner out meanwhile.
bool no_drain_on_behalf_of_a_heap_its_thread_enters() {
  constexpr std::size_t kRounds = 4;
  constexpr std::size_t kPerRound = 400; // past the threshold (256) once, not twice
  std::vector<void*> blocks(kRounds * kPerRound);
  for (auto& b : blocks)
    b = hl_malloc(64);
  for (std::size_t r = 0; r < kRounds; ++r) {
    hl_free(hl_malloc(1024 + 512 * r)); // an entry of the owner: it drains what was sent so far
    const std::uint64_t before = stats().remote_frees_drained;
    std::thread([&blocks, r] {
      for (std::size_t i = 0; i < kPerRound; ++i)
        hl_free(blocks[r * kPerRound + i]);
    }).join(); // its exit sends whatever it still buffers
    if (stats().remote_frees_drained != before) {
      std::fprintf(stderr, "round %zu: %llu drained by the freeing thread\n", r,
                   static_cast<unsigned long long>(stats().remote_frees_drained - before));
      return false;
    }
  }
  return true;
}

TEST(OptionEffect, AFreeingThreadLeavesAHeapItsOwnThreadKeepsEnteringToThatThread) {
  const Environment env = {{"HOARDLAB_HEAP_MAPPING", "per-thread"}};
  EXPECT_CASE(env, [] {
    return report(no_drain_on_behalf_of_a_heap_its_thread_enters(),
                  "a freeing thread drained a heap whose own thread enters it every round");
  });
}

// ---- large.cache_bytes ----
TEST(OptionEffect, LargeCacheBytesBoundsTheFreedLargeObjectsKept) {
  const Environment env = {};
  EXPECT_CASE(env, [] {
    constexpr std::size_t kLarge = 1 << 20;
    if (hl_option_set("large.cache_bytes", "0") != 0) return report(false, "set 0");
    hl_free(hl_malloc(kLarge));
    const std::uint64_t uncached = stats().large_cached_bytes;
    if (hl_option_set("large.cache_bytes", "32MiB") != 0) return report(false, "set 32MiB");
    hl_free(hl_malloc(kLarge));
    const std::uint64_t cached = stats().large_cached_bytes;
    return report(uncached == 0 && cached >= kLarge,
                  "large.cache_bytes = 0 kept a freed object, or 32MiB kept none");
  });
}

// The cache keeps hundreds of mappings, not a few dozen (a program freeing its large objects
// in a burst gets them back without mmap), and a bound lowered at run time is met at the next
// free however many mappings must go, more than are unmapped per lock hold.
TEST(OptionEffect, LargeCacheKeepsManyMappingsAndMeetsALoweredBound) {
  const Environment env = {};
  EXPECT_CASE(env, [] {
    constexpr std::size_t kLarge = 128 << 10;
    constexpr std::size_t kCount = 100;
    std::vector<void*> blocks;
    for (std::size_t i = 0; i < kCount; ++i)
      blocks.push_back(hl_malloc(kLarge));
    for (void* p : blocks)
      hl_free(p);
    const std::uint64_t kept = stats().large_cached_bytes;
    if (kept < kCount * kLarge) return report(false, "fewer than 100 freed mappings kept");
    const std::uint64_t mapped = stats().os_bytes_mapped;
    if (hl_option_set("large.cache_bytes", "1MiB") != 0) return report(false, "set 1MiB");
    hl_free(hl_malloc(2 * kLarge));
    const hl_stats after = stats();
    return report(after.large_cached_bytes <= (1u << 20) &&
                      after.os_bytes_mapped + (kCount - 8) * kLarge <= mapped,
                  "a lowered large.cache_bytes left more cached, or the evicted stayed mapped");
  });
}

// A lowered bound is met also at a free whose run, joined with its cached neighbours, is longer
// than the bound by itself: that run is unmapped, and the other runs cached must still go. The
// freed object sits between cached runs carved beside it, so the join spans its chunk.
TEST(OptionEffect, ALoweredLargeCacheBoundIsMetWhenTheFreedRunJoinsPastIt) {
  const Environment env = {{"HOARDLAB_LARGE_THREAD_CACHE_BYTES", "0"}};
  EXPECT_CASE(env, [] {
    constexpr std::size_t kLarge = 120 << 10;
    constexpr std::size_t kCount = 64;
    constexpr std::size_t kMiddle = 5;
    std::vector<void*> blocks;
    for (std::size_t i = 0; i < kCount; ++i)
      blocks.push_back(hl_malloc(kLarge));
    for (std::size_t i = 0; i < kCount; ++i)
      if (i != kMiddle) hl_free(blocks[i]);
    if (stats().large_cached_bytes < 2 * (1u << 20)) return report(false, "too little cached");
    if (hl_option_set("large.cache_bytes", "1MiB") != 0) return report(false, "set 1MiB");
    hl_free(blocks[kMiddle]);
    return report(stats().large_cached_bytes <= (1u << 20),
                  "the free that joined past the lowered bound left the other runs cached");
  });
}

// large.cache_share: ten 8 MiB objects live and ten cached between them (no two cached runs
// adjacent, so none joins into one that fits), each run 10 MiB (8 MiB and a header page, rounded
// to huge pages). A fresh 32 MiB object (a 34 MiB run) makes 134 MiB live: at 50 the excess over
// half of it is 33 MiB, so the four oldest cached runs go back; at 0, none. Returns the cached
// bytes that went, or -1 if the setup failed.
std::int64_t given_back_by_a_fresh_run(const char* share) {
  constexpr std::size_t kMiB = 1 << 20;
  if (hl_option_set("large.cache_share", share) != 0) return -1;
  std::vector<void*> blocks;
  for (int i = 0; i < 20; ++i)
    blocks.push_back(hl_malloc(8 * kMiB));
  for (int i = 1; i < 20; i += 2)
    hl_free(blocks[i]);
  const std::uint64_t before = stats().large_cached_bytes;
  void* fresh = hl_malloc(32 * kMiB);
  const std::uint64_t after = stats().large_cached_bytes;
  hl_free(fresh);
  for (int i = 0; i < 20; i += 2)
    hl_free(blocks[i]);
  if (before < 80 * kMiB || after > before) return -1;
  return static_cast<std::int64_t>(before - after);
}

TEST(OptionEffect, LargeCacheShareGivesBackAsMuchAsAFreshRunTakesPastTheShare) {
  const Environment env = {{"HOARDLAB_LARGE_THREAD_CACHE_BYTES", "0"}};
  EXPECT_CASE(env, [] {
    const std::int64_t gone = given_back_by_a_fresh_run("50");
    return report(gone >= (33 << 20) && gone <= (50 << 20),
                  "at large.cache_share = 50 a fresh run did not send back what it took");
  });
  EXPECT_CASE(env, [] {
    return report(given_back_by_a_fresh_run("0") == 0,
                  "at large.cache_share = 0 a fresh run sent cached runs back");
  });
}

// ---- numa.policy ----
// A synthetic two-node machine and one heap, on node 0: `local` carves every superblock from
// node 0's arena; `interleave` deals them over both nodes, so node 1's arena gets memory too.
std::uint64_t bytes_placed_on(std::uint32_t node) {
  churn(64, 1, 20000); // ~20 superblocks of 64KiB
  hl_node_stats ns{};
  if (hl_stats_node(node, &ns) != 0) return ~std::uint64_t{0};
  return ns.bytes_placed;
}

TEST(OptionEffect, NumaPolicyDecidesWhichNodesArenasServeAHeap) {
  const Environment local = {{"HOARDLAB_TOPOLOGY", "pack:1 numa:2 core:1 pu:1"},
                             {"HOARDLAB_HEAP_COUNT", "1"},
                             {"HOARDLAB_NUMA_POLICY", "local"}};
  EXPECT_CASE(local, [] {
    hl_free(hl_malloc(1));
    if (stats().nodes != 2) return report(false, "the synthetic topology did not give 2 nodes");
    return report(bytes_placed_on(1) == 0, "local: node 1's arena served a node-0 heap");
  });
  const Environment interleave = {{"HOARDLAB_TOPOLOGY", "pack:1 numa:2 core:1 pu:1"},
                                  {"HOARDLAB_HEAP_COUNT", "1"},
                                  {"HOARDLAB_NUMA_POLICY", "interleave"}};
  EXPECT_CASE(interleave, [] {
    const std::uint64_t placed = bytes_placed_on(1);
    return report(placed > 0 && placed != ~std::uint64_t{0},
                  "interleave: node 1's arena got nothing");
  });
}

// ---- general.verbose ----
// A pointer the allocator does not own, freed: silent at verbose 0, one line at verbose 1. A
// run-time option; stderr goes to a file so that the test can read what was written.
std::string stderr_while(const std::function<void()>& body) {
  const std::string path = ::testing::TempDir() + "verbose_stderr_" + std::to_string(getpid());
  const int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_RDWR, 0600);
  const int saved = dup(2);
  dup2(fd, 2);
  body();
  dup2(saved, 2);
  close(saved);
  std::string text;
  char buffer[512];
  lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;)
    text.append(buffer, static_cast<std::size_t>(n));
  close(fd);
  unlink(path.c_str());
  return text;
}

TEST(OptionEffect, VerboseOneReportsAForeignFreeAndZeroStaysSilent) {
  const Environment env = {{"HOARDLAB_VERBOSE", "0"}};
  EXPECT_CASE(env, [] {
    static char not_ours[64];
    hl_free(hl_malloc(16));
    const std::string quiet = stderr_while([] { hl_free(not_ours + 16); });
    if (hl_option_set("general.verbose", "1") != 0) return report(false, "set verbose");
    const std::string told = stderr_while([] { hl_free(not_ours + 32); });
    std::fprintf(stderr, "verbose 0 wrote '%s'; verbose 1 wrote '%s'\n", quiet.c_str(),
                 told.c_str());
    return report(quiet.empty() && told.find("does not own") != std::string::npos,
                  "verbose 0 was not silent, or verbose 1 said nothing");
  });
}

// ---- general.checked ----
// With checked on, a double free and a free of a pointer inside a block are named on stderr and
// ignored: the allocator's invariants still hold and the block is handed out once, not twice.
TEST(OptionEffect, CheckedNamesADoubleFreeAndAnInvalidFreeAndIgnoresThem) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const Environment env = {{"HOARDLAB_CHECKED", "1"}};
  EXPECT_EXIT(
      run_case(env,
               [] {
                 char* p = static_cast<char*>(hl_malloc(64));
                 char* live = static_cast<char*>(hl_malloc(64));
                 hl_free(p);
                 hl_free(p);        // double free
                 hl_free(live + 8); // not a block start
                 char* a = static_cast<char*>(hl_malloc(64));
                 char* b = static_cast<char*>(hl_malloc(64));
                 const bool once = a != b; // p came back once, not twice
                 hl_free(a);
                 hl_free(b);
                 hl_free(live);
                 return report(once, "a refused double free still handed p out twice") &&
                        report(hl_check_invariants() == 0, "invariants broken");
               }),
      ::testing::ExitedWithCode(0),
      "hoardlab: double free of 0x[0-9a-f]+, in a superblock of 64-byte blocks; the free is "
      "ignored \\(general.checked\\)\n"
      "hoardlab: invalid free \\(not the start of a block\\) of 0x[0-9a-f]+");
}

// Without checked, the thread cache takes frees with no per-block check: a second free of one
// block is not named at the free (what the option adds). The case stops before the corrupted
// cache is used again.
TEST(OptionEffect, WithoutCheckedADoubleFreeIsNotNamedAtTheFree) {
  const Environment env = {{"HOARDLAB_CHECKED", "0"}};
  EXPECT_CASE(env, [] {
    void* p = hl_malloc(64);
    const std::string said = stderr_while([p] {
      hl_free(p);
      hl_free(p);
    });
    std::fflush(stderr);
    _exit(said.find("double free") == std::string::npos ? 0 : 1); // skip the exit-time flush
    return false;
  });
}

// `local` binds each node's arenas to their node; `none` leaves placement to the kernel. On the
// real topology the difference shows in the node's `bound` flag, wherever the kernel lets this
// process bind memory at all (a container may refuse mbind: then only `none` is checked).
bool kernel_lets_this_process_bind() {
  const std::size_t bytes = 1 << 16;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  unsigned long node_mask = 1; // node 0
  constexpr long kMpolBind = 2;
  const long rc = syscall(SYS_mbind, p, bytes, kMpolBind, &node_mask, 8 * sizeof(node_mask), 0);
  munmap(p, bytes);
  return rc == 0;
}

TEST(OptionEffect, NumaPolicyNoneLeavesArenasUnboundAndLocalBindsThem) {
  const Environment none = {{"HOARDLAB_NUMA_POLICY", "none"}, {"HOARDLAB_TOPOLOGY", ""}};
  EXPECT_CASE(none, [] {
    hl_free(hl_malloc(16));
    bool ok = true;
    for (std::uint32_t n = 0; n < stats().nodes; ++n) {
      hl_node_stats ns{};
      ok = ok && hl_stats_node(n, &ns) == 0 && ns.bound == 0;
    }
    return report(ok, "numa.policy = none bound an arena");
  });
  const Environment local = {{"HOARDLAB_NUMA_POLICY", "local"}, {"HOARDLAB_TOPOLOGY", ""}};
  EXPECT_CASE(local, [] {
    hl_free(hl_malloc(16));
    if (std::strcmp(hl_topology_source(), "sysfs") != 0 || !kernel_lets_this_process_bind())
      return true; // nothing to bind to, or binding refused: `local` cannot differ here
    hl_node_stats ns{};
    return report(hl_stats_node(0, &ns) == 0 && ns.bound == 1,
                  "numa.policy = local left node 0's arena unbound though mbind works");
  });
}

// general.stats is a run-time option: set by the program, it still prints the summary at exit.
TEST(OptionEffect, StatsSetAtRunTimePrintsTheSummaryAtExit) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const Environment env = {};
  EXPECT_EXIT(run_case(env,
                       [] {
                         churn(100, 1, 10);
                         return hl_option_set("general.stats", "true") == 0;
                       }),
              ::testing::ExitedWithCode(0), "hoardlab statistics.*allocations +[1-9]");
}

// Two threads free the same 200 blocks at once: under checked each block is freed once and the
// other free of it is named, whichever thread comes second.
TEST(OptionEffect, CheckedTellsApartTwoThreadsFreeingOneBlockAtOnce) {
  const Environment env = {{"HOARDLAB_CHECKED", "1"}};
  EXPECT_CASE(env, [] {
    constexpr int kBlocks = 200;
    std::vector<void*> blocks;
    for (int i = 0; i < kBlocks; ++i)
      blocks.push_back(hl_malloc(48));
    const std::string said = stderr_while([&blocks] {
      std::atomic<int> ready{0};
      auto free_all = [&] {
        ready.fetch_add(1);
        while (ready.load() < 2)
          std::this_thread::yield();
        for (void* b : blocks)
          hl_free(b);
      };
      std::thread a(free_all);
      std::thread b(free_all);
      a.join();
      b.join();
    });
    std::size_t named = 0;
    for (std::size_t at = said.find("double free"); at != std::string::npos;
         at = said.find("double free", at + 1))
      ++named;
    const hl_stats s = stats();
    std::fprintf(stderr, "%zu double frees named; %llu bytes in use\n", named,
                 static_cast<unsigned long long>(s.bytes_in_use));
    return report(named == kBlocks, "not every second free was named") &&
           report(s.bytes_in_use == 0, "a block was freed twice or not at all") &&
           report(hl_check_invariants() == 0, "invariants broken");
  });
}

} // namespace

// heap.mapping: under `cpu` the processor a thread runs on picks its heap, under `thread-hash`
// the thread itself does. Six threads pinned to one processor, alive together, allocate one
// after another (no contention, so no pass-over): under `cpu` they land in that processor's
// heap (or its pair, when threads outnumber processors), under `thread-hash` they spread.
int heaps_used_by_six_threads_on_one_cpu() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return -1;
  int cpu = 0;
  while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &allowed))
    ++cpu;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  if (sched_setaffinity(0, sizeof one, &one) != 0) return -1; // threads inherit it
  constexpr int kThreads = 6;
  std::atomic<int> turn{0};
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      while (turn.load() != t)
        std::this_thread::yield();
      std::vector<void*> blocks;
      for (int k = 0; k < 100; ++k)
        blocks.push_back(hl_malloc(64));
      turn.fetch_add(1);
      done.fetch_add(1);
      while (done.load() < kThreads) // alive together: no thread reuses an exited one's cache
        std::this_thread::yield();
      for (void* b : blocks)
        hl_free(b);
    });
  for (auto& t : threads)
    t.join();
  return heaps_with_allocations();
}

TEST(OptionEffect, CpuMappingFollowsTheProcessorAndThreadHashTheThread) {
  const Environment cpu = {{"HOARDLAB_HEAP_MAPPING", "cpu"}, {"HOARDLAB_HEAP_COUNT", "4"}};
  EXPECT_CASE(cpu, [] {
    int used = heaps_used_by_six_threads_on_one_cpu();
    return report(used >= 1 && used <= 2, ("cpu mapping spread one processor's threads over " +
                                           std::to_string(used) + " heaps")
                                              .c_str());
  });
  const Environment hash = {{"HOARDLAB_HEAP_MAPPING", "thread-hash"}, {"HOARDLAB_HEAP_COUNT", "4"}};
  EXPECT_CASE(hash, [] {
    int used = heaps_used_by_six_threads_on_one_cpu();
    return report(used >= 3, ("thread-hash mapping put six threads into only " +
                              std::to_string(used) + " heaps")
                                 .c_str());
  });
}

// heap.count = 0: one heap per processor under `cpu`, even once threads outnumber the processors
// (seven live threads here, on any machine of up to six); Hoard's 2 x PUs under `thread-hash`.
// Before, `cpu` also doubled the heaps and spread a processor's threads over two of them.
TEST(OptionEffect, DefaultHeapCountIsOnePerProcessorUnderCpuAndTwiceThatUnderThreadHash) {
  const Environment cpu = {{"HOARDLAB_HEAP_MAPPING", "cpu"}};
  EXPECT_CASE(cpu, [] {
    const int used = heaps_used_by_six_threads_on_one_cpu();
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    const hl_stats s = stats();
    return report(used == 1 && static_cast<long>(s.heaps) == online,
                  ("cpu mapping: six threads on one processor used " + std::to_string(used) +
                   " heaps of " + std::to_string(s.heaps) + ", with " + std::to_string(online) +
                   " processors online")
                      .c_str());
  });
  const Environment hash = {{"HOARDLAB_HEAP_MAPPING", "thread-hash"}};
  EXPECT_CASE(hash, [] {
    hl_free(hl_malloc(64));
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    const hl_stats s = stats();
    return report(static_cast<long>(s.heaps) == 2 * online,
                  ("thread-hash mapping: " + std::to_string(s.heaps) + " heaps with " +
                   std::to_string(online) + " processors online")
                      .c_str());
  });
}
