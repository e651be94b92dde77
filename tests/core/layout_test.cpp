// Which shared words share a cache line (paper_notes/contention.md): a line written by many
// threads must hold only what those threads write anyway.
#include "mem/internal.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>

namespace {

using namespace hoardlab::mem;

std::uintptr_t line_of(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) / 64;
}

TEST(PoolLayout, EveryStackHeadOfAPoolSitsOnALineOfItsOwn) {
  const Pool& p = g.pools[0];
  std::set<std::uintptr_t> lines{line_of(&p.empty)};
  for (const auto& stack : p.partial)
    EXPECT_TRUE(lines.insert(line_of(&stack)).second)
        << "class " << (&stack - p.partial) << "'s head shares a line with another stack's";
  EXPECT_EQ(lines.size(), 1 + std::size(p.partial));
  for (const void* counter :
       {static_cast<const void*>(&p.superblocks), static_cast<const void*>(&p.pending_blocks),
        static_cast<const void*>(&p.deferred)})
    EXPECT_EQ(lines.count(line_of(counter)), 0u) << "a counter shares a stack head's line";
}

TEST(PoolLayout, TheRemoteFreeCountersShareNoLineWithTheMoveCountersOrThePurgeState) {
  const Pool& p = g.pools[0];
  EXPECT_NE(line_of(&p.pending_blocks), line_of(&p.superblocks));
  EXPECT_NE(line_of(&p.pending_blocks), line_of(&p.deferred));
  EXPECT_NE(line_of(&p.superblocks), line_of(&p.deferred));
  EXPECT_EQ(line_of(&p.pending_blocks), line_of(&p.pending_bytes))
      << "a remote free into a pooled superblock writes one line of its pool";
}

TEST(PoolLayout, TwoNodesPoolsAndArenasShareNoLine) {
  EXPECT_NE(line_of(&g.pools[0].purge_inline), line_of(&g.pools[1].empty));
  EXPECT_NE(line_of(&g.arenas[0] + 1) - 1, line_of(&g.arenas[1]));
}

TEST(HeapLayout, ARemoteFreeCountsItsPendingBytesOnTheLineItWritesAnyway) {
  static const Heap h{};
  EXPECT_EQ(line_of(&h.pending_bytes), line_of(&h.pending_blocks));
  EXPECT_EQ(line_of(&h.pending_bytes), line_of(&h.pending_head));
}

// A row is written by the threads of its node alone: two nodes' rows must not share a line.
TEST(NodeTrafficLayout, OneNodesCrossNodeCountersShareNoLineWithAnotherNodes) {
  const NodeTraffic& a = g.traffic[0];
  const NodeTraffic& b = g.traffic[1];
  const std::uintptr_t a_last = line_of(reinterpret_cast<const char*>(&a + 1) - 1);
  EXPECT_LT(a_last, line_of(&b.remote_allocations));
  EXPECT_EQ(line_of(&a.remote_allocations), line_of(&a.freed_into[0]))
      << "a row starts on its own line";
}

// Every heap acquire reads `crowded`; every thread start and exit writes the registry.
TEST(RegistryLayout, TheFlagHeapAcquiresReadSharesNoLineWithTheRegistry) {
  const std::uintptr_t flag = line_of(&g.crowded);
  for (const void* word :
       {static_cast<const void*>(&g.registry_lock), static_cast<const void*>(&g.all_caches),
        static_cast<const void*>(&g.free_caches), static_cast<const void*>(&g.live_threads),
        static_cast<const void*>(&g.meta_next)})
    EXPECT_NE(line_of(word), flag);
  EXPECT_NE(line_of(reinterpret_cast<const char*>(&g.ranges + 1) - 1), flag)
      << "a range growth writes the ranges' lines";
}

} // namespace
