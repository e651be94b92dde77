// What one run of one cell leaves behind (a line of runs.jsonl), and the per-cell aggregate
// that tables, CSV and plots are made from. Aggregates are computed from the runs alone, so
// `plot`, `merge` and `compare` need nothing but the result directories.
#pragma once

#include "harness/stats.h"

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace hoardlab::harness {

using Params = std::vector<std::pair<std::string, std::string>>;

struct RunRecord {
  std::string cell_id, benchmark, allocator, series;
  int threads = 1;
  Params params;
  int rep = 0;
  // The hoardlab process that ran it. Runs pair by repetition only within one session: that
  // is where the runner interleaved the cells (stats.h); separate jobs, a resumed run's two
  // halves and merged directories are separate sessions.
  std::string session;
  bool ok = false;
  std::string reason; // why the run failed
  int exit_code = -1, signal = 0;
  bool timed_out = false;
  double wall_s = 0, user_s = 0, sys_s = 0;
  long max_rss_kib = 0; // wait4
  // Page faults (wait4): on a machine where a fault costs more than the allocator's work around
  // it, the count explains a time; -1 in records written before it was kept.
  long minor_faults = -1, major_faults = -1;
  double ops_per_s = NAN;         // the benchmark's own figure
  double live_peak_bytes = NAN;   // blowup's peak live bytes
  long sampled_rss_peak_kib = -1; // max over samples of Rss - LazyFree (blowup runs)
  std::string malloc_lib;
  nlohmann::json bench_line;     // the HLBENCH object as printed
  nlohmann::json hoardlab_stats; // HOARDLAB_STATS_FILE's JSON, when there is one
  std::string stderr_tail;
  std::string bench_hash, allocator_hash; // resume refuses to mix rebuilt binaries
};

nlohmann::json to_json(const RunRecord& r);
RunRecord run_from_json(const nlohmann::json& j);

// Appends one record as a line and flushes, so an interrupted run loses at most one run.
void append_run(const std::string& path, const RunRecord& r);
// Reads runs.jsonl; a torn last line (the run was killed mid-write) is ignored.
std::vector<RunRecord> read_runs(const std::string& path);

struct CellSummary {
  std::string cell_id, benchmark, allocator, series;
  int threads = 1;
  Params params;
  std::string status; // ok | partial | failed
  std::string reason; // the first failure's reason
  int reps_ok = 0, reps_total = 0;
  std::vector<double> ops;           // ops/s of each successful repetition
  std::vector<double> rss_kib;       // peak RSS of each successful repetition
  std::vector<int> reps;             // which repetition each entry of ops and rss_kib came from
  std::vector<std::string> sessions; // and in which session (RunRecord::session)
  Interval throughput;               // median ops/s and its bootstrap 95% interval
  double ops_min = NAN, ops_max = NAN;
  bool noisy = false;
  double rss_median_kib = NAN, wall_median_s = NAN, user_median_s = NAN, sys_median_s = NAN;
  double minor_faults_median = NAN; // of the repetitions that recorded it
  double live_peak_median_bytes = NAN;
  double sampled_rss_peak_median_kib = NAN;
  double blowup = NAN; // peak RSS / peak live bytes (blowup runs)
  // Hoard's bound on the same scale, for hoardlab cells: (U/(1-f) + (P*K + sum_i C_i)*S) / U,
  // with U the peak live bytes, P heaps, C_i heap i's classes with a partly used superblock,
  // and S, f, K, C_i as the run's statistics report them. Each heap holds at most
  // max(u_i + (K + C_i)*S, u_i/(1-f) + C_i*S) <= u_i/(1-f) + (K + C_i)*S (Hoard §3.1 with
  // hoardlab's per-class allowance, paper_notes/hoard.md "The bound"), summed over the P
  // heaps; caches and the pool add to it (DESIGN, "Emptiness invariant"). The C_i are those
  // at exit, the only moment the statistics describe, so where the peak had more classes
  // partly used the figure understates the allowance then. Records without C_i count 0.
  double hoard_bound = NAN;
  // The per-heap bound, from the per-heap u_i, a_i and C_i in the statistics. They are written
  // once, when the process exits, so both figures describe that moment, with U and A the
  // allocator's own: exit_blowup = A/U and exit_heap_bound =
  // (sum_i max(u_i + (K + C_i)*S, u_i/(1-f) + C_i*S) + pool + large) / U
  // (paper_notes/hoard.md, "The invariant as implemented"; C_i = 0 in records without it).
  // Blocks in thread caches and on remote-free lists are part of u_i, so the T*C and pending
  // terms are inside the sum; U is what the program holds, without them. Medians over
  // repetitions.
  double exit_blowup = NAN;
  double exit_heap_bound = NAN;
};

// The at-exit per-heap figures above for one run; NaN (both) when a field is missing, f >= 1,
// or nothing was in use at exit.
struct HeapBound {
  double blowup = NAN;      // A/U
  double bound_ratio = NAN; // per-heap bound / U
};
HeapBound heap_bound_at_exit(const nlohmann::json& stats);

// The bound above for one run, from its statistics; NaN when they lack a field.
double hoard_bound_ratio(const nlohmann::json& stats, double live_peak_bytes);

// Groups runs by cell id; order: benchmarks and series in order of first appearance, threads
// ascending.
std::vector<CellSummary> aggregate(const std::vector<RunRecord>& runs, double noisy_threshold,
                                   std::uint64_t seed);

} // namespace hoardlab::harness
