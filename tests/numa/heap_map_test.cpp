// Which heap a thread enters on a machine whose possible CPUs outnumber its online ones: a VM
// reporting CPUs 0-255 possible with 8 online, 0-3 on node 0 and 4-7 on node 1. The topology is
// published before the allocator's first use, as the hwloc loader does, so init builds on it.
#include "hoardlab/hoardlab.h"
#include "mem/internal.h"
#include "numa/topology.h"

#include <gtest/gtest.h>

namespace {

using hoardlab::mem::g;

constexpr int kPossible = 256;
constexpr int kOnline = 8;

// Publishes the machine once, before the allocator starts.
void start_on_sparse_vm() {
  static const bool started = [] {
    static hoardlab::numa::Topology t;
    hoardlab::numa::make_fallback(t, kPossible);
    t.nodes = 2;
    t.online_pus = kOnline;
    for (int p = 0; p < kPossible; ++p) {
      t.pu_node[p] = p >= 4 && p < kOnline ? 1 : 0;
      if (p >= kOnline) hoardlab::numa::mark_pu_offline(t, p);
    }
    t.node_os_index[1] = 1;
    hoardlab::numa::finish_topology(t);
    const bool published = hoardlab::numa::publish_topology(t);
    hl_free(hl_malloc(16));
    return published;
  }();
  ASSERT_TRUE(started) << "the topology was set before this test published it";
}

TEST(HeapMap, TheHeapCountFollowsTheOnlineCpusNotThePossibleOnes) {
  start_on_sparse_vm();
  hl_stats s{};
  hl_stats_get(&s);
  EXPECT_EQ(s.heaps, 1u * kOnline) << "one heap per online CPU (not 256)";
  EXPECT_EQ(g.pus, static_cast<unsigned>(kOnline));
}

TEST(HeapMap, AHoleInTheCpuNumbersStillMapsToAnOnlineCpusHeap) {
  start_on_sparse_vm();
  hoardlab::numa::force_cpu_for_this_thread(200);
  hoardlab::mem::Heap* h = hoardlab::mem::home_heap(nullptr);
  hoardlab::numa::force_cpu_for_this_thread(-1);
  EXPECT_LT(static_cast<unsigned>(h - g.heaps), g.heap_count);
}

TEST(HeapMap, APassOverStaysOnTheThreadsNodeWhileANodeHeapIsFree) {
  start_on_sparse_vm();
  // CPU 3 is node 0's last; heap 4, next in index, serves CPU 4 on node 1. Node 0's other
  // heaps (0-2) are free, so a pass-over must land on one of them.
  hoardlab::numa::force_cpu_for_this_thread(3);
  hoardlab::mem::Heap* home = hoardlab::mem::home_heap(nullptr);
  ASSERT_EQ(home->node, 0u);
  ASSERT_TRUE(home->try_acquire());
  hoardlab::mem::Heap* h = hoardlab::mem::acquire_heap(nullptr);
  const unsigned node = h->node;
  const bool passed_over = h != home;
  hoardlab::mem::release_heap(h);
  home->release_lock();
  hoardlab::numa::force_cpu_for_this_thread(-1);
  EXPECT_TRUE(passed_over);
  EXPECT_EQ(node, 0u) << "passed over to heap " << (h - g.heaps) << " on node " << node;
}

TEST(HeapMap, APassOverGoesToTheNearestNodeOnlyOnceItsOwnNodesHeapsAreAllBusy) {
  start_on_sparse_vm();
  hoardlab::numa::force_cpu_for_this_thread(1);
  hoardlab::mem::Heap* home = hoardlab::mem::home_heap(nullptr);
  unsigned held[hoardlab::mem::kMaxHeaps];
  unsigned n_held = 0;
  for (unsigned i = 0; i < g.heap_count; ++i)
    if (g.heaps[i].node == home->node && g.heaps[i].try_acquire()) held[n_held++] = i;
  hoardlab::mem::Heap* h = hoardlab::mem::acquire_heap(nullptr);
  const unsigned node = h->node;
  hoardlab::mem::release_heap(h);
  for (unsigned k = 0; k < n_held; ++k)
    g.heaps[held[k]].release_lock();
  hoardlab::numa::force_cpu_for_this_thread(-1);
  EXPECT_EQ(n_held, g.heap_count / 2) << "node 0 holds half the heaps";
  EXPECT_EQ(node, 1u);
}

} // namespace
