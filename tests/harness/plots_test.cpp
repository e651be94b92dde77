// Plots: one image per benchmark and metric, and one per swept parameter, in PNG and SVG.
#include "harness/plots.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

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

} // namespace
} // namespace hoardlab::harness
