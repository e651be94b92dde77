// Transparent huge pages past a threshold (heap.huge_pages_after, large.huge_chunks_after): the
// chunks mapped once the threshold is passed carry the kernel's "hg" flag (MADV_HUGEPAGE, in
// /proc/self/smaps), the first ones do not, and a threshold of 0 advises nothing. Each test runs
// in a process of its own (gtest_discover_tests), so the arena and the large objects start empty.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <vector>

#include "hoardlab/hoardlab.h"
#include "test_util.h"

namespace {

using hoardlab::test::has_vm_flag;
using hoardlab::test::vm_flags_at;

bool thp_supported() {
  std::FILE* f = std::fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  if (f == nullptr) return false;
  std::fclose(f);
  return true;
}

bool advised_huge(const void* p) {
  return has_vm_flag(vm_flags_at(p), "hg");
}

// Keeps `bytes` of blocks of `size` live; returns them in allocation order.
std::vector<void*> hold(std::size_t size, std::size_t bytes) {
  std::vector<void*> blocks;
  for (std::size_t held = 0; held < bytes; held += size) {
    void* p = hl_malloc(size);
    EXPECT_NE(p, nullptr);
    if (p == nullptr) break;
    static_cast<char*>(p)[0] = 1;
    blocks.push_back(p);
  }
  return blocks;
}

// Of the blocks from index `from` on (every 16th), the share in mappings advised for huge pages.
double advised_share(const std::vector<void*>& blocks, std::size_t from) {
  std::size_t sampled = 0, advised = 0;
  for (std::size_t i = from; i < blocks.size(); i += 16, ++sampled)
    advised += advised_huge(blocks[i]);
  return sampled == 0 ? 0.0 : static_cast<double>(advised) / static_cast<double>(sampled);
}

void release(const std::vector<void*>& blocks) {
  for (void* p : blocks)
    hl_free(p);
}

// Sets `option` to `threshold`, keeps 24 MiB of `block`-byte blocks live, and checks that the
// first block is on small pages and most from `advised_from` bytes on are advised: only a chunk's
// 2 MiB-aligned part is advised, and an arena chunk clipped at the end of a step of address space
// may hold none, so not all of them.
void expect_advised_past(const char* option, const char* threshold, std::size_t block,
                         std::size_t advised_from) {
  ASSERT_EQ(hl_option_set(option, threshold), 0);
  const std::vector<void*> blocks = hold(block, 24u << 20);
  ASSERT_FALSE(blocks.empty());
  ASSERT_FALSE(vm_flags_at(blocks.front()).empty()) << "no mapping found in /proc/self/smaps";
  EXPECT_FALSE(advised_huge(blocks.front())) << vm_flags_at(blocks.front());
  EXPECT_GE(advised_share(blocks, advised_from / block), 0.5);
  release(blocks);
}

void expect_never_advised(const char* option, std::size_t block) {
  ASSERT_EQ(hl_option_set(option, "0"), 0);
  const std::vector<void*> blocks = hold(block, 24u << 20);
  ASSERT_FALSE(blocks.empty());
  EXPECT_EQ(advised_share(blocks, 0), 0.0);
  release(blocks);
}

TEST(HugePages, ArenaChunksCommittedPastTheThresholdAreAdvisedAndTheFirstAreNot) {
  if (!thp_supported()) GTEST_SKIP() << "kernel without transparent huge pages";
  // 4 MiB chunks: the first is committed at 0 bytes, the second at 4 MiB (advised), and so on.
  expect_advised_past("heap.huge_pages_after", "4MiB", 1024, 8u << 20);
}

// A threshold of one byte: the chunk that takes the arena past it is the first, so the first
// block is on huge pages too (before, a chunk was advised only once the arena already held the
// threshold's bytes, and the first never was).
TEST(HugePages, AThresholdOfOneByteAdvisesTheArenasFirstChunk) {
  if (!thp_supported()) GTEST_SKIP() << "kernel without transparent huge pages";
  ASSERT_EQ(hl_option_set("heap.huge_pages_after", "1"), 0);
  const std::vector<void*> blocks = hold(1024, 1u << 20);
  ASSERT_FALSE(blocks.empty());
  EXPECT_TRUE(advised_huge(blocks.front())) << vm_flags_at(blocks.front());
  EXPECT_EQ(advised_share(blocks, 0), 1.0);
  release(blocks);
}

TEST(HugePages, NoArenaChunkIsAdvisedWhenTheThresholdIsZero) {
  if (!thp_supported()) GTEST_SKIP() << "kernel without transparent huge pages";
  expect_never_advised("heap.huge_pages_after", 1024);
}

TEST(HugePages, LargeRunsAreCarvedFromAdvisedChunksPastTheThresholdAndNotBefore) {
  if (!thp_supported()) GTEST_SKIP() << "kernel without transparent huge pages";
  // 64 KiB runs are carved from 4 MiB chunks; the first chunk is mapped at 0 bytes mapped.
  expect_advised_past("large.huge_chunks_after", "2MiB", 64u << 10, 8u << 20);
}

TEST(HugePages, NoLargeRunChunkIsAdvisedWhenTheThresholdIsZero) {
  if (!thp_supported()) GTEST_SKIP() << "kernel without transparent huge pages";
  expect_never_advised("large.huge_chunks_after", 64u << 10);
}

TEST(HugePages, RunsUpToFourMebibytesAreCarvedFromAdvisedChunksPastTheThreshold) {
  if (!thp_supported()) GTEST_SKIP() << "kernel without transparent huge pages";
  // Below the threshold a 1 MiB run is mapped alone on small pages; past it, it is carved from
  // a 16 MiB chunk on huge pages (mapped alone, each such run faulted its pages one by one).
  expect_advised_past("large.huge_chunks_after", "2MiB", 1u << 20, 8u << 20);
}

TEST(HugePages, NoRunBelowFourMebibytesIsAdvisedWhenTheThresholdIsZero) {
  if (!thp_supported()) GTEST_SKIP() << "kernel without transparent huge pages";
  expect_never_advised("large.huge_chunks_after", 1u << 20);
}

// A run mapped alone on huge pages (large.huge_min, 4 MiB, on) is whole huge pages: its last part
// page would be faulted 4 KiB at a time, so the run takes the rest of it, and the object may grow
// into it. A 5 MiB object and its header page take three huge pages.
TEST(HugePages, ARunMappedAloneOnHugePagesEndsOnAHugePageBoundary) {
  if (!thp_supported()) GTEST_SKIP() << "kernel without transparent huge pages";
  constexpr std::size_t kHuge = 2u << 20;
  void* p = hl_malloc(5u << 20);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(advised_huge(p)) << vm_flags_at(p);
  const auto start = reinterpret_cast<std::uintptr_t>(p) - 4096; // the header page
  EXPECT_EQ(start % kHuge, 0u);
  EXPECT_EQ(hl_usable_size(p), 3 * kHuge - 4096);
  std::memset(p, 0xA5, hl_usable_size(p));
  hl_free(p);
  ASSERT_EQ(hl_option_set("large.huge_min", "0"), 0);
  void* plain = hl_malloc(5u << 20);
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(hl_usable_size(plain), std::size_t{5} << 20);
  hl_free(plain);
}

} // namespace
