#include "harness/plots.h"

#include "harness/cells.h"
#include "harness/process.h"
#include "harness/stats.h"
#include "harness/writers.h"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>

namespace hoardlab::harness {
namespace fs = std::filesystem;
namespace {

std::string gp_quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s)
    out += c == '"' ? '\'' : c;
  return out + "\"";
}

std::string value(double v) {
  return std::isfinite(v) ? fmt::format("{:.6g}", v) : "?";
}

// A gnuplot script that draws one data file with a line per column, to PNG and to SVG.
std::string line_script(const std::string& dat, const std::string& out_base,
                        const std::string& title, const std::string& xlabel,
                        const std::string& ylabel, std::size_t columns, bool xtic_labels,
                        bool log_x, const std::set<int>& xtics = {}, bool si_y = false,
                        bool error_bars = false) {
  std::string s;
  if (!xtics.empty()) {
    std::string list;
    for (int x : xtics)
      list += fmt::format("{}{}", list.empty() ? "" : ",", x);
    s += fmt::format("set xtics ({})\n", list);
    s += fmt::format("set xrange [{}:{}]\n",
                     *xtics.begin() * (log_x ? 0.8 : 1.0) - (log_x ? 0 : 0.2),
                     *xtics.rbegin() * (log_x ? 1.25 : 1.0) + (log_x ? 0 : 0.2));
  }
  if (si_y) s += "set format y '%.1s%c'\n"; // 20.0M rather than 2e+07
  s += "set datafile missing '?'\nset termoption noenhanced\nset key outside right top\n";
  s += "set grid\n";
  s += fmt::format("set title {}\nset xlabel {}\nset ylabel {}\n", gp_quoted(title),
                   gp_quoted(xlabel), gp_quoted(ylabel));
  if (log_x) s += "set logscale x 2\n";
  s += "set yrange [0:*]\n";
  if (xtic_labels) s += "set offsets 0.3, 0.3, 0, 0\n"; // categories clear of the frame
  std::string using_x = xtic_labels ? "1:i:xticlabels(2)" : "1:i";
  std::size_t first = xtic_labels ? 3 : 2;
  std::string plot = fmt::format("plot for [i={}:{}] {} using {} with linespoints lw 2 pt 7 "
                                 "title columnhead(i)\n",
                                 first, columns, gp_quoted(dat), using_x);
  // Columns come in triples (median, CI low, CI high); series are nudged apart on x so their
  // intervals do not hide each other.
  if (error_bars)
    plot = fmt::format("n = {}\nplot for [i=0:n-1] {} using (column(1)*(1+0.025*(i-(n-1)/2.0))):"
                       "(column(2+3*i)):(column(3+3*i)):(column(4+3*i)) with yerrorlines lw 2 "
                       "pt 7 title columnhead(2+3*i)\n",
                       (columns - 1) / 3, gp_quoted(dat));
  s += fmt::format("set terminal pngcairo size 900,540 noenhanced\nset output {}\n",
                   gp_quoted(out_base + ".png"));
  s += plot;
  s += fmt::format("set terminal svg size 900,540 noenhanced\nset output {}\n",
                   gp_quoted(out_base + ".svg"));
  s += plot;
  s += "unset output\n";
  return s;
}

std::string human(double v) {
  if (!std::isfinite(v)) return "-";
  if (v >= 1e9) return fmt::format("{:.2f}G", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.2f}M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.1f}k", v / 1e3);
  return fmt::format("{:.3g}", v);
}

std::string tic_list(const std::vector<std::string>& values) {
  std::string list;
  for (std::size_t i = 0; i < values.size(); ++i)
    list += fmt::format("{}{} {}", i ? ", " : "", gp_quoted(values[i]), i);
  return list;
}

} // namespace

