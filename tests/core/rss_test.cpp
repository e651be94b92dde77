// Memory goes back to the OS: after a peak is freed, resident memory falls (empty superblocks
// beyond the pool's retention bound are purged with MADV_DONTNEED).
#include <gtest/gtest.h>

#include <vector>

#include "hoardlab/hoardlab.h"
#include "pal/pal.h"

namespace {

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HOARDLAB_TEST_UNDER_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define HOARDLAB_TEST_UNDER_TSAN 1
#endif

TEST(Rss, FallsAfterAPeakIsFreed) {
#ifdef HOARDLAB_TEST_UNDER_TSAN
  GTEST_SKIP() << "TSan's shadow memory (several bytes per byte touched) stays resident";
#endif
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
}

} // namespace
