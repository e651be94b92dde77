// Memory goes back to the OS: after a peak is freed, resident memory falls (empty superblocks
// beyond the pool's retention bound are purged with MADV_DONTNEED).
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "hoardlab/hoardlab.h"
#include "numa/topology.h"
#include "pal/pal.h"
#include "test_util.h"

namespace {

TEST(Rss, FallsAfterAPeakIsFreed) {
#ifdef HOARDLAB_TEST_UNDER_TSAN
  GTEST_SKIP() << "TSan's shadow memory (several bytes per byte touched) stays resident";
#endif
  // Purged on the freeing path itself (purge.delay_ms = 0); the delayed mode is tested below.
  ASSERT_EQ(hl_option_set("purge.delay_ms", "0"), 0);
  std::size_t base = hoardlab::pal::resident_bytes();
  ASSERT_GT(base, 0u) << "/proc/self/statm unreadable";
  constexpr std::size_t kPeak = 256u << 20;
  std::vector<void*> ps;
  for (std::size_t held = 0; held < kPeak; held += 1000) {
    void* p = hl_malloc(1000);
    ASSERT_NE(p, nullptr);
    static_cast<char*>(p)[0] = 1;
    static_cast<char*>(p)[999] = 1;
    ps.push_back(p);
  }
  std::size_t peak = hoardlab::pal::resident_bytes();
  EXPECT_GT(peak, base + kPeak / 2);
  for (void* p : ps)
    hl_free(p);
  // No explicit trim: the emptiness invariant and the pool's retention bound do it.
  std::size_t after = hoardlab::pal::resident_bytes();
  EXPECT_LT(after, base + kPeak / 4) << "base " << base << " peak " << peak << " after " << after;
  hl_stats s{};
  hl_stats_get(&s);
  EXPECT_GT(s.os_bytes_purged, kPeak / 2);
  ASSERT_EQ(hl_option_set("purge.delay_ms", "100"), 0);
}

std::uint64_t purged_bytes() {
  hl_stats s{};
  hl_stats_get(&s);
  return s.os_bytes_purged;
}

// on_pu0: the same node's heaps and pool each time; the thread's first allocation is a slow
// step, on whose way out due purges run.
using hoardlab::test::on_pu0;

TEST(Purge, EmptySuperblocksBeyondTheRetentionBoundArePurgedOnlyAfterTheDelay) {
  // Ten minutes: nothing falls due while the peak is freed, however slow the machine.
  ASSERT_EQ(hl_option_set("purge.delay_ms", "600000"), 0);
  constexpr std::size_t kPeak = 64u << 20;
  std::uint64_t before = 0;
  on_pu0([&] {
    std::vector<void*> ps;
    for (std::size_t held = 0; held < kPeak; held += 1000)
      ps.push_back(hl_malloc(1000));
    before = purged_bytes();
    for (void* p : ps)
      hl_free(p);
  });
  on_pu0([] { hl_free(hl_malloc(1000)); });
  EXPECT_EQ(purged_bytes(), before) << "purged before purge.delay_ms had passed";

  ASSERT_EQ(hl_option_set("purge.delay_ms", "1"), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(20)); // past the (new) delay
  on_pu0([] { hl_free(hl_malloc(1000)); });
  EXPECT_GT(purged_bytes(), before + kPeak / 2) << "the empty superblocks were not purged";
  ASSERT_EQ(hl_option_set("purge.delay_ms", "100"), 0);
  EXPECT_EQ(hl_check_invariants(), 0);
}

// A large object shrunk by realloc gives back the pages past its new end: they are cached as
// freed runs for large.decay_ms, then unmapped at the next large free, so resident memory follows
// the live data:
//   RSS <= base + live runs + slack,
// where live runs are the objects and their header pages (16 x 68 KiB), and slack 8 MiB for what
// else the process touches (page tables, the test's own allocations). Kept whole, the 256 MiB
// peak would stay resident.
TEST(Rss, FollowsTheLiveDataWhenLargeObjectsShrinkByRealloc) {
#ifdef HOARDLAB_TEST_UNDER_SANITIZER
  GTEST_SKIP() << "the sanitizer's shadow memory (a byte or more per 8 touched) stays resident";
#endif
  constexpr int kObjects = 16;
  constexpr std::size_t kBig = 16u << 20;
  constexpr std::size_t kSmall = 64u << 10;
  constexpr std::size_t kLive = kObjects * (kSmall + 4096);
  constexpr std::size_t kSlack = 8u << 20;
  hl_collect();
  std::size_t base = hoardlab::pal::resident_bytes();
  ASSERT_GT(base, 0u) << "/proc/self/statm unreadable";
  void* ps[kObjects] = {};
  for (int i = 0; i < kObjects; ++i) {
    ps[i] = hl_malloc(kBig);
    ASSERT_NE(ps[i], nullptr);
    std::memset(ps[i], i + 1, kBig);
  }
  std::size_t peak = hoardlab::pal::resident_bytes();
  ASSERT_GT(peak, base + kObjects * kBig / 2);
  for (int i = 0; i < kObjects; ++i) {
    void* q = hl_realloc(ps[i], kSmall);
    ASSERT_NE(q, nullptr);
    ps[i] = q;
  }
  ASSERT_EQ(hl_option_set("large.decay_ms", "50"), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  hl_free(hl_malloc(100000)); // a large free after the decay delay
  ASSERT_EQ(hl_option_set("large.decay_ms", "1000"), 0);
  std::size_t after = hoardlab::pal::resident_bytes();
  hl_stats s{};
  hl_stats_get(&s);
  EXPECT_LT(after, base + kLive + kSlack) << "base " << base << " peak " << peak << " after "
                                          << after << " cached " << s.large_cached_bytes;
  for (int i = 0; i < kObjects; ++i) {
    const auto* b = static_cast<const unsigned char*>(ps[i]);
    EXPECT_TRUE(b[0] == i + 1 && b[kSmall - 1] == i + 1) << "contents lost in the shrink";
    hl_free(ps[i]);
  }
  hl_collect();
}

} // namespace
