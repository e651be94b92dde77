// `hoardlab compare DIR1 DIR2`: the same cells in two runs, as ratios DIR2 / DIR1.
#include "cli/command.h"

#include "harness/experiment.h"
#include "harness/records.h"
#include "harness/runner.h"
#include "harness/stats.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <map>

namespace hoardlab::cli {
namespace {
namespace fs = std::filesystem;

int compare(const std::string& a_dir, const std::string& b_dir) {
  auto meta = harness::read_meta(a_dir);
  auto load = [&](const std::string& d) {
    auto runs = harness::read_runs((fs::path(d) / "runs.jsonl").string());
    if (runs.empty()) throw harness::ConfigError(fmt::format("{}: no runs recorded", d));
    return harness::aggregate(runs, meta.noisy_threshold, meta.seed);
  };
  auto a = load(a_dir);
  auto b = load(b_dir);
  std::map<std::string, const harness::CellSummary*> in_b;
  for (const auto& c : b)
    in_b[c.cell_id] = &c;
  fmt::print("ratios {} / {} (median [95% CI])\n", b_dir, a_dir);
  fmt::print("{:<50} {:>24} {:>24}\n", "cell", "throughput", "peak RSS");
  std::vector<harness::RatioSample> thr, rss;
  int unmatched = 0;
  for (const auto& c : a) {
    auto it = in_b.find(c.cell_id);
    if (it == in_b.end() || c.reps_ok == 0 || it->second->reps_ok == 0) {
      ++unmatched;
      continue;
    }
    auto t = harness::bootstrap_ratio(it->second->ops, c.ops, meta.seed);
    auto r = harness::bootstrap_ratio(it->second->rss_kib, c.rss_kib, meta.seed + 1);
    fmt::print("{:<50} {:>24} {:>24}\n", c.cell_id,
               fmt::format("{:.3f} [{:.3f},{:.3f}]", t.estimate, t.lo, t.hi),
               fmt::format("{:.3f} [{:.3f},{:.3f}]", r.estimate, r.lo, r.hi));
    // Two separate runs: their repetitions ran at different times, so they are not paired.
    thr.push_back({{}, it->second->ops, c.ops});
    rss.push_back({{}, it->second->rss_kib, c.rss_kib});
  }
  if (thr.empty()) {
    fmt::print(stderr, "error: the two runs have no successful cell in common\n");
    return 2;
  }
  auto gt = harness::bootstrap_geomean_ratio(thr, meta.seed + 2);
  auto gr = harness::bootstrap_geomean_ratio(rss, meta.seed + 3);
  fmt::print("{:<50} {:>24} {:>24}\n", fmt::format("geomean over {} cells", thr.size()),
             fmt::format("{:.3f} [{:.3f},{:.3f}]", gt.estimate, gt.lo, gt.hi),
             fmt::format("{:.3f} [{:.3f},{:.3f}]", gr.estimate, gr.lo, gr.hi));
  if (unmatched)
    fmt::print("{} cells of {} not compared (missing or failed in one run)\n", unmatched, a_dir);
  return 0;
}

const Registrar kCompare{
    {"compare", [](CLI::App& app) {
       auto a = std::make_shared<std::string>();
       auto b = std::make_shared<std::string>();
       auto* cmd = app.add_subcommand("compare", "Print ratios between the cells of two runs");
       cmd->add_option("dir1", *a, "Reference result directory")->required();
       cmd->add_option("dir2", *b, "Result directory compared against it")->required();
       cmd->callback([a, b] {
         try {
           exit_status() = compare(*a, *b);
         } catch (const std::exception& e) {
           fmt::print(stderr, "error: {}\n", e.what());
           exit_status() = 2;
         }
       });
     }}};

} // namespace
} // namespace hoardlab::cli
