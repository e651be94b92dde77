// The large-object layer: its sharded run cache under concurrent use, decay of unused runs back
// to the OS, and reuse of a working set larger than the old fixed cache bound.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hoardlab/hoardlab.h"
#include "mem/large.h"
#include "mem/large_thread_cache.h"
#include "test_util.h"

namespace {

using hoardlab::test::Deadline;
using hoardlab::test::has_vm_flag;
using hoardlab::test::Rng;
using hoardlab::test::vm_flags_at;

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * kKiB;

// Sizes spread evenly over the powers of two from 16 KiB to `max`.
std::size_t log_uniform(Rng& r, std::size_t max) {
  const unsigned lo = 14;
  unsigned hi = lo;
  while ((std::size_t{1} << (hi + 1)) <= max)
    ++hi;
  const unsigned e = lo + static_cast<unsigned>(r.below(hi - lo + 1));
  const std::size_t base = std::size_t{1} << e;
  return base + r.below(base);
}

// A block stamped every kStride bytes (and in its last word) with a word derived from its tag:
// enough to see another object's pages inside it, cheap enough for the sanitizers.
constexpr std::size_t kStride = 512;
struct Block {
  std::uint64_t* p;
  std::size_t bytes;
  std::uint64_t tag;
};
std::uint64_t word_for(std::uint64_t tag, std::size_t i) {
  return tag ^ (i * 0x9e3779b97f4a7c15ull);
}
void stamp(const Block& b) {
  const std::size_t words = b.bytes / 8;
  for (std::size_t i = 0; i < words; i += kStride / 8)
    b.p[i] = word_for(b.tag, i);
  b.p[words - 1] = word_for(b.tag, words - 1);
}
// The stamped words of b's first `bytes`, and its last word when `bytes` is all of it.
bool intact(const Block& b, std::size_t bytes, bool whole = true) {
  const std::size_t words = bytes / 8;
  for (std::size_t i = 0; i < words; i += kStride / 8)
    if (b.p[i] != word_for(b.tag, i)) return false;
  return !whole || b.p[words - 1] == word_for(b.tag, words - 1);
}

// What the concurrent tests below count: objects whose contents changed, and failed requests.
struct Faults {
  std::atomic<long> damaged{0};
  std::atomic<long> failed{0};
};

// A new object of `bytes`, stamped, kept in `mine`; counted as failed when malloc fails.
void allocate_into(std::vector<Block>& mine, std::size_t bytes, std::uint64_t tag, Faults& f) {
  Block b{static_cast<std::uint64_t*>(hl_malloc(bytes)), bytes, tag};
  if (b.p == nullptr) {
    f.failed.fetch_add(1);
    return;
  }
  stamp(b);
  mine.push_back(b);
}

// Reallocates b to `to` bytes: the bytes it keeps must be intact; then stamped anew (its last
// word moved).
void resize(Block& b, std::size_t to, Faults& f) {
  auto* q = static_cast<std::uint64_t*>(hl_realloc(b.p, to));
  if (q == nullptr) {
    f.failed.fetch_add(1);
    return;
  }
  const std::size_t kept = to < b.bytes ? to : b.bytes;
  b.p = q;
  b.bytes = to;
  if (!intact(b, kept, false)) f.damaged.fetch_add(1);
  stamp(b);
}

// mine[i] leaves `mine` (the last one takes its place).
void drop(std::vector<Block>& mine, std::size_t i) {
  mine[i] = mine.back();
  mine.pop_back();
}

// Frees each of `blocks` after checking it.
void free_checked(const std::vector<Block>& blocks, Faults& f) {
  for (const Block& b : blocks) {
    if (!intact(b, b.bytes)) f.damaged.fetch_add(1);
    hl_free(b.p);
  }
}

// Objects in transit between threads: given by one, taken by another.
struct Exchange {
  std::mutex lock;
  std::vector<Block> blocks;
  void give(std::vector<Block>& mine, std::size_t i) {
    std::lock_guard<std::mutex> guard(lock);
    blocks.push_back(mine[i]);
    drop(mine, i);
  }
  void take(std::vector<Block>& mine, std::size_t max_live) {
    std::lock_guard<std::mutex> guard(lock);
    if (!blocks.empty() && mine.size() < max_live) {
      mine.push_back(blocks.back());
      blocks.pop_back();
    }
  }
};

// Threads allocate, free, grow and shrink large objects, and pass some to each other, so that
// runs are freed into shards that are not the freeing thread's and taken from shards that are not
// the allocating thread's. Each object's contents are checked before every operation on it: a
// run handed out twice, a join over a live run, or a realloc that loses bytes shows as a wrong
// word.
TEST(LargeObjects, ConcurrentAllocFreeReallocAcrossThreadsKeepEveryObjectsContents) {
  constexpr int kThreads = 4;
  constexpr std::size_t kMaxLive = 8;
#ifdef HOARDLAB_TEST_UNDER_SANITIZER
  constexpr std::size_t kMaxBytes = 1 * kMiB;
  constexpr double kSeconds = 2.0;
#else
  constexpr std::size_t kMaxBytes = 2 * kMiB;
  constexpr double kSeconds = 1.5;
#endif
  Exchange exchange;
  Faults f;
  std::atomic<long> unowned{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      Rng r(0x1a46e5eedull + static_cast<std::uint64_t>(t));
      Deadline d(kSeconds);
      std::vector<Block> mine;
      for (long n = 0; !d.passed() || n < 200; ++n) {
        const std::uint64_t op = r.below(8);
        if (mine.empty() || (op < 3 && mine.size() < kMaxLive)) {
          allocate_into(mine, log_uniform(r, kMaxBytes), r.next() | 1, f);
          continue;
        }
        const std::size_t i = r.below(mine.size());
        Block& b = mine[i];
        if (!intact(b, b.bytes)) f.damaged.fetch_add(1);
        if (hl_owns(b.p) == 0) unowned.fetch_add(1);
        if (op < 5) { // realloc up or down
          resize(b, log_uniform(r, kMaxBytes), f);
        } else if (op == 5) { // to another thread
          exchange.give(mine, i);
        } else if (op == 6) { // from another thread
          exchange.take(mine, kMaxLive);
        } else {
          hl_free(b.p);
          drop(mine, i);
        }
      }
      free_checked(mine, f);
    });
  for (auto& th : ts)
    th.join();
  free_checked(exchange.blocks, f);
  EXPECT_EQ(f.damaged.load(), 0) << "an object's contents changed under it";
  EXPECT_EQ(unowned.load(), 0) << "a live large object was not recognised as one";
  EXPECT_EQ(f.failed.load(), 0) << "a large malloc or realloc failed";
  EXPECT_EQ(hl_check_invariants(), 0);
}

