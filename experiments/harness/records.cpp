#include "harness/records.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>

namespace hoardlab::harness {
namespace {

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

double number_of(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : NAN;
}

// A heap's C_i: 0 where the record predates the field (its bound then lacks the allowance, as
// the bound did when those records were written); NaN where the field is there but no number.
double partial_classes_of(const nlohmann::json& heap) {
  auto it = heap.find("partial_classes");
  if (it == heap.end()) return 0;
  return it->is_number() ? it->get<double>() : NAN;
}

} // namespace

nlohmann::json to_json(const RunRecord& r) {
  nlohmann::json params = nlohmann::json::array();
  for (const auto& [k, v] : r.params)
    params.push_back({k, v});
  return {{"cell", r.cell_id},
          {"benchmark", r.benchmark},
          {"allocator", r.allocator},
          {"series", r.series},
          {"threads", r.threads},
          {"params", params},
          {"rep", r.rep},
          {"session", r.session},
          {"ok", r.ok},
          {"reason", r.reason},
          {"exit_code", r.exit_code},
          {"signal", r.signal},
          {"timed_out", r.timed_out},
          {"wall_s", r.wall_s},
          {"user_s", r.user_s},
          {"sys_s", r.sys_s},
          {"max_rss_kib", r.max_rss_kib},
          {"minor_faults", r.minor_faults},
          {"major_faults", r.major_faults},
          {"ops_per_s", number_or_null(r.ops_per_s)},
          {"live_peak_bytes", number_or_null(r.live_peak_bytes)},
          {"sampled_rss_peak_kib", r.sampled_rss_peak_kib},
          {"malloc_lib", r.malloc_lib},
          {"bench_line", r.bench_line},
          {"hoardlab_stats", r.hoardlab_stats},
          {"stderr_tail", r.stderr_tail},
          {"bench_hash", r.bench_hash},
          {"allocator_hash", r.allocator_hash}};
}

RunRecord run_from_json(const nlohmann::json& j) {
  RunRecord r;
  r.cell_id = j.value("cell", "");
  r.benchmark = j.value("benchmark", "");
  r.allocator = j.value("allocator", "");
  r.series = j.value("series", r.allocator);
  r.threads = j.value("threads", 1);
  if (auto it = j.find("params"); it != j.end() && it->is_array())
    for (const auto& p : *it)
      if (p.is_array() && p.size() == 2)
        r.params.emplace_back(p[0].get<std::string>(), p[1].get<std::string>());
  r.rep = j.value("rep", 0);
  r.session = j.value("session", "");
  r.ok = j.value("ok", false);
  r.reason = j.value("reason", "");
  r.exit_code = j.value("exit_code", -1);
  r.signal = j.value("signal", 0);
  r.timed_out = j.value("timed_out", false);
  r.wall_s = j.value("wall_s", 0.0);
  r.user_s = j.value("user_s", 0.0);
  r.sys_s = j.value("sys_s", 0.0);
  r.max_rss_kib = j.value("max_rss_kib", 0L);
  r.minor_faults = j.value("minor_faults", -1L);
  r.major_faults = j.value("major_faults", -1L);
  r.ops_per_s = number_of(j, "ops_per_s");
  r.live_peak_bytes = number_of(j, "live_peak_bytes");
  r.sampled_rss_peak_kib = j.value("sampled_rss_peak_kib", -1L);
  r.malloc_lib = j.value("malloc_lib", "");
  if (auto it = j.find("bench_line"); it != j.end()) r.bench_line = *it;
  if (auto it = j.find("hoardlab_stats"); it != j.end()) r.hoardlab_stats = *it;
  r.stderr_tail = j.value("stderr_tail", "");
  r.bench_hash = j.value("bench_hash", "");
  r.allocator_hash = j.value("allocator_hash", "");
  return r;
}

void append_run(const std::string& path, const RunRecord& r) {
  std::ofstream out(path, std::ios::app);
  out << to_json(r).dump() << '\n';
  out.flush();
}

std::vector<RunRecord> read_runs(const std::string& path) {
  std::vector<RunRecord> runs;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    runs.push_back(run_from_json(j));
  }
  return runs;
}

