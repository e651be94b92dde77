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
  auto g = bootstrap_geomean_ratio(
      {ratio_sample({0, 1}, {2, 2}, {0, 1}, {1, 1}), ratio_sample({0, 1}, {8, 8}, {0, 1}, {1, 1})},
      1);
  EXPECT_NEAR(g.estimate, 4, 1e-12);
}

TEST(RunStatistics, PairedRatiosCancelDriftThatUnpairedOnesCannot) {
  // The machine slows down over the run by the same factor for both allocators: num is twice
  // den in every repetition, but the samples' spreads overlap.
  std::vector<int> reps = {0, 1, 2, 3, 4};
  std::vector<double> den = {100, 60, 140, 90, 120};
  std::vector<double> num = {200, 120, 280, 180, 240};
  auto paired = ratio_sample(reps, num, reps, den);
  ASSERT_TRUE(paired.is_paired());
  auto r = bootstrap_ratio(paired, 1);
  EXPECT_DOUBLE_EQ(r.estimate, 2);
  EXPECT_DOUBLE_EQ(r.lo, 2);
  EXPECT_DOUBLE_EQ(r.hi, 2);
  auto unpaired = bootstrap_ratio(num, den, 1);
  EXPECT_LT(unpaired.lo, 1.5);
  EXPECT_GT(unpaired.hi, 2.5);
}

TEST(RunStatistics, RatiosArePairedOnlyOverAtLeastTwoSharedRepetitions) {
  // Repetitions 1 and 2 failed on one side: only repetition 0 is shared.
  auto s = ratio_sample({0, 3}, {10, 30}, {0, 1, 2}, {5, 6, 7});
  EXPECT_FALSE(s.is_paired());
  EXPECT_DOUBLE_EQ(bootstrap_ratio(s, 1).estimate, 20.0 / 6);
  // Shared repetitions 0 and 2 pair, whatever order the runs were recorded in.
  auto t = ratio_sample({2, 0}, {14, 10}, {0, 1, 2}, {5, 6, 7});
  ASSERT_TRUE(t.is_paired());
  EXPECT_DOUBLE_EQ(bootstrap_ratio(t, 1).estimate, 2);
}