hl_stats stats() {
  hl_stats s{};
  hl_stats_get(&s);
  return s;
}

// The same at the sizes a thread keeps for itself (large_thread_cache.h, runs up to 256 KiB):
// objects freed by threads that did not allocate them, so runs of one home shard sit in several
// threads' caches and are joined there; some steps malloc and free one size in a loop (the cache's
// hit), and one thread keeps asking every thread for its runs (hl_collect), so flushes race with
// takes and puts.
TEST(LargeObjects, ThreadCachedRunsAreNeverHandedOutTwiceUnderConcurrentUse) {
  constexpr int kThreads = 4;
  constexpr std::size_t kMaxLive = 8;
#ifdef HOARDLAB_TEST_UNDER_SANITIZER
  constexpr double kSeconds = 2.0;
#else
  constexpr double kSeconds = 1.0;
#endif
  Exchange exchange;
  Faults f;
  std::atomic<bool> done{false};
  std::thread collector([&] {
    while (!done.load()) {
      hl_collect();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      Rng r(0x7c0ffee5ull + static_cast<std::uint64_t>(t));
      Deadline d(kSeconds);
      std::vector<Block> mine;
      for (long n = 0; !d.passed() || n < 400; ++n) {
        const std::uint64_t op = r.below(8);
        if (op == 0) { // a malloc/free loop of one size, patterned each time
          const std::size_t bytes = 16 * kKiB + 4 * kKiB * (1 + r.below(12));
          const std::uint64_t tag = r.next() | 1;
          std::vector<Block> one;
          for (int k = 0; k < 8; ++k) {
            allocate_into(one, bytes, tag, f);
            if (one.empty()) break;
            free_checked(one, f);
            one.clear();
          }
          continue;
        }
        if (mine.empty() || (op < 4 && mine.size() < kMaxLive)) {
          allocate_into(mine, log_uniform(r, 256 * kKiB), r.next() | 1, f);
          continue;
        }
        const std::size_t i = r.below(mine.size());
        Block& b = mine[i];
        if (!intact(b, b.bytes)) f.damaged.fetch_add(1);
        if (op == 4) { // grow or shrink: tails go to this thread's cache, growth takes from it
          resize(b, log_uniform(r, 256 * kKiB), f);
        } else if (op == 5) {
          exchange.give(mine, i);
        } else if (op == 6) {
          exchange.take(mine, kMaxLive);
        } else {
          hl_free(b.p);
          drop(mine, i);
        }
      }
      free_checked(mine, f);
    });
  for (auto& th : ts)
    th.join();
  done.store(true);
  collector.join();
  free_checked(exchange.blocks, f);
  EXPECT_EQ(f.damaged.load(), 0) << "an object's contents changed under it";
  EXPECT_EQ(f.failed.load(), 0) << "a large malloc or realloc failed";
  EXPECT_EQ(hl_check_invariants(), 0);
}

// A thread's own runs go to the shards when it exits, where they can be reused and given back:
// kept in its thread-local cache, they would stay mapped, out of every other thread's reach.
TEST(LargeObjects, RunsKeptByAThreadAreGivenBackAfterItExits) {
  hl_collect();
  std::thread([] {
    std::vector<void*> ps;
    for (int i = 0; i < 3; ++i)
      ps.push_back(hl_malloc(64 * kKiB));
    for (void* p : ps)
      hl_free(p);
  }).join();
  const hl_stats exited = stats();
  EXPECT_GE(exited.large_cached_bytes, 3 * 64 * kKiB) << "the exited thread's runs are not cached";
  hl_collect();
  const hl_stats trimmed = stats();
  EXPECT_LE(trimmed.os_bytes_mapped + 3 * 64 * kKiB, exited.os_bytes_mapped)
      << "the exited thread's runs stayed mapped after a trim";
}

// A thread that keeps runs and then blocks (no large call of its own ever again) does not keep
// them from a trim or the decay: the trimming thread takes them from its cache.
TEST(LargeObjects, RunsKeptByABlockedThreadAreGivenBackByAnotherThreadsTrim) {
  hl_collect();
  std::mutex m;
  std::condition_variable cv;
  bool kept = false;
  bool done = false;
  std::thread blocked([&] {
    std::vector<void*> ps;
    for (int i = 0; i < 3; ++i)
      ps.push_back(hl_malloc(64 * kKiB));
    for (void* p : ps)
      hl_free(p);
    std::unique_lock<std::mutex> lock(m);
    kept = true;
    cv.notify_all();
    cv.wait(lock, [&] { return done; });
  });
  {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return kept; });
  }
  const hl_stats held = stats();
  EXPECT_GE(held.large_cached_bytes, 3 * 64 * kKiB) << "the blocked thread's runs are not cached";
  hl_collect();
  const hl_stats trimmed = stats();
  EXPECT_LT(trimmed.large_cached_bytes, 64 * kKiB)
      << "the blocked thread still holds its runs after another thread's trim";
  EXPECT_LE(trimmed.os_bytes_mapped + 3 * 64 * kKiB, held.os_bytes_mapped)
      << "the blocked thread's runs stayed mapped after a trim";
  {
    std::lock_guard<std::mutex> lock(m);
    done = true;
  }
  cv.notify_all();
  blocked.join();
}

