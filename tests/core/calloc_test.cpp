// calloc returns zeroed memory on every path, and skips clearing blocks known to be zero (fresh
// or purged bump regions, fresh large mappings), so their pages stay untouched.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include <sys/syscall.h>
#include <unistd.h>

#include "hoardlab/hoardlab.h"
#include "mem/internal.h"
#include "mem/state.h"
#include "numa/topology.h"
#include "pal/pal.h"
#include "test_util.h"

namespace {

bool all_zero(const void* p, std::size_t n) {
  auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i)
    if (b[i] != 0) return false;
  return true;
}

using hoardlab::test::on_pu0;

const std::size_t kSizes[] = {1,    16,    100,   1000,  1024,  2048,
                              4096, 10000, 16384, 32768, 40000, 300000};

TEST(Calloc, FreshMemoryIsZero) {
  for (std::size_t n : kSizes) {
    std::vector<void*> ps;
    for (int i = 0; i < 64; ++i) {
      void* p = hl_calloc(1, n);
      ASSERT_NE(p, nullptr);
      ASSERT_TRUE(all_zero(p, n)) << n;
      ps.push_back(p);
    }
    for (void* p : ps)
      hl_free(p);
  }
}

TEST(Calloc, BlocksFreedWithAPatternComeBackZeroFromTheCache) {
  for (std::size_t n : kSizes) {
    std::vector<void*> ps;
    for (int i = 0; i < 64; ++i) {
      void* p = hl_malloc(n);
      ASSERT_NE(p, nullptr);
      std::memset(p, 0xa5, n);
      ps.push_back(p);
    }
    for (void* p : ps)
      hl_free(p);
    ps.clear();
    for (int i = 0; i < 64; ++i) {
      void* p = hl_calloc(n, 1);
      ASSERT_NE(p, nullptr);
      ASSERT_TRUE(all_zero(p, n)) << n;
      ps.push_back(p);
    }
    for (void* p : ps)
      hl_free(p);
  }
}

// Superblocks dirtied by one class, emptied and given back, then formatted for another class
// (kZeroNone), and purged ones, released whole and carved again (kZeroAll): calloc must clear
// what it cannot prove zero, and what it skips must be zero, the blocks in the header page too.
void dirty_superblocks_then_calloc(std::size_t dirty_size, std::size_t calloc_size) {
  std::set<std::uintptr_t> dirtied;
  on_pu0([&] {
    std::vector<void*> ps;
    for (std::size_t held = 0; held < (8u << 20); held += dirty_size) {
      void* p = hl_malloc(dirty_size);
      ASSERT_NE(p, nullptr);
      std::memset(p, 0xff, dirty_size);
      dirtied.insert(reinterpret_cast<std::uintptr_t>(hoardlab::mem::superblock_of(p)));
      ps.push_back(p);
    }
    for (void* p : ps)
      hl_free(p);
  });
  std::size_t reused = 0;
  on_pu0([&] {
    std::vector<void*> ps;
    for (std::size_t held = 0; held < (8u << 20); held += calloc_size) {
      void* p = hl_calloc(1, calloc_size);
      ASSERT_NE(p, nullptr);
      ASSERT_TRUE(all_zero(p, calloc_size)) << calloc_size << " at " << p;
      if (dirtied.count(reinterpret_cast<std::uintptr_t>(hoardlab::mem::superblock_of(p))) != 0)
        ++reused;
      ps.push_back(p);
    }
    for (void* p : ps)
      hl_free(p);
  });
  EXPECT_GT(reused, 0u) << "no dirtied superblock was reused: the test proves nothing";
}

TEST(Calloc, ReformattedDirtySuperblocksAreCleared) {
  ASSERT_EQ(hl_option_set("purge.retain_superblocks", "1048576"), 0);
  dirty_superblocks_then_calloc(512, 4096);
  dirty_superblocks_then_calloc(4096, 2048);
  ASSERT_EQ(hl_option_set("purge.retain_superblocks", "16"), 0);
}

