// Each option changes what it says it changes, seen through the allocator's statistics or
// behaviour, not by reading the option back. Every case runs in a fresh process (threadsafe
// death-test style) whose environment is set before the allocator's first call, so init-only
// options apply.
#include <gtest/gtest.h>

#include "hoardlab/hoardlab.h"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

namespace {

using Environment = std::vector<std::pair<const char*, const char*>>;

// In the child: set the environment, run the case, exit 0 when it held (else 1, with why).
[[noreturn]] void run_case(const Environment& env, const std::function<bool()>& body) {
  for (const auto& [name, value] : env)
    setenv(name, value, 1);
  std::exit(body() ? 0 : 1);
}

#define EXPECT_CASE(env, body)                                                                     \
  do {                                                                                             \
    GTEST_FLAG_SET(death_test_style, "threadsafe");                                                \
    EXPECT_EXIT(run_case(env, body), ::testing::ExitedWithCode(0), "");                            \
  } while (0)

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

bool report(bool ok, const char* what) {
  if (!ok) std::fprintf(stderr, "failed: %s\n", what);
  return ok;
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

// Hoard's release rule: a heap gives a superblock back while u < a - K*S and u < (1-f)a.
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

// A smaller f makes the (1-f)a threshold higher, so the heap gives superblocks back sooner.
// f is a run-time option: both phases run in one process through hl_option_set.
TEST(OptionEffect, SmallerEmptinessFractionGivesMoreSuperblocksBack) {
  const Environment env = {{"HOARDLAB_CACHE_BYTES", "0"},
                           {"HOARDLAB_HEAP_COUNT", "1"},
                           {"HOARDLAB_HEAP_EMPTINESS_K", "0"}};
  EXPECT_CASE(env, [] {
    if (hl_option_set("heap.emptiness_f", "0.99") != 0) return report(false, "set f = 0.99");
    const std::uint64_t start = stats().superblocks_to_pool;
    churn(64, 1, 40000);
    const std::uint64_t lax = stats().superblocks_to_pool - start;
    if (hl_option_set("heap.emptiness_f", "1/8") != 0) return report(false, "set f = 1/8");
    const std::uint64_t middle = stats().superblocks_to_pool;
    churn(64, 1, 40000);
    const std::uint64_t eager = stats().superblocks_to_pool - middle;
    return report(eager > lax, "f = 1/8 gave no more superblocks back than f = 0.99");
  });
}

// per-thread: every live thread has a heap of its own.
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
    const hl_stats s = stats();
    int used = 0;
    for (std::uint32_t i = 0; i < s.heaps; ++i) {
      hl_heap_stats h{};
      if (hl_stats_heap(i, &h) == 0 && h.allocations > 0) ++used;
    }
    return report(used >= kThreads, "six live threads did not use six heaps");
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
  const bool drained = stats().remote_frees_drained > 0;
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

} // namespace
