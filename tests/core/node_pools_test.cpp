// Per-node pools on a synthetic two-node machine (ctest sets HOARDLAB_TOPOLOGY="pack:2 numa:1
// core:2 pu:1": PUs 0-1 on node 0, PUs 2-3 on node 1): a heap whose own node's pool is dry
// reuses the other node's superblocks before carving fresh memory, and the per-node counters
// see remote allocations and cross-node remote frees. Each test starts in a fresh process.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "hoardlab/hoardlab.h"
#include "numa/topology.h"

namespace {

constexpr std::size_t kBlock = 1000;

hl_node_stats node(unsigned n) {
  hl_node_stats s{};
  EXPECT_EQ(hl_stats_node(n, &s), 0);
  return s;
}

bool two_nodes() {
  hl_free(hl_malloc(16));
  hl_stats s{};
  hl_stats_get(&s);
  return s.nodes == 2;
}

// Allocates `count` blocks on PU `pu` and frees them there.
void churn_on(int pu, int count) {
  std::thread t([pu, count] {
    hoardlab::numa::force_cpu_for_this_thread(pu);
    std::vector<void*> ps;
    for (int i = 0; i < count; ++i)
      ps.push_back(hl_malloc(kBlock));
    for (void* p : ps)
      hl_free(p);
  });
  t.join();
}

TEST(NodePools, AHeapWhoseNodePoolIsDryTakesTheOtherNodesSuperblocksBeforeCarving) {
  if (!two_nodes()) GTEST_SKIP() << "needs HOARDLAB_TOPOLOGY with two nodes";
  churn_on(0, 8000); // about 8 MB of superblocks carved on node 0
  hl_collect();      // every heap gives its empty superblocks to node 0's pool
  hl_node_stats before = node(1);
  churn_on(2, 4000); // a node-1 heap: its own pool is empty
  hl_node_stats after = node(1);
  EXPECT_EQ(after.bytes_placed, before.bytes_placed)
      << "node 1 carved fresh memory while node 0's pool held empty superblocks";
  EXPECT_GE(after.remote_allocations, before.remote_allocations + 4000)
      << "blocks of node-0 superblocks handed to a node-1 thread count as remote";
  EXPECT_EQ(hl_check_invariants(), 0);
}

TEST(NodePools, FreesByAThreadOfAnotherNodeCountAsCrossNodeRemoteFrees) {
  if (!two_nodes()) GTEST_SKIP() << "needs HOARDLAB_TOPOLOGY with two nodes";
  std::vector<void*> ps;
  std::thread a([&ps] {
    hoardlab::numa::force_cpu_for_this_thread(0);
    for (int i = 0; i < 2000; ++i)
      ps.push_back(hl_malloc(kBlock));
  });
  a.join();
  hl_node_stats before = node(0);
  std::thread b([&ps] {
    hoardlab::numa::force_cpu_for_this_thread(2);
    for (void* p : ps)
      hl_free(p);
  });
  b.join(); // its cache is flushed at exit: the blocks go to node-0 superblocks' remote lists
  hl_node_stats after = node(0);
  EXPECT_GT(after.cross_node_remote_frees, before.cross_node_remote_frees);
  EXPECT_EQ(node(1).cross_node_remote_frees, 0u) << "no block of node 1 was freed from node 0";
  hl_collect();
  EXPECT_EQ(hl_check_invariants(), 0);
}

} // namespace
