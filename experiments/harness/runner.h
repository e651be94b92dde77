// `hoardlab run`: expands an experiment into cells, runs them (warm-up, repetitions,
// interleaved), records every run, and writes the report; also --resume, --dry-run,
// --emit-jobs, and the report step shared with `merge` and `plot`.
#pragma once

#include "harness/records.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace hoardlab::harness {

struct RunOptions {
  std::string experiment_file; // empty: the embedded default (or the resumed run's copy)
  std::string out_dir;         // empty: results/<name>-<timestamp>
  std::string resume_dir;
  std::string filter;    // regex on cell ids
  std::string cell;      // one cell, by exact id (what --emit-jobs writes)
  std::string emit_jobs; // write one command per cell to this file instead of running
  std::string bench_dir; // where the benchmark programs are
  std::string hoardlab_lib;
  bool dry_run = false;
  bool allow_debug = false; // run with a debug/sanitizer build anyway (functional, not timing)
  bool no_plots = false;
  bool quiet = false;
  int repetitions = 0; // > 0 overrides the file
  int warmup = -1;     // >= 0 overrides the file
};

// Returns the process exit status: 0 done, 2 bad input, 3 every cell failed, 130 interrupted.
int run_command(const RunOptions& options);

// What the report step needs to know of an experiment.
struct ReportMeta {
  std::string name;
  std::string baseline = "glibc";
  double noisy_threshold = 0.10;
  std::uint64_t seed = 1;
};

// Reads the meta of a result directory (its experiment.toml); throws ConfigError.
ReportMeta read_meta(const std::string& dir);

// Aggregates `runs`, writes cells.csv, results.json, summary.txt and the plots under `dir`,
// and prints the summary. `extra` is merged into results.json.
void write_report(const std::string& dir, const ReportMeta& meta,
                  const std::vector<RunRecord>& runs, const nlohmann::json& extra, bool plots,
                  bool quiet);

// The embedded default experiment, as compiled in from experiments/configs/default.toml.
const char* default_experiment_text();

} // namespace hoardlab::harness
