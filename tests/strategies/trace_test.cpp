// Every pointer-returning strategy under the same seeded random trace: each block is inside the
// region, aligned as asked, disjoint from every other live block, and keeps the bytes written
// into it; after everything is freed the free memory is whole again.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "strategies/buddy.h"
#include "strategies/bump.h"
#include "strategies/fit_list.h"
#include "strategies/segregated_fit.h"
#include "strategies/segregated_storage.h"
#include "strategies/slab.h"
#include "tests/strategies/strategy_test_util.h"

namespace hoardlab::strategies {
namespace {

using testing::Region;
using testing::ShadowMap;

constexpr std::size_t kRegionBytes = 1 << 20;

// Every maker says how large a block and alignment its strategy serves, and whether freeing
// everything leaves one free block (the coalescing strategies) or one per page.
// One maker per strategy under test: builds it over a region and says what it can serve.
struct FirstFitMaker {
  static constexpr bool kOneFreeBlock = true;
  static FitAllocator make(std::span<std::byte> r) { return FitAllocator(r, Fit::first); }
  static constexpr std::size_t kMaxSize = 8192;
  static constexpr std::size_t kMaxAlign = 4096;
};
struct NextFitMaker {
  static constexpr bool kOneFreeBlock = true;
  static FitAllocator make(std::span<std::byte> r) { return FitAllocator(r, Fit::next); }
  static constexpr std::size_t kMaxSize = 8192;
  static constexpr std::size_t kMaxAlign = 4096;
};
struct BestFitMaker {
  static constexpr bool kOneFreeBlock = true;
  static FitAllocator make(std::span<std::byte> r) { return FitAllocator(r, Fit::best); }
  static constexpr std::size_t kMaxSize = 8192;
  static constexpr std::size_t kMaxAlign = 4096;
};
struct WorstFitMaker {
  static constexpr bool kOneFreeBlock = true;
  static FitAllocator make(std::span<std::byte> r) { return FitAllocator(r, Fit::worst); }
  static constexpr std::size_t kMaxSize = 8192;
  static constexpr std::size_t kMaxAlign = 4096;
};
struct SegregatedFitMaker {
  static constexpr bool kOneFreeBlock = true;
  static SegregatedFit make(std::span<std::byte> r) { return SegregatedFit(r); }
  static constexpr std::size_t kMaxSize = 8192;
  static constexpr std::size_t kMaxAlign = 4096;
};
struct BuddyMaker {
  static constexpr bool kOneFreeBlock = true;
  static BuddyAllocator make(std::span<std::byte> r) { return BuddyAllocator(r); }
  static constexpr std::size_t kMaxSize = 8192;
  static constexpr std::size_t kMaxAlign = 4096;
};
struct SlabMaker {
  static constexpr bool kOneFreeBlock = true;
  // A sixteenth of the region, so that the trace fills it too.
  static Slab make(std::span<std::byte> r) { return Slab(r.first(r.size() / 16), 96); }
  static constexpr std::size_t kMaxSize = 96;
  static constexpr std::size_t kMaxAlign = 16;
};

// Pages of 64 KiB per size class: the whole region, and at most 2 KiB blocks so that the
// classes in use fit in its 15 pages.
struct SimpleSegregatedMaker {
  static constexpr bool kOneFreeBlock = false;
  static SegregatedStorage make(std::span<std::byte> r) { return SegregatedStorage(r, false); }
  static constexpr std::size_t kMaxSize = 2048;
  static constexpr std::size_t kMaxAlign = 16;
};
struct SlabClassesMaker {
  static constexpr bool kOneFreeBlock = false;
  static SegregatedStorage make(std::span<std::byte> r) { return SegregatedStorage(r, true); }
  static constexpr std::size_t kMaxSize = 2048;
  static constexpr std::size_t kMaxAlign = 16;
};

template <class Maker>
class StrategyTrace : public ::testing::Test {};
using Makers =
    ::testing::Types<FirstFitMaker, NextFitMaker, BestFitMaker, WorstFitMaker, SegregatedFitMaker,
                     BuddyMaker, SlabMaker, SimpleSegregatedMaker, SlabClassesMaker>;
TYPED_TEST_SUITE(StrategyTrace, Makers);

// Allocation-heavy then free-heavy phases, sizes mostly small with a long tail, alignments from
// 1 to the strategy's maximum; every 500 steps the strategy's own invariants are checked.
template <class A>
void run_trace(A& a, Region& region, std::size_t max_size, std::size_t max_align,
               std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  ShadowMap shadow(region.begin(), region.end());
  std::vector<void*> live;
  std::uint64_t tag = 0;
  std::size_t refused = 0;
  std::size_t peak = 0;
  for (int step = 0; step < 12000; ++step) {
    bool filling = (step / 2000) % 2 == 0;
    bool do_alloc = live.empty() || (rng() % 100) < (filling ? 70u : 35u);
    if (do_alloc) {
      std::size_t size = rng() % 8 == 0 ? rng() % (max_size + 1) : rng() % (max_size / 8 + 1);
      std::size_t align = std::size_t{1} << (rng() % 16 == 0 ? rng() % 13 : rng() % 5);
      if (align > max_align) align = max_align;
      void* p = a.allocate(size, align);
      if (p == nullptr) {
        ASSERT_EQ(a.last_error(), Status::out_of_memory) << describe(a.last_error());
        ++refused;
        continue;
      }
      std::size_t usable = a.usable_size(p);
      if (usable != 0) {
        ASSERT_GE(usable, size);
      }
      shadow.add(p, size, align, ++tag);
      if (::testing::Test::HasFatalFailure()) return;
      live.push_back(p);
      if (live.size() > peak) peak = live.size();
    } else {
      std::size_t i = rng() % live.size();
      shadow.remove(live[i]);
      if (::testing::Test::HasFatalFailure()) return;
      ASSERT_EQ(a.free(live[i]), Status::ok);
      live[i] = live.back();
      live.pop_back();
    }
    if (step % 500 == 0) {
      ASSERT_EQ(testing::invariants_of(a), "") << "at step " << step;
    }
  }
  // The trace is sized so that the region fills now and then but mostly serves.
  EXPECT_LT(refused, 6000u);
  EXPECT_GT(refused, 0u) << "the trace never filled the region; peak live blocks " << peak;
  for (void* p : live) {
    shadow.remove(p);
    ASSERT_EQ(a.free(p), Status::ok);
  }
  ASSERT_TRUE(shadow.empty());
  ASSERT_EQ(testing::invariants_of(a), "");
}

TYPED_TEST(StrategyTrace, BlocksAreAlignedDisjointInsideTheRegionAndKeepTheirBytes) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    Region region(kRegionBytes, seed % 3 == 0 ? 0 : 8 * seed - 5);
    auto a = TypeParam::make(region.span());
    run_trace(a, region, TypeParam::kMaxSize, TypeParam::kMaxAlign, seed);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TYPED_TEST(StrategyTrace, FreeingEverythingLeavesOneFreeRegionAgain) {
  Region region(kRegionBytes, 3);
  auto a = TypeParam::make(region.span());
  FreeBlockStats before = a.free_stats();
  EXPECT_EQ(before.free_blocks, 0u) << "nothing is below the high-water mark yet";
  ASSERT_GT(before.untouched, 0u);
  run_trace(a, region, TypeParam::kMaxSize, TypeParam::kMaxAlign, 42);
  FreeBlockStats after = a.free_stats();
  if constexpr (TypeParam::kOneFreeBlock) {
    EXPECT_EQ(after.total_free, a.high_water());
    EXPECT_EQ(after.total_free + after.untouched, before.untouched);
    EXPECT_EQ(after.free_blocks, 1u);
    EXPECT_EQ(after.largest_free, after.total_free);
    EXPECT_EQ(external_fragmentation(after), 0.0);
  } else {
    // Pages do not merge: one free run per page, each short of the page by the slab's bitmap
    // and the remainder that holds no whole object.
    EXPECT_EQ(after.free_blocks, a.high_water() / SegregatedStorage::kPageSize);
    EXPECT_LE(after.total_free, a.high_water());
    EXPECT_GT(after.total_free, a.high_water() / 10 * 9);
  }
}

TEST(BumpArenaTrace, BlocksAreAlignedDisjointAndReleaseToAMarkReusesTheSpace) {
  Region region(1 << 16, 5);
  BumpArena arena(region.span());
  std::mt19937_64 rng(7);
  for (int round = 0; round < 3; ++round) {
    ShadowMap shadow(region.begin(), region.end());
    BumpArena::Mark start = arena.mark();
    std::vector<void*> blocks;
    std::uint64_t tag = 0;
    for (;;) {
      std::size_t size = rng() % 300;
      std::size_t align = std::size_t{1} << (rng() % 8);
      void* p = arena.allocate(size, align);
      if (p == nullptr) {
        ASSERT_EQ(arena.last_error(), Status::out_of_memory);
        break;
      }
      shadow.add(p, size, align, ++tag);
      if (HasFatalFailure()) return;
      blocks.push_back(p);
    }
    ASSERT_GT(blocks.size(), 100u);
    for (void* p : blocks) {
      shadow.remove(p);
      ASSERT_EQ(arena.free(p), Status::ok); // frees nothing, but p is a live block
    }
    ASSERT_EQ(arena.release(start), Status::ok);
    EXPECT_EQ(arena.used(), 0u);
    FreeBlockStats s = arena.free_stats();
    EXPECT_EQ(s.total_free, arena.high_water());
    EXPECT_EQ(s.total_free + s.untouched, arena.capacity());
    EXPECT_EQ(arena.free(blocks.front()), Status::not_a_block) << "freed by release()";
  }
}

} // namespace
} // namespace hoardlab::strategies