HeatMap heat_map(const std::vector<CellSummary>& cells, const std::string& benchmark,
                 const std::string& allocator, int threads, const std::string& x_axis,
                 const std::string& y_axis, HeatMetric metric) {
  HeatMap h;
  auto param = [](const CellSummary& c, const std::string& axis) -> const std::string* {
    for (const auto& p : c.params)
      if (p.first == axis) return &p.second;
    return nullptr;
  };
  // Values in order of first appearance, which is the experiment file's order.
  for (const auto& c : cells) {
    const std::string* x = param(c, x_axis);
    const std::string* y = param(c, y_axis);
    if (c.benchmark != benchmark || c.allocator != allocator || !x || !y) continue;
    if (std::find(h.x_values.begin(), h.x_values.end(), *x) == h.x_values.end())
      h.x_values.push_back(*x);
    if (std::find(h.y_values.begin(), h.y_values.end(), *y) == h.y_values.end())
      h.y_values.push_back(*y);
  }
  for (std::size_t yi = 0; yi < h.y_values.size(); ++yi)
    for (std::size_t xi = 0; xi < h.x_values.size(); ++xi) {
      // Cells that differ only in other swept axes are folded into one by geometric mean,
      // as the per-parameter line plots do.
      std::vector<double> v;
      bool any = false;
      for (const auto& c : cells) {
        if (c.benchmark != benchmark || c.allocator != allocator || c.threads != threads) continue;
        const std::string* x = param(c, x_axis);
        const std::string* y = param(c, y_axis);
        if (!x || !y || *x != h.x_values[xi] || *y != h.y_values[yi]) continue;
        any = true;
        if (c.reps_ok == 0) continue;
        double m = metric == HeatMetric::kThroughput ? c.throughput.estimate
                   : metric == HeatMetric::kPeakRss  ? c.rss_median_kib / 1024.0
                                                     : c.blowup;
        if (std::isfinite(m) && m > 0) v.push_back(m);
      }
      HeatMap::Point pt{xi, yi, v.empty() ? NAN : geomean(v), ""};
      std::string text = metric == HeatMetric::kThroughput ? human(pt.value)
                         : metric == HeatMetric::kPeakRss  ? fmt::format("{:.1f}", pt.value)
                                                           : fmt::format("{:.2f}", pt.value);
      pt.label = std::isfinite(pt.value) ? text : any ? "FAIL" : "-";
      h.points.push_back(pt);
    }
  return h;
}

std::string heat_map_script(const HeatMap& h, const std::string& out_base, const std::string& title,
                            const std::string& x_axis, const std::string& y_axis,
                            const std::string& zlabel) {
  // The data sit in the script as a datablock, so the script alone redraws the figure. A
  // missing or failed cell is NaN: `with image` leaves its pixel blank, and it is labelled.
  std::string s = "$grid << EOD\n# x-index y-index value label\n";
  for (const auto& p : h.points)
    s += fmt::format("{} {} {} {}\n", p.x, p.y, std::isfinite(p.value) ? value(p.value) : "NaN",
                     gp_quoted(p.label));
  s += "EOD\n";
  s += "set termoption noenhanced\n";
  s += fmt::format("set title {}\nset xlabel {}\nset ylabel {}\nset cblabel {} offset 2,0\n",
                   gp_quoted(title), gp_quoted(x_axis), gp_quoted(y_axis), gp_quoted(zlabel));
  s += fmt::format("set xtics ({})\nset ytics ({})\n", tic_list(h.x_values), tic_list(h.y_values));
  s += fmt::format("set xrange [-0.5:{}.5]\nset yrange [-0.5:{}.5]\n", h.x_values.size() - 1,
                   h.y_values.size() - 1);
  // Viridis-like: no end of the scale is white or grey, so a gap (the grey behind the image)
  // never reads as a value.
  s += "set tics out nomirror\nset palette defined (0 '#440154', 1 '#31688e', 2 '#35b779', 3 "
       "'#fde725')\nset format cb '%.2s%c'\n";
  s += "set object 1 rectangle from graph 0,0 to graph 1,1 behind fc rgb '#d0d0d0' "
       "fs solid noborder\n";
  s += "set style textbox opaque noborder\nunset key\n";
  const std::string plot =
      "plot $grid using 1:2:3 with image, $grid using 1:2:4 with labels boxed\n";
  s += fmt::format("set terminal pngcairo size 900,600 noenhanced\nset output {}\n",
                   gp_quoted(out_base + ".png"));
  s += plot;
  s += fmt::format("set terminal svg size 900,600 noenhanced\nset output {}\n",
                   gp_quoted(out_base + ".svg"));
  s += plot;
  s += "unset output\n";
  return s;
}

