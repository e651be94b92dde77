// The allocator's boot view under HOARDLAB_TOPOLOGY: ctest runs this program on a 1-, 2- and
// 4-node synthetic machine (tests/numa/CMakeLists.txt). CPU -> node maps, threads dealt over
// every node, forced CPUs (simulated migration), nearest-node order, and placement that records
// synthetic bindings as intended, never as done.
#include "numa/placement.h"
#include "numa/topology.h"
#include "pal/numa_syscalls.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sys/mman.h>
#include <thread>
#include <vector>

namespace hoardlab::numa {
namespace {

struct Machine {
  const char* description;
  int nodes;
  int pus;
  int cores;
  int packages;
};
constexpr Machine kMachines[] = {
    {"numa:1 core:2 pu:2", 1, 4, 2, 1},
    {"pack:2 numa:1 core:2 pu:1", 2, 4, 4, 2},
    {"pack:2 numa:2 core:2 pu:1", 4, 8, 8, 2},
};

// The machine ctest set up for this run, or nullptr (run by hand without HOARDLAB_TOPOLOGY).
const Machine* machine() {
  const char* env = std::getenv("HOARDLAB_TOPOLOGY");
  if (env == nullptr) return nullptr;
  for (const Machine& m : kMachines)
    if (std::strcmp(env, m.description) == 0) return &m;
  return nullptr;
}

#define REQUIRE_MACHINE()                                                                          \
  const Machine* m = machine();                                                                    \
  if (m == nullptr) {                                                                              \
    GTEST_SKIP()                                                                                   \
        << "run through ctest: HOARDLAB_TOPOLOGY must be one of the table's descriptions";         \
  }

TEST(BootTopology, ConcurrentFirstCallsAllSeeTheSyntheticMachine) {
  REQUIRE_MACHINE();
  constexpr int kThreads = 8;
  std::atomic<int> ready{0};
  std::vector<const Topology*> seen(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) {
      }
      seen[static_cast<std::size_t>(i)] = &boot_topology();
    });
  for (auto& th : threads)
    th.join();
  for (const Topology* t : seen)
    EXPECT_EQ(t, seen[0]);
  const Topology& t = *seen[0];
  EXPECT_EQ(t.source, Source::kSynthetic);
  EXPECT_TRUE(t.synthetic);
  EXPECT_EQ(t.nodes, m->nodes);
  EXPECT_EQ(t.pus, m->pus);
  EXPECT_EQ(t.cores, m->cores);
  EXPECT_EQ(t.packages, m->packages);
  for (int n = 0; n < t.nodes; ++n) {
    EXPECT_EQ(t.node_os_index[n], -1);
    EXPECT_EQ(t.node_pus[n], m->pus / m->nodes);
  }
}

TEST(CpuToNode, PusAreDealtToNodesInContiguousBlocks) {
  REQUIRE_MACHINE();
  const Topology& t = boot_topology();
  const int per_node = m->pus / m->nodes;
  for (int pu = 0; pu < t.pus; ++pu)
    EXPECT_EQ(t.pu_node[pu], pu / per_node) << "pu " << pu;
}

TEST(CurrentPu, ThreadsAreSpreadOverEveryNode) {
  REQUIRE_MACHINE();
  const Topology& t = boot_topology();
  const int threads = 2 * m->nodes;
  std::vector<int> pu(static_cast<std::size_t>(threads), -1);
  std::vector<int> again(static_cast<std::size_t>(threads), -1);
  std::vector<int> node(static_cast<std::size_t>(threads), -1);
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i)
    pool.emplace_back([&, i] {
      const auto k = static_cast<std::size_t>(i);
      pu[k] = current_pu();
      node[k] = current_node();
      again[k] = current_pu();
    });
  for (auto& th : pool)
    th.join();
  std::set<int> nodes_used;
  for (int i = 0; i < threads; ++i) {
    const auto k = static_cast<std::size_t>(i);
    ASSERT_GE(pu[k], 0);
    ASSERT_LT(pu[k], t.pus);
    EXPECT_EQ(again[k], pu[k]) << "a thread's virtual PU stays put";
    EXPECT_EQ(node[k], t.pu_node[pu[k]]);
    nodes_used.insert(node[k]);
  }
  EXPECT_EQ(nodes_used.size(), static_cast<std::size_t>(m->nodes))
      << "2 x nodes threads must reach every node";
}

