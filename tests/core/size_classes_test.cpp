#include "core/size_classes.h"

#include <gtest/gtest.h>

#include <memory>

using hoardlab::core::SizeClasses;

namespace {

std::unique_ptr<SizeClasses> make(unsigned d, std::size_t threshold) {
  auto c = std::make_unique<SizeClasses>();
  EXPECT_TRUE(c->build(d, threshold));
  return c;
}

TEST(SizeClasses, WasteStaysWithinAQuarterBelowTheThresholdByDefault) {
  auto c = make(4, 32 * 1024);
  for (std::size_t n = 1; n <= c->threshold(); ++n) {
    std::size_t cls = c->class_of(n);
    ASSERT_LT(cls, c->count());
    std::size_t size = c->size_of(cls);
    ASSERT_GE(size, n) << "class too small for " << n;
    if (n <= 64) { // the exact region: only the 16-byte granule pads
      ASSERT_LT(size - n, 16u) << "n = " << n;
    } else {
      ASSERT_LE(static_cast<double>(size - n) / static_cast<double>(n), 0.25) << "n = " << n;
    }
  }
}

TEST(SizeClasses, SmallestSizesAreExactMultiplesOfSixteen) {
  auto c = make(4, 32 * 1024);
  for (std::size_t i = 0; i < 4; ++i)
    EXPECT_EQ(c->size_of(i), 16 * (i + 1));
  EXPECT_EQ(c->class_of(0), 0u);
  EXPECT_EQ(c->class_of(16), 0u);
  EXPECT_EQ(c->class_of(17), 1u);
}

TEST(SizeClasses, AreIncreasingMultiplesOfSixteenEndingAtTheThreshold) {
  for (unsigned d = 1; d <= 8; ++d) {
    auto c = make(d, 64 * 1024);
    for (std::size_t i = 0; i < c->count(); ++i) {
      EXPECT_EQ(c->size_of(i) % 16, 0u);
      if (i > 0) {
        EXPECT_GT(c->size_of(i), c->size_of(i - 1));
      }
    }
    EXPECT_EQ(c->size_of(c->count() - 1), 64u * 1024);
    EXPECT_LE(c->count(), SizeClasses::kMaxClasses);
  }
}

TEST(SizeClasses, MoreClassesPerDoublingMeanLessWaste) {
  auto c = make(8, 32 * 1024);
  for (std::size_t n = 129; n <= c->threshold(); n += 7) {
    std::size_t size = c->size_of(c->class_of(n));
    ASSERT_LE(static_cast<double>(size - n) / static_cast<double>(n), 0.125) << "n = " << n;
  }
}

TEST(SizeClasses, AlignedLookupPicksAClassTheAlignmentDivides) {
  auto c = make(4, 32 * 1024);
  for (std::size_t align = 32; align <= 256; align *= 2) {
    for (std::size_t n = 1; n <= 4096; n += 13) {
      std::size_t cls = c->class_of_aligned(n, align);
      ASSERT_LT(cls, c->count());
      EXPECT_EQ(c->size_of(cls) % align, 0u);
      EXPECT_GE(c->size_of(cls), n);
    }
  }
}

TEST(SizeClasses, RejectsOutOfRangeParameters) {
  auto c = std::make_unique<SizeClasses>();
  EXPECT_FALSE(c->build(0, 32 * 1024));
  EXPECT_FALSE(c->build(9, 32 * 1024));
  EXPECT_FALSE(c->build(4, 100));
  EXPECT_FALSE(c->build(4, SizeClasses::kMaxThreshold * 2));
  EXPECT_EQ(c->count(), 0u);
}

} // namespace
