// Large objects are placed like superblock arenas (numa.policy): a fresh page run goes to the
// allocating thread's node (local) or round-robin over the nodes (interleave), cached runs are
// reused only on their node, and per-node statistics show it. Run on a synthetic two-node
// machine (binding intended, recorded) and on the real machine, where with one node nothing is
// bound or recorded.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <thread>

#include "hoardlab/hoardlab.h"
#include "numa/placement.h"
#include "numa/topology.h"
#include "pal/numa_syscalls.h"

namespace {

namespace numa = hoardlab::numa;

std::string policy() {
  char buf[32] = {};
  hl_option_get("numa.policy", buf, sizeof(buf));
  return buf;
}

int first_pu_of(int node) {
  const numa::Topology& t = numa::boot_topology();
  for (int pu = 0; pu < t.pus; ++pu)
    if (t.pu_node[pu] == node) return pu;
  return -1;
}

std::uint64_t placed(unsigned node) {
  hl_node_stats ns{};
  EXPECT_EQ(hl_stats_node(node, &ns), 0);
  return ns.bytes_placed;
}

// Runs f on a thread counted as running on the first PU of `node`.
template <typename F>
void on_node(int node, F f) {
  std::thread t([&] {
    numa::force_cpu_for_this_thread(first_pu_of(node));
    f();
  });
  t.join();
}

#define REQUIRE_NODES(n)                                                                           \
  hl_free(hl_malloc(16));                                                                          \
  if (numa::boot_topology().nodes < (n)) GTEST_SKIP() << "needs " << (n) << " nodes";

TEST(LargePlacement, AFreshLargeObjectGoesToTheAllocatingThreadsNode) {
  REQUIRE_NODES(2);
  if (policy() != "local") GTEST_SKIP() << "numa.policy is " << policy();
  for (int node = 0; node < 2; ++node) {
    const int other = 1 - node;
    numa::NodePlacement before = numa::node_placement(node);
    std::uint64_t placed_before = placed(node);
    std::uint64_t other_before = placed(other);
    constexpr std::size_t kBytes = (std::size_t{3} << 20) + 12345;
    void* p = nullptr;
    on_node(node, [&] {
      p = hl_malloc(kBytes + static_cast<std::size_t>(node) * 65536); // never a cached size
      ASSERT_NE(p, nullptr);
      std::memset(p, 1, kBytes);
    });
    numa::NodePlacement after = numa::node_placement(node);
    EXPECT_EQ(after.large_mappings, before.large_mappings + 1) << "node " << node;
    // Synthetic nodes have no OS node: the binding is recorded as intended.
    EXPECT_GE(after.large_bytes_intended + after.large_bytes_bound,
              before.large_bytes_intended + before.large_bytes_bound + kBytes);
    EXPECT_GE(placed(node), placed_before + kBytes) << "node " << node;
    EXPECT_EQ(placed(other), other_before) << "the other node got the object";
    hl_free(p);
  }
}

TEST(LargePlacement, ACachedRunIsReusedOnlyOnItsOwnNode) {
  REQUIRE_NODES(2);
  if (policy() != "local") GTEST_SKIP() << "numa.policy is " << policy();
  constexpr std::size_t kBytes = (std::size_t{2} << 20) + 777;
  void* first = nullptr;
  on_node(0, [&] { first = hl_malloc(kBytes); });
  ASSERT_NE(first, nullptr);
  hl_free(first); // cached on node 0
  numa::NodePlacement before1 = numa::node_placement(1);
  void* second = nullptr;
  on_node(1, [&] { second = hl_malloc(kBytes); });
  ASSERT_NE(second, nullptr);
  EXPECT_NE(second, first) << "node 0's cached run was handed to node 1";
  EXPECT_EQ(numa::node_placement(1).large_mappings, before1.large_mappings + 1);
  void* third = nullptr;
  on_node(0, [&] { third = hl_malloc(kBytes); });
  EXPECT_EQ(third, first) << "node 0 did not reuse its cached run";
  hl_free(second);
  hl_free(third);
}

TEST(LargePlacement, InterleaveDealsFreshLargeObjectsOverTheNodes) {
  REQUIRE_NODES(2);
  if (policy() != "interleave") GTEST_SKIP() << "numa.policy is " << policy();
  std::uint64_t before0 = numa::node_placement(0).large_mappings;
  std::uint64_t before1 = numa::node_placement(1).large_mappings;
  void* ps[8];
  on_node(0, [&] {
    for (int i = 0; i < 8; ++i)
      ps[i] = hl_malloc((std::size_t{1} << 20) + static_cast<std::size_t>(i) * 300000);
  });
  EXPECT_EQ(numa::node_placement(0).large_mappings - before0, 4u);
  EXPECT_EQ(numa::node_placement(1).large_mappings - before1, 4u);
  for (void* p : ps)
    hl_free(p);
}

TEST(LargePlacement, OnAOneNodeMachineNothingIsBoundOrRecorded) {
  hl_free(hl_malloc(16));
  if (numa::boot_topology().nodes != 1) GTEST_SKIP() << "the machine has several nodes";
  void* p = hl_malloc((std::size_t{5} << 20) + 99);
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, 4096);
  EXPECT_EQ(numa::node_placement(0).large_mappings, 0u);
  hoardlab::pal::MemPolicy mode = hoardlab::pal::MemPolicy::kBind;
  int first = -2;
  int rc = hoardlab::pal::range_policy(p, &mode, &first);
  if (rc == 0) {
    EXPECT_EQ(mode, hoardlab::pal::MemPolicy::kDefault) << "the run was mbound";
  }
  EXPECT_GE(placed(0), std::uint64_t{5} << 20) << "node stats count large objects";
  hl_free(p);
}

} // namespace
