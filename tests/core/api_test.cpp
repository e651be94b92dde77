// The hl_* C API: C-library semantics and the large-object path.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

#include <sys/mman.h>

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

std::uint64_t os_mapped() {
  hl_stats s{};
  hl_stats_get(&s);
  return s.os_bytes_mapped;
}

// A freed run serves smaller objects from its own pages, with no new mapping.
TEST(LargeObjects, ACachedRunIsSplitForSmallerObjects) {
  hl_collect();
  char* p = static_cast<char*>(hl_malloc(1 << 20));
  ASSERT_NE(p, nullptr);
  hl_free(p);
  const std::uint64_t mapped = os_mapped();
  char* a = static_cast<char*>(hl_malloc(100000));
  char* b = static_cast<char*>(hl_malloc(100000));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(os_mapped(), mapped);
  for (char* q : {a, b}) {
    EXPECT_GE(q, p - 4096);
    EXPECT_LT(q + 100000, p + (1 << 20));
  }
  fill_pattern(a, 100000, 3);
  fill_pattern(b, 100000, 4);
  EXPECT_TRUE(check_pattern(a, 100000, 3));
  EXPECT_TRUE(check_pattern(b, 100000, 4));
  hl_free(a);
  hl_free(b);
  hl_collect();
}

// Eight objects laid end to end, freed, serve one object eight times their size: the cache
// joins freed neighbours into one run.
TEST(LargeObjects, FreedNeighboursAreJoinedForALargerObject) {
  hl_collect();
  constexpr std::size_t kSize = 64 << 10;
  constexpr std::size_t kRun = kSize + 4096; // the object and its header page
  constexpr int kWant = 8;
  // Fresh objects are carved upward from a reservation; a new reservation may interrupt the
  // sequence, so objects are taken until kWant of them lie end to end.
  void* all[64] = {};
  int n = 0;
  int first = 0;
  while (n < 64) {
    all[n] = hl_malloc(kSize);
    ASSERT_NE(all[n], nullptr);
    if (n > first && static_cast<char*>(all[n]) != static_cast<char*>(all[n - 1]) + kRun) first = n;
    ++n;
    if (n - first == kWant) break;
  }
  ASSERT_EQ(n - first, kWant) << "no eight fresh objects end to end";
  for (int i = 0; i < n; ++i)
    hl_free(all[i]);
  const std::uint64_t mapped = os_mapped();
  char* big = static_cast<char*>(hl_malloc(kWant * kRun - 4096));
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(os_mapped(), mapped);
  EXPECT_EQ(big, static_cast<char*>(all[first]));
  fill_pattern(big, kWant * kRun - 4096, 5);
  EXPECT_TRUE(check_pattern(big, kWant * kRun - 4096, 5));
  hl_free(big);
  hl_collect();
}

// realloc grows into the cached pages that follow the object, in place, or else into a cached
// run by a copy; either way no page is mapped.
TEST(LargeObjects, ReallocGrowsIntoCachedPagesWithoutMappingMore) {
  hl_collect();
  char* c = static_cast<char*>(hl_malloc(1 << 20));
  ASSERT_NE(c, nullptr);
  hl_free(c);
  const std::uint64_t mapped = os_mapped();
  char* a = static_cast<char*>(hl_malloc(100000)); // the cached run's front
  ASSERT_NE(a, nullptr);
  fill_pattern(a, 100000, 7);
  char* grown = static_cast<char*>(hl_realloc(a, 300000)); // the rest of the run follows a
  ASSERT_NE(grown, nullptr);
  EXPECT_EQ(grown, a) << "not grown in place into the cached pages after it";
  EXPECT_TRUE(check_pattern(grown, 100000, 7));
  char* b = static_cast<char*>(hl_malloc(100000)); // lies right after grown now
  ASSERT_NE(b, nullptr);
  fill_pattern(grown, 300000, 8);
  char* moved = static_cast<char*>(hl_realloc(grown, 500000));
  ASSERT_NE(moved, nullptr);
  EXPECT_NE(moved, grown);
  EXPECT_TRUE(check_pattern(moved, 300000, 8));
  EXPECT_EQ(os_mapped(), mapped) << "realloc mapped pages while the cache held enough";
  hl_free(moved);
  hl_free(b);
  hl_collect();
}

// A joined run may span two kernel mappings, which mremap cannot move: realloc then copies.
// madvise(MADV_DONTFORK) on one of two neighbours splits their mapping in two.
TEST(LargeObjects, ReallocOfARunSpanningTwoMappingsCopies) {
  hl_collect();
  constexpr std::size_t kSize = 64 << 10;
  constexpr std::size_t kRun = kSize + 4096;
  char* a = nullptr;
  char* b = nullptr;
  void* spare[64] = {};
  int n = 0;
  for (; n < 64; ++n) {
    spare[n] = hl_malloc(kSize);
    ASSERT_NE(spare[n], nullptr);
    if (n > 0 && static_cast<char*>(spare[n]) == static_cast<char*>(spare[n - 1]) + kRun) {
      a = static_cast<char*>(spare[n - 1]);
      b = static_cast<char*>(spare[n]);
      break;
    }
  }
  ASSERT_NE(b, nullptr) << "no two fresh objects end to end";
  ASSERT_EQ(madvise(b - 4096, kRun, MADV_DONTFORK), 0);
  hl_free(a);
  hl_free(b);
  char* c = static_cast<char*>(hl_malloc(2 * kRun - 4096));
  ASSERT_EQ(c, a); // the joined run
  fill_pattern(c, 2 * kRun - 4096, 6);
  char* d = static_cast<char*>(hl_realloc(c, 4 * kRun));
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(check_pattern(d, 2 * kRun - 4096, 6));
  EXPECT_EQ(hl_owns(d), 1);
  hl_free(d);
  for (int i = 0; i + 1 < n; ++i)
    hl_free(spare[i]);
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
