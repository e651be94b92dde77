// The hl_* C API: C-library semantics and the large-object path.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

#include "hoardlab/hoardlab.h"
#include "test_util.h"

namespace {

using hoardlab::test::check_pattern;
using hoardlab::test::fill_pattern;

bool aligned(const void* p, std::size_t a) {
  return (reinterpret_cast<std::uintptr_t>(p) % a) == 0;
}

TEST(CApi, MallocZeroReturnsUniqueFreeableBlocks) {
  std::set<void*> seen;
  for (int i = 0; i < 100; ++i) {
    void* p = hl_malloc(0);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(seen.insert(p).second);
  }
  for (void* p : seen)
    hl_free(p);
}

TEST(CApi, EverySmallSizeIsUsableAndSixteenByteAligned) {
  std::vector<void*> ps;
  for (std::size_t n = 1; n <= 40000; n = n * 5 / 4 + 1) {
    void* p = hl_malloc(n);
    ASSERT_NE(p, nullptr) << n;
    EXPECT_TRUE(aligned(p, 16)) << n;
    EXPECT_GE(hl_usable_size(p), n);
    fill_pattern(p, n, static_cast<std::uint8_t>(n));
    ps.push_back(p);
  }
  std::size_t i = 0;
  for (std::size_t n = 1; n <= 40000; n = n * 5 / 4 + 1, ++i) {
    EXPECT_TRUE(check_pattern(ps[i], n, static_cast<std::uint8_t>(n))) << n;
    hl_free(ps[i]);
  }
}

TEST(CApi, CallocOverflowFailsWithEnomem) {
  errno = 0;
  EXPECT_EQ(hl_calloc(SIZE_MAX / 2, 3), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(hl_malloc(SIZE_MAX - 10), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(hl_reallocarray(nullptr, SIZE_MAX / 2, 3), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

TEST(CApi, CallocZeroesReusedMemory) {
  for (std::size_t n : {24u, 1000u, 20000u, 100000u, 3000000u}) {
    auto* p = static_cast<unsigned char*>(hl_malloc(n));
    ASSERT_NE(p, nullptr);
    std::memset(p, 0xab, n);
    hl_free(p);
    auto* q = static_cast<unsigned char*>(hl_calloc(1, n));
    ASSERT_NE(q, nullptr);
    for (std::size_t i = 0; i < n; ++i)
      ASSERT_EQ(q[i], 0) << "n = " << n << " byte " << i;
    hl_free(q);
  }
}

TEST(CApi, FreePreservesErrno) {
  void* p = hl_malloc(100);
  void* big = hl_malloc(1 << 20);
  errno = EDOM;
  hl_free(p);
  hl_free(big);
  hl_free(nullptr);
  EXPECT_EQ(errno, EDOM);
}

TEST(CApi, PosixMemalignRejectsBadAlignmentsWithEinval) {
  void* p = reinterpret_cast<void*>(0x1);
  EXPECT_EQ(hl_posix_memalign(&p, 3, 10), EINVAL);
  EXPECT_EQ(hl_posix_memalign(&p, 4, 10), EINVAL); // not a multiple of sizeof(void*)
  EXPECT_EQ(hl_posix_memalign(&p, 0, 10), EINVAL);
  EXPECT_EQ(p, reinterpret_cast<void*>(0x1));
  errno = 0;
  EXPECT_EQ(hl_aligned_alloc(24, 10), nullptr);
  EXPECT_EQ(errno, EINVAL);
}

TEST(CApi, AlignedAllocationsAreAlignedBlockStarts) {
  std::vector<void*> ps;
  for (std::size_t a = 8; a <= (1u << 20); a *= 2) {
    for (std::size_t n : {1u, 7u, 100u, 5000u, 70000u}) {
      void* p = nullptr;
      ASSERT_EQ(hl_posix_memalign(&p, a, n), 0) << a << " " << n;
      EXPECT_TRUE(aligned(p, a)) << a << " " << n;
      EXPECT_GE(hl_usable_size(p), n);
      fill_pattern(p, n, 7);
      ps.push_back(p);
      void* q = hl_aligned_alloc(a, n);
      ASSERT_NE(q, nullptr);
      EXPECT_TRUE(aligned(q, a));
      ps.push_back(q);
    }
  }
  for (void* p : ps)
    hl_free(p);
  EXPECT_EQ(hl_check_invariants(), 0);
}

TEST(CApi, ReallocKeepsContentsAcrossSmallAndLargeSizes) {
  std::size_t n = 10;
  void* p = hl_malloc(n);
  fill_pattern(p, n, 3);
  for (std::size_t next :
       {40u, 300u, 5000u, 40000u, 200000u, 3000000u, 9000000u, 100000u, 500u, 20u}) {
    void* q = hl_realloc(p, next);
    ASSERT_NE(q, nullptr);
    std::size_t keep = next < n ? next : n;
    ASSERT_TRUE(check_pattern(q, keep, 3)) << n << " -> " << next;
    fill_pattern(q, next, 3);
    p = q;
    n = next;
  }
  hl_free(p);
}

TEST(CApi, ReallocOfNullAllocatesAndFailureKeepsTheBlock) {
  void* p = hl_realloc(nullptr, 50);
  ASSERT_NE(p, nullptr);
  fill_pattern(p, 50, 9);
  errno = 0;
  EXPECT_EQ(hl_realloc(p, SIZE_MAX - 5), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_TRUE(check_pattern(p, 50, 9));
  hl_free(p);
}

TEST(LargeObjects, AreOwnedPageAlignedAndReportTheirSize) {
  void* p = hl_malloc(1 << 20);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(aligned(p, 4096));
  EXPECT_GE(hl_usable_size(p), 1u << 20);
  EXPECT_EQ(hl_owns(p), 1);
  hl_stats s{};
  hl_stats_get(&s);
  EXPECT_GE(s.large_allocations, 1u);
  hl_free(p);
  int local = 0;
  EXPECT_EQ(hl_owns(&local), 0);
  EXPECT_EQ(hl_usable_size(&local), 0u);
}

TEST(LargeObjects, GrowInPlaceOrByRemapKeepingData) {
  std::size_t n = 100000;
  void* p = hl_malloc(n);
  fill_pattern(p, n, 11);
  for (int i = 0; i < 6; ++i) {
    std::size_t next = n * 3;
    void* q = hl_realloc(p, next);
    ASSERT_NE(q, nullptr);
    ASSERT_TRUE(check_pattern(q, n, 11));
    fill_pattern(q, next, 11);
    EXPECT_EQ(hl_owns(q), 1);
    if (q != p) {
      EXPECT_EQ(hl_owns(p), 0); // the old first page is forgotten
    }
    p = q;
    n = next;
  }
  hl_free(p);
}

TEST(LargeObjects, FreedMappingsAreCachedAndReused) {
  void* p = hl_malloc(200000);
  hl_free(p);
  void* q = hl_malloc(200000);
  EXPECT_EQ(p, q);
  hl_free(q);
  hl_collect();
}

TEST(Stats, CountAllocationsFreesAndHeaps) {
  hl_stats before{};
  hl_stats_get(&before);
  std::vector<void*> ps;
  for (int i = 0; i < 1000; ++i)
    ps.push_back(hl_malloc(48));
  for (void* p : ps)
    hl_free(p);
  hl_stats after{};
  hl_stats_get(&after);
  EXPECT_GE(after.allocations - before.allocations, 1000u);
  EXPECT_GE(after.frees - before.frees, 1000u);
  EXPECT_GT(after.cache_hits, before.cache_hits);
  EXPECT_GE(after.heaps, 1u);
  EXPECT_EQ(after.nodes, 1u);
  hl_heap_stats h{};
  EXPECT_EQ(hl_stats_heap(0, &h), 0);
  EXPECT_EQ(hl_stats_heap(after.heaps, &h), -1);
  hl_node_stats ns{};
  EXPECT_EQ(hl_stats_node(0, &ns), 0);
  EXPECT_GT(ns.bytes_placed, 0u);
  EXPECT_EQ(hl_stats_node(after.nodes, &ns), -1);
  EXPECT_NE(hl_topology_source(), nullptr);
}

} // namespace
