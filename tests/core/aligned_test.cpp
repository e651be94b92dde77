// Aligned allocation from superblocks: every block of a class is aligned to the largest power of
// two dividing its size (SizeClasses::first_block_offset), so alignments up to the large
// threshold are served by size classes instead of page runs.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "core/bits.h"
#include "core/size_classes.h"
#include "hoardlab/hoardlab.h"
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

} // namespace
