// HOARDLAB_TOPOLOGY naming an hwloc XML file (ctest sets it to tests/numa/two_node.xml, a
// two-package machine of one node, three cores and six PUs each): libhoardlab's constructor
// loads it with hwloc before the allocator's first use, and the boot view adopts it.
#include "numa/hwloc/loader.h"
#include "numa/topology.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace hoardlab::numa {
namespace {

bool xml_given() {
  const char* env = std::getenv("HOARDLAB_TOPOLOGY");
  return env != nullptr && std::string(env).ends_with("two_node.xml");
}

TEST(XmlTopology, TheAllocatorAdoptsTheFileLoadedBeforeItsFirstUse) {
  if (!xml_given())
    GTEST_SKIP() << "run through ctest: HOARDLAB_TOPOLOGY must name tests/numa/two_node.xml";
  const Topology& t = boot_topology();
  EXPECT_EQ(t.source, Source::kHwlocXml);
  EXPECT_TRUE(t.synthetic) << "an XML machine is emulated: nothing may be bound to its nodes";
  EXPECT_EQ(t.nodes, 2);
  EXPECT_EQ(t.pus, 12);
  EXPECT_EQ(t.cores, 6);
  EXPECT_EQ(t.packages, 2);
  EXPECT_EQ(t.node_os_index[0], -1);
  EXPECT_EQ(t.pu_node[5], 0);
  EXPECT_EQ(t.pu_node[6], 1);
  EXPECT_EQ(t.distance[0][1], kDistanceOtherPackage) << "the file has no distances: defaults";
  // Two threads' virtual PUs land on both nodes.
  EXPECT_NE(t.pu_node[virtual_cpu(t, 0, 0)], t.pu_node[virtual_cpu(t, 0, 1)]);
}

TEST(XmlTopology, ConvertsToASyntheticDescriptionTheBootParserReads) {
  if (!xml_given())
    GTEST_SKIP() << "run through ctest: HOARDLAB_TOPOLOGY must name tests/numa/two_node.xml";
  char out[512] = {};
  char err[256] = {};
  ASSERT_TRUE(to_synthetic(std::getenv("HOARDLAB_TOPOLOGY"), out, sizeof out, err, sizeof err))
      << err;
  Topology t;
  ASSERT_TRUE(parse_synthetic(out, t, err, sizeof err)) << out << ": " << err;
  EXPECT_EQ(t.nodes, 2) << out;
  EXPECT_EQ(t.pus, 12) << out;
}

} // namespace
} // namespace hoardlab::numa
