// Bad input to every strategy: a clear status, never a corrupted heap.
#include <gtest/gtest.h>

#include "strategies/buddy.h"
#include "strategies/bump.h"
#include "strategies/fit_list.h"
#include "strategies/segregated_fit.h"
#include "strategies/segregated_storage.h"
#include "strategies/slab.h"
#include "tests/strategies/strategy_test_util.h"

namespace hoardlab::strategies {
namespace {

using testing::invariants_of;
using testing::Region;

template <class A>
void expect_common_errors(A& a) {
  std::byte outside[64];
  void* p = a.allocate(100, 16);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(a.free(outside + 16), Status::not_in_region);
  EXPECT_EQ(a.free(static_cast<std::byte*>(p) + 1), Status::not_a_block);
  EXPECT_EQ(a.free(static_cast<std::byte*>(p) + 16), Status::not_a_block);
  EXPECT_EQ(a.allocate(64, 3), nullptr);
  EXPECT_EQ(a.last_error(), Status::bad_alignment);
  EXPECT_EQ(a.allocate(std::size_t{1} << 40, 16), nullptr);
  EXPECT_EQ(a.last_error(), Status::too_large);
  EXPECT_EQ(a.free(nullptr), Status::ok);
  EXPECT_EQ(a.free(p), Status::ok);
  EXPECT_EQ(a.free(p), Status::double_free);
  EXPECT_EQ(invariants_of(a), "");
}

TEST(StrategyErrors, FitAllocatorsNameEveryBadFreeAndStayIntact) {
  for (Fit fit : {Fit::first, Fit::next, Fit::best, Fit::worst}) {
    Region region(1 << 16, 8);
    FitAllocator a(region.span(), fit);
    expect_common_errors(a);
  }
}

TEST(StrategyErrors, SegregatedFitNamesEveryBadFreeAndStaysIntact) {
  Region region(1 << 16, 8);
  SegregatedFit a(region.span());
  expect_common_errors(a);
}

TEST(StrategyErrors, BuddyNamesEveryBadFreeAndStaysIntact) {
  Region region(1 << 16, 8);
  BuddyAllocator a(region.span());
  // p stays unmerged after its free only while its buddy is live.
  void* keep = a.allocate(100, 16);
  expect_common_errors(a);
  EXPECT_EQ(a.free(keep), Status::ok);
}

TEST(StrategyErrors, SlabNamesEveryBadFreeAndStaysIntact) {
  Region region(1 << 16, 8);
  Slab a(region.span(), 128);
  expect_common_errors(a);
  EXPECT_EQ(a.allocate(129, 16), nullptr);
  EXPECT_EQ(a.last_error(), Status::too_large);
  EXPECT_EQ(a.allocate(16, 32), nullptr) << "slots are only 16-byte aligned";
  EXPECT_EQ(a.last_error(), Status::bad_alignment);
}

TEST(StrategyErrors, SegregatedStorageNamesEveryBadFreeAndStaysIntact) {
  for (bool reuse : {false, true}) {
    Region region(1 << 20, 8);
    SegregatedStorage a(region.span(), reuse);
    void* keep = a.allocate(100, 16); // keeps the page out of the pool when reuse is on
    expect_common_errors(a);
    EXPECT_EQ(a.allocate(64, 32), nullptr);
    EXPECT_EQ(a.last_error(), Status::bad_alignment);
    ASSERT_EQ(a.free(keep), Status::ok);
    if (reuse) {
      EXPECT_EQ(a.free(keep), Status::not_a_block) << "the page went back to the pool";
    } else {
      EXPECT_EQ(a.free(keep), Status::double_free);
    }
    EXPECT_EQ(a.check_invariants(), "");
  }
}

TEST(StrategyErrors, SlabRejectsASlotThatWasNeverHandedOut) {
  Region region(1 << 16);
  Slab a(region.span(), 64);
  auto* p = static_cast<std::byte*>(a.allocate(64, 16));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(a.free(p + 64 * 10), Status::not_a_block);
  EXPECT_EQ(a.free(p), Status::ok);
}

TEST(StrategyErrors, BumpArenaRejectsPointersAboveItsTopAndMarksFromTheFuture) {
  Region region(4096);
  BumpArena a(region.span());
  std::byte outside[16];
  BumpArena::Mark empty = a.mark();
  void* p = a.allocate(64, 16);
  ASSERT_NE(p, nullptr);
  BumpArena::Mark after = a.mark();
  EXPECT_EQ(a.free(outside), Status::not_in_region);
  EXPECT_EQ(a.free(static_cast<std::byte*>(p) + 64), Status::not_a_block);
  EXPECT_EQ(a.allocate(8, 6), nullptr);
  EXPECT_EQ(a.last_error(), Status::bad_alignment);
  EXPECT_EQ(a.allocate(8192, 16), nullptr);
  EXPECT_EQ(a.last_error(), Status::too_large);
  ASSERT_EQ(a.release(empty), Status::ok);
  EXPECT_EQ(a.free(p), Status::not_a_block) << "p was released with its mark";
  EXPECT_EQ(a.release(after), Status::not_a_block) << "a mark above the top";
}

// Double frees after the freed block was merged into a neighbour: the merged-away header is
// rewritten as free, so the second free is still named a double free.
template <class A>
void expect_double_free_after_merges(A& a) {
  void* x = a.allocate(64, 16);
  void* y = a.allocate(64, 16);
  void* z = a.allocate(64, 16);
  void* guard = a.allocate(64, 16);
  ASSERT_NE(guard, nullptr);
  ASSERT_EQ(a.free(x), Status::ok);
  ASSERT_EQ(a.free(y), Status::ok); // y merges into x
  EXPECT_EQ(a.free(y), Status::double_free);
  ASSERT_EQ(a.free(z), Status::ok); // z merges into x+y
  EXPECT_EQ(a.free(z), Status::double_free);
  EXPECT_EQ(a.free(x), Status::double_free);
  EXPECT_EQ(invariants_of(a), "");
  EXPECT_EQ(a.free(guard), Status::ok);
  EXPECT_EQ(a.free_stats().free_blocks, 1u);
  EXPECT_EQ(invariants_of(a), "");
}

TEST(StrategyErrors, FitAllocatorsNameADoubleFreeEvenAfterTheBlockWasCoalesced) {
  for (Fit fit : {Fit::first, Fit::next, Fit::best, Fit::worst}) {
    Region region(1 << 14);
    FitAllocator a(region.span(), fit);
    expect_double_free_after_merges(a);
  }
}

TEST(StrategyErrors, SegregatedFitNamesADoubleFreeEvenAfterTheBlockWasCoalesced) {
  Region region(1 << 14);
  SegregatedFit a(region.span());
  expect_double_free_after_merges(a);
}

TEST(StrategyErrors, BuddyReportsAFreeOfAMergedBlockAsNotABlock) {
  Region region(BuddyAllocator::region_bytes_for(12));
  BuddyAllocator a(region.span());
  ASSERT_EQ(a.max_order(), 12u);
  void* x = a.allocate(64, 16);
  void* y = a.allocate(64, 16); // x's buddy
  ASSERT_EQ(a.free(x), Status::ok);
  EXPECT_EQ(a.free(x), Status::double_free) << "x is still free at its own order";
  ASSERT_EQ(a.free(y), Status::ok); // merges with x, and on up to the top
  EXPECT_EQ(a.free(y), Status::not_a_block);
  EXPECT_EQ(a.free(x), Status::double_free) << "x now starts the free top block";
  EXPECT_EQ(a.check_invariants(), "");
}

TEST(StrategyErrors, ATooSmallRegionServesNothingAndRefusesEveryFree) {
  Region region(40);
  FitAllocator fit(region.span(), Fit::first);
  SegregatedFit seg(region.span());
  BuddyAllocator buddy(region.span().first(16));
  Slab slab(region.span(), 64);
  EXPECT_EQ(fit.allocate(1, 16), nullptr);
  EXPECT_EQ(seg.allocate(1, 16), nullptr);
  EXPECT_EQ(buddy.allocate(1, 16), nullptr);
  EXPECT_EQ(slab.allocate(1, 16), nullptr);
  EXPECT_EQ(fit.free(region.begin() + 16), Status::not_a_block);
  EXPECT_EQ(seg.free(region.begin() + 16), Status::not_a_block);
  EXPECT_EQ(slab.free(region.begin() + 16), Status::not_in_region);
  EXPECT_EQ(fit.check_invariants(), "");
}

} // namespace
} // namespace hoardlab::strategies