PlotResult draw_plots(const std::string& dir, const std::vector<CellSummary>& cells) {
  PlotResult result;
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::vector<std::string> benches, series;
  std::set<std::string> axes_seen;
  std::vector<std::string> axes;
  for (const auto& c : cells) {
    if (std::find(benches.begin(), benches.end(), c.benchmark) == benches.end())
      benches.push_back(c.benchmark);
    if (std::find(series.begin(), series.end(), c.series) == series.end())
      series.push_back(c.series);
    for (const auto& p : c.params)
      if (axes_seen.insert(p.first).second) axes.push_back(p.first);
  }
  std::vector<std::string> scripts;
  for (const auto& b : benches) {
    std::set<int> threads;
    std::map<std::pair<std::string, int>, const CellSummary*> at;
    std::vector<std::string> present;
    for (const auto& c : cells)
      if (c.benchmark == b) {
        threads.insert(c.threads);
        at[{c.series, c.threads}] = &c;
        if (std::find(present.begin(), present.end(), c.series) == present.end())
          present.push_back(c.series);
      }
    const int t0 = *threads.begin();
    struct Metric {
      const char* suffix;
      const char* ylabel;
    };
    const Metric metrics[] = {{"throughput", "operations per second (median, 95% CI)"},
                              {"speedup", ""},
                              {"rss", "peak RSS (MiB, median)"}};
    std::string speedup_label = fmt::format("speedup over {} thread(s)", t0);
    for (int m = 0; m < 3; ++m) {
      std::string base =
          (fs::path(dir) / fmt::format("{}-{}", slug(b), metrics[m].suffix)).string();
      std::string dat = "threads";
      for (const auto& s : present)
        dat += m == 0 ? fmt::format(" {} {} {}", gp_quoted(s), gp_quoted(s + " ci-lo"),
                                    gp_quoted(s + " ci-hi"))
                      : fmt::format(" {}", gp_quoted(s));
      dat += "\n";
      for (int t : threads) {
        dat += std::to_string(t);
        for (const auto& s : present) {
          double v = NAN;
          auto it = at.find({s, t});
          if (it != at.end() && it->second->reps_ok > 0) {
            if (m == 0)
              v = it->second->throughput.estimate;
            else if (m == 2)
              v = it->second->rss_median_kib / 1024.0;
            else if (auto b0 = at.find({s, t0}); b0 != at.end() && b0->second->reps_ok > 0)
              v = it->second->throughput.estimate / b0->second->throughput.estimate;
          }
          dat += fmt::format(" {}", value(v));
          if (m == 0) {
            bool ok = it != at.end() && it->second->reps_ok > 0;
            dat += fmt::format(" {} {}", value(ok ? it->second->throughput.lo : NAN),
                               value(ok ? it->second->throughput.hi : NAN));
          }
        }
        dat += "\n";
      }
      write_text(base + ".dat", dat);
      write_text(base + ".gp",
                 line_script(base + ".dat", base, fmt::format("{}: {}", b, metrics[m].suffix),
                             "threads", m == 1 ? speedup_label : metrics[m].ylabel,
                             (m == 0 ? 3 : 1) * present.size() + 1, false,
                             threads.size() > 1 && *threads.rbegin() / t0 >= 4, threads, m == 0,
                             m == 0));
      scripts.push_back(base);
    }
  }
  // One plot per swept parameter: hoardlab's throughput at each value relative to the first
  // value, one line per benchmark; other axes and thread counts are folded in by geometric
  // mean over the matching cells.
  for (const auto& axis : axes) {
    std::vector<std::string> values;
    for (const auto& c : cells)
      for (const auto& p : c.params)
        if (p.first == axis && std::find(values.begin(), values.end(), p.second) == values.end())
          values.push_back(p.second);
    auto key_without = [&](const CellSummary& c) {
      std::string k = fmt::format("{}|{}", c.benchmark, c.threads);
      for (const auto& p : c.params)
        if (p.first != axis) k += "|" + p.first + "=" + p.second;
      return k;
    };
    auto value_of = [&](const CellSummary& c) {
      for (const auto& p : c.params)
        if (p.first == axis) return p.second;
      return std::string();
    };
    std::map<std::string, double> first_value; // key_without -> throughput at values[0]
    for (const auto& c : cells)
      if (c.reps_ok > 0 && value_of(c) == values.front())
        first_value[key_without(c)] = c.throughput.estimate;
    auto dot = axis.rfind('.');
    std::string short_name = dot == std::string::npos ? axis : axis.substr(dot + 1);
    std::string base = (fs::path(dir) / fmt::format("param-{}", slug(short_name))).string();
    std::string dat = "index value";
    for (const auto& b : benches)
      dat += fmt::format(" {}", gp_quoted(b));
    dat += "\n";
    for (std::size_t i = 0; i < values.size(); ++i) {
      dat += fmt::format("{} {}", i, gp_quoted(values[i]));
      for (const auto& b : benches) {
        std::vector<double> ratios;
        for (const auto& c : cells) {
          if (c.benchmark != b || c.reps_ok == 0 || value_of(c) != values[i]) continue;
          auto f = first_value.find(key_without(c));
          if (f != first_value.end() && f->second > 0)
            ratios.push_back(c.throughput.estimate / f->second);
        }
        dat += fmt::format(" {}", value(ratios.empty() ? NAN : geomean(ratios)));
      }
      dat += "\n";
    }
    write_text(base + ".dat", dat);
    write_text(
        base + ".gp",
        line_script(base + ".dat", base, fmt::format("hoardlab: sweep of {}", axis), axis,
                    fmt::format("throughput relative to {} = {}", short_name, values.front()),
                    benches.size() + 2, true, false));
    scripts.push_back(base);
  }
  // Two or more swept axes: a heat map over the first two, per benchmark, allocator and thread
  // count, for throughput, peak RSS and (blowup runs) A/U. One axis keeps the line plot alone.
  if (axes.size() >= 2) {
    const std::string& xa = axes[0];
    const std::string& ya = axes[1];
    auto short_of = [](const std::string& axis) {
      auto dot = axis.rfind('.');
      return dot == std::string::npos ? axis : axis.substr(dot + 1);
    };
    std::string folded;
    for (std::size_t i = 2; i < axes.size(); ++i)
      folded += (folded.empty() ? "" : ", ") + short_of(axes[i]);
    std::set<std::tuple<std::string, std::string, int>> done;
    for (const auto& c : cells) {
      if (c.params.empty() || !done.emplace(c.benchmark, c.allocator, c.threads).second) continue;
      for (HeatMetric m : {HeatMetric::kThroughput, HeatMetric::kPeakRss, HeatMetric::kBlowup}) {
        HeatMap h = heat_map(cells, c.benchmark, c.allocator, c.threads, xa, ya, m);
        // `with image` needs two values on each axis; a blowup map only where A/U was measured.
        if (h.x_values.size() < 2 || h.y_values.size() < 2) break;
        bool measured = std::any_of(h.points.begin(), h.points.end(),
                                    [](const HeatMap::Point& p) { return std::isfinite(p.value); });
        if (m == HeatMetric::kBlowup && !measured) continue;
        const char* suffix = m == HeatMetric::kThroughput ? "throughput"
                             : m == HeatMetric::kPeakRss  ? "rss"
                                                          : "blowup";
        const char* zlabel = m == HeatMetric::kThroughput ? "operations per second (median)"
                             : m == HeatMetric::kPeakRss  ? "peak RSS (MiB, median)"
                                                          : "A/U (median)";
        std::string base = (fs::path(dir) / fmt::format("heat-{}-t{}-{}-{}", slug(c.benchmark),
                                                        c.threads, slug(c.allocator), suffix))
                               .string();
        std::string title =
            fmt::format("{}, {}, {} thread(s): {}", c.benchmark, c.allocator, c.threads, suffix);
        if (!folded.empty()) title += fmt::format(" (geomean over {})", folded);
        write_text(base + ".gp", heat_map_script(h, base, title, xa, ya, zlabel));
        scripts.push_back(base);
      }
    }
  }
  // A plot whose every cell failed has nothing to draw and gnuplot refuses it; that must not
  // stop the others, so only a missing gnuplot skips them all.
  bool have_gnuplot = false;
  {
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/bin:/bin";
    std::size_t start = 0;
    while (start <= dirs.size() && !have_gnuplot) {
      auto colon = dirs.find(':', start);
      std::string d = dirs.substr(start, colon == std::string::npos ? colon : colon - start);
      have_gnuplot = access((d + "/gnuplot").c_str(), X_OK) == 0;
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  if (!have_gnuplot) {
    result.warning =
        fmt::format("gnuplot is not installed; the plots' data and scripts are in {}", dir);
    return result;
  }
  std::vector<std::string> undrawn;
  for (const auto& base : scripts) {
    fs::remove(base + ".png", ec);
    capture_output({"gnuplot", base + ".gp"}, 60);
    if (!fs::exists(base + ".png", ec)) undrawn.push_back(fs::path(base).filename().string());
    for (const char* ext : {".png", ".svg"})
      if (fs::exists(base + ext, ec)) result.files.push_back(base + ext);
  }
  if (!undrawn.empty()) {
    std::string names;
    for (const auto& n : undrawn)
      names += (names.empty() ? "" : ", ") + n;
    result.warning = fmt::format("gnuplot drew nothing for {} (no successful cell?)", names);
  }
  return result;
}

} // namespace hoardlab::harness
