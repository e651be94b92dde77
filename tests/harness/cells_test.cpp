// Cell expansion: the cross product's size, which cells the grid multiplies, ids and filters.
#include "harness/cells.h"
#include "harness/experiment.h"

#include <gtest/gtest.h>

#include <set>

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

TEST(CellExpansion, SlugIsFileNameSafe) {
  EXPECT_EQ(slug("threadtest/t1/hoardlab[f=1/8]"), "threadtest_t1_hoardlab_f=1_8_");
}

} // namespace
} // namespace hoardlab::harness
