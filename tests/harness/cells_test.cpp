// Cell expansion: the cross product's size, which cells the grid multiplies, ids and filters.
#include "harness/cells.h"
#include "harness/experiment.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

namespace hoardlab::harness {
namespace {

const char* kSweep = R"(name = "sweep"
threads = [1, 2, 4]
allocators = ["hoardlab", "glibc", "jemalloc"]
[grid]
superblock_size = ["16KiB", "64KiB", "256KiB"]
"heap.emptiness_f" = ["1/8", "1/4"]
[[benchmark]]
name = "threadtest"
[[benchmark]]
name = "larson"
threads = [2]
)";

TEST(CellExpansion, GridMultipliesOnlyHoardlabCells) {
  auto cells = expand_cells(parse_experiment(kSweep, "sweep.toml"));
  // threadtest: 3 thread counts x (6 grid points + glibc + jemalloc); larson: 1 x 8.
  EXPECT_EQ(cells.size(), 3u * 8 + 1u * 8);
  std::size_t hoardlab = 0;
  for (const auto& c : cells)
    if (c.allocator == "hoardlab") {
      ++hoardlab;
      EXPECT_EQ(c.params.size(), 2u);
    } else {
      EXPECT_TRUE(c.params.empty());
    }
  EXPECT_EQ(hoardlab, 4u * 6);
}

TEST(CellExpansion, IdsAreUnique) {
  auto cells = expand_cells(parse_experiment(kSweep, "sweep.toml"));
  std::set<std::string> ids;
  for (const auto& c : cells)
    EXPECT_TRUE(ids.insert(c.id).second) << c.id;
}

TEST(CellExpansion, BenchmarkThreadsOverrideTheExperiment) {
  auto cells = expand_cells(parse_experiment(kSweep, "sweep.toml"));
  for (const auto& c : cells)
    if (c.benchmark == "larson") {
      EXPECT_EQ(c.threads, 2);
    }
}

TEST(CellExpansion, SeriesLabelNamesTheGridPoint) {
  auto cells = expand_cells(parse_experiment(kSweep, "sweep.toml"));
  EXPECT_EQ(cells.front().id, "threadtest/t1/hoardlab[superblock_size=16KiB,emptiness_f=1/8]");
}

TEST(CellExpansion, PeersExpandToEveryKnownPeer) {
  auto ex = parse_experiment("name = \"p\"\nallocators = [\"glibc\", \"peers\"]\n"
                             "[[benchmark]]\nname = \"x\"\n",
                             "p.toml");
  EXPECT_EQ(ex.allocators.size(), 1 + known_peers().size());
  EXPECT_EQ(expand_cells(ex).size(), 1 + known_peers().size());
  for (std::size_t i = 1; i < ex.allocators.size(); ++i)
    EXPECT_FALSE(ex.allocators[i].required);
}

TEST(CellExpansion, FilterKeepsMatchingIds) {
  auto cells = expand_cells(parse_experiment(kSweep, "sweep.toml"));
  EXPECT_EQ(filter_cells(cells, "^larson/").size(), 8u);
  EXPECT_EQ(filter_cells(cells, "/t4/glibc$").size(), 1u);
  EXPECT_EQ(filter_cells(cells, "superblock_size=64KiB").size(), 4u * 2);
}

TEST(CellExpansion, BadFilterIsAClearError) {
  auto cells = expand_cells(parse_experiment(kSweep, "sweep.toml"));
  EXPECT_THROW(filter_cells(cells, "([a"), ConfigError);
}

TEST(RoundOrder, FixedRunsTheCellsInTheirStableOrder) {
  const auto cells = expand_cells(parse_experiment(kSweep, "sweep.toml"));
  const std::vector<std::size_t> order = round_order(cells, false, 1, 2);
  for (std::size_t i = 0; i < order.size(); ++i)
    EXPECT_EQ(order[i], i);
}

// Every cell once, each benchmark and thread count's cells together in their place (the runs a
// ratio pairs stay next to each other), and the same order again for the same seed and round.
TEST(RoundOrder, ShuffledRunsEveryCellOnceKeepingEachBenchmarkAndThreadCountTogether) {
  const auto cells = expand_cells(parse_experiment(kSweep, "sweep.toml"));
  for (int round = -1; round < 4; ++round) {
    const std::vector<std::size_t> order = round_order(cells, true, 7, round);
    ASSERT_EQ(order.size(), cells.size());
    EXPECT_EQ(std::set<std::size_t>(order.begin(), order.end()).size(), cells.size());
    for (std::size_t i = 0; i < order.size(); ++i) {
      EXPECT_EQ(cells[order[i]].benchmark_index, cells[i].benchmark_index) << i;
      EXPECT_EQ(cells[order[i]].threads, cells[i].threads) << i;
    }
    EXPECT_EQ(order, round_order(cells, true, 7, round)); // a resumed run finds it again
  }
}

// What matters is what each cell follows: in a fixed order each cell always follows the same
// one. Shuffled, over four rounds no cell of a group of eight follows the same neighbour every
// time.
TEST(RoundOrder, ShuffledRoundsGiveEachCellOtherPredecessors) {
  const auto cells = expand_cells(parse_experiment(R"(name = "peers"
threads = [1]
allocators = ["hoardlab", "glibc", "jemalloc", "tcmalloc", "mimalloc", "tbb"]
[allocator_paths]
a = "/opt/a.so"
b = "/opt/b.so"
[[benchmark]]
name = "threadtest"
)",
                                                   "peers.toml"));
  ASSERT_EQ(cells.size(), 8u);
  std::vector<std::set<std::size_t>> before(cells.size());
  for (int round = 0; round < 4; ++round) {
    const std::vector<std::size_t> order = round_order(cells, true, 1, round);
    for (std::size_t i = 1; i < order.size(); ++i)
      before[order[i]].insert(order[i - 1]);
  }
  std::size_t always_same = 0;
  for (const auto& b : before)
    always_same += b.size() <= 1;
  EXPECT_EQ(always_same, 0u);
  EXPECT_NE(round_order(cells, true, 1, 0), round_order(cells, true, 2, 0));
}

TEST(CellExpansion, SlugIsFileNameSafe) {
  EXPECT_EQ(slug("threadtest/t1/hoardlab[f=1/8]"), "threadtest_t1_hoardlab_f=1_8_");
}

} // namespace
} // namespace hoardlab::harness