RunRecord run(const std::string& alloc, double ops, int rep, bool ok = true) {
  RunRecord r;
  r.benchmark = std::string(1, 'b'); // not = "b": GCC 12's -Wrestrict misfires on that
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

TEST(SummaryTable, RatiosArePairedByRepetitionAndUnpairedOnesAreMarked) {
  // glibc and fast drift together over three repetitions; "lone" has only repetition 0.
  auto cells =
      aggregate({run("glibc", 100, 0), run("glibc", 50, 1), run("glibc", 150, 2),
                 run("fast", 150, 0), run("fast", 75, 1), run("fast", 225, 2), run("lone", 100, 0)},
                0.1, 1);
  auto s = summarize(cells, "glibc", 1);
  EXPECT_NE(s.text.find("1.50 [1.50,1.50]"), std::string::npos) << s.text;
  EXPECT_NE(s.text.find("1.00 [1.00,1.00]^"), std::string::npos) << s.text;
  const auto& row = s.json["rows"][0];
  EXPECT_TRUE(row["fast"]["paired"].get<bool>());
  EXPECT_FALSE(row["lone"]["paired"].get<bool>());
}

TEST(SummaryTable, RepetitionsOfSeparateSessionsAreNotPaired) {
  // The same drift as above, but each allocator ran in its own process (two jobs, merged):
  // repetition r of one did not run beside repetition r of the other.
  auto in = [](RunRecord r, const char* session) {
    r.session = session;
    return r;
  };
  auto cells = aggregate({in(run("glibc", 100, 0), "job1"), in(run("glibc", 50, 1), "job1"),
                          in(run("glibc", 150, 2), "job1"), in(run("fast", 150, 0), "job2"),
                          in(run("fast", 75, 1), "job2"), in(run("fast", 225, 2), "job2")},
                         0.1, 1);
  auto s = summarize(cells, "glibc", 1);
  const auto& row = s.json["rows"][0];
  EXPECT_FALSE(row["fast"]["paired"].get<bool>()) << s.text;
  EXPECT_NE(s.text.find("1.00 [1.00,1.00]^"), std::string::npos) << s.text; // peak RSS
}

TEST(SummaryTable, HoardlabIsComparedWithTheBestOtherAllocatorInEachCell) {
  auto cells = aggregate({run("glibc", 100, 0), run("glibc", 100, 1), run("hoardlab", 120, 0),
                          run("hoardlab", 120, 1), run("fast", 180, 0), run("fast", 180, 1)},
                         0.1, 1);
  auto s = summarize(cells, "glibc", 1);
  const auto& best = s.json["against_best_other"];
  ASSERT_EQ(best["series"], "hoardlab") << s.text;
  const auto& row = best["rows"][0];
  EXPECT_EQ(row["throughput"]["other"], "fast");
  EXPECT_NEAR(row["throughput"]["ratio"].get<double>(), 1.5, 1e-12);
  // Every run here has the same peak RSS: the least other ties hoardlab.
  EXPECT_NEAR(row["peak_rss"]["ratio"].get<double>(), 1.0, 1e-12);
  EXPECT_NE(s.text.find("fast       1.50 [1.50,1.50]"), std::string::npos) << s.text;
  EXPECT_FALSE(row["throughput"]["noisy"].get<bool>());
  // An other allocator whose lead swings from run to run gets a wide interval, flagged ~.
  auto swinging = summarize(
      aggregate({run("glibc", 100, 0), run("glibc", 100, 1), run("glibc", 100, 2),
                 run("hoardlab", 120, 0), run("hoardlab", 120, 1), run("hoardlab", 120, 2),
                 run("fast", 180, 0), run("fast", 100, 1), run("fast", 260, 2)},
                0.1, 1),
      "glibc", 1);
  EXPECT_TRUE(swinging.json["against_best_other"]["rows"][0]["throughput"]["noisy"].get<bool>())
      << swinging.text;
  // Two series are not enough for the comparison: the ratio to the baseline already says it.
  auto two = summarize(aggregate({run("glibc", 100, 0), run("glibc", 100, 1),
                                  run("hoardlab", 120, 0), run("hoardlab", 120, 1)},
                                 0.1, 1),
                       "glibc", 1);
  EXPECT_FALSE(two.json.contains("against_best_other"));
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
  // (U/(1-f) + P*K*S)/U with U = 1 MiB: 4/3 + 2*4*64KiB/1MiB = 4/3 + 1/2. No heaps array (a
  // record from before the per-heap statistics): sum_i C_i = 0.
  EXPECT_NEAR(hoard_bound_ratio(stats, 1 << 20), 4.0 / 3 + 0.5, 1e-12);
  EXPECT_TRUE(std::isnan(hoard_bound_ratio(nlohmann::json::object(), 1 << 20)));
}

TEST(HoardBound, AddsEachHeapsPartlyUsedClassesAsSuperblocks) {
  nlohmann::json stats = {
      {"totals", {{"heaps", 2}}},
      {"heaps", {{{"heap", 0}, {"partial_classes", 5}}, {{"heap", 1}, {"partial_classes", 3}}}},
      {"options",
       {{"heap.superblock_size", {{"value", 65536}}},
        {"heap.emptiness_f", {{"value", 0.25}}},
        {"heap.emptiness_k", {{"value", 4}}}}}};
  // (U/(1-f) + (P*K + sum_i C_i)*S)/U = 4/3 + (8 + 8)*64KiB/1MiB = 4/3 + 1.
  EXPECT_NEAR(hoard_bound_ratio(stats, 1 << 20), 4.0 / 3 + 1, 1e-12);
  // A heap without the field (written before it existed) counts no classes.
  stats["heaps"][1].erase("partial_classes");
  EXPECT_NEAR(hoard_bound_ratio(stats, 1 << 20), 4.0 / 3 + (8 + 5) / 16.0, 1e-12);
  stats["heaps"][0]["partial_classes"] = "five";
  EXPECT_TRUE(std::isnan(hoard_bound_ratio(stats, 1 << 20)));
}

} // namespace
} // namespace hoardlab::harness

