// The background purge thread (purge.background = true, set by this executable's environment):
// memory goes back to the OS after a peak is freed without the freeing thread calling anything
// else, the thread (not the slow paths) does the purging, idle large mappings are unmapped, and
// a forked child gets a purge thread of its own.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "hoardlab/hoardlab.h"
#include "mem/large.h"
#include "mem/purge_thread.h"
#include "numa/topology.h"
#include "pal/pal.h"
#include "test_util.h"

namespace {

namespace pt = hoardlab::mem::purge_thread;
using Clock = std::chrono::steady_clock;

std::uint64_t purged_bytes() {
  hl_stats s{};
  hl_stats_get(&s);
  return s.os_bytes_purged;
}

// Polls cond every 5 ms for up to 10 s (the purge thread acts after purge.delay_ms, 100 ms).
template <typename F>
bool eventually(F cond) {
  auto until = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

// Allocates a peak of small blocks on a thread counted as running on PU 0 and frees it all
// there; the thread then exits without any other call.
void peak_and_free(std::size_t peak) {
  std::thread t([peak] {
    hoardlab::numa::force_cpu_for_this_thread(0);
    std::vector<void*> ps;
    for (std::size_t held = 0; held < peak; held += 1000) {
      void* p = hl_malloc(1000);
      ASSERT_NE(p, nullptr);
      static_cast<char*>(p)[0] = 1;
      static_cast<char*>(p)[999] = 1;
      ps.push_back(p);
    }
    for (void* p : ps)
      hl_free(p);
  });
  t.join();
}

TEST(PurgeThread, StartsAtTheFirstAllocationSlowPathAfterInit) {
  hl_free(hl_malloc(100000)); // a large object: always a slow path
  EXPECT_EQ(pt::stats().starts, 1u);
  EXPECT_TRUE(pt::active());
}

TEST(PurgeThread, TakesPurgesOffTheFreeingPathAndResidentMemoryFallsAfterAPeak) {
  hl_free(hl_malloc(100000));
  ASSERT_TRUE(pt::active());
  constexpr std::size_t kPeak = 128u << 20;
  std::size_t base = hoardlab::pal::resident_bytes();
  std::uint64_t purged_before = purged_bytes();
  pt::Stats before = pt::stats();
  auto by_thread = [&] { return pt::stats().superblock_bytes - before.superblock_bytes; };
  peak_and_free(kPeak);
  // Little was purged on the freeing path (the slow paths leave due purges to the thread;
  // under load the thread may already have purged some, which is subtracted). The thread
  // counts a pass's bytes once the pass is over, so the difference only shrinks: wait for it.
  EXPECT_TRUE(eventually([&] { return purged_bytes() - purged_before - by_thread() < kPeak / 4; }))
      << "purged " << purged_bytes() - purged_before << ", by the purge thread " << by_thread();
  // The main thread only watches: every purge from here on is the purge thread's, and it
  // purges nearly the whole peak (all but the retained superblocks and the heaps' slack).
  EXPECT_TRUE(eventually([&] { return by_thread() > kPeak * 3 / 4; }))
      << "the purge thread purged " << by_thread();
  std::uint64_t total = purged_bytes() - purged_before;
  // Read after the total: the thread adds a pass's bytes once the pass is over.
  EXPECT_TRUE(eventually([&] { return by_thread() >= total * 9 / 10; }))
      << "purged " << total << ", by the purge thread " << by_thread();
  EXPECT_GT(pt::stats().notifications, before.notifications);
  hl_stats s{}; // the public statistics say the same
  hl_stats_get(&s);
  EXPECT_GE(s.background_purged_bytes, by_thread());
#ifndef HOARDLAB_TEST_UNDER_TSAN // TSan's shadow memory stays resident
  // The thread may still be inside a pass (the counters above can be met before its last
  // superblocks are purged): resident memory is watched until it has fallen, as a program would.
  std::size_t now = 0;
  auto fallen = [&] { return (now = hoardlab::pal::resident_bytes()) < base + kPeak / 4; };
  EXPECT_TRUE(eventually(fallen)) << "base " << base << " now " << now;
#else
  (void)base;
#endif
  EXPECT_EQ(hl_check_invariants(), 0);
}

TEST(PurgeThread, UnmapsLargeMappingsLeftIdleInTheCache) {
  hl_free(hl_malloc(100000));
  pt::Stats before = pt::stats();
  std::vector<void*> ps;
  for (int i = 0; i < 8; ++i)
    ps.push_back(hl_malloc(std::size_t{1} << 20));
  for (void* p : ps)
    hl_free(p);
  EXPECT_TRUE(eventually([] { return hoardlab::mem::large::stats().cached_bytes == 0; }))
      << hoardlab::mem::large::stats().cached_bytes << " bytes still cached";
  // The cache's count drops before the thread has unmapped and counted what it took out.
  EXPECT_TRUE(eventually([&] {
    return pt::stats().large_bytes - before.large_bytes >= (std::uint64_t{8} << 20);
  })) << pt::stats().large_bytes - before.large_bytes
      << " bytes unmapped by the thread";
}

TEST(PurgeThread, AForkedChildStartsItsOwnAndPurgesThroughIt) {
#ifdef HOARDLAB_TEST_UNDER_TSAN
  GTEST_SKIP() << "TSan cannot start threads in the child of a multi-threaded fork";
#endif
  hl_free(hl_malloc(100000));
  ASSERT_TRUE(pt::active());
  // The thread is left to get past its start-up first, shown by its purging: a thread still
  // starting may hold the C library's allocator locks (under ASan, its allocator's: the new
  // thread's pthread_getattr_np callocs), and a child forked meanwhile would inherit them held
  // and hang at its first thread start. A program forking then is the C library's case, not ours.
  const std::uint64_t purged = pt::stats().superblock_bytes;
  peak_and_free(8u << 20);
  ASSERT_TRUE(eventually([&] { return pt::stats().superblock_bytes > purged; }));
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The parent's thread does not exist here: the next slow allocation starts one.
    int code = 0;
    if (pt::active()) code |= 1;
    hl_free(hl_malloc(100000));
    if (!pt::active() || pt::stats().starts != 2) code |= 2;
    std::uint64_t before = pt::stats().superblock_bytes;
    peak_and_free(32u << 20);
    if (!eventually([&] { return pt::stats().superblock_bytes - before > (16u << 20); })) code |= 4;
    _exit(code);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: the child saw a running thread; 2: none started; "
                                       "4: the child's thread purged nothing";
}

// A purge pass holds its pool's pass flag and takes the arena's lock for each superblock it
// releases; fork_prepare took every arena lock and then waited for the pass flags, so a fork in the
// middle of a pass waited for the purge thread, which waited for the forking thread's arena lock.
// Here one thread empties superblocks without pause (purge.delay_ms = 1, nothing retained, so the
// purge thread is in a pass most of the time; at 0 the freeing thread purges them itself) while
// the main thread forks again and again. The old order deadlocked in each of three runs.
// The loop runs in a process of its own, so that a deadlock fails the test instead of hanging it.
TEST(PurgeThread, AForkWhileThePurgeThreadIsInAPassDoesNotDeadlock) {
#ifdef HOARDLAB_TEST_UNDER_TSAN
  GTEST_SKIP() << "TSan cannot start threads in the child of a multi-threaded fork";
#endif
  pid_t runner = fork();
  ASSERT_GE(runner, 0);
  if (runner == 0) {
    if (hl_option_set("purge.delay_ms", "1") != 0 ||
        hl_option_set("purge.retain_superblocks", "0") != 0)
      _exit(2);
    hl_free(hl_malloc(100000)); // starts this process's purge thread
    std::atomic<bool> stop{false};
    std::thread churn([&stop] {
      std::vector<void*> ps;
      while (!stop.load(std::memory_order_relaxed)) {
        for (int i = 0; i < 16000; ++i) // 16 MB: passes of hundreds of superblocks
          ps.push_back(hl_malloc(1000));
        for (void* p : ps)
          hl_free(p);
        ps.clear();
      }
    });
    const auto until = Clock::now() + std::chrono::seconds(2);
    int forks = 0;
    while (Clock::now() < until) {
      pid_t child = fork();
      if (child < 0) _exit(3);
      if (child == 0) _exit(0);
      int status = 0;
      if (waitpid(child, &status, 0) != child || !WIFEXITED(status)) _exit(4);
      ++forks;
    }
    stop.store(true);
    churn.join();
    _exit(forks > 0 ? 0 : 5);
  }
  // 30 s for a 2-second loop: a runner still alive then is stuck (ctest's own timeout is later).
  int status = 0;
  pid_t done = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while ((done = waitpid(runner, &status, WNOHANG)) == 0 && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (done == 0) {
    kill(runner, SIGKILL);
    waitpid(runner, &status, 0);
    FAIL() << "the forking loop was still running after 30 s: a fork deadlocked";
  }
  ASSERT_EQ(done, runner);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: options refused; 3: fork failed; 4: a child failed; "
                                       "5: no fork in 2 s";
}

} // namespace
