// What sets the strategies apart: which block each fit policy picks, that buddies merge back to
// the top order, that segregated fit files blocks by class, and that handles go stale.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "strategies/buddy.h"
#include "strategies/fit_list.h"
#include "strategies/handle_table.h"
#include "strategies/segregated_fit.h"
#include "strategies/segregated_storage.h"
#include "strategies/slab.h"
#include "tests/strategies/strategy_test_util.h"

namespace hoardlab::strategies {
namespace {

using testing::Region;

// Layout: [A 96][B 48][C 48][D 48][E 48][tail]; A and D are freed, leaving a 96-byte hole and
// an exact 48-byte hole. A request of gross 48 then shows each policy.
struct Holes {
  std::vector<void*> p;
  void* hole_a;
  void* hole_d;
};
Holes make_holes(FitAllocator& a) {
  Holes h;
  h.p.push_back(a.allocate(80, 16)); // gross 96
  for (int i = 0; i < 4; ++i)
    h.p.push_back(a.allocate(32, 16)); // gross 48
  h.hole_a = h.p[0];
  h.hole_d = h.p[3];
  EXPECT_EQ(a.free(h.hole_a), Status::ok);
  EXPECT_EQ(a.free(h.hole_d), Status::ok);
  return h;
}

TEST(FitPolicies, FirstFitTakesTheLowestBlockThatFits) {
  Region region(4096);
  FitAllocator a(region.span(), Fit::first);
  Holes h = make_holes(a);
  EXPECT_EQ(a.allocate(32, 16), h.hole_a);
  EXPECT_EQ(a.check_invariants(), "");
}

TEST(FitPolicies, BestFitTakesTheSmallestBlockThatFits) {
  Region region(4096);
  FitAllocator a(region.span(), Fit::best);
  Holes h = make_holes(a);
  EXPECT_EQ(a.allocate(32, 16), h.hole_d);
  EXPECT_EQ(a.allocate(32, 16), h.hole_a) << "then the 96-byte hole beats the large tail";
  EXPECT_EQ(a.check_invariants(), "");
}

TEST(FitPolicies, WorstFitTakesTheLargestHoleAndTheTailOnlyWhenNoHoleFits) {
  Region region(4096);
  FitAllocator a(region.span(), Fit::worst);
  Holes h = make_holes(a);
  // The 96-byte hole is the largest, where first and best fit take the lowest and the smallest
  // (the 48-byte one); cut once, it leaves 48, and the first 48-byte block in address order is
  // what is left of it.
  EXPECT_EQ(a.allocate(32, 16), h.hole_a);
  auto* rest = static_cast<std::byte*>(a.allocate(32, 16));
  EXPECT_EQ(rest, static_cast<std::byte*>(h.hole_a) + 48);
  EXPECT_EQ(a.allocate(32, 16), h.hole_d);
  // No hole left: the tail.
  EXPECT_GT(static_cast<std::byte*>(a.allocate(32, 16)), static_cast<std::byte*>(h.p.back()));
  EXPECT_EQ(a.check_invariants(), "");
}

TEST(FitPolicies, NextFitResumesWhereTheLastSearchStopped) {
  Region region(4096);
  FitAllocator a(region.span(), Fit::next);
  std::vector<void*> p;
  for (int i = 0; i < 8; ++i)
    p.push_back(a.allocate(32, 16)); // gross 48 each
  ASSERT_EQ(a.free(p[1]), Status::ok);
  ASSERT_EQ(a.free(p[3]), Status::ok);
  // The rover sits on the wilderness, which it passes over: it wraps to the lowest hole.
  EXPECT_EQ(a.allocate(32, 16), p[1]);
  ASSERT_EQ(a.free(p[0]), Status::ok);
  // First fit would now take p[0]; next fit resumes after p[1].
  EXPECT_EQ(a.allocate(32, 16), p[3]);
  EXPECT_EQ(a.allocate(32, 16), p[0]) << "and wraps around again";
  EXPECT_EQ(a.check_invariants(), "");
}

TEST(FitPolicies, NextFitTakesTheWildernessOnlyWhenNoHoleFits) {
  Region region(4096);
  FitAllocator a(region.span(), Fit::next);
  std::vector<void*> p;
  for (int i = 0; i < 4; ++i)
    p.push_back(a.allocate(32, 16));
  ASSERT_EQ(a.free(p[1]), Status::ok);
  auto* big = static_cast<std::byte*>(a.allocate(200, 16));
  EXPECT_GT(big, static_cast<std::byte*>(p[3])) << "no hole fits 200 bytes";
  EXPECT_EQ(a.allocate(32, 16), p[1]);
  EXPECT_EQ(a.check_invariants(), "");
}

TEST(FitPolicies, NextFitWrapsAroundToTheHolesWhenTheTailIsExhausted) {
  Region region(1024);
  FitAllocator a(region.span(), Fit::next);
  std::vector<void*> p;
  while (void* q = a.allocate(32, 16))
    p.push_back(q);
  ASSERT_GE(p.size(), 10u);
  ASSERT_EQ(a.free(p[2]), Status::ok);
  EXPECT_EQ(a.allocate(32, 16), p[2]);
  EXPECT_EQ(a.check_invariants(), "");
}

TEST(FitPolicies, LargeAlignmentsCutAFreeBlockInFrontOfTheAlignedOne) {
  for (Fit fit : {Fit::first, Fit::next, Fit::best, Fit::worst}) {
    Region region(1 << 16, 16);
    FitAllocator a(region.span(), fit);
    void* small = a.allocate(8, 16);
    void* aligned = a.allocate(100, 4096);
    ASSERT_NE(aligned, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(aligned) % 4096, 0u);
    // The gap between the two became a free block that can serve small requests.
    EXPECT_EQ(a.free_stats().free_blocks, 1u);
    void* gap = a.allocate(8, 16);
    EXPECT_LT(gap, aligned);
    EXPECT_EQ(a.check_invariants(), "");
    for (void* q : {small, aligned, gap})
      ASSERT_EQ(a.free(q), Status::ok);
    EXPECT_EQ(a.free_stats().free_blocks, 1u);
  }
}

TEST(SegregatedFit, SizeClassesAreFourPerDoublingAndContiguous) {
  EXPECT_EQ(SegregatedIndex::class_of(32), 0u);
  EXPECT_EQ(SegregatedIndex::class_of(48), 2u);
  EXPECT_EQ(SegregatedIndex::class_of(63), 3u);
  EXPECT_EQ(SegregatedIndex::class_of(64), 4u);
  for (std::size_t c = 0; c + 1 < 200; ++c) {
    std::size_t lo = SegregatedIndex::lower_bound(c);
    EXPECT_EQ(SegregatedIndex::class_of(lo), c);
    EXPECT_EQ(SegregatedIndex::class_of(SegregatedIndex::lower_bound(c + 1) - 1), c);
  }
}

TEST(SegregatedFit, AFreedBlockIsReusedForTheNextRequestOfItsClass) {
  Region region(1 << 16);
  SegregatedFit a(region.span());
  void* x = a.allocate(200, 16);
  void* y = a.allocate(1000, 16);
  void* z = a.allocate(200, 16); // keeps x from merging with y's hole
  ASSERT_EQ(a.free(x), Status::ok);
  ASSERT_EQ(a.free(y), Status::ok); // merges with x: one free block of x + y
  EXPECT_EQ(a.free_stats().free_blocks, 1u) << "the tail lies above the high-water mark";
  // A small request splits the merged hole rather than the tail: its class list is searched up.
  EXPECT_EQ(a.allocate(200, 16), x);
  EXPECT_EQ(a.check_invariants(), "");
  ASSERT_EQ(a.free(z), Status::ok);
}

TEST(Buddy, FreeingEveryBlockMergesBackToTheTopOrder) {
  Region region(BuddyAllocator::region_bytes_for(16), 8);
  BuddyAllocator a(region.span());
  ASSERT_EQ(a.max_order(), 16u);
  std::mt19937_64 rng(11);
  std::vector<void*> p;
  while (void* q = a.allocate(rng() % 2000, 16))
    p.push_back(q);
  EXPECT_EQ(a.free_blocks_of_order(16), 0u);
  std::shuffle(p.begin(), p.end(), rng);
  for (void* q : p)
    ASSERT_EQ(a.free(q), Status::ok);
  EXPECT_EQ(a.free_blocks_of_order(16), 1u);
  for (unsigned k = BuddyAllocator::kMinOrder; k < 16; ++k)
    EXPECT_EQ(a.free_blocks_of_order(k), 0u) << "order " << k;
  EXPECT_EQ(a.check_invariants(), "");
}

TEST(Buddy, SplittingLeavesOneFreeBuddyPerOrderOnTheWayDown) {
  Region region(BuddyAllocator::region_bytes_for(12));
  BuddyAllocator a(region.span());
  void* p = a.allocate(32, 16);
  ASSERT_NE(p, nullptr);
  for (unsigned k = BuddyAllocator::kMinOrder; k < 12; ++k)
    EXPECT_EQ(a.free_blocks_of_order(k), 1u) << "order " << k;
  EXPECT_EQ(a.free_blocks_of_order(12), 0u);
  // The first buddy of p is the 32 bytes right after it: the XOR of their offsets is 32.
  void* q = a.allocate(32, 16);
  EXPECT_EQ(static_cast<std::byte*>(q) - static_cast<std::byte*>(p), 32);
}

TEST(Buddy, BlocksAreAlignedToTheirSizeUpToAPage) {
  Region region(BuddyAllocator::region_bytes_for(16), 24);
  BuddyAllocator a(region.span());
  for (std::size_t size : {32u, 256u, 1024u, 4096u, 8192u}) {
    void* p = a.allocate(size, 16);
    ASSERT_NE(p, nullptr);
    std::size_t expect = size < 4096 ? size : 4096;
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % expect, 0u) << size;
  }
  EXPECT_EQ(a.allocate(16, 8192), nullptr);
  EXPECT_EQ(a.last_error(), Status::bad_alignment);
}

TEST(SegregatedStorage, ClassesAreSixteenByteStepsThenFourPerDoubling) {
  EXPECT_EQ(SegregatedStorage::class_size(SegregatedStorage::class_of(1)), 16u);
  EXPECT_EQ(SegregatedStorage::class_size(SegregatedStorage::class_of(129)), 160u);
  EXPECT_EQ(SegregatedStorage::class_size(SegregatedStorage::kClasses - 1),
            SegregatedStorage::kMaxSize);
  for (std::size_t size = 1; size <= SegregatedStorage::kMaxSize; ++size) {
    std::size_t c = SegregatedStorage::class_of(size);
    ASSERT_LT(c, SegregatedStorage::kClasses);
    ASSERT_GE(SegregatedStorage::class_size(c), size);
    // The class is the smallest that fits: at most 25% (or 16 bytes) of rounding.
    if (c > 0) {
      ASSERT_LT(SegregatedStorage::class_size(c - 1), size);
    }
  }
}

// A phase of small objects, all freed, then a phase of large ones: simple segregated storage
// keeps the small objects' pages and carves new ones; with page reuse the empty pages serve the
// new class.
TEST(SegregatedStorage, EmptyPagesServeAnotherClassOnlyWithPageReuse) {
  for (bool reuse : {false, true}) {
    Region region(1 << 22);
    SegregatedStorage a(region.span(), reuse);
    std::vector<void*> small;
    for (int i = 0; i < 10000; ++i)
      small.push_back(a.allocate(32, 16));
    std::size_t pages_after_small = a.pages_carved();
    EXPECT_EQ(pages_after_small, 5u) << "10000 x 32 B in 64 KiB pages";
    for (void* p : small)
      ASSERT_EQ(a.free(p), Status::ok);
    EXPECT_EQ(a.pages_pooled(), reuse ? pages_after_small : 0u);
    std::vector<void*> large;
    for (int i = 0; i < 200; ++i)
      large.push_back(a.allocate(1024, 16));
    EXPECT_EQ(a.pages_carved(), reuse ? pages_after_small : pages_after_small + 4)
        << (reuse ? "the pooled pages serve 1 KiB objects" : "the small pages stay small");
    EXPECT_EQ(a.check_invariants(), "");
    for (void* p : large)
      ASSERT_EQ(a.free(p), Status::ok);
  }
}

TEST(Handles, AFreedHandleIsStaleEvenAfterItsSlotIsReused) {
  Region table(4096);
  Region heap(1 << 14);
  Slab slab(heap.span(), 64);
  HandleTable<Slab> handles(table.span(), slab);
  Handle h = handles.allocate(64);
  ASSERT_FALSE(h.is_null());
  std::memset(handles.get(h), 0xab, 64);
  ASSERT_EQ(handles.free(h), Status::ok);
  EXPECT_EQ(handles.get(h), nullptr);
  EXPECT_EQ(handles.free(h), Status::stale_handle);
  Handle again = handles.allocate(64);
  EXPECT_EQ(again.index, h.index) << "the slot is reused";
  EXPECT_NE(again.generation, h.generation);
  EXPECT_EQ(handles.get(h), nullptr) << "the old handle does not reach the new block";
  EXPECT_EQ(handles.free(h), Status::stale_handle);
  EXPECT_NE(handles.get(again), nullptr);
  EXPECT_EQ(slab.live(), 1u) << "the stale free touched nothing";
}

TEST(Handles, NullOutOfRangeAndForgedHandlesAreRefused) {
  Region table(4096);
  Region heap(1 << 14);
  Slab slab(heap.span(), 64);
  HandleTable<Slab> handles(table.span(), slab);
  Handle h = handles.allocate(8);
  EXPECT_EQ(handles.free(Handle{}), Status::null_pointer);
  EXPECT_EQ(handles.get(Handle{}), nullptr);
  EXPECT_EQ(handles.free(Handle{h.index + 1000, 1}), Status::stale_handle);
  EXPECT_EQ(handles.free(Handle{h.index, h.generation + 1}), Status::stale_handle);
  EXPECT_EQ(handles.free(Handle{h.index + 1, 1}), Status::stale_handle) << "never issued";
  EXPECT_EQ(handles.live(), 1u);
  EXPECT_EQ(handles.free(h), Status::ok);
}

TEST(Handles, ResizeMovesTheBlockAndKeepsTheHandleValid) {
  Region table(4096);
  Region heap(1 << 16);
  SegregatedFit backing(heap.span());
  HandleTable<SegregatedFit> handles(table.span(), backing);
  Handle h = handles.allocate(16);
  std::memcpy(handles.get(h), "relocatable\0\0\0\0", 16);
  void* before = handles.get(h);
  Handle blocker = handles.allocate(16); // so the block cannot grow in place
  ASSERT_EQ(handles.resize(h, 4000), Status::ok);
  EXPECT_NE(handles.get(h), before);
  EXPECT_STREQ(static_cast<const char*>(handles.get(h)), "relocatable");
  EXPECT_EQ(handles.size_of(h), 4000u);
  EXPECT_EQ(handles.resize(h, std::size_t{1} << 30), Status::too_large);
  EXPECT_STREQ(static_cast<const char*>(handles.get(h)), "relocatable") << "kept on failure";
  EXPECT_EQ(handles.free(h), Status::ok);
  EXPECT_EQ(handles.free(blocker), Status::ok);
  EXPECT_EQ(backing.free_stats().free_blocks, 1u);
}

TEST(Handles, ASlotIsRetiredBeforeItsGenerationCouldRepeat) {
  Region table(4096);
  Region heap(1 << 14);
  Slab slab(heap.span(), 64);
  HandleTable<Slab> handles(table.span(), slab, 4);
  std::vector<Handle> issued;
  for (int i = 0; i < 3; ++i) {
    Handle h = handles.allocate(8);
    ASSERT_EQ(h.index, 0u);
    issued.push_back(h);
    ASSERT_EQ(handles.free(h), Status::ok);
  }
  EXPECT_EQ(handles.retired(), 1u);
  Handle next = handles.allocate(8);
  EXPECT_EQ(next.index, 1u) << "slot 0 is retired";
  for (Handle h : issued)
    EXPECT_EQ(handles.get(h), nullptr);
}

TEST(Handles, AFullTableSaysOutOfMemory) {
  Region table(sizeof(HandleTable<Slab>::Slot) * 2);
  Region heap(1 << 14);
  Slab slab(heap.span(), 64);
  HandleTable<Slab> handles(table.span(), slab);
  ASSERT_EQ(handles.capacity(), 2u);
  EXPECT_FALSE(handles.allocate(8).is_null());
  EXPECT_FALSE(handles.allocate(8).is_null());
  EXPECT_TRUE(handles.allocate(8).is_null());
  EXPECT_EQ(handles.last_error(), Status::out_of_memory);
}

} // namespace
} // namespace hoardlab::strategies