namespace hoardlab::harness {
namespace {

nlohmann::json exit_stats() {
  // S = 64KiB, f = 1/4, K = 2. Heap 0: u = 300KiB, a = 384KiB; heap 1: u = 0, a = 64KiB;
  // 100KiB of large objects; 128KiB in the pool.
  constexpr double KiB = 1024;
  return {{"totals", {{"bytes_in_use", 400 * KiB}, {"bytes_held", 676 * KiB}, {"heaps", 2}}},
          {"heaps",
           {{{"heap", 0}, {"bytes_in_use", 300 * KiB}, {"bytes_held", 384 * KiB}},
            {{"heap", 1}, {"bytes_in_use", 0}, {"bytes_held", 64 * KiB}}}},
          {"options",
           {{"heap.superblock_size", {{"value", 65536}}},
            {"heap.emptiness_f", {{"value", 0.25}}},
            {"heap.emptiness_k", {{"value", 2}}}}}};
}

TEST(PerHeapBound, SumsEachHeapsTermAndAddsPoolAndLargeObjects) {
  // No partial_classes (a record from before the field): C_i = 0. Heap 0: max(300 + 128, 400)
  // = 428KiB; heap 1: max(0 + 128, 0) = 128KiB; pool 128KiB, large 100KiB: 784KiB over
  // U = 400KiB.
  HeapBound b = heap_bound_at_exit(exit_stats());
  EXPECT_NEAR(b.bound_ratio, 784.0 / 400, 1e-12);
  EXPECT_NEAR(b.blowup, 676.0 / 400, 1e-12);
}

TEST(PerHeapBound, AllowsEachHeapOneSuperblockPerPartlyUsedClass) {
  auto stats = exit_stats();
  stats["heaps"][0]["partial_classes"] = 3;
  stats["heaps"][1]["partial_classes"] = 1;
  // Heap 0: max(300 + (2 + 3)*64, 400 + 3*64) = max(620, 592) = 620KiB, the slack term;
  // heap 1: max(0 + (2 + 1)*64, 0 + 64) = 192KiB; pool 128KiB, large 100KiB: 1040KiB.
  EXPECT_NEAR(heap_bound_at_exit(stats).bound_ratio, 1040.0 / 400, 1e-12);
  // With K = 0 the emptiness term wins for heap 0: max(300 + 192, 400 + 192) = 592KiB; heap 1:
  // max(64, 64) = 64KiB; 592 + 64 + 128 + 100 = 884KiB.
  stats["options"]["heap.emptiness_k"]["value"] = 0;
  EXPECT_NEAR(heap_bound_at_exit(stats).bound_ratio, 884.0 / 400, 1e-12);
  // Pool and large objects are unchanged by C_i: A/U stays.
  EXPECT_NEAR(heap_bound_at_exit(stats).blowup, 676.0 / 400, 1e-12);
}

TEST(PerHeapBound, IsTighterThanTheAggregateBoundForTheSameU) {
  auto stats = exit_stats();
  HeapBound b = heap_bound_at_exit(stats);
  double U = stats["totals"]["bytes_in_use"].get<double>();
  // The aggregate form has no pool or large terms, so compare the heaps' part alone.
  double heaps_part = b.bound_ratio - (128.0 + 100.0) / 400;
  EXPECT_LT(heaps_part, hoard_bound_ratio(stats, U));
}

TEST(PerHeapBound, IsNotANumberWhenAFieldIsMissingOrNothingIsInUse) {
  auto no_heaps = exit_stats();
  no_heaps.erase("heaps");
  EXPECT_TRUE(std::isnan(heap_bound_at_exit(no_heaps).bound_ratio));
  auto no_k = exit_stats();
  no_k["options"].erase("heap.emptiness_k");
  EXPECT_TRUE(std::isnan(heap_bound_at_exit(no_k).bound_ratio));
  auto idle = exit_stats();
  idle["totals"]["bytes_in_use"] = 0;
  EXPECT_TRUE(std::isnan(heap_bound_at_exit(idle).blowup));
  EXPECT_TRUE(std::isnan(heap_bound_at_exit(nlohmann::json()).bound_ratio));
  auto bad_heap = exit_stats();
  bad_heap["heaps"][0]["bytes_in_use"] = "many";
  EXPECT_TRUE(std::isnan(heap_bound_at_exit(bad_heap).bound_ratio));
  auto bad_classes = exit_stats();
  bad_classes["heaps"][1]["partial_classes"] = nullptr;
  EXPECT_TRUE(std::isnan(heap_bound_at_exit(bad_classes).bound_ratio));
}

TEST(PerHeapBound, AggregatesIntoTheCellAsMedians) {
  std::vector<RunRecord> runs;
  for (int rep = 0; rep < 3; ++rep) {
    RunRecord r;
    r.cell_id = "blowup/t2/hoardlab";
    r.benchmark = "blowup";
    r.allocator = r.series = "hoardlab";
    r.rep = rep;
    r.ok = true;
    r.ops_per_s = 1000;
    r.max_rss_kib = 4096;
    r.hoardlab_stats = exit_stats();
    runs.push_back(r);
  }
  auto cells = aggregate(runs, 0.1, 1);
  ASSERT_EQ(cells.size(), 1u);
  EXPECT_NEAR(cells[0].exit_heap_bound, 784.0 / 400, 1e-12);
  EXPECT_NEAR(cells[0].exit_blowup, 676.0 / 400, 1e-12);
}

TEST(PerHeapBound, TheSummaryPrintsItBesideTheMeasuredBlowup) {
  CellSummary glibc, hoard;
  glibc.cell_id = "blowup/t2/glibc";
  hoard.cell_id = "blowup/t2/hoardlab";
  glibc.benchmark = hoard.benchmark = "blowup";
  glibc.allocator = glibc.series = "glibc";
  hoard.allocator = hoard.series = "hoardlab";
  for (auto* c : {&glibc, &hoard}) {
    c->threads = 2;
    c->status = "ok";
    c->reps_ok = c->reps_total = 1;
    c->ops = {1000};
    c->rss_kib = {4096};
    c->throughput = {1000, 1000, 1000};
    c->rss_median_kib = 4096;
    c->blowup = 1.5;
  }
  hoard.hoard_bound = 2.25;
  hoard.exit_blowup = 1.69;
  hoard.exit_heap_bound = 1.96;
  auto s = summarize({glibc, hoard}, "glibc", 1);
  EXPECT_NE(s.text.find("at exit: A/U 1.69, per-heap bound 1.96"), std::string::npos) << s.text;
  hoard.exit_heap_bound = NAN;
  EXPECT_EQ(summarize({glibc, hoard}, "glibc", 1).text.find("at exit:"), std::string::npos)
      << "no per-heap figures, nothing printed";
}

} // namespace
} // namespace hoardlab::harness