// Runs a thread keeps for itself decay as the shards' do: each decay sweep asks the threads for
// their runs, and a run handed over then goes back to the OS after the delay unused. The runs
// sit between two live objects, so that they are not joined with the larger runs freed and
// reused at each step (a joined run takes its parts' mean age).
TEST(LargeObjects, RunsKeptByAnActiveThreadDecayToo) {
  ASSERT_EQ(hl_option_set("large.decay_ms", "50"), 0);
  hl_collect();
  void* before = hl_malloc(64 * kKiB);
  std::vector<void*> ps;
  for (int i = 0; i < 3; ++i)
    ps.push_back(hl_malloc(64 * kKiB));
  void* after = hl_malloc(64 * kKiB);
  for (void* p : ps)
    hl_free(p);
  const hl_stats held = stats();
  ASSERT_GE(held.large_cached_bytes, 3 * 64 * kKiB);
  // Large steps of another size keep the thread active; the 64 KiB runs are not reused.
  bool released = false;
  for (int step = 0; step < 40 && !released; ++step) {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    hl_free(hl_malloc(2 * kMiB));
    released = stats().large_cached_bytes < 64 * kKiB + 2 * kMiB + 4 * kKiB;
  }
  EXPECT_TRUE(released) << stats().large_cached_bytes << " bytes still cached";
  hl_free(before);
  hl_free(after);
  ASSERT_EQ(hl_option_set("large.decay_ms", "1000"), 0);
}