TEST(Calloc, PurgedSuperblocksAreZeroIncludingTheirHeaderPageBlocks) {
  ASSERT_EQ(hl_option_set("purge.retain_superblocks", "0"), 0);
  ASSERT_EQ(hl_option_set("purge.delay_ms", "0"), 0);
  hl_stats before{};
  hl_stats_get(&before);
  dirty_superblocks_then_calloc(1024, 1024);
  dirty_superblocks_then_calloc(256, 2048);
  hl_stats after{};
  hl_stats_get(&after);
  EXPECT_GE(after.os_bytes_purged, before.os_bytes_purged + (8u << 20))
      << "the dirtied superblocks were not purged: the test proves nothing";
  ASSERT_EQ(hl_option_set("purge.retain_superblocks", "16"), 0);
  ASSERT_EQ(hl_option_set("purge.delay_ms", "100"), 0);
}

// A purge the OS refuses (madvise(MADV_DONTNEED) fails with EINVAL on locked pages, as under
// mlockall) leaves the old bytes: the superblock must not be taken for zero. Every empty
// superblock is purged at once (retention 0, no delay), with node 0's arena locked in memory.
TEST(Calloc, ARefusedPurgeIsNotTakenForZero) {
  ASSERT_EQ(hl_option_set("purge.retain_superblocks", "0"), 0);
  ASSERT_EQ(hl_option_set("purge.delay_ms", "0"), 0);
  dirty_superblocks_then_calloc(2048, 2048); // commits the arena the locked run reuses
  // The arena's committed part: from the small range's start on one node (where its first
  // steps extend the range in place); mlock refuses a range with unmapped or inaccessible pages.
  char* begin = reinterpret_cast<char*>(hoardlab::mem::g.small_base.load_relaxed());
  const std::size_t locked = static_cast<std::size_t>(hoardlab::mem::g.arenas[0].committed - begin);
  // The raw system call: the sanitizer runtimes intercept mlock() and make it do nothing.
  if (::syscall(SYS_mlock, begin, locked) != 0) {
    ASSERT_EQ(hl_option_set("purge.retain_superblocks", "16"), 0);
    ASSERT_EQ(hl_option_set("purge.delay_ms", "100"), 0);
    GTEST_SKIP() << "mlock of " << locked << " bytes refused: " << std::strerror(errno);
  }
  const std::uint64_t purged_before = hoardlab::mem::g.purged_bytes.load_relaxed();
  dirty_superblocks_then_calloc(2048, 2048);
  dirty_superblocks_then_calloc(1024, 4096);
  // Purges were attempted on the locked superblocks and refused, so none was counted.
  EXPECT_EQ(hoardlab::mem::g.purged_bytes.load_relaxed(), purged_before);
  ::syscall(SYS_munlock, begin, locked);
  ASSERT_EQ(hl_option_set("purge.retain_superblocks", "16"), 0);
  ASSERT_EQ(hl_option_set("purge.delay_ms", "100"), 0);
}

TEST(Calloc, FreshBlocksAreNotClearedSoTheirPagesStayUntouched) {
#ifdef HOARDLAB_TEST_UNDER_SANITIZER
  GTEST_SKIP() << "sanitizer shadow memory makes resident memory meaningless here";
#endif
  // On small pages: past heap.huge_pages_after a 2 MiB page is resident whole once its first
  // header is written, so untouched blocks there cost memory anyway (options.def).
  ASSERT_EQ(hl_option_set("heap.huge_pages_after", "0"), 0);
  for (std::size_t n : {std::size_t{4096}, std::size_t{16384}}) {
    constexpr std::size_t kTotal = 64u << 20;
    std::vector<void*> ps;
    ps.reserve(kTotal / n);
    std::size_t before = hoardlab::pal::resident_bytes();
    for (std::size_t held = 0; held < kTotal; held += n) {
      void* p = hl_calloc(1, n);
      ASSERT_NE(p, nullptr);
      ps.push_back(p);
    }
    std::size_t after = hoardlab::pal::resident_bytes();
    // Only superblock header pages (one in 16 at S = 64 KiB) are touched.
    EXPECT_LT(after - before, kTotal / 4) << n << ": before " << before << " after " << after;
    for (void* p : ps)
      ASSERT_TRUE(all_zero(p, n));
    for (void* p : ps)
      hl_free(p);
    hl_collect();
  }
  ASSERT_EQ(hl_option_set("heap.huge_pages_after", "16MiB"), 0);
}

} // namespace
