// Plots: one image per benchmark and metric, one per swept parameter, and heat maps over two
// swept parameters, in PNG and SVG.
#include "harness/plots.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>

namespace hoardlab::harness {
namespace {
namespace fs = std::filesystem;

CellSummary cell(int threads, const std::string& sb, double ops) {
  CellSummary c;
  c.benchmark = "bench";
  c.allocator = "hoardlab";
  c.params = {{"heap.superblock_size", sb}};
  c.series = "hoardlab[superblock_size=" + sb + "]";
  c.cell_id = "bench/t" + std::to_string(threads) + "/" + c.series;
  c.threads = threads;
  c.reps_ok = c.reps_total = 1;
  c.ops = {ops};
  c.rss_kib = {1024};
  c.throughput = {ops, ops * 0.9, ops * 1.1};
  c.rss_median_kib = 1024;
  return c;
}

TEST(ExperimentPlots, EveryBenchmarkMetricAndSweptParameterGetsAnImage) {
  if (access("/usr/bin/gnuplot", X_OK) != 0) GTEST_SKIP() << "gnuplot is not installed";
  fs::path dir = fs::temp_directory_path() / ("hoardlab-plots-" + std::to_string(getpid()));
  std::vector<CellSummary> cells = {cell(1, "16KiB", 100), cell(2, "16KiB", 180),
                                    cell(1, "64KiB", 120), cell(2, "64KiB", 200)};
  auto r = draw_plots(dir.string(), cells);
  EXPECT_TRUE(r.warning.empty()) << r.warning;
  for (const char* name :
       {"bench-throughput", "bench-speedup", "bench-rss", "param-superblock_size"})
    for (const char* ext : {".png", ".svg"})
      EXPECT_TRUE(fs::exists(dir / (std::string(name) + ext))) << name << ext;
  EXPECT_EQ(r.files.size(), 8u);
  fs::remove_all(dir);
}

TEST(ExperimentPlots, FailedCellsLeaveGapsNotErrors) {
  if (access("/usr/bin/gnuplot", X_OK) != 0) GTEST_SKIP() << "gnuplot is not installed";
  fs::path dir = fs::temp_directory_path() / ("hoardlab-plots-gap-" + std::to_string(getpid()));
  auto failed = cell(2, "16KiB", 0);
  failed.reps_ok = 0;
  auto r = draw_plots(dir.string(), {cell(1, "16KiB", 100), failed});
  EXPECT_TRUE(fs::exists(dir / "bench-throughput.png"));
  fs::remove_all(dir);
}

// A hoardlab cell at one point of a superblock_size x emptiness_f grid.
CellSummary grid_cell(int threads, const std::string& sb, const std::string& f, double ops) {
  CellSummary c = cell(threads, sb, ops);
  c.params = {{"heap.superblock_size", sb}, {"heap.emptiness_f", f}};
  c.series = "hoardlab[superblock_size=" + sb + ",emptiness_f=" + f + "]";
  c.cell_id = "bench/t" + std::to_string(threads) + "/" + c.series;
  return c;
}

std::vector<CellSummary> two_by_three_grid(int threads) {
  std::vector<CellSummary> cells;
  double ops = 100;
  for (const char* f : {"1/8", "1/4"})
    for (const char* sb : {"8KiB", "64KiB", "256KiB"})
      cells.push_back(grid_cell(threads, sb, f, ops += 10));
  return cells;
}

TEST(ExperimentHeatMaps, TwoSweptParametersGiveAScriptWithEveryCellInItsDataBlock) {
  auto cells = two_by_three_grid(2);
  cells[4].reps_ok = 0; // 64KiB, 1/4 failed
  HeatMap h = heat_map(cells, "bench", "hoardlab", 2, "heap.superblock_size", "heap.emptiness_f",
                       HeatMetric::kThroughput);
  EXPECT_EQ(h.x_values, (std::vector<std::string>{"8KiB", "64KiB", "256KiB"}));
  EXPECT_EQ(h.y_values, (std::vector<std::string>{"1/8", "1/4"}));
  ASSERT_EQ(h.points.size(), 6u);
  EXPECT_DOUBLE_EQ(h.points[0].value, 110);
  EXPECT_DOUBLE_EQ(h.points[5].value, 160);
  EXPECT_TRUE(std::isnan(h.points[4].value));
  EXPECT_EQ(h.points[4].label, "FAIL");

  std::string script =
      heat_map_script(h, "/tmp/out", "t", "heap.superblock_size", "heap.emptiness_f", "ops/s");
  auto begin = script.find("$grid << EOD\n");
  auto end = script.find("\nEOD\n");
  ASSERT_NE(begin, std::string::npos);
  ASSERT_NE(end, std::string::npos);
  std::istringstream block(script.substr(begin, end - begin));
  std::string line;
  std::set<std::pair<int, int>> seen;
  int rows = 0;
  while (std::getline(block, line)) {
    if (line.empty() || line[0] == '$' || line[0] == '#') continue;
    std::istringstream fields(line);
    int x = -1, y = -1;
    std::string v;
    fields >> x >> y >> v;
    seen.emplace(x, y);
    ++rows;
    if (x == 1 && y == 1) {
      EXPECT_EQ(v, "NaN") << "a failed cell is a gap";
      EXPECT_NE(line.find("\"FAIL\""), std::string::npos) << line;
    }
  }
  EXPECT_EQ(rows, 6);
  EXPECT_EQ(seen.size(), 6u);
  EXPECT_NE(script.find("with image"), std::string::npos);
  EXPECT_NE(script.find("set xtics (\"8KiB\" 0, \"64KiB\" 1, \"256KiB\" 2)"), std::string::npos);
}

TEST(ExperimentHeatMaps, OtherSweptAxesAreFoldedByGeometricMean) {
  std::vector<CellSummary> cells;
  for (const char* k : {"2", "8"})
    for (const char* f : {"1/8", "1/4"})
      for (const char* sb : {"8KiB", "64KiB"}) {
        auto c = grid_cell(1, sb, f, std::string(k) == "2" ? 100 : 400);
        c.params.emplace_back("heap.emptiness_k", k);
        cells.push_back(c);
      }
  HeatMap h = heat_map(cells, "bench", "hoardlab", 1, "heap.superblock_size", "heap.emptiness_f",
                       HeatMetric::kThroughput);
  ASSERT_EQ(h.points.size(), 4u);
  for (const auto& p : h.points)
    EXPECT_NEAR(p.value, 200, 1e-9); // sqrt(100 * 400)
}

TEST(ExperimentHeatMaps, AGridIsDrawnAsHeatMapPngsWithTheirScriptsBeside) {
  fs::path dir = fs::temp_directory_path() / ("hoardlab-heat-" + std::to_string(getpid()));
  auto cells = two_by_three_grid(1);
  auto more = two_by_three_grid(2);
  more[0].reps_ok = 0;
  cells.insert(cells.end(), more.begin(), more.end());
  auto r = draw_plots(dir.string(), cells);
  for (int t : {1, 2})
    for (const char* metric : {"throughput", "rss"}) {
      std::string base = "heat-bench-t" + std::to_string(t) + "-hoardlab-" + metric;
      EXPECT_TRUE(fs::exists(dir / (base + ".gp"))) << base;
      if (access("/usr/bin/gnuplot", X_OK) == 0) {
        EXPECT_TRUE(fs::exists(dir / (base + ".png"))) << base << " " << r.warning;
      }
    }
  EXPECT_FALSE(fs::exists(dir / "heat-bench-t1-hoardlab-blowup.gp")) << "no A/U was measured";
  EXPECT_TRUE(fs::exists(dir / "param-superblock_size.gp")) << "line plots stay";
  fs::remove_all(dir);
}

TEST(ExperimentHeatMaps, OneSweptParameterKeepsOnlyTheLinePlot) {
  fs::path dir = fs::temp_directory_path() / ("hoardlab-heat1-" + std::to_string(getpid()));
  draw_plots(dir.string(), {cell(1, "16KiB", 100), cell(1, "64KiB", 120)});
  EXPECT_TRUE(fs::exists(dir / "param-superblock_size.gp"));
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_NE(e.path().filename().string().rfind("heat-", 0), 0u) << e.path();
  fs::remove_all(dir);
}

} // namespace
} // namespace hoardlab::harness
