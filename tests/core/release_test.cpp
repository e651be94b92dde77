// Empty superblocks go back to the OS whole: after a peak of small blocks is freed and trimmed,
// resident memory falls back to where it was, header pages included, at every superblock size
// (this executable runs once per heap.superblock_size, set by its ctest environment); released
// superblocks are carved again before fresh memory, and read as zero like fresh memory.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "hoardlab/hoardlab.h"
#include "mem/internal.h"
#include "mem/state.h"
#include "pal/pal.h"
#include "test_util.h"

namespace {

using hoardlab::mem::g;
using hoardlab::test::on_pu0;

constexpr std::size_t kPeak = 128u << 20;
constexpr std::size_t kBlock = 512;

// What may stay resident after the trim, beyond the resident size before the peak: the arenas'
// released lists (4 bytes per superblock: kPeak/1024 at S = 4 KiB) and a few pages of heap and
// cache bookkeeping. kPeak/32 (4 MiB) is far above that and below what keeping one 4 KiB header
// page per superblock leaves (kPeak/16 at S = 64 KiB, all of it at S = 4 KiB).
constexpr std::size_t kSlack = kPeak / 32;

std::uint64_t committed() {
  std::uint64_t sum = 0;
  for (unsigned n = 0; n < g.nodes; ++n)
    sum += g.arenas[n].committed_bytes.load_relaxed();
  return sum;
}
std::uint64_t released() {
  std::uint64_t sum = 0;
  for (unsigned n = 0; n < g.nodes; ++n)
    sum += g.arenas[n].released_bytes.load_relaxed();
  return sum;
}

// kPeak of written small blocks, all freed on the same thread, then a trim.
void peak_freed_and_trimmed() {
  on_pu0([] {
    std::vector<void*> ps;
    ps.reserve(kPeak / kBlock);
    for (std::size_t held = 0; held < kPeak; held += kBlock) {
      void* p = hl_malloc(kBlock);
      ASSERT_NE(p, nullptr);
      std::memset(p, 0xa5, kBlock);
      ps.push_back(p);
    }
    for (void* p : ps)
      hl_free(p);
  });
  hl_collect();
}

TEST(Release, FreedSmallBlocksGiveBackEveryPageOnTrim) {
#ifdef HOARDLAB_TEST_UNDER_SANITIZER
  GTEST_SKIP() << "sanitizer shadow memory makes resident memory meaningless here";
#endif
  hl_free(hl_malloc(kBlock)); // init first: its mappings are not the peak's
  std::size_t base = hoardlab::pal::resident_bytes();
  ASSERT_GT(base, 0u) << "/proc/self/statm unreadable";
  peak_freed_and_trimmed();
  std::size_t after = hoardlab::pal::resident_bytes();
  EXPECT_LT(after, base + kSlack) << "S " << g.sb_size << ": base " << base << ", after " << after;
  // Released superblocks are no longer held: not in the pool's bytes (bytes_held), but in the
  // arenas' released lists, and their bytes counted as purged.
  hl_stats s{};
  hl_stats_get(&s);
  EXPECT_LT(s.bytes_held, kSlack) << "S " << g.sb_size;
  EXPECT_GE(released(), kPeak * 3 / 4) << "S " << g.sb_size;
  EXPECT_GE(s.os_bytes_purged, released());
  EXPECT_EQ(hl_check_invariants(), 0);
}

TEST(Release, ReleasedSuperblocksAreCarvedAgainBeforeFreshMemory) {
  peak_freed_and_trimmed();
  const std::uint64_t carved = committed();
  ASSERT_GE(released(), kPeak * 3 / 4) << "S " << g.sb_size;
  peak_freed_and_trimmed();
  // One commit chunk (4 MiB) of growth at most: the second peak fits in the released superblocks.
  EXPECT_LE(committed(), carved + (std::size_t{4} << 20)) << "S " << g.sb_size;
}

// A released superblock carved again is fresh memory (Z1 kZeroAll): calloc skips clearing its
// blocks, so only the page of each new header is touched; and the blocks do read as zero. (At
// S = 4 KiB the header page is the whole superblock: only the zero check means something there.)
TEST(Release, CallocNeitherClearsNorTouchesReleasedSuperblocks) {
#ifdef HOARDLAB_TEST_UNDER_SANITIZER
  GTEST_SKIP() << "sanitizer shadow memory makes resident memory meaningless here";
#endif
  peak_freed_and_trimmed();
  ASSERT_GE(released(), kPeak * 3 / 4) << "S " << g.sb_size;
  const std::uint64_t carved = committed();
  const std::size_t superblocks = released() / g.sb_size / 2;
  const std::size_t n = g.threshold; // the largest small class: calloc takes it from a heap
  const std::size_t count = superblocks * g.class_capacity[g.classes.class_of(n)];
  std::vector<void*> ps;
  ps.reserve(count);
  std::size_t before = hoardlab::pal::resident_bytes();
  on_pu0([&] {
    for (std::size_t i = 0; i < count; ++i) {
      void* p = hl_calloc(1, n);
      ASSERT_NE(p, nullptr);
      ps.push_back(p);
    }
  });
  std::size_t after = hoardlab::pal::resident_bytes();
  EXPECT_LE(committed(), carved + (std::size_t{4} << 20)) << "not served by released superblocks";
  // Untouched but for the header pages (plus 2 MiB of bookkeeping): halfway to clearing them all.
  const std::size_t page = hoardlab::pal::kPageSize;
  EXPECT_LE(after - before, superblocks * (page + (g.sb_size - page) / 2) + (2u << 20))
      << "S " << g.sb_size << ": " << superblocks << " superblocks, before " << before << " after "
      << after;
  for (void* p : ps) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i)
      ASSERT_EQ(b[i], 0) << "S " << g.sb_size << " at " << p;
  }
  for (void* p : ps)
    hl_free(p);
  hl_collect();
}

} // namespace
