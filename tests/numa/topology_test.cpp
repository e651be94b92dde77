// numa::Topology producers: the synthetic parser on 1-, 2- and 4-node machines, its errors,
// agreement with hwloc's own parser, the sysfs boot view against hwloc's view of this machine,
// nearest-node order by distance, and the virtual-CPU dealing of threads over nodes.
#include "numa/hwloc/loader.h"
#include "numa/topology.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>

namespace hoardlab::numa {
namespace {

// Topology is ~20 KiB; keep it off the test's stack.
std::unique_ptr<Topology> parse(const char* text) {
  auto t = std::make_unique<Topology>();
  char err[160] = {};
  EXPECT_TRUE(parse_synthetic(text, *t, err, sizeof err)) << text << ": " << err;
  return t;
}

std::string parse_error(const char* text) {
  Topology t;
  char err[160] = {};
  EXPECT_FALSE(parse_synthetic(text, t, err, sizeof err)) << text;
  return err;
}

TEST(SyntheticTopology, OneNodeHoldsEveryPu) {
  auto t = parse("core:2 pu:2");
  EXPECT_EQ(t->nodes, 1);
  EXPECT_EQ(t->pus, 4);
  EXPECT_EQ(t->cores, 2);
  EXPECT_EQ(t->packages, 1);
  EXPECT_TRUE(t->synthetic);
  EXPECT_EQ(t->source, Source::kSynthetic);
  EXPECT_EQ(t->node_os_index[0], -1);
  for (int pu = 0; pu < 4; ++pu)
    EXPECT_EQ(t->pu_node[pu], 0);
  EXPECT_EQ(t->pu_core[0], 0);
  EXPECT_EQ(t->pu_core[1], 0);
  EXPECT_EQ(t->pu_core[2], 1);
  EXPECT_EQ(t->node_pus[0], 4);
  EXPECT_EQ(t->distance[0][0], kDistanceLocal);
}

TEST(SyntheticTopology, TwoPackagesMakeTwoNodesWithContiguousPus) {
  auto t = parse("pack:2 numa:1 core:2 pu:1");
  EXPECT_EQ(t->nodes, 2);
  EXPECT_EQ(t->pus, 4);
  EXPECT_EQ(t->packages, 2);
  const int expected_node[] = {0, 0, 1, 1};
  for (int pu = 0; pu < 4; ++pu)
    EXPECT_EQ(t->pu_node[pu], expected_node[pu]) << "pu " << pu;
  EXPECT_EQ(t->distance[0][1], kDistanceOtherPackage);
  EXPECT_EQ(t->distance[1][0], kDistanceOtherPackage);
  EXPECT_EQ(t->node_pus[0], 2);
  EXPECT_EQ(t->node_pus[1], 2);
}

TEST(SyntheticTopology, FourNodesInTwoPackagesHaveSlitLikeDistances) {
  auto t = parse("pack:2 numa:2 core:2 pu:1");
  EXPECT_EQ(t->nodes, 4);
  EXPECT_EQ(t->pus, 8);
  EXPECT_EQ(t->cores, 8);
  EXPECT_EQ(t->packages, 2);
  for (int pu = 0; pu < 8; ++pu) {
    EXPECT_EQ(t->pu_node[pu], pu / 2) << "pu " << pu;
    EXPECT_EQ(t->pu_package[pu], pu / 4) << "pu " << pu;
  }
  for (int a = 0; a < 4; ++a)
    for (int b = 0; b < 4; ++b) {
      const int expected = a == b           ? kDistanceLocal
                           : a / 2 == b / 2 ? kDistanceSamePackage
                                            : kDistanceOtherPackage;
      EXPECT_EQ(t->distance[a][b], expected) << a << "->" << b;
    }
}

TEST(SyntheticTopology, AcceptsHwlocsOwnExportNotation) {
  // What `lstopo --of synthetic` writes: bracketed memory and attributes.
  auto t = parse("Package:2 Group:2 [NUMANode(memory=1073741824)] L3Cache:1(size=33554432) "
                 "Core:2 PU:1");
  EXPECT_EQ(t->nodes, 4);
  EXPECT_EQ(t->pus, 8);
  EXPECT_EQ(t->pu_node[5], 2);
  auto machine_level = parse("[numa] core:3 pu:1");
  EXPECT_EQ(machine_level->nodes, 1);
  EXPECT_EQ(machine_level->pus, 3);
}

TEST(SyntheticTopology, BadDescriptionsAreRejectedWithTheOffendingToken) {
  EXPECT_NE(parse_error("pack:2 banana:2 pu:1").find("unknown level type at 'banana"),
            std::string::npos);
  EXPECT_NE(parse_error("pack:2 core:2").find("last level must be pu"), std::string::npos);
  EXPECT_NE(parse_error("pack:0 pu:1").find("count must be a number"), std::string::npos);
  EXPECT_NE(parse_error("pack:x pu:1").find("count must be a number"), std::string::npos);
  EXPECT_NE(parse_error("pack pu:1").find("expected ':'"), std::string::npos);
  EXPECT_NE(parse_error("pu:2 core:2").find("pu must be the last level"), std::string::npos);
  EXPECT_NE(parse_error("pack:64 core:64 pu:1").find("more than 1024 PUs"), std::string::npos);
  EXPECT_NE(parse_error("numa:65 pu:1").find("more than 64 NUMA nodes"), std::string::npos);
  EXPECT_NE(parse_error("numa:2 numa:2 pu:1").find("level given twice"), std::string::npos);
  EXPECT_NE(parse_error("   ").find("empty description"), std::string::npos);
  EXPECT_NE(parse_error("pack:2(memory=1 pu:1").find("unbalanced"), std::string::npos);
}

// The allocator parses descriptions itself (hwloc cannot run inside malloc); hwloc's parser is
// the reference it must agree with.
TEST(SyntheticTopology, AgreesWithHwlocsParser) {
  for (const char* text : {"core:2 pu:2", "pack:2 numa:1 core:2 pu:1", "pack:2 numa:2 core:2 pu:1",
                           "pack:2 [numa] l3:1 core:4 pu:2", "numa:4 core:3 pu:1"}) {
    auto ours = parse(text);
    auto theirs = std::make_unique<Topology>();
    char err[256] = {};
    ASSERT_TRUE(load_hwloc(text, *theirs, err, sizeof err)) << text << ": " << err;
    EXPECT_EQ(theirs->source, Source::kSynthetic);
    EXPECT_EQ(ours->nodes, theirs->nodes) << text;
    EXPECT_EQ(ours->pus, theirs->pus) << text;
    EXPECT_EQ(ours->cores, theirs->cores) << text;
    EXPECT_EQ(ours->packages, theirs->packages) << text;
    for (int pu = 0; pu < ours->pus; ++pu) {
      EXPECT_EQ(ours->pu_node[pu], theirs->pu_node[pu]) << text << " pu " << pu;
      EXPECT_EQ(ours->pu_core[pu], theirs->pu_core[pu]) << text << " pu " << pu;
    }
    for (int a = 0; a < ours->nodes; ++a) {
      EXPECT_EQ(theirs->node_os_index[a], -1) << text;
      for (int b = 0; b < ours->nodes; ++b)
        EXPECT_EQ(ours->distance[a][b], theirs->distance[a][b]) << text << " " << a << "->" << b;
    }
  }
}

TEST(HwlocLoader, RealMachineAgreesWithTheSysfsBootView) {
  auto boot = std::make_unique<Topology>();
  ASSERT_TRUE(read_sysfs(*boot)) << "no /sys/devices/system/node on this machine";
  EXPECT_EQ(boot->source, Source::kSysfs);
  auto hw = std::make_unique<Topology>();
  char err[256] = {};
  ASSERT_TRUE(load_hwloc(nullptr, *hw, err, sizeof err)) << err;
  EXPECT_EQ(hw->source, Source::kHwloc);
  EXPECT_FALSE(hw->synthetic);
  EXPECT_EQ(boot->nodes, hw->nodes);
  EXPECT_EQ(boot->online_pus, hw->online_pus);
  EXPECT_EQ(boot->cores, hw->cores);
  EXPECT_EQ(boot->packages, hw->packages);
  for (int pu = 0; pu < hw->pus; ++pu)
    EXPECT_EQ(boot->pu_node[pu], hw->pu_node[pu]) << "pu " << pu;
  for (int n = 0; n < hw->nodes; ++n) {
    EXPECT_EQ(boot->node_os_index[n], hw->node_os_index[n]);
    for (int m = 0; m < hw->nodes; ++m)
      EXPECT_EQ(boot->distance[n][m], hw->distance[n][m]) << n << "->" << m;
  }
  EXPECT_GT(hw->cache_size[0], 0u) << "hwloc should see an L1 data cache";
}

TEST(HwlocLoader, UnreadableInputsAreErrorsNamingTheInput) {
  Topology t;
  char err[256] = {};
  EXPECT_FALSE(load_hwloc("/nonexistent/topology.xml", t, err, sizeof err));
  EXPECT_NE(std::string(err).find("/nonexistent/topology.xml"), std::string::npos) << err;
  EXPECT_FALSE(load_hwloc("pack:2 banana:3 pu:1", t, err, sizeof err));
  EXPECT_NE(std::string(err).find("synthetic"), std::string::npos) << err;
}

TEST(HwlocLoader, SyntheticExportRoundTripsThroughOurParser) {
  char out[512] = {};
  char err[256] = {};
  ASSERT_TRUE(to_synthetic("pack:2 numa:2 core:2 pu:1", out, sizeof out, err, sizeof err)) << err;
  auto t = parse(out);
  EXPECT_EQ(t->nodes, 4) << out;
  EXPECT_EQ(t->pus, 8) << out;
}

TEST(NearestNodes, OwnNodeFirstThenSamePackageThenOthers) {
  auto t = parse("pack:2 numa:2 core:1 pu:1");
  int order[kMaxNodes];
  ASSERT_EQ(nearest_nodes(*t, 2, order), 4);
  EXPECT_EQ(order[0], 2);
  EXPECT_EQ(order[1], 3); // same package
  // Other package, ties in rotation order from node 2: 0 then 1.
  EXPECT_EQ(order[2], 0);
  EXPECT_EQ(order[3], 1);
}

TEST(NearestNodes, FollowsAnyDistanceMatrixAndSharesTiesOut) {
  auto t = parse("numa:4 core:1 pu:1");
  // A ring of four nodes: 0-1-2-3-0, neighbours at 15, the opposite node at 25.
  for (int a = 0; a < 4; ++a)
    for (int b = 0; b < 4; ++b) {
      const int hops = (b - a + 4) % 4 == 2 ? 2 : (a == b ? 0 : 1);
      t->distance[a][b] = static_cast<std::uint8_t>(hops == 0 ? 10 : hops == 1 ? 15 : 25);
    }
  finish_topology(*t);
  int order[4];
  for (int a = 0; a < 4; ++a) {
    ASSERT_EQ(nearest_nodes(*t, a, order), 4);
    EXPECT_EQ(order[0], a);
    EXPECT_EQ(order[1], (a + 1) % 4); // tie between a+1 and a+3: rotation order
    EXPECT_EQ(order[2], (a + 3) % 4);
    EXPECT_EQ(order[3], (a + 2) % 4); // the far one last
  }
}

TEST(NearestNodes, ShortOutputGetsTheNearestOnly) {
  auto t = parse("pack:2 numa:2 core:1 pu:1");
  int order[2];
  ASSERT_EQ(nearest_nodes(*t, 1, order), 2);
  EXPECT_EQ(order[0], 1);
  EXPECT_EQ(order[1], 0);
}

TEST(VirtualCpu, ConsecutiveThreadsLandOnDifferentNodes) {
  auto t = parse("pack:2 numa:2 core:2 pu:1"); // 4 nodes x 2 PUs
  std::set<int> nodes_of_first_four;
  for (std::uint64_t k = 0; k < 4; ++k)
    nodes_of_first_four.insert(t->pu_node[virtual_cpu(*t, 0, k)]);
  EXPECT_EQ(nodes_of_first_four.size(), 4u) << "the first four threads must cover all 4 nodes";
  std::set<int> pus_of_first_eight;
  for (std::uint64_t k = 0; k < 8; ++k)
    pus_of_first_eight.insert(virtual_cpu(*t, 0, k));
  EXPECT_EQ(pus_of_first_eight.size(), 8u) << "eight threads must use all 8 PUs";
  EXPECT_EQ(virtual_cpu(*t, 0, 8), virtual_cpu(*t, 0, 0)) << "thread 8 wraps around";
}

TEST(VirtualCpu, EveryNodeIsUsedForAnyThreadCountAtLeastTheNodeCount) {
  for (const char* text : {"numa:1 core:4 pu:1", "pack:2 numa:1 core:3 pu:1",
                           "pack:2 numa:2 core:2 pu:2", "numa:3 core:5 pu:1"}) {
    auto t = parse(text);
    for (std::uint64_t threads = t->nodes; threads <= 3u * t->pus; ++threads) {
      std::set<int> used;
      for (std::uint64_t k = 0; k < threads; ++k) {
        const int pu = virtual_cpu(*t, 0, k);
        ASSERT_GE(pu, 0);
        ASSERT_LT(pu, t->pus);
        used.insert(t->pu_node[pu]);
      }
      EXPECT_EQ(used.size(), static_cast<std::size_t>(t->nodes)) << text << " " << threads;
    }
  }
}

TEST(VirtualCpu, RealTopologiesKeepTheRealCpu) {
  Topology t;
  make_fallback(t, 4);
  EXPECT_EQ(virtual_cpu(t, 3, 17), 3);
  EXPECT_EQ(virtual_cpu(t, 9, 0), 1) << "a CPU beyond the table folds into range";
}

TEST(SourceName, NamesEverySource) {
  EXPECT_STREQ(source_name(Source::kFallback), "fallback");
  EXPECT_STREQ(source_name(Source::kSysfs), "sysfs");
  EXPECT_STREQ(source_name(Source::kSynthetic), "synthetic");
  EXPECT_STREQ(source_name(Source::kHwloc), "hwloc");
  EXPECT_STREQ(source_name(Source::kHwlocXml), "hwloc-xml");
}

} // namespace
} // namespace hoardlab::numa
