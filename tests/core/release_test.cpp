// Empty superblocks go back to the OS whole: after a peak of small blocks is freed and trimmed,
// resident memory falls back to where it was, header pages included, at every superblock size
// (this executable runs once per heap.superblock_size, set by its ctest environment); released
// superblocks are carved again before fresh memory, and read as zero like fresh memory.
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "hoardlab/hoardlab.h"
#include "mem/internal.h"
#include "mem/state.h"
#include "pal/pal.h"
#include "test_util.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 // Linux 6.1
#endif

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

// Whether madvise(MADV_COLLAPSE) makes a huge page here: of a 2 MiB range advised for huge pages
// with one page present. Not on a kernel before 6.1, nor where THP is off ("never").
bool collapse_works() {
  const std::size_t huge = hoardlab::pal::kHugePageSize;
  void* m = mmap(nullptr, 2 * huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return false;
  auto* p = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(m) + huge - 1) & ~(huge - 1));
  bool works = madvise(p, huge, MADV_HUGEPAGE) == 0;
  if (works) {
    p[0] = 1;
    works = madvise(p, huge, MADV_COLLAPSE) == 0;
  }
  munmap(m, 2 * huge);
  return works;
}

// Whether khugepaged scans the mapping that holds p: advised for huge pages (VmFlags "hg"), or
// under the kernel's mode "always" not advised against them ("nh"). MADV_COLLAPSE, unlike
// khugepaged, collapses any range not advised against, so the test keeps to these.
bool khugepaged_scans(const void* p) {
  const std::string flags = hoardlab::test::vm_flags_at(p);
  return hoardlab::test::has_vm_flag(flags, "hg") ||
         (hoardlab::pal::huge_pages_always() && !flags.empty() &&
          !hoardlab::test::has_vm_flag(flags, "nh"));
}

// Superblocks released next to one still in use stay released when the kernel collapses their
// 2 MiB range into a huge page (pool.cpp, H1). khugepaged does that by itself, on its own
// schedule, to any range advised for huge pages with one page present (max_ptes_none = 511, the
// default); MADV_COLLAPSE does it now. One block is kept per 2 MiB range of the peak, the rest
// freed and trimmed, and each kept block's range collapsed: a range still advised would come
// back resident in full, 2 MiB less the kept superblock, for every range (about 64 of them).
TEST(Release, ReleasedSuperblocksStayReleasedWhenTheKernelCollapsesHugePages) {
#ifdef HOARDLAB_TEST_UNDER_SANITIZER
  GTEST_SKIP() << "sanitizer shadow memory makes resident memory meaningless here";
#endif
  if (!collapse_works()) GTEST_SKIP() << "madvise(MADV_COLLAPSE) makes no huge page here";
  const std::uintptr_t huge = hoardlab::pal::kHugePageSize;
  std::vector<void*> kept;
  on_pu0([&] {
    std::vector<void*> ps;
    ps.reserve(kPeak / kBlock);
    std::set<std::uintptr_t> ranges;
    for (std::size_t held = 0; held < kPeak; held += kBlock) {
      void* p = hl_malloc(kBlock);
      ASSERT_NE(p, nullptr);
      std::memset(p, 0xa5, kBlock);
      if (ranges.insert(reinterpret_cast<std::uintptr_t>(p) & ~(huge - 1)).second)
        kept.push_back(p);
      else
        ps.push_back(p);
    }
    for (void* p : ps)
      hl_free(p);
  });
  hl_collect();
  ASSERT_GE(released(), kPeak / 2) << "S " << g.sb_size;
  const std::size_t before = hoardlab::pal::resident_bytes();
  std::size_t scanned = 0, collapsed = 0;
  for (void* p : kept) {
    const std::uintptr_t range = reinterpret_cast<std::uintptr_t>(p) & ~(huge - 1);
    if (!khugepaged_scans(reinterpret_cast<void*>(range))) continue;
    ++scanned;
    if (madvise(reinterpret_cast<void*>(range), huge, MADV_COLLAPSE) == 0) ++collapsed;
  }
  const std::size_t after = hoardlab::pal::resident_bytes();
  // A range whose superblocks were all in use stays as it was (a huge page already, or one that
  // only fills the untouched ends of the kept superblocks): 2 MiB of slack for such ranges.
  EXPECT_LE(after, before + (std::size_t{2} << 20))
      << "S " << g.sb_size << ": " << kept.size() << " ranges, " << scanned
      << " where khugepaged goes, " << collapsed << " collapsed; resident before " << before
      << ", after " << after;
  for (void* p : kept)
    hl_free(p);
  hl_collect();
}

} // namespace