TEST(CurrentPu, ForcedCpuMovesTheThreadToAnotherNode) {
  REQUIRE_MACHINE();
  const Topology& t = boot_topology();
  const int last = t.pus - 1;
  force_cpu_for_this_thread(last);
  EXPECT_EQ(current_pu(), last);
  EXPECT_EQ(current_node(), m->nodes - 1);
  force_cpu_for_this_thread(0); // migrates to the first node
  EXPECT_EQ(current_pu(), 0);
  EXPECT_EQ(current_node(), 0);
  force_cpu_for_this_thread(t.pus + 3); // out of range: folded into the table, never past it
  EXPECT_LT(current_pu(), t.pus);
  force_cpu_for_this_thread(-1); // back to the virtual mapping
  const int pu = current_pu();
  EXPECT_GE(pu, 0);
  EXPECT_LT(pu, t.pus);
  EXPECT_EQ(current_pu(), pu);
}

TEST(CurrentPu, ForcingOneThreadLeavesOthersAlone) {
  REQUIRE_MACHINE();
  const int before = current_pu();
  std::thread([&] { force_cpu_for_this_thread(boot_topology().pus - 1); }).join();
  EXPECT_EQ(current_pu(), before);
}

TEST(NearestNodes, BootViewPutsTheOwnNodeFirstAndEveryNodeOnce) {
  REQUIRE_MACHINE();
  int order[kMaxNodes];
  for (int n = 0; n < m->nodes; ++n) {
    ASSERT_EQ(nearest_nodes(n, order), m->nodes);
    EXPECT_EQ(order[0], n);
    std::set<int> all(order, order + m->nodes);
    EXPECT_EQ(all.size(), static_cast<std::size_t>(m->nodes));
    const Topology& t = boot_topology();
    for (int k = 1; k < m->nodes; ++k)
      EXPECT_LE(t.distance[n][order[k - 1]], t.distance[n][order[k]]) << "sorted by distance";
  }
}

TEST(Placement, SyntheticNodesAreRecordedAsIntendedNotBound) {
  REQUIRE_MACHINE();
  reset_placement_records();
  constexpr std::size_t kArena = 1u << 20;
  for (int n = 0; n < m->nodes; ++n) {
    void* base = mmap(nullptr, kArena, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(base, MAP_FAILED);
    const ArenaPlacement placed = place_arena(base, kArena, n, PlacementPolicy::kLocal);
    EXPECT_EQ(placed.node, n);
    EXPECT_FALSE(placed.bound) << "a synthetic node has no memory to bind to";
    pal::MemPolicy mode = pal::MemPolicy::kBind;
    if (pal::range_policy(base, &mode, nullptr) == 0) {
      EXPECT_EQ(mode, pal::MemPolicy::kDefault) << "no policy may have been set for real";
    }
    munmap(base, kArena);
    const NodePlacement rec = node_placement(n);
    EXPECT_EQ(rec.arenas, 1u);
    EXPECT_EQ(rec.bytes_placed, kArena);
    EXPECT_EQ(rec.bytes_intended, kArena);
    EXPECT_EQ(rec.bytes_bound, 0u);
    EXPECT_FALSE(rec.bound);
    EXPECT_EQ(rec.os_node, -1);
  }
}

TEST(Placement, InterleaveDealsSuperblocksRoundRobinOverTheNodes) {
  REQUIRE_MACHINE();
  reset_placement_records();
  std::vector<int> per_node(static_cast<std::size_t>(m->nodes), 0);
  constexpr int kRounds = 5;
  for (int i = 0; i < kRounds * m->nodes; ++i)
    ++per_node[static_cast<std::size_t>(superblock_node(0, PlacementPolicy::kInterleave))];
  for (int n = 0; n < m->nodes; ++n) {
    EXPECT_EQ(per_node[static_cast<std::size_t>(n)], kRounds) << "node " << n;
    EXPECT_EQ(node_placement(n).superblocks_interleaved, static_cast<std::uint64_t>(kRounds));
  }
  for (int n = 0; n < m->nodes; ++n) {
    EXPECT_EQ(superblock_node(n, PlacementPolicy::kLocal), n);
    EXPECT_EQ(superblock_node(n, PlacementPolicy::kNone), n);
  }
}

} // namespace
} // namespace hoardlab::numa