double hoard_bound_ratio(const nlohmann::json& stats, double live) {
  if (!stats.is_object() || !(live > 0)) return NAN;
  auto option = [&](const char* name) -> double {
    auto o = stats.find("options");
    if (o == stats.end() || !o->contains(name)) return NAN;
    const auto& v = (*o)[name];
    return v.contains("value") && v["value"].is_number() ? v["value"].get<double>() : NAN;
  };
  double S = option("heap.superblock_size");
  double f = option("heap.emptiness_f");
  double K = option("heap.emptiness_k");
  double P = NAN;
  if (auto t = stats.find("totals"); t != stats.end() && t->contains("heaps"))
    P = (*t)["heaps"].get<double>();
  double C = 0; // sum_i C_i
  if (auto h = stats.find("heaps"); h != stats.end() && h->is_array())
    for (const auto& heap : *h)
      C += heap.is_object() ? partial_classes_of(heap) : NAN;
  if (!std::isfinite(S + f + K + P + C) || f >= 1) return NAN;
  return (live / (1 - f) + (P * K + C) * S) / live;
}

HeapBound heap_bound_at_exit(const nlohmann::json& stats) {
  HeapBound out;
  if (!stats.is_object()) return out;
  auto number = [](const nlohmann::json& j, const char* key) -> double {
    auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<double>() : NAN;
  };
  auto option = [&](const char* name) -> double {
    auto o = stats.find("options");
    if (o == stats.end() || !o->is_object() || !o->contains(name)) return NAN;
    return (*o)[name].is_object() ? number((*o)[name], "value") : NAN;
  };
  const double S = option("heap.superblock_size");
  const double f = option("heap.emptiness_f");
  const double K = option("heap.emptiness_k");
  auto totals = stats.find("totals");
  auto heaps = stats.find("heaps");
  if (totals == stats.end() || !totals->is_object() || heaps == stats.end() || !heaps->is_array())
    return out;
  const double U = number(*totals, "bytes_in_use");
  const double A = number(*totals, "bytes_held");
  if (!std::isfinite(S + f + K + U + A) || f >= 1 || !(U > 0)) return out;
  double sum_a = 0, sum_bound = 0;
  for (const auto& h : *heaps) {
    if (!h.is_object()) return out;
    const double u = number(h, "bytes_in_use");
    const double a = number(h, "bytes_held");
    const double C = partial_classes_of(h);
    if (!std::isfinite(u + a + C)) return out;
    sum_a += a;
    sum_bound += std::max(u + (K + C) * S, u / (1 - f) + C * S); // as lib/mem's heap_bound
  }
  // U is what the program holds (hoardlab.h; blocks in thread caches and remote lists are in
  // the u_i but not in U), A the heaps' a_i plus the pool and the large objects' mappings: what
  // A has beyond the heaps is the pool and the large objects, which the bound adds as they are.
  // (Statistics written before U left out the caches read the same way: their U counted the
  // large objects beside the u_i, and A - sum a_i covered both.)
  const double beyond_heaps = std::max(0.0, A - sum_a);
  out.blowup = A / U;
  out.bound_ratio = (sum_bound + beyond_heaps) / U;
  return out;
}