// With large.decay_ms at 50, frees 16 runs of 2 MiB, which the shards keep (a thread keeps runs
// up to a quarter of its bound only).
void free_sixteen_runs_to_the_shards() {
  ASSERT_EQ(hl_option_set("large.decay_ms", "50"), 0);
  hl_collect();
  std::vector<void*> ps;
  for (int i = 0; i < 16; ++i)
    ps.push_back(hl_malloc(2 * kMiB));
  for (void* p : ps)
    hl_free(p);
}

// Freed runs go back to the OS once unused for large.decay_ms, without the purge thread: the
// next large free after the delay sweeps them. The old cache kept them until its byte bound
// was reached, however long they stayed unused.
TEST(LargeObjects, RunsUnusedForTheDelayAreGivenBackAtALaterFree) {
  ASSERT_NO_FATAL_FAILURE(free_sixteen_runs_to_the_shards());
  const hl_stats held = stats();
  EXPECT_GE(held.large_cached_bytes, 16 * 2 * kMiB) << "the freed runs were not kept at all";
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  hl_free(hl_malloc(100 * kKiB)); // a large free after the delay
  const hl_stats after = stats();
  EXPECT_LT(after.large_cached_bytes, 1 * kMiB) << "idle runs still cached after the delay";
  EXPECT_LE(after.os_bytes_mapped + 30 * kMiB, held.os_bytes_mapped)
      << "the idle runs were not unmapped";
  ASSERT_EQ(hl_option_set("large.decay_ms", "1000"), 0);
}

// A thread in a malloc/free loop of one size reads the clock at one free in 16 only
// (large_thread_cache.cpp, put): the shards' idle runs still go back within 16 of its frees past
// the delay. A loop that never read it would keep them for as long as it runs.
TEST(LargeObjects, ALoopOfOneSizeStillGivesIdleRunsBackWithinSixteenFrees) {
  ASSERT_NO_FATAL_FAILURE(free_sixteen_runs_to_the_shards());
  for (int i = 0; i < 64; ++i) // the loop: its runs come from the thread's newest one
    hl_free(hl_malloc(100 * kKiB));
  const hl_stats held = stats();
  EXPECT_GE(held.large_cached_bytes, 16 * 2 * kMiB) << "the freed runs were not kept at all";
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (int i = 0; i < 16; ++i)
    hl_free(hl_malloc(100 * kKiB));
  const hl_stats after = stats();
  EXPECT_LT(after.large_cached_bytes, 1 * kMiB) << "idle runs still cached after 16 frees";
  EXPECT_LE(after.os_bytes_mapped + 30 * kMiB, held.os_bytes_mapped)
      << "the idle runs were not unmapped";
  ASSERT_EQ(hl_option_set("large.decay_ms", "1000"), 0);
}

