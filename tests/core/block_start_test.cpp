// Superblock::is_block_start, the hardened build's block-boundary test (every pop of a free list
// and every free): exact against the division it replaces, at every offset of a superblock.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>

#include "core/size_classes.h"
#include "mem/superblock.h"

namespace {

using hoardlab::core::SizeClasses;
using hoardlab::mem::Superblock;

// Every offset of an S-byte superblock of blocks of `size` bytes, against % and /.
int mismatches(std::size_t s, std::uint32_t size) {
  auto* sb = new Superblock();
  const auto first =
      static_cast<std::uint32_t>(SizeClasses::first_block_offset(size, sizeof(Superblock), s));
  const auto count = static_cast<std::uint32_t>((s - first) / size);
  sb->set_geometry(size, count, first);
  const std::uintptr_t base = reinterpret_cast<std::uintptr_t>(sb);
  int wrong = 0;
  // Past S too: a pointer never reaches there through superblock_of, but the test must not wrap.
  for (std::uintptr_t off = 0; off < s + 2 * size; ++off) {
    const bool expect = off >= first && (off - first) % size == 0 && (off - first) / size < count;
    if (sb->is_block_start(reinterpret_cast<const void*>(base + off)) != expect && ++wrong < 4)
      ADD_FAILURE() << "S " << s << ", size " << size << ", offset " << off << ": expected "
                    << expect;
  }
  delete sb;
  return wrong;
}

TEST(BlockStart, IsExactAtEveryOffsetForEveryClassAndSuperblockSize) {
  for (std::size_t s : {std::size_t{4} << 10, std::size_t{64} << 10, std::size_t{4} << 20}) {
    auto classes = std::make_unique<SizeClasses>(); // its lookup table is 128 KiB
    std::size_t threshold = s / 2 < SizeClasses::kMaxThreshold ? s / 2 : SizeClasses::kMaxThreshold;
    ASSERT_TRUE(classes->build(4, threshold));
    for (std::size_t c = 0; c < classes->count(); ++c)
      EXPECT_EQ(mismatches(s, static_cast<std::uint32_t>(classes->size_of(c))), 0);
  }
}

TEST(BlockStart, IsExactForBlockSizesNoClassHas) {
  for (std::uint32_t size : {48u, 80u, 112u, 208u, 3056u, 4080u, 21840u})
    EXPECT_EQ(mismatches(std::size_t{64} << 10, size), 0);
}

TEST(BlockStart, AdmitsNothingInAnUnformattedSuperblock) {
  auto* sb = new Superblock();
  const std::uintptr_t base = reinterpret_cast<std::uintptr_t>(sb);
  for (std::uintptr_t off = 0; off < 8192; off += 16)
    EXPECT_FALSE(sb->is_block_start(reinterpret_cast<const void*>(base + off))) << off;
  delete sb;
}

} // namespace