std::vector<CellSummary> aggregate(const std::vector<RunRecord>& runs, double noisy_threshold,
                                   std::uint64_t seed) {
  std::map<std::string, std::size_t> bench_order, series_order;
  std::map<std::string, std::vector<const RunRecord*>> by_cell;
  for (const auto& r : runs) {
    bench_order.emplace(r.benchmark, bench_order.size());
    series_order.emplace(r.series, series_order.size());
    by_cell[r.cell_id].push_back(&r);
  }
  std::vector<CellSummary> out;
  for (const auto& [id, rs] : by_cell) {
    CellSummary c;
    const auto& first = *rs.front();
    c.cell_id = id;
    c.benchmark = first.benchmark;
    c.allocator = first.allocator;
    c.series = first.series;
    c.threads = first.threads;
    c.params = first.params;
    c.reps_total = static_cast<int>(rs.size());
    std::vector<double> wall, user, sys, live, sampled, bound, exit_blowup, exit_bound, faults;
    for (const auto* r : rs) {
      if (!r->ok) {
        if (c.reason.empty()) c.reason = r->reason;
        continue;
      }
      ++c.reps_ok;
      c.ops.push_back(r->ops_per_s);
      c.rss_kib.push_back(static_cast<double>(r->max_rss_kib));
      c.reps.push_back(r->rep);
      c.sessions.push_back(r->session);
      wall.push_back(r->wall_s);
      user.push_back(r->user_s);
      sys.push_back(r->sys_s);
      if (r->minor_faults >= 0) faults.push_back(static_cast<double>(r->minor_faults));
      if (std::isfinite(r->live_peak_bytes)) live.push_back(r->live_peak_bytes);
      if (double b = hoard_bound_ratio(r->hoardlab_stats, r->live_peak_bytes); std::isfinite(b))
        bound.push_back(b);
      if (HeapBound hb = heap_bound_at_exit(r->hoardlab_stats); std::isfinite(hb.bound_ratio)) {
        exit_blowup.push_back(hb.blowup);
        exit_bound.push_back(hb.bound_ratio);
      }
      if (r->sampled_rss_peak_kib >= 0)
        sampled.push_back(static_cast<double>(r->sampled_rss_peak_kib));
    }
    c.status = c.reps_ok == 0 ? "failed" : c.reps_ok < c.reps_total ? "partial" : "ok";
    if (c.reps_ok > 0) {
      // Seed per cell from its id, so one cell's interval does not depend on which other
      // cells ran (resume, merge and filter give the same numbers).
      std::uint64_t cell_seed = seed;
      for (char ch : id)
        cell_seed = cell_seed * 1099511628211ull ^ static_cast<unsigned char>(ch);
      c.throughput = bootstrap_median(c.ops, cell_seed);
      c.ops_min = *std::min_element(c.ops.begin(), c.ops.end());
      c.ops_max = *std::max_element(c.ops.begin(), c.ops.end());
      c.noisy = c.throughput.estimate > 0 &&
                (c.throughput.hi - c.throughput.lo) / 2 > noisy_threshold * c.throughput.estimate;
      c.rss_median_kib = median(c.rss_kib);
      c.wall_median_s = median(wall);
      c.user_median_s = median(user);
      c.sys_median_s = median(sys);
      if (!faults.empty()) c.minor_faults_median = median(faults);
      if (!live.empty()) c.live_peak_median_bytes = median(live);
      if (!sampled.empty()) c.sampled_rss_peak_median_kib = median(sampled);
      if (!bound.empty()) c.hoard_bound = median(bound);
      if (!exit_bound.empty()) {
        c.exit_blowup = median(exit_blowup);
        c.exit_heap_bound = median(exit_bound);
      }
      if (std::isfinite(c.live_peak_median_bytes) && c.live_peak_median_bytes > 0) {
        double rss = std::isfinite(c.sampled_rss_peak_median_kib) ? c.sampled_rss_peak_median_kib
                                                                  : c.rss_median_kib;
        c.blowup = rss * 1024.0 / c.live_peak_median_bytes;
      }
    }
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(), [&](const CellSummary& a, const CellSummary& b) {
    auto ka = std::tuple(bench_order[a.benchmark], a.threads, series_order[a.series]);
    auto kb = std::tuple(bench_order[b.benchmark], b.threads, series_order[b.series]);
    return ka < kb;
  });
  return out;
}

} // namespace hoardlab::harness
