// The process-wide thread-cache budget (cache.total_bytes): with many threads alive, each
// thread's bound is its share of the budget, followed by warm threads at their next slow step,
// and given back as threads exit. Each test's cache work runs on a thread of its own, so that
// it starts from an empty cache.
#include <gtest/gtest.h>

#include <cstdint>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "batches.h"
#include "hoardlab/hoardlab.h"
#include "mem/internal.h"

namespace {

namespace mem = hoardlab::mem;
using hoardlab::test::batch;
using hoardlab::test::OptionScope;

constexpr std::uint64_t kKiB = 1024;
constexpr int kIdlers = 40;

// Threads that each make a cache (one small block through it) and stay alive until destroyed.
class Idlers {
public:
  explicit Idlers(int n) {
    std::vector<std::future<void>> started;
    std::shared_future<void> done = done_.get_future().share();
    for (int i = 0; i < n; ++i) {
      std::promise<void> made;
      started.push_back(made.get_future());
      threads_.emplace_back([made = std::move(made), done]() mutable {
        hl_free(hl_malloc(16));
        made.set_value();
        done.wait();
      });
    }
    for (auto& s : started)
      s.wait();
  }
  ~Idlers() {
    done_.set_value();
    for (auto& t : threads_)
      t.join();
  }
  Idlers(const Idlers&) = delete;
  Idlers& operator=(const Idlers&) = delete;

private:
  std::promise<void> done_;
  std::vector<std::thread> threads_;
};

// Warms the calling thread's bins in several classes: with the whole 256 KiB bound they hold
// 64 blocks of each, 85 KiB in all.
void warm() {
  for (std::size_t size : {16, 64, 256, 1024})
    batch(size, 8);
}

// Bytes in the calling thread's bins, counted from the bins themselves.
std::uint64_t bin_bytes() {
  mem::ThreadCache* tc = mem::tl_cache;
  std::uint64_t bytes = 0;
  for (std::size_t c = 0; c < mem::g.classes.count(); ++c)
    bytes += std::uint64_t{tc->bin(c).count()} * mem::g.classes.size_of(c);
  return bytes;
}

// The calling thread's capacity, as its bins count it.
std::uint64_t cap_bytes() {
  mem::ThreadCache* tc = mem::tl_cache;
  std::uint64_t bytes = 0;
  for (std::size_t c = 0; c < mem::g.classes.count(); ++c)
    bytes += std::uint64_t{tc->bin(c).cap} * mem::g.classes.size_of(c);
  return bytes;
}

std::uint64_t live_threads() {
  return mem::g.live_threads.load_relaxed();
}

std::uint64_t bound() {
  return mem::g.tune.cache_bytes.load_relaxed();
}

void initialise() {
  hl_free(hl_malloc(1));
}

TEST(CacheBudget, AThreadKeepsNoMoreThanItsShareWhileManyThreadsAreAlive) {
  initialise();
  OptionScope total("cache.total_bytes", "1MiB");
  Idlers idlers(kIdlers);
  std::thread([] {
    warm();
    const std::uint64_t share = 1024 * kKiB / live_threads();
    EXPECT_LE(bound(), share);
    EXPECT_LE(cap_bytes(), share);
    EXPECT_LE(bin_bytes(), share);
    EXPECT_LE(mem::tl_cache->cached_bytes.load_relaxed(), share);
    EXPECT_GT(bin_bytes(), 0u) << "the share left no cache at all";
    hl_stats s{};
    hl_stats_get(&s);
    EXPECT_LE(s.bytes_in_caches, 1024 * kKiB) << "all caches together";
  }).join();
}

// The bound falls as threads start; a warm thread, whose bins could serve hits indefinitely,
// brings them within its share at its next slow step (here a class it never used).
TEST(CacheBudget, AWarmThreadShrinksToItsShareAtItsNextSlowStepWhenThreadsStart) {
  initialise();
  OptionScope total("cache.total_bytes", "1MiB");
  std::promise<void> warmed;
  std::promise<void> crowded;
  std::thread worker([&] {
    warm();
    EXPECT_GT(bin_bytes(), 64 * kKiB) << "the bins were not warm";
    warmed.set_value();
    crowded.get_future().wait();
    hl_free(hl_malloc(3000));
    const std::uint64_t share = 1024 * kKiB / live_threads();
    EXPECT_LE(bin_bytes(), share);
    EXPECT_LE(cap_bytes(), share);
    EXPECT_EQ(cap_bytes(), mem::tl_cache->cap_bytes);
  });
  warmed.get_future().wait();
  {
    Idlers idlers(kIdlers);
    crowded.set_value();
    worker.join();
  }
}

TEST(CacheBudget, EachThreadGetsCacheBytesBackOnceTheOthersExit) {
  initialise();
  OptionScope total("cache.total_bytes", "1MiB");
  const std::uint64_t alone = bound();
  EXPECT_EQ(alone, 256 * kKiB);
  {
    Idlers idlers(kIdlers);
    EXPECT_LT(bound(), alone);
  }
  EXPECT_EQ(bound(), alone);
  std::thread([] {
    warm();
    EXPECT_GT(bin_bytes(), 64 * kKiB);
  }).join();
}

TEST(CacheBudget, TheShareStopsAt16KiB) {
  initialise();
  OptionScope total("cache.total_bytes", "64KiB");
  Idlers idlers(kIdlers);
  EXPECT_EQ(bound(), 16 * kKiB);
}

TEST(CacheBudget, ABudgetOfZeroLeavesEveryThreadCacheBytes) {
  initialise();
  OptionScope total("cache.total_bytes", "0");
  Idlers idlers(kIdlers);
  EXPECT_EQ(bound(), 256 * kKiB);
}

// A lower cache.bytes wins over a larger share, and a larger cache.bytes is cut to the share.
TEST(CacheBudget, TheBoundIsTheLowerOfCacheBytesAndTheShare) {
  initialise();
  OptionScope total("cache.total_bytes", "4MiB");
  Idlers idlers(kIdlers);
  const std::uint64_t share = 4096 * kKiB / live_threads();
  {
    OptionScope bytes("cache.bytes", "8KiB");
    EXPECT_EQ(bound(), 8 * kKiB);
  }
  {
    OptionScope bytes("cache.bytes", "1MiB");
    EXPECT_LE(bound(), share);
    EXPECT_GT(bound(), share * 3 / 4) << "the share is rounded down by at most a quarter";
  }
}

} // namespace
