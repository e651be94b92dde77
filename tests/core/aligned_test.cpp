// Aligned allocation from superblocks: every block of a class is aligned to the largest power of
// two dividing its size (SizeClasses::first_block_offset), so alignments up to the large
// threshold are served by size classes instead of page runs.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "core/bits.h"
#include "core/size_classes.h"
#include "hoardlab/hoardlab.h"
#include "mem/allocator.h"
#include "mem/internal.h"
#include "mem/state.h"
#include "mem/superblock.h"
#include "test_util.h"

namespace {

using hoardlab::core::SizeClasses;

bool aligned(const void* p, std::size_t a) {
  return (reinterpret_cast<std::uintptr_t>(p) & (a - 1)) == 0;
}

TEST(SizeClasses, AlignedFirstBlockCostsNoBlockForEveryClassAndSuperblockSize) {
  const std::size_t header = sizeof(hoardlab::mem::Superblock);
  const std::size_t tight = hoardlab::core::round_up(header, SizeClasses::kGranule);
  auto classes = std::make_unique<SizeClasses>();
  std::size_t checked = 0;
  // Every S the option accepts, every spacing, and thresholds from the smallest to S/2.
  for (std::size_t s = 4096; s <= (std::size_t{4} << 20); s *= 2) {
    for (unsigned d = 1; d <= 8; ++d) {
      std::size_t half = s / 2 < SizeClasses::kMaxThreshold ? s / 2 : SizeClasses::kMaxThreshold;
      for (std::size_t threshold : {std::size_t{256}, std::size_t{1000} / 16 * 16,
                                    half < 32768 ? half : std::size_t{32768}, half}) {
        ASSERT_TRUE(classes->build(d, threshold)) << d << " " << threshold;
        for (std::size_t c = 0; c < classes->count(); ++c) {
          std::size_t bs = classes->size_of(c);
          std::size_t off = SizeClasses::first_block_offset(bs, header, s);
          std::size_t a = hoardlab::core::pow2_factor(bs);
          ASSERT_EQ(off % a, 0u) << "S " << s << " class " << bs;
          ASSERT_EQ((s - off) / bs, (s - tight) / bs)
              << "S " << s << " d " << d << " class " << bs << ": the aligned offset " << off
              << " costs a block";
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 10000u);
}

// The threshold the allocator runs with (after its init).
std::size_t threshold() {
  hl_free(hl_malloc(1));
  return hoardlab::mem::g.threshold;
}

TEST(AlignedAllocation, EveryPowerOfTwoUpToTheThresholdIsServedFromASuperblock) {
  const std::size_t limit = threshold();
  std::uint8_t tag = 1;
  for (std::size_t a = 8; a <= limit; a *= 2) {
    for (std::size_t n : {std::size_t{1}, a / 2, a - 1, a, a + 1, 3 * a, limit}) {
      if (n == 0 || n > limit) continue;
      void* p = nullptr;
      ASSERT_EQ(hl_posix_memalign(&p, a, n), 0) << a << " " << n;
      EXPECT_TRUE(aligned(p, a)) << a << " " << n;
      EXPECT_TRUE(hoardlab::mem::in_small_range(p))
          << "alignment " << a << " size " << n << " took a page run";
      std::size_t usable = hl_usable_size(p);
      EXPECT_GE(usable, n);
      // The class is the smallest multiple of a at least n: at most 25% over max(n, a) with the
      // default spacing, never a whole extra alignment unit.
      std::size_t want = n > a ? n : a;
      EXPECT_LE(usable, want + want / 4 + a) << a << " " << n;
      hoardlab::test::fill_pattern(p, n, tag);
      void* q = hl_aligned_alloc(a, n);
      ASSERT_NE(q, nullptr);
      EXPECT_TRUE(aligned(q, a));
      EXPECT_NE(p, q);
      std::memset(q, 0xab, n);
      EXPECT_TRUE(hoardlab::test::check_pattern(p, n, tag)) << "blocks overlap";
      // realloc and free treat an aligned block like any other.
      void* r = hl_realloc(p, 2 * n + 64);
      ASSERT_NE(r, nullptr);
      EXPECT_TRUE(hoardlab::test::check_pattern(r, n, tag));
      hl_free(r);
      hl_free(q);
      ++tag;
    }
  }
}

TEST(AlignedAllocation, AlignmentsAboveTheThresholdStillTakeAlignedPageRuns) {
  const std::size_t limit = threshold();
  std::size_t first = 4096;
  while (first <= limit)
    first *= 2;
  for (std::size_t a = first; a <= (std::size_t{1} << 22); a *= 2) {
    void* p = hl_aligned_alloc(a, 100);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(aligned(p, a)) << a;
    EXPECT_FALSE(hoardlab::mem::in_small_range(p));
    EXPECT_GE(hl_usable_size(p), 100u);
    hl_free(p);
  }
}

TEST(AlignedAllocation, ManyAlignedBlocksOfOneClassAreDistinctAndStayAligned) {
  // Enough blocks to fill several superblocks of the class, so later superblocks' first blocks
  // are checked too.
  constexpr std::size_t kA = 4096;
  std::vector<void*> ps;
  for (int i = 0; i < 200; ++i) {
    void* p = hl_aligned_alloc(kA, 3000);
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(aligned(p, kA));
    hoardlab::test::fill_pattern(p, 3000, static_cast<std::uint8_t>(i));
    ps.push_back(p);
  }
  for (std::size_t i = 0; i < ps.size(); ++i) {
    EXPECT_TRUE(hoardlab::test::check_pattern(ps[i], 3000, static_cast<std::uint8_t>(i)));
    hl_free(ps[i]);
  }
  EXPECT_EQ(hl_check_invariants(), 0);
}

std::uint64_t large_cached_bytes() {
  hl_stats s{};
  hl_stats_get(&s);
  return s.large_cached_bytes;
}

std::uint64_t os_mapped_bytes() {
  hl_stats s{};
  hl_stats_get(&s);
  return s.os_bytes_mapped;
}

// Alignments of 2^62 and 2^63 and sizes near SIZE_MAX can never be met: the page run they need
// (a header page, the padding up to the alignment, the object) is longer than the address
// space. Each request must fail before a run is taken. With an overflowing computation the run's
// length wraps to a few pages: the request is then served a run of the wrong size, taken from
// the cache (or mapped), which only luck (an aligned start outside the pagemap) throws away.
TEST(AlignedAllocation, AlignmentsOfTwoToTheSixtyTwoAndUpOrSizesNearSizeMaxFailBeforeTakingARun) {
  constexpr std::size_t k62 = std::size_t{1} << 62;
  constexpr std::size_t k63 = std::size_t{1} << 63;
  constexpr std::size_t kWrapsTo = 64 << 10; // what size + alignment wraps to, below
  // A freed 1 MiB object: a cached run that a wrapped 64 KiB request would be served from.
  hl_collect();
  void* keep = hl_malloc(1 << 20);
  ASSERT_NE(keep, nullptr);
  hl_free(keep);
  const std::uint64_t cached = large_cached_bytes();
  const std::uint64_t mapped = os_mapped_bytes();
  ASSERT_GE(cached, std::uint64_t{1} << 20);

  for (std::size_t a : {k62, k63}) {
    for (std::size_t size : {std::size_t{100}, std::size_t{1} << 20, SIZE_MAX, SIZE_MAX - 4095,
                             0 - a,               // size + a wraps to 0
                             0 - a + kWrapsTo}) { // size + a wraps to 64 KiB
      EXPECT_EQ(hoardlab::mem::allocate_aligned(a, size), nullptr) << a << " " << size;
      EXPECT_EQ(large_cached_bytes(), cached) << "a cached run was taken for " << a << " " << size;
      EXPECT_EQ(os_mapped_bytes(), mapped)
          << "pages were mapped or unmapped for " << a << " " << size;
    }
    // The C API: NULL with ENOMEM (the alignment is a valid power of two, so not EINVAL).
    errno = 0;
    EXPECT_EQ(hl_aligned_alloc(a, 100), nullptr);
    EXPECT_EQ(errno, ENOMEM) << a;
    errno = 0;
    EXPECT_EQ(hl_aligned_alloc(a, SIZE_MAX - 4095), nullptr);
    EXPECT_EQ(errno, ENOMEM) << a;
    void* out = &keep;
    EXPECT_EQ(hl_posix_memalign(&out, a, 100), ENOMEM) << a;
    EXPECT_EQ(out, &keep) << "posix_memalign wrote its result on failure";
  }

  // A large object's realloc to a size near SIZE_MAX fails and leaves the object as it was.
  auto* p = static_cast<unsigned char*>(hl_malloc(100000));
  ASSERT_NE(p, nullptr);
  hoardlab::test::fill_pattern(p, 100000, 9);
  for (std::size_t size : {SIZE_MAX, SIZE_MAX - 4095, SIZE_MAX - (std::size_t{1} << 20)}) {
    EXPECT_EQ(hoardlab::mem::reallocate(p, size), nullptr) << size;
    errno = 0;
    EXPECT_EQ(hl_realloc(p, size), nullptr) << size;
    EXPECT_EQ(errno, ENOMEM);
  }
  EXPECT_TRUE(hoardlab::test::check_pattern(p, 100000, 9));
  EXPECT_EQ(hl_owns(p), 1);
  hl_free(p);
  hl_collect();
}

} // namespace
