// What the allocator reports per node on a synthetic two-node machine (ctest sets
// HOARDLAB_TOPOLOGY="pack:2 numa:1 core:2 pu:1"): heaps grouped by node, a pool per node,
// superblocks tagged with their node, placement recorded as intended. Written against hl_stats;
// skips with the reason while the allocator does not report nodes yet.
#include "hoardlab/hoardlab.h"
#include "numa/topology.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace {

constexpr unsigned kNodes = 2;

bool allocator_reports_nodes(hl_stats& s) {
  hl_free(hl_malloc(16)); // the allocator starts on first use; before it, nothing to report
  hl_stats_get(&s);
  return s.nodes > 0;
}

#define REQUIRE_NODE_STATS(s)                                                                      \
  hl_stats s{};                                                                                    \
  if (!allocator_reports_nodes(s)) {                                                               \
    GTEST_SKIP() << "the allocator does not report per-node statistics yet (hl_stats.nodes)";      \
  }

TEST(NodeStats, TheAllocatorSeesTheSyntheticTwoNodeMachine) {
  REQUIRE_NODE_STATS(s);
  EXPECT_EQ(s.nodes, kNodes);
  EXPECT_STREQ(hl_topology_source(), "synthetic");
  for (unsigned n = 0; n < s.nodes; ++n) {
    hl_node_stats ns{};
    ASSERT_EQ(hl_stats_node(n, &ns), 0);
    EXPECT_EQ(ns.os_node, -1) << "synthetic nodes have no OS node";
    EXPECT_EQ(ns.bound, 0u) << "binding to a synthetic node is intended, never done";
  }
  hl_node_stats past{};
  EXPECT_EQ(hl_stats_node(s.nodes, &past), -1);
}

TEST(NodeStats, HeapsAreGroupedByNodeAndEveryNodeHasHeaps) {
  REQUIRE_NODE_STATS(s);
  // Two PUs per node: heap i serves PU i mod 4, so with one heap per PU (or two) the nodes
  // get equal shares.
  std::vector<unsigned> heaps_per_node(s.nodes, 0);
  for (unsigned h = 0; h < s.heaps; ++h) {
    hl_heap_stats hs{};
    ASSERT_EQ(hl_stats_heap(h, &hs), 0);
    ASSERT_LT(hs.node, s.nodes);
    ++heaps_per_node[hs.node];
  }
  for (unsigned n = 0; n < s.nodes; ++n) {
    EXPECT_GT(heaps_per_node[n], 0u) << "node " << n << " has no heap";
    EXPECT_EQ(heaps_per_node[n], heaps_per_node[0]) << "nodes of equal size get equal heaps";
  }
}

TEST(NodeStats, ThreadsOnBothNodesPlaceMemoryOnBoth) {
  REQUIRE_NODE_STATS(s);
  // Four threads: the virtual-CPU mapping deals them two per node.
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([] {
      std::vector<void*> blocks;
      for (int k = 0; k < 2000; ++k)
        blocks.push_back(hl_malloc(64 + (k % 8) * 32));
      for (void* p : blocks)
        hl_free(p);
    });
  for (auto& t : threads)
    t.join();
  for (unsigned n = 0; n < kNodes; ++n) {
    hl_node_stats ns{};
    ASSERT_EQ(hl_stats_node(n, &ns), 0);
    EXPECT_GT(ns.bytes_placed, 0u) << "node " << n << " received no memory";
    EXPECT_GT(ns.superblocks_held, 0u) << "node " << n << " holds no superblock";
    EXPECT_GT(ns.local_allocations, 0u) << "node " << n;
  }
}

// Blocks handed out by the heaps of each node so far (refills of the thread caches).
std::vector<std::uint64_t> heap_allocations_per_node(unsigned nodes) {
  hl_stats s{};
  hl_stats_get(&s);
  std::vector<std::uint64_t> per_node(nodes, 0);
  for (unsigned h = 0; h < s.heaps; ++h) {
    hl_heap_stats hs{};
    if (hl_stats_heap(h, &hs) == 0 && hs.node < nodes) per_node[hs.node] += hs.allocations;
  }
  return per_node;
}

// Issue 7: "a thread that migrates to another node takes heaps there". Migration is simulated
// with the test hook: PUs 0-1 are node 0, PUs 2-3 node 1.
TEST(NodeStats, AThreadMovedToTheOtherNodeTakesHeapsThere) {
  REQUIRE_NODE_STATS(s);
  ASSERT_EQ(s.nodes, kNodes);
  std::vector<std::uint64_t> before, on_node0, on_node1;
  std::thread([&] {
    std::vector<void*> blocks;
    hoardlab::numa::force_cpu_for_this_thread(1);
    before = heap_allocations_per_node(kNodes);
    for (int k = 0; k < 4000; ++k)
      blocks.push_back(hl_malloc(200));
    on_node0 = heap_allocations_per_node(kNodes);
    hoardlab::numa::force_cpu_for_this_thread(3); // migrate to node 1
    for (int k = 0; k < 4000; ++k)
      blocks.push_back(hl_malloc(200));
    on_node1 = heap_allocations_per_node(kNodes);
    for (void* p : blocks)
      hl_free(p);
  }).join();
  EXPECT_GT(on_node0[0], before[0]) << "on PU 1 the thread must be served by node 0's heaps";
  EXPECT_EQ(on_node0[1], before[1]) << "nothing else runs: node 1's heaps must stay idle";
  EXPECT_GT(on_node1[1], on_node0[1]) << "after moving to PU 3 it must take node 1's heaps";
}

} // namespace
