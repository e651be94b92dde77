// Statistics: medians, bootstrap intervals, geometric means; the summary and CSV of runs.
#include "harness/bench_line.h"
#include "harness/records.h"
#include "harness/stats.h"
#include "harness/summary.h"

#include <gtest/gtest.h>

#include <cmath>

namespace hoardlab::harness {
namespace {

TEST(RunStatistics, MedianOfOddAndEvenCounts) {
  EXPECT_DOUBLE_EQ(median({3, 1, 2}), 2);
  EXPECT_DOUBLE_EQ(median({4, 1, 3, 2}), 2.5);
}

TEST(RunStatistics, GeomeanOfRatios) {
  EXPECT_NEAR(geomean({2, 8}), 4, 1e-12);
  EXPECT_TRUE(std::isnan(geomean({1, 0})));
}

TEST(RunStatistics, BootstrapIntervalHoldsTheMedianAndIsReproducible) {
  std::vector<double> v = {10, 11, 9, 10.5, 9.5, 10.2, 30};
  auto a = bootstrap_median(v, 42);
  auto b = bootstrap_median(v, 42);
  EXPECT_DOUBLE_EQ(a.estimate, 10.2);
  EXPECT_LE(a.lo, a.estimate);
  EXPECT_GE(a.hi, a.estimate);
  EXPECT_LT(a.hi, 30); // the outlier moves the median's interval little
  EXPECT_EQ(a.lo, b.lo);
  EXPECT_EQ(a.hi, b.hi);
}

TEST(RunStatistics, RatioIntervalOfIdenticalSamplesIsOne) {
  auto r = bootstrap_ratio({5, 5, 5}, {5, 5, 5}, 1);
  EXPECT_DOUBLE_EQ(r.estimate, 1);
  EXPECT_DOUBLE_EQ(r.lo, 1);
  EXPECT_DOUBLE_EQ(r.hi, 1);
}

TEST(RunStatistics, GeomeanRatioOverCells) {
  auto g = bootstrap_geomean_ratio({{{2, 2}, {1, 1}}, {{8, 8}, {1, 1}}}, 1);
  EXPECT_NEAR(g.estimate, 4, 1e-12);
}

RunRecord run(const std::string& alloc, double ops, int rep, bool ok = true) {
  RunRecord r;
  r.benchmark = "b";
  r.allocator = alloc;
  r.series = alloc;
  r.threads = 1;
  r.cell_id = "b/t1/" + alloc;
  r.rep = rep;
  r.ok = ok;
  r.ops_per_s = ops;
  r.max_rss_kib = 1000;
  r.reason = ok ? "" : "crashed";
  return r;
}

TEST(CellAggregate, FailedRepetitionsMakeAPartialCell) {
  auto cells =
      aggregate({run("glibc", 100, 0), run("glibc", 110, 1), run("glibc", 0, 2, false)}, 0.1, 1);
  ASSERT_EQ(cells.size(), 1u);
  EXPECT_EQ(cells[0].status, "partial");
  EXPECT_EQ(cells[0].reps_ok, 2);
  EXPECT_EQ(cells[0].reason, "crashed");
  EXPECT_DOUBLE_EQ(cells[0].throughput.estimate, 105);
}

TEST(CellAggregate, WideSpreadIsFlaggedNoisy) {
  auto quiet = aggregate({run("a", 100, 0), run("a", 101, 1), run("a", 99, 2)}, 0.1, 1);
  auto noisy = aggregate({run("a", 50, 0), run("a", 100, 1), run("a", 150, 2)}, 0.1, 1);
  EXPECT_FALSE(quiet[0].noisy);
  EXPECT_TRUE(noisy[0].noisy);
}

TEST(SummaryTable, RatiosAreToTheBaseline) {
  auto cells = aggregate(
      {run("glibc", 100, 0), run("glibc", 100, 1), run("fast", 200, 0), run("fast", 200, 1)}, 0.1,
      1);
  auto s = summarize(cells, "glibc", 1);
  EXPECT_NEAR(s.json["geomean_throughput"]["fast"]["ratio"].get<double>(), 2.0, 1e-12);
  EXPECT_NE(s.text.find("2.00 [2.00,2.00]"), std::string::npos) << s.text;
}

TEST(BenchResultLine, ParsesTheResultLine) {
  auto b = parse_bench_output("noise\nHLBENCH {\"ops_per_s\": 5.0, \"malloc_lib\": \"/x.so\"}\n");
  ASSERT_TRUE(b.found) << b.error;
  EXPECT_EQ(b.json["ops_per_s"].get<double>(), 5.0);
}

TEST(BenchResultLine, MissingOrMalformedLineSaysWhy) {
  EXPECT_NE(parse_bench_output("nothing").error.find("no HLBENCH"), std::string::npos);
  EXPECT_NE(parse_bench_output("HLBENCH {oops").error.find("not a JSON"), std::string::npos);
  EXPECT_NE(parse_bench_output("HLBENCH {\"malloc_lib\":\"x\"}").error.find("ops_per_s"),
            std::string::npos);
}

TEST(BenchResultLine, PreloadCheckComparesRealPaths) {
  EXPECT_TRUE(preload_took_effect("/lib/x86_64-linux-gnu/libc.so.6", "", true));
  EXPECT_FALSE(preload_took_effect("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "", true));
  EXPECT_FALSE(preload_took_effect("/lib/x86_64-linux-gnu/libc.so.6",
                                   "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", false));
}

} // namespace
} // namespace hoardlab::harness

namespace hoardlab::harness {
namespace {

TEST(HoardBound, FollowsFromTheRunsStatistics) {
  nlohmann::json stats = {{"totals", {{"heaps", 2}}},
                          {"options",
                           {{"heap.superblock_size", {{"value", 65536}}},
                            {"heap.emptiness_f", {{"value", 0.25}}},
                            {"heap.emptiness_k", {{"value", 4}}}}}};
  // (U/(1-f) + P*K*S)/U with U = 1 MiB: 4/3 + 2*4*64KiB/1MiB = 4/3 + 1/2.
  EXPECT_NEAR(hoard_bound_ratio(stats, 1 << 20), 4.0 / 3 + 0.5, 1e-12);
  EXPECT_TRUE(std::isnan(hoard_bound_ratio(nlohmann::json::object(), 1 << 20)));
}

} // namespace
} // namespace hoardlab::harness
