#include "harness/summary.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace hoardlab::harness {
namespace {

std::string fmt_ratio(const Interval& i) {
  if (!std::isfinite(i.estimate)) return "-";
  return fmt::format("{:.2f} [{:.2f},{:.2f}]", i.estimate, i.lo, i.hi);
}

// num against den on one metric, paired by repetition where it can be (stats.h).
RatioSample compare(const CellSummary& num, const CellSummary& den, bool throughput) {
  return throughput ? ratio_sample(num.sessions, num.reps, num.ops, den.sessions, den.reps, den.ops)
                    : ratio_sample(num.sessions, num.reps, num.rss_kib, den.sessions, den.reps,
                                   den.rss_kib);
}

std::string row_label(const std::pair<std::string, int>& key) {
  return fmt::format("{}/t{}", key.first, key.second);
}

std::string human_rate(double v) {
  if (!std::isfinite(v)) return "-";
  if (v >= 1e9) return fmt::format("{:.2f}G", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.2f}M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.1f}k", v / 1e3);
  return fmt::format("{:.0f}", v);
}

} // namespace

Summary summarize(const std::vector<CellSummary>& cells, const std::string& baseline,
                  std::uint64_t seed, double noisy_threshold) {
  auto noisy = [&](const Interval& r) {
    return std::isfinite(r.estimate) && (r.hi - r.lo) / 2 > noisy_threshold * r.estimate;
  };
  std::vector<std::string> series, benches;
  std::string base_series;
  for (const auto& c : cells) {
    if (std::find(series.begin(), series.end(), c.series) == series.end())
      series.push_back(c.series);
    if (std::find(benches.begin(), benches.end(), c.benchmark) == benches.end())
      benches.push_back(c.benchmark);
    if (base_series.empty() && c.allocator == baseline) base_series = c.series;
  }
  std::map<std::pair<std::string, int>, std::map<std::string, const CellSummary*>> rows;
  std::vector<std::pair<std::string, int>> row_order;
  for (const auto& c : cells) {
    auto key = std::pair(c.benchmark, c.threads);
    if (!rows.count(key)) row_order.push_back(key);
    rows[key][c.series] = &c;
  }
  std::sort(row_order.begin(), row_order.end(), [&](const auto& a, const auto& b) {
    auto ia = std::find(benches.begin(), benches.end(), a.first) - benches.begin();
    auto ib = std::find(benches.begin(), benches.end(), b.first) - benches.begin();
    return std::tie(ia, a.second) < std::tie(ib, b.second);
  });

  Summary s;
  s.json = {
      {"baseline", baseline}, {"baseline_series", base_series}, {"rows", nlohmann::json::array()}};
  std::string out;
  if (base_series.empty()) {
    out += fmt::format("baseline '{}' has no cells; ratios are not available\n", baseline);
    s.text = out;
    return s;
  }
  // Each metric is a grid of texts: rows are benchmark/threads plus the geomean, columns the
  // series. With many series (a parameter sweep) the grid is printed transposed, one series
  // per line, so it stays readable in a terminal.
  const bool transpose = series.size() > 6;
  auto print_grid = [&](const std::string& title, const std::vector<std::string>& row_labels,
                        const std::vector<std::string>& abs,
                        const std::vector<std::vector<std::string>>& grid) {
    out += fmt::format(
        "\n{} (ratio to {}, median [95% CI] of the per-repetition ratios; ^ "
        "ratio of medians, the repetitions not paired; ~ interval wider than +-{:.0f}%; "
        "FAIL failed)\n",
        title, base_series, noisy_threshold * 100);
    if (!transpose) {
      std::size_t label_w = 18;
      for (const auto& l : row_labels)
        label_w = std::max(label_w, l.size() + 2);
      std::vector<std::size_t> w;
      for (std::size_t j = 0; j < series.size(); ++j) {
        std::size_t width = std::max<std::size_t>(series[j].size(), 17);
        for (const auto& row : grid)
          width = std::max(width, row[j].size());
        w.push_back(width);
      }
      out += fmt::format("{:<{}}{:>12}", "benchmark/threads", label_w, baseline + " abs");
      for (std::size_t j = 0; j < series.size(); ++j)
        out += fmt::format("  {:>{}}", series[j], w[j]);
      out += "\n";
      for (std::size_t i = 0; i < grid.size(); ++i) {
        out += fmt::format("{:<{}}{:>12}", row_labels[i], label_w, abs[i]);
        for (std::size_t j = 0; j < series.size(); ++j)
          out += fmt::format("  {:>{}}", grid[i][j], w[j]);
        out += "\n";
      }
      return;
    }
    std::size_t label_w = 10;
    for (const auto& se : series)
      label_w = std::max(label_w, se.size() + 2);
    std::vector<std::size_t> w;
    for (std::size_t i = 0; i < grid.size(); ++i) {
      std::size_t width = std::max<std::size_t>(row_labels[i].size(), 17);
      for (const auto& cell : grid[i])
        width = std::max(width, cell.size());
      w.push_back(width);
    }
    out += fmt::format("{:<{}}", "series", label_w);
    for (std::size_t i = 0; i < grid.size(); ++i)
      out += fmt::format("  {:>{}}", row_labels[i], w[i]);
    out += "\n";
    out += fmt::format("{:<{}}", baseline + " abs", label_w);
    for (std::size_t i = 0; i < grid.size(); ++i)
      out += fmt::format("  {:>{}}", abs[i], w[i]);
    out += "\n";
    for (std::size_t j = 0; j < series.size(); ++j) {
      out += fmt::format("{:<{}}", series[j], label_w);
      for (std::size_t i = 0; i < grid.size(); ++i)
        out += fmt::format("  {:>{}}", grid[i][j], w[i]);
      out += "\n";
    }
  };
  for (int metric = 0; metric < 2; ++metric) {
    const bool thr = metric == 0;
    std::vector<std::string> labels, abs;
    std::vector<std::vector<std::string>> grid;
    std::map<std::string, std::vector<RatioSample>> gm;
    for (const auto& key : row_order) {
      auto& row = rows[key];
      const CellSummary* base = row.count(base_series) ? row[base_series] : nullptr;
      std::string abs_text = "-";
      if (base && base->reps_ok > 0)
        abs_text = thr ? human_rate(base->throughput.estimate)
                       : fmt::format("{:.0f}MiB", base->rss_median_kib / 1024);
      labels.push_back(row_label(key));
      abs.push_back(abs_text);
      nlohmann::json jrow = {{"benchmark", key.first},
                             {"threads", key.second},
                             {"metric", thr ? "throughput" : "peak_rss"}};
      std::vector<std::string> texts;
      for (const auto& se : series) {
        std::string text;
        auto it = row.find(se);
        if (it == row.end()) {
          text = "";
        } else if (it->second->reps_ok == 0) {
          text = "FAIL";
        } else if (!base || base->reps_ok == 0) {
          text = "no base";
        } else {
          auto sample = compare(*it->second, *base, thr);
          auto r = bootstrap_ratio(sample, seed + metric);
          text = fmt_ratio(r) + (noisy(r) ? "~" : "") + (sample.is_paired() ? "" : "^");
          jrow[se] = {{"ratio", r.estimate},
                      {"lo", r.lo},
                      {"hi", r.hi},
                      {"noisy", noisy(r)},
                      {"paired", sample.is_paired()}};
          gm[se].push_back(std::move(sample));
        }
        texts.push_back(text);
      }
      grid.push_back(texts);
      s.json["rows"].push_back(jrow);
    }
    std::vector<std::string> texts;
    for (const auto& se : series) {
      auto it = gm.find(se);
      std::string text = "-";
      if (it != gm.end()) {
        auto g = bootstrap_geomean_ratio(it->second, seed + 7 + metric);
        text = fmt_ratio(g);
        s.json[thr ? "geomean_throughput" : "geomean_peak_rss"][se] = {
            {"ratio", g.estimate}, {"lo", g.lo}, {"hi", g.hi}, {"cells", it->second.size()}};
      }
      texts.push_back(text);
    }
    labels.push_back("geomean");
    abs.push_back("");
    grid.push_back(texts);
    print_grid(thr ? "Throughput (higher is better)" : "Peak RSS (lower is better)", labels, abs,
               grid);
  }
  // hoardlab against the best of the others, cell by cell: what "within x of the best peer"
  // asks. Only for an experiment with one hoardlab series and at least two others; a sweep
  // of hoardlab's parameters compares the series with each other instead.
  std::vector<std::string> subject;
  for (const auto& se : series)
    for (const auto& c : cells)
      if (c.series == se && c.allocator == "hoardlab") {
        subject.push_back(se);
        break;
      }
  if (subject.size() == 1 && series.size() >= 3) {
    const std::string& me = subject.front();
    out += fmt::format(
        "\n{0} against the best other allocator in each cell (median [95% CI] of "
        "the per-repetition ratios; ^ not paired; ~ wide interval): throughput best / {0}, above "
        "1 where the other is faster; peak RSS {0} / least, above 1 where {0} "
        "holds more\n",
        me);
    std::size_t label_w = 18;
    for (const auto& key : row_order)
      label_w = std::max(label_w, row_label(key).size() + 2);
    out +=
        fmt::format("{:<{}}  {:<34}  {}\n", "benchmark/threads", label_w, "throughput", "peak RSS");
    nlohmann::json jrows = nlohmann::json::array();
    for (const auto& key : row_order) {
      auto& row = rows[key];
      auto mine = row.find(me);
      std::string label = row_label(key);
      if (mine == row.end() || mine->second->reps_ok == 0) {
        out += fmt::format("{:<{}}  {}\n", label, label_w, mine == row.end() ? "-" : "FAIL");
        continue;
      }
      nlohmann::json jrow = {{"benchmark", key.first}, {"threads", key.second}};
      std::string texts[2];
      for (int metric = 0; metric < 2; ++metric) {
        const bool thr = metric == 0;
        std::string best;
        Interval best_r{NAN, NAN, NAN};
        bool best_paired = true;
        for (const auto& [se, other] : row) {
          if (se == me || other->reps_ok == 0) continue;
          auto sample =
              thr ? compare(*other, *mine->second, true) : compare(*mine->second, *other, false);
          auto r = bootstrap_ratio(sample, seed + 11 + metric);
          if (!std::isfinite(best_r.estimate) || r.estimate > best_r.estimate) {
            best = se;
            best_r = r;
            best_paired = sample.is_paired();
          }
        }
        if (best.empty()) {
          texts[metric] = "-";
          continue;
        }
        texts[metric] = fmt::format("{:<10} {}{}{}", best, fmt_ratio(best_r),
                                    noisy(best_r) ? "~" : "", best_paired ? "" : "^");
        jrow[thr ? "throughput" : "peak_rss"] = {
            {"other", best},   {"ratio", best_r.estimate}, {"lo", best_r.lo},
            {"hi", best_r.hi}, {"noisy", noisy(best_r)},   {"paired", best_paired}};
      }
      out += fmt::format("{:<{}}  {:<34}  {}\n", label, label_w, texts[0], texts[1]);
      jrows.push_back(jrow);
    }
    s.json["against_best_other"] = {{"series", me}, {"rows", jrows}};
  }
  // Blowup runs report A/U: peak RSS over peak live bytes.
  bool any_blowup = std::any_of(cells.begin(), cells.end(),
                                [](const CellSummary& c) { return std::isfinite(c.blowup); });
  if (any_blowup) {
    out += "\nBlowup A/U (peak RSS minus LazyFree, over peak live bytes; median); for "
           "hoardlab, Hoard's aggregate bound (U/(1-f) + (P*K + sum_i C_i)*S)/U beside it, C_i "
           "heap i's classes with a partly used superblock at exit; A is the whole process's "
           "RSS, code and stacks included. 'at exit': the allocator's own A/U when the process "
           "exited, and the per-heap bound (sum_i max(u_i + (K + C_i)*S, u_i/(1-f) + C_i*S) + "
           "pool + large)/U from its per-heap statistics at that moment\n";
    for (const auto& c : cells) {
      if (!std::isfinite(c.blowup)) continue;
      std::string bound;
      if (std::isfinite(c.hoard_bound)) bound = fmt::format("   bound {:.2f}", c.hoard_bound);
      // No verdict is printed: the per-heap term holds only for classes whose blocks fill a
      // superblock to within f (paper_notes/hoard.md, "The bound"), and the statistics do not
      // say which classes a heap's superblocks serve.
      if (std::isfinite(c.exit_heap_bound))
        bound += fmt::format("   at exit: A/U {:.2f}, per-heap bound {:.2f}", c.exit_blowup,
                             c.exit_heap_bound);
      out += fmt::format("  {:<50} {:>8.2f}{}\n", c.cell_id, c.blowup, bound);
    }
  }
  std::vector<std::string> failed;
  for (const auto& c : cells)
    if (c.status != "ok")
      failed.push_back(
          fmt::format("  {} ({}/{} ok): {}", c.cell_id, c.reps_ok, c.reps_total, c.reason));
  if (!failed.empty()) {
    out += "\nFailed or partial cells:\n";
    for (const auto& f : failed)
      out += f + "\n";
  }
  s.text = out;
  return s;
}

} // namespace hoardlab::harness