// A window of 16 live objects of 1-8 MiB (up to 128 MiB live), one replaced per step: the freed
// runs are reused, so the pages stay resident and are not faulted in afresh on each step. With
// the cache bounded at 32 MiB, each step unmapped runs and faulted fresh ones (the issue's
// 886,211 minor faults against glibc's 35,150).
TEST(LargeObjects, AWorkingSetAboveThirtyTwoMebibytesIsReusedWithoutFreshFaults) {
#ifdef HOARDLAB_TEST_UNDER_SANITIZER
  GTEST_SKIP() << "the sanitizers fault shadow pages of their own";
#endif
  constexpr int kLive = 16;
  constexpr int kSteps = 400;
  // Runs are reused here, not decayed: the test's steps may be slow on a loaded machine.
  ASSERT_EQ(hl_option_set("large.decay_ms", "10000"), 0);
  Rng r(0x5e7);
  std::vector<void*> live(kLive, nullptr);
  auto touch = [](void* p, std::size_t n) {
    auto* c = static_cast<volatile char*>(p);
    for (std::size_t i = 0; i < n; i += 4096)
      c[i] = 1;
  };
  auto size = [&r] { return 1 * kMiB + r.below(7 * kMiB); };
  for (int step = 0; step < 2 * kLive; ++step) { // warm up: the working set's runs exist
    const int i = step % kLive;
    hl_free(live[i]);
    const std::size_t n = size();
    live[i] = hl_malloc(n);
    ASSERT_NE(live[i], nullptr);
    touch(live[i], n);
  }
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  for (int step = 0; step < kSteps; ++step) {
    const int i = static_cast<int>(r.below(kLive));
    hl_free(live[i]);
    const std::size_t n = size();
    live[i] = hl_malloc(n);
    ASSERT_NE(live[i], nullptr);
    touch(live[i], n);
  }
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  for (void* p : live)
    hl_free(p);
  ASSERT_EQ(hl_option_set("large.decay_ms", "1000"), 0);
  hl_collect();
  const long faults = after.ru_minflt - before.ru_minflt;
  // Fresh runs each step would fault about 1,100 pages (4.5 MiB on average); reuse faults a
  // few, where a run is split or a new one is needed beyond what the window freed.
  EXPECT_LT(faults, kSteps * 100) << faults << " minor faults in " << kSteps << " steps";
}

