// The fragmentation metrics on layouts whose answers are known by hand.
#include <gtest/gtest.h>

#include <vector>

#include "strategies/boundary_tags.h"
#include "strategies/buddy.h"
#include "strategies/fit_list.h"
#include "strategies/fragmentation.h"
#include "strategies/slab.h"
#include "tests/strategies/strategy_test_util.h"

namespace hoardlab::strategies {
namespace {

using testing::Region;

TEST(Fragmentation, ExternalFragmentationIsOneMinusLargestOverTotal) {
  FreeBlockStats s;
  s.add(64);
  s.add(64);
  s.add(128);
  EXPECT_EQ(s.total_free, 256u);
  EXPECT_EQ(s.largest_free, 128u);
  EXPECT_EQ(s.free_blocks, 3u);
  EXPECT_DOUBLE_EQ(external_fragmentation(s), 0.5);
  EXPECT_EQ(s.histogram[6], 2u);
  EXPECT_EQ(s.histogram[7], 1u);
  EXPECT_EQ(s.histogram[5] + s.histogram[8], 0u);
}

TEST(Fragmentation, OneFreeBlockOrNoneIsNotFragmented) {
  FreeBlockStats none;
  EXPECT_EQ(external_fragmentation(none), 0.0);
  FreeBlockStats one;
  one.add(1000);
  EXPECT_EQ(external_fragmentation(one), 0.0);
  one.add(0); // an empty run is not a block
  EXPECT_EQ(one.free_blocks, 1u);
}

TEST(Fragmentation, HistogramBucketsAreFloorLog2OfTheSize) {
  FreeBlockStats s;
  s.add(48); // 2^5 <= 48 < 2^6
  s.add(63);
  s.add(64);
  s.add(4095);
  EXPECT_EQ(s.histogram[5], 2u);
  EXPECT_EQ(s.histogram[6], 1u);
  EXPECT_EQ(s.histogram[11], 1u);
}

TEST(Fragmentation, UsageTrackerRecordsWasteAtThePeakOfLiveRequestedBytes) {
  UsageTracker t;
  t.on_allocate(10, 16);
  t.on_allocate(20, 32);
  EXPECT_EQ(t.internal_waste(), 18u);
  t.on_free(10, 16);
  t.on_allocate(5, 48);
  EXPECT_EQ(t.live_requested(), 25u);
  EXPECT_EQ(t.internal_waste(), 55u);
  EXPECT_EQ(t.peak_live_requested(), 30u);
  EXPECT_EQ(t.internal_waste_at_peak(), 18u);
}

TEST(Fragmentation, UtilisationAtPeakIsPeakLiveOverHighWater) {
  EXPECT_DOUBLE_EQ(utilisation_at_peak(30, 60), 0.5);
  EXPECT_DOUBLE_EQ(utilisation_at_peak(0, 0), 1.0);
}

// Five 48-byte blocks from the front of a first-fit heap; freeing the 2nd and 4th leaves two
// 48-byte holes below the high-water mark, and the untouched tail above it.
TEST(Fragmentation, FirstFitHolesBetweenLiveBlocksAreCountedAsSeparateFreeBlocks) {
  Region region(4096);
  FitAllocator a(region.span(), Fit::first);
  std::size_t capacity = a.capacity();
  std::vector<void*> p;
  for (int i = 0; i < 5; ++i)
    p.push_back(a.allocate(32, 16)); // gross 48: header 16 + 32
  EXPECT_EQ(a.high_water(), 5 * tags::kMinBlock);
  ASSERT_EQ(a.free(p[1]), Status::ok);
  ASSERT_EQ(a.free(p[3]), Status::ok);
  FreeBlockStats s = a.free_stats();
  EXPECT_EQ(s.free_blocks, 2u);
  EXPECT_EQ(s.total_free, 96u);
  EXPECT_EQ(s.largest_free, 48u);
  EXPECT_EQ(s.untouched, capacity - 5 * 48);
  EXPECT_EQ(s.histogram[5], 2u);
  EXPECT_DOUBLE_EQ(external_fragmentation(s), 0.5);
  EXPECT_EQ(a.usable_size(p[0]), 32u);
  // Freeing the last block merges the 4th hole with the tail: only the part below the mark
  // counts, so the free memory below the mark is now 48 + 96 bytes in two blocks.
  ASSERT_EQ(a.free(p[4]), Status::ok);
  s = a.free_stats();
  EXPECT_EQ(s.free_blocks, 2u);
  EXPECT_EQ(s.total_free, 144u);
  EXPECT_EQ(s.largest_free, 96u);
  EXPECT_NEAR(external_fragmentation(s), 1.0 / 3.0, 1e-12);
}

TEST(Fragmentation, AFreeBlockAcrossTheHighWaterMarkCountsOnlyBelowIt) {
  FreeBlockStats s;
  s.add_at(100, 50, 120); // 20 below, 30 above
  s.add_at(200, 10, 120); // all above
  EXPECT_EQ(s.total_free, 20u);
  EXPECT_EQ(s.free_blocks, 1u);
  EXPECT_EQ(s.untouched, 40u);
}

TEST(Fragmentation, BuddyInternalWasteIsTheRoundingToAPowerOfTwo) {
  Region region(BuddyAllocator::region_bytes_for(10));
  BuddyAllocator a(region.span());
  ASSERT_EQ(a.max_order(), 10u);
  void* p = a.allocate(100, 16);
  EXPECT_EQ(a.usable_size(p), 128u);
  UsageTracker t;
  t.on_allocate(100, a.usable_size(p));
  EXPECT_EQ(t.internal_waste(), 28u);
}

// Four 256-byte blocks fill a 1 KiB buddy heap; freeing the 2nd and 4th frees two blocks whose
// buddies are live, so nothing merges: two free 256-byte blocks, half of the free memory in the
// largest one.
TEST(Fragmentation, BuddyBlocksWithLiveBuddiesStaySeparate) {
  Region region(BuddyAllocator::region_bytes_for(10));
  BuddyAllocator a(region.span());
  std::vector<void*> p;
  for (int i = 0; i < 4; ++i)
    p.push_back(a.allocate(256, 16));
  EXPECT_EQ(a.allocate(1, 16), nullptr);
  EXPECT_EQ(a.high_water(), 1024u);
  ASSERT_EQ(a.free(p[1]), Status::ok);
  ASSERT_EQ(a.free(p[3]), Status::ok);
  FreeBlockStats s = a.free_stats();
  EXPECT_EQ(s.free_blocks, 2u);
  EXPECT_EQ(s.total_free, 512u);
  EXPECT_EQ(s.histogram[8], 2u);
  EXPECT_DOUBLE_EQ(external_fragmentation(s), 0.5);
  EXPECT_EQ(a.allocate(512, 16), nullptr) << "512 bytes free, but not in one block";
  EXPECT_EQ(a.last_error(), Status::out_of_memory);
}

// Eight slots, the 2nd, 3rd and 6th freed: runs of two and one free slots.
TEST(Fragmentation, SlabFreeMemoryIsMeasuredInRunsOfAdjacentFreeSlots) {
  Region region(8 * 64 + 64);
  Slab a(region.span(), 64);
  ASSERT_EQ(a.capacity(), 8u);
  std::vector<void*> p;
  for (int i = 0; i < 8; ++i)
    p.push_back(a.allocate(64, 16));
  EXPECT_EQ(a.free_stats().total_free, 0u);
  for (int i : {1, 2, 5})
    ASSERT_EQ(a.free(p[static_cast<std::size_t>(i)]), Status::ok);
  FreeBlockStats s = a.free_stats();
  EXPECT_EQ(s.free_blocks, 2u);
  EXPECT_EQ(s.total_free, 192u);
  EXPECT_EQ(s.largest_free, 128u);
  EXPECT_NEAR(external_fragmentation(s), 1.0 / 3.0, 1e-12);
}

} // namespace
} // namespace hoardlab::strategies
