#include "harness/writers.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <sstream>

namespace hoardlab::harness {
namespace {

std::string num(double v, int digits = 6) {
  return std::isfinite(v) ? fmt::format("{:.{}g}", v, digits) : "";
}

// RFC 4180: quote fields holding a comma, quote or newline; double inner quotes.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c == '\n' ? ' ' : c;
  }
  return out + "\"";
}

std::string params_text(const Params& p) {
  std::string out;
  for (const auto& [k, v] : p)
    out += fmt::format("{}{}={}", out.empty() ? "" : ";", k, v);
  return out;
}

nlohmann::json finite(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json();
}

} // namespace

const std::vector<std::string>& csv_columns() {
  static const std::vector<std::string> cols = {
      "cell",         "benchmark",       "threads",
      "allocator",    "series",          "params",
      "status",       "reps_ok",         "reps",
      "ops_per_s",    "ops_ci_lo",       "ops_ci_hi",
      "ops_min",      "ops_max",         "noisy",
      "peak_rss_kib", "wall_s",          "user_s",
      "sys_s",        "live_peak_bytes", "sampled_rss_kib",
      "blowup",       "hoard_bound",     "reason",
      "exit_blowup",  "exit_heap_bound", "minor_faults"};
  return cols;
}

void write_cells_csv(const std::string& path, const std::vector<CellSummary>& cells) {
  std::ofstream out(path);
  for (std::size_t i = 0; i < csv_columns().size(); ++i)
    out << (i ? "," : "") << csv_columns()[i];
  out << '\n';
  for (const auto& c : cells) {
    std::vector<std::string> f = {c.cell_id,
                                  c.benchmark,
                                  std::to_string(c.threads),
                                  c.allocator,
                                  c.series,
                                  params_text(c.params),
                                  c.status,
                                  std::to_string(c.reps_ok),
                                  std::to_string(c.reps_total),
                                  num(c.throughput.estimate),
                                  num(c.throughput.lo),
                                  num(c.throughput.hi),
                                  num(c.ops_min),
                                  num(c.ops_max),
                                  c.noisy ? "1" : "0",
                                  num(c.rss_median_kib),
                                  num(c.wall_median_s),
                                  num(c.user_median_s),
                                  num(c.sys_median_s),
                                  num(c.live_peak_median_bytes),
                                  num(c.sampled_rss_peak_median_kib),
                                  num(c.blowup, 4),
                                  num(c.hoard_bound, 4),
                                  c.reason,
                                  num(c.exit_blowup, 4),
                                  num(c.exit_heap_bound, 4),
                                  num(c.minor_faults_median, 12)};
    for (std::size_t i = 0; i < f.size(); ++i)
      out << (i ? "," : "") << csv_field(f[i]);
    out << '\n';
  }
}

nlohmann::json cells_json(const std::vector<CellSummary>& cells) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& c : cells) {
    nlohmann::json params = nlohmann::json::object();
    for (const auto& [k, v] : c.params)
      params[k] = v;
    arr.push_back({{"cell", c.cell_id},
                   {"benchmark", c.benchmark},
                   {"threads", c.threads},
                   {"allocator", c.allocator},
                   {"series", c.series},
                   {"params", params},
                   {"status", c.status},
                   {"reason", c.reason},
                   {"reps_ok", c.reps_ok},
                   {"reps", c.reps_total},
                   {"ops_per_s",
                    {{"median", finite(c.throughput.estimate)},
                     {"ci95", {finite(c.throughput.lo), finite(c.throughput.hi)}},
                     {"min", finite(c.ops_min)},
                     {"max", finite(c.ops_max)},
                     {"samples", c.ops}}},
                   {"noisy", c.noisy},
                   {"peak_rss_kib", {{"median", finite(c.rss_median_kib)}, {"samples", c.rss_kib}}},
                   {"wall_s", finite(c.wall_median_s)},
                   {"user_s", finite(c.user_median_s)},
                   {"sys_s", finite(c.sys_median_s)},
                   {"live_peak_bytes", finite(c.live_peak_median_bytes)},
                   {"sampled_rss_peak_kib", finite(c.sampled_rss_peak_median_kib)},
                   {"blowup", finite(c.blowup)},
                   {"hoard_bound", finite(c.hoard_bound)},
                   {"exit_blowup", finite(c.exit_blowup)},
                   {"exit_heap_bound", finite(c.exit_heap_bound)},
                   {"minor_faults", finite(c.minor_faults_median)}});
  }
  return arr;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace hoardlab::harness