// A fresh run of large.huge_min (4 MiB) or more starts on a 2 MiB boundary and is advised for
// transparent huge pages ("hg" in its VmFlags), so that its aligned parts are faulted 2 MiB at a
// time; one below it mapped alone, or any run with large.huge_min = 0, stays on small pages.
// Mapped with a plain mmap, an 8 MiB object's pages were faulted one by one (large-loop:
// 65,000-69,000 faults in 500 steps). Runs below 4 MiB are carved from huge chunks past
// large.huge_chunks_after (tests/core/huge_pages_test.cpp), here off.
TEST(LargeObjects, AFreshRunOfFourMebibytesOrMoreIsAdvisedForHugePages) {
  if (!std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled").good())
    GTEST_SKIP() << "no transparent huge pages in this kernel";
  hl_collect(); // no cached run: the next ones are fresh mappings
  ASSERT_EQ(hl_option_set("large.huge_chunks_after", "0"), 0);
  void* big = hl_malloc(8 * kMiB);
  ASSERT_NE(big, nullptr);
  // The header page is the run's first: the run starts one page before the object.
  EXPECT_EQ((reinterpret_cast<std::uintptr_t>(big) - 4096) % (2 * kMiB), 0u);
  EXPECT_TRUE(has_vm_flag(vm_flags_at(big), "hg")) << vm_flags_at(big);
  void* small = hl_malloc(1 * kMiB);
  ASSERT_NE(small, nullptr);
  EXPECT_FALSE(has_vm_flag(vm_flags_at(small), "hg")) << vm_flags_at(small);
  ASSERT_EQ(hl_option_set("large.huge_min", "0"), 0);
  void* plain = hl_malloc(16 * kMiB); // larger than the cached runs: fresh
  ASSERT_NE(plain, nullptr);
  EXPECT_FALSE(has_vm_flag(vm_flags_at(plain), "hg")) << vm_flags_at(plain);
  ASSERT_EQ(hl_option_set("large.huge_min", "4MiB"), 0);
  ASSERT_EQ(hl_option_set("large.huge_chunks_after", "4MiB"), 0);
  hl_free(big);
  hl_free(small);
  hl_free(plain);
  hl_collect();
}

// An object of a quarter of large.thread_cache_bytes (256 KiB) is kept by the freeing thread:
// its run is a page longer (the header), and a bound on the run alone sent every such free to the
// shard, under its lock (1,000 instructions per malloc/free pair against 673 at 20 KiB).
TEST(LargeObjects, AnObjectOfAQuarterOfTheThreadsBoundStaysWithTheThread) {
  // A decay sweep drains the threads' runs into the shards: none falls due below (the first
  // large free of the process sweeps, hence the pair before the collect).
  ASSERT_EQ(hl_option_set("large.decay_ms", "10000"), 0);
  hl_free(hl_malloc(64)); // the thread has a cache (its large runs are kept only then)
  hl_free(hl_malloc(256 * kKiB));
  hl_collect(); // nothing held: what is held below is this object's run
  void* p = hl_malloc(256 * kKiB);
  ASSERT_NE(p, nullptr);
  hl_free(p);
  EXPECT_GE(hoardlab::mem::large_thread_cache::held_bytes(), 256 * kKiB + 4096)
      << stats().large_cached_bytes;
  void* q = hl_malloc(256 * kKiB);
  EXPECT_EQ(q, p) << "the run kept was not the one reused";
  hl_free(q);
  hl_collect();
  ASSERT_EQ(hl_option_set("large.decay_ms", "1000"), 0);
}

// A run the thread keeps is cut only for a request at most a quarter shorter than itself: a
// 132 KiB run (a 128 KiB object's) stays whole when a 20 KiB object is asked for and the shards
// have a run that fits it, so that the next 128 KiB object reuses the kept one. Cutting the
// smallest longer run of the thread's 8 broke mstress's 132 KiB runs for its 20 KiB objects, and
// its next 128 KiB ones took fresh pages.
TEST(LargeObjects, AThreadsKeptRunIsNotCutForAMuchShorterObject) {
  ASSERT_EQ(hl_option_set("large.decay_ms", "10000"), 0); // no sweep drains the runs below
  hl_free(hl_malloc(64));
  hl_free(hl_malloc(128 * kKiB));
  hl_collect(); // nothing held: what is held below is this object's run
  char* big = static_cast<char*>(hl_malloc(128 * kKiB));
  ASSERT_NE(big, nullptr);
  hl_free(big);
  ASSERT_GE(hoardlab::mem::large_thread_cache::held_bytes(), 128 * kKiB + 4096);
  // A 44 KiB run in the shards, as mstress's other threads leave them: kept by a thread that
  // exits, which gives its runs to the shards.
  std::thread([] { hl_free(hl_malloc(40 * kKiB)); }).join();
  char* small = static_cast<char*>(hl_malloc(20 * kKiB));
  ASSERT_NE(small, nullptr);
  const bool cut = small >= big - 4096 && small < big + 128 * kKiB;
  char* again = static_cast<char*>(hl_malloc(128 * kKiB));
  EXPECT_FALSE(cut) << "the 20 KiB object was carved from the kept 132 KiB run";
  EXPECT_EQ(again, big) << "the next 128 KiB object did not get the kept run";
  hl_free(again);
  hl_free(small);
  // A run a quarter longer than the request is still cut: 36 KiB for a 28 KiB object.
  hl_collect();
  char* mid = static_cast<char*>(hl_malloc(32 * kKiB));
  ASSERT_NE(mid, nullptr);
  hl_free(mid);
  char* near = static_cast<char*>(hl_malloc(28 * kKiB));
  EXPECT_EQ(near, mid) << "a run 8 KiB longer than the request was left whole";
  hl_free(near);
  hl_collect();
  ASSERT_EQ(hl_option_set("large.decay_ms", "1000"), 0);
}

} // namespace
