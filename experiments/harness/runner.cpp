#include "harness/runner.h"

#include "harness/allocators.h"
#include "harness/bench_line.h"
#include "harness/cells.h"
#include "harness/elf_info.h"
#include "harness/experiment.h"
#include "harness/machine.h"
#include "harness/plots.h"
#include "harness/preflight.h"
#include "harness/process.h"
#include "harness/progress.h"
#include "harness/summary.h"
#include "harness/writers.h"

#include "harness/default_experiment.h" // generated from configs/default.toml

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

namespace hoardlab::harness {
namespace fs = std::filesystem;

const char* default_experiment_text() {
  return kDefaultExperimentToml;
}

namespace {

constexpr const char* kEmbeddedSource = "<embedded default experiment>";

struct BenchProgram {
  std::string path;
  std::string problem; // cells fail with it when set
  std::string hash;
};

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789-_./=:,+") == std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

// This process among all that ever ran (RunRecord::session): host, pid and start time.
std::string session_id() {
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  auto ns = std::chrono::system_clock::now().time_since_epoch() / std::chrono::nanoseconds(1);
  return fmt::format("{}:{}:{}", host, getpid(), ns);
}

std::string tail(const std::string& text, std::size_t n) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

std::vector<int> parse_cpu_list(const std::string& list) {
  std::vector<int> cpus;
  std::stringstream ss(list);
  std::string part;
  while (std::getline(ss, part, ',')) {
    auto dash = part.find('-');
    int lo = std::stoi(part.substr(0, dash));
    int hi = dash == std::string::npos ? lo : std::stoi(part.substr(dash + 1));
    for (int c = lo; c <= hi; ++c)
      cpus.push_back(c);
  }
  return cpus;
}

// The CPUs a cell's process may use under the experiment's pinning.
std::vector<int> cpus_for(const std::string& pin, int threads) {
  if (pin == "none") return {};
  if (pin != "compact") return parse_cpu_list(pin);
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return {};
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE && static_cast<int>(cpus.size()) < threads; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

// The 1-minute load average, from /proc/loadavg.
std::optional<double> load_average() {
  std::ifstream in("/proc/loadavg");
  double one = 0;
  if (in >> one) return one;
  return std::nullopt;
}

// The CPUs this process may run on.
unsigned online_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return static_cast<unsigned>(CPU_COUNT(&set));
  return 1;
}

std::string human_rate(double v) {
  if (v >= 1e6) return fmt::format("{:.2f}M ops/s", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.1f}k ops/s", v / 1e3);
  return fmt::format("{:.0f} ops/s", v);
}

class Runner {
public:
  Runner(Experiment ex, RunOptions opt) : ex_(std::move(ex)), opt_(std::move(opt)) {}
  int run();

private:
  bool prepare();
  std::vector<std::string> command_of(const Cell& c) const;
  std::vector<std::pair<std::string, std::string>> environment_of(const Cell& c) const;
  RunRecord execute(const Cell& c, int rep, const std::string& run_dir);
  RunRecord failed_without_running(const Cell& c, int rep, const std::string& reason) const;
  const ResolvedAllocator& allocator_of(const Cell& c) const;
  void preflight();
  bool refuse_if_cells_would_fail(const char* what) const;
  void print_start(const std::string& total_runs_text, int total) const;
  int emit_jobs();
  int dry_run();

  Experiment ex_;
  RunOptions opt_;
  Locations where_;
  std::vector<ResolvedAllocator> allocators_;
  std::vector<BenchProgram> programs_;
  std::vector<Cell> cells_;
  std::map<std::string, std::string> would_fail_; // cell id -> why, found before any run
  std::string out_;
  std::string session_ = session_id();
};

const ResolvedAllocator& Runner::allocator_of(const Cell& c) const {
  for (const auto& a : allocators_)
    if (a.name == c.allocator) return a;
  throw std::logic_error("cell of an unknown allocator");
}

bool Runner::prepare() {
  where_ = find_locations(opt_.bench_dir, opt_.hoardlab_lib);
  allocators_ = resolve_allocators(ex_, where_, opt_.allow_debug);
  for (const auto& b : ex_.benchmarks) {
    BenchProgram p;
    p.path = b.program.find('/') != std::string::npos
                 ? b.program
                 : (fs::path(where_.bench_dir) / b.program).string();
    std::error_code ec;
    if (!fs::exists(p.path, ec)) {
      p.problem = fmt::format("benchmark program {} not found (build the bench targets, or give "
                              "--bench-dir)",
                              p.path);
    } else {
      auto info = inspect_elf(p.path);
      p.hash = info.hash;
      if (info.sanitized && !opt_.allow_debug)
        p.problem = fmt::format("{} is a sanitizer build; refused for timing", p.path);
    }
    programs_.push_back(p);
  }
  std::vector<Cell> all = expand_cells(ex_);
  std::set<std::string> skipped;
  for (const auto& a : allocators_)
    if (a.skipped) skipped.insert(a.name);
  for (auto& c : all)
    if (!skipped.count(c.allocator)) cells_.push_back(std::move(c));
  if (!opt_.filter.empty()) cells_ = filter_cells(cells_, opt_.filter);
  if (!opt_.cell.empty()) {
    std::vector<Cell> one;
    for (const auto& c : cells_)
      if (c.id == opt_.cell) one.push_back(c);
    if (one.empty())
      throw ConfigError(fmt::format("--cell '{}': no such cell (see --dry-run)", opt_.cell));
    cells_ = std::move(one);
  }
  for (const auto& a : allocators_) {
    if (opt_.quiet) break;
    if (a.skipped) fmt::print(stderr, "note: {} skipped: {}\n", a.name, a.problem);
  }
  preflight();
  return true;
}

// Every cell that would fail without running, or fail at once, and why: an allocator that is
// missing or refused, a benchmark that is missing or refuses its flags, hoardlab options the
// library would refuse. Each program is asked once per thread count.
void Runner::preflight() {
  std::map<std::pair<std::size_t, int>, std::string> flags_problem;
  std::vector<bool> checks_flags; // per program: it answers --check-flags (read once, not per cell)
  for (const auto& prog : programs_)
    checks_flags.push_back(prog.problem.empty() && takes_check_flags(prog.path));
  for (const auto& c : cells_) {
    const auto& a = allocator_of(c);
    const auto& prog = programs_[c.benchmark_index];
    std::string why;
    if (!a.usable) why = a.problem;
    if (why.empty()) why = prog.problem;
    if (why.empty() && checks_flags[c.benchmark_index]) {
      auto key = std::pair(c.benchmark_index, c.threads);
      auto it = flags_problem.find(key);
      if (it == flags_problem.end())
        it = flags_problem.emplace(key, check_bench_flags(command_of(c))).first;
      if (!it->second.empty())
        why = fmt::format("benchmark {} refuses its flags: {}", c.benchmark, it->second);
    }
    if (why.empty() && c.allocator == "hoardlab") {
      std::string refused = check_hoardlab_environment(environment_of(c));
      if (!refused.empty()) why = fmt::format("hoardlab options refused: {}", refused);
    }
    if (!why.empty()) would_fail_.emplace(c.id, why);
  }
}

// Prints the cells that would fail and returns true when there are any.
bool Runner::refuse_if_cells_would_fail(const char* what) const {
  if (would_fail_.empty()) return false;
  fmt::print(stderr, "error: {} of {} cells would fail; {}:\n", would_fail_.size(), cells_.size(),
             what);
  int shown = 0;
  for (const auto& c : cells_) {
    auto it = would_fail_.find(c.id);
    if (it == would_fail_.end()) continue;
    if (++shown > 20) {
      fmt::print(stderr, "  ... and {} more (hoardlab run --dry-run lists them all)\n",
                 would_fail_.size() - 20);
      break;
    }
    fmt::print(stderr, "  {}: {}\n", c.id, it->second);
  }
  return true;
}

std::vector<std::string> Runner::command_of(const Cell& c) const {
  const auto& b = ex_.benchmarks[c.benchmark_index];
  std::vector<std::string> argv = {programs_[c.benchmark_index].path, "--threads",
                                   std::to_string(c.threads), "--seed", std::to_string(ex_.seed)};
  argv.insert(argv.end(), b.args.begin(), b.args.end());
  return argv;
}

std::vector<std::pair<std::string, std::string>> Runner::environment_of(const Cell& c) const {
  std::vector<std::pair<std::string, std::string>> env;
  const auto& a = allocator_of(c);
  if (!a.preload.empty()) env.emplace_back("LD_PRELOAD", a.preload);
  if (c.allocator == "hoardlab") {
    // A bad value must fail the cell, not silently run with the default.
    env.emplace_back("HOARDLAB_STRICT_CONFIG", "1");
    for (const auto& o : ex_.hoardlab_options)
      env.emplace_back(o.env, o.value);
    for (const auto& [name, value] : c.params)
      for (const auto& axis : ex_.grid) {
        if (axis.name != name) continue;
        auto at = std::find(axis.values.begin(), axis.values.end(), value);
        bool mapped = !axis.env_values.empty() && at != axis.values.end();
        env.emplace_back(axis.env, mapped ? axis.env_values[at - axis.values.begin()] : value);
      }
  }
  return env;
}

RunRecord Runner::failed_without_running(const Cell& c, int rep, const std::string& reason) const {
  RunRecord r;
  r.cell_id = c.id;
  r.benchmark = c.benchmark;
  r.allocator = c.allocator;
  r.series = c.series;
  r.threads = c.threads;
  r.params = c.params;
  r.rep = rep;
  r.session = session_;
  r.ok = false;
  r.reason = reason;
  r.bench_hash = programs_[c.benchmark_index].hash;
  r.allocator_hash = allocator_of(c).hash;
  return r;
}

RunRecord Runner::execute(const Cell& c, int rep, const std::string& run_dir) {
  const auto& a = allocator_of(c);
  const auto& prog = programs_[c.benchmark_index];
  RunRecord r = failed_without_running(c, rep, "");
  if (!a.usable) {
    r.reason = a.problem;
    return r;
  }
  if (!prog.problem.empty()) {
    r.reason = prog.problem;
    return r;
  }
  std::string stem = rep < 0 ? "warmup" : fmt::format("rep{}", rep);
  std::string base = (fs::path(run_dir) / stem).string();
  ProcessSpec spec;
  spec.argv = command_of(c);
  spec.env = environment_of(c);
  std::string stats_path = base + ".stats.json";
  fs::remove(stats_path);
  if (c.allocator == "hoardlab") spec.env.emplace_back("HOARDLAB_STATS_FILE", stats_path);
  spec.stdout_path = base + ".out";
  spec.stderr_path = base + ".err";
  const auto& bench = ex_.benchmarks[c.benchmark_index];
  spec.timeout_s = bench.timeout_s.value_or(ex_.timeout_s);
  spec.cpus = cpus_for(ex_.pin, c.threads);
  std::vector<std::pair<double, long>> samples;
  if (bench.sample_rss) {
    spec.sample_interval_s = 0.02;
    spec.sample = [&samples](int pid, double t) {
      long kib = rss_minus_lazyfree_kib(pid);
      if (kib >= 0) samples.emplace_back(t, kib);
    };
  }
  auto p = run_process(spec);
  r.wall_s = p.wall_s;
  r.user_s = p.user_s;
  r.sys_s = p.sys_s;
  r.max_rss_kib = p.max_rss_kib;
  r.minor_faults = p.minor_faults;
  r.major_faults = p.major_faults;
  r.exit_code = p.exit_code;
  r.signal = p.signal;
  r.timed_out = p.timed_out;
  r.stderr_tail = tail(read_text(spec.stderr_path), 2000);
  if (!samples.empty()) {
    std::string tsv = "t_s\trss_minus_lazyfree_kib\n";
    long peak = 0;
    for (const auto& [t, kib] : samples) {
      tsv += fmt::format("{:.3f}\t{}\n", t, kib);
      peak = std::max(peak, kib);
    }
    write_text(base + ".rss.tsv", tsv);
    r.sampled_rss_peak_kib = peak;
  }
  if (fs::exists(stats_path)) {
    // One report per line, one line per process that exited (HOARDLAB_STATS_FILE appends): the
    // last is the benchmark's own, which waits for any process it started.
    const std::string text = read_text(stats_path);
    std::string last, line;
    for (std::istringstream lines(text); std::getline(lines, line);)
      if (!line.empty()) last = line;
    auto j = nlohmann::json::parse(last, nullptr, false);
    r.hoardlab_stats = j.is_discarded() ? nlohmann::json(text) : j;
  }
  if (!p.started) {
    r.reason = p.spawn_error;
    return r;
  }
  if (p.interrupted) {
    r.reason = "interrupted";
    return r;
  }
  if (p.timed_out) {
    r.reason = fmt::format("timed out after {:.0f} s; process group killed", spec.timeout_s);
    return r;
  }
  if (p.signal != 0) {
    r.reason = fmt::format("killed by signal {} ({})", p.signal, strsignal(p.signal));
    return r;
  }
  auto line = parse_bench_output(read_text(spec.stdout_path));
  if (p.exit_code != 0) {
    // What the program said is the reason: a benchmark's usage error, a failed self-check and
    // the allocator's own refusal of an option all exit non-zero, and only the text tells them
    // apart.
    std::string said =
        first_line(r.stderr_tail.starts_with("...") ? read_text(spec.stderr_path) : r.stderr_tail);
    r.reason = !said.empty()      ? fmt::format("exit status {}: {}", p.exit_code, said)
               : p.exit_code == 3 ? fmt::format("exit status 3 (self-check failed)")
                                  : fmt::format("exit status {}", p.exit_code);
    if (line.found) r.bench_line = line.json;
    return r;
  }
  if (!line.found) {
    r.reason = line.error;
    return r;
  }
  r.bench_line = line.json;
  r.ops_per_s = line.json["ops_per_s"].get<double>();
  r.malloc_lib = line.json["malloc_lib"].get<std::string>();
  if (line.json.contains("live_peak_bytes") && line.json["live_peak_bytes"].is_number())
    r.live_peak_bytes = line.json["live_peak_bytes"].get<double>();
  // The benchmark's own VmHWM, not wait4's ru_maxrss: posix_spawn runs the child in the
  // harness's address space until exec, and exec keeps the larger of the old and new memory's
  // high-water marks, so ru_maxrss never reads below the harness's own peak (~8 MiB) and hid
  // the footprint of small programs. wait4's figure stays for runs without a result line.
  if (line.json.contains("peak_rss_kib") && line.json["peak_rss_kib"].is_number())
    r.max_rss_kib = line.json["peak_rss_kib"].get<long>();
  std::string check = line.json.value("check", "ok");
  if (check != "ok") {
    r.reason = "benchmark self-check: " + check;
    return r;
  }
  if (!preload_took_effect(r.malloc_lib, a.realpath, a.preload.empty())) {
    r.reason = fmt::format("preload did not take effect: malloc resolved to {}, expected {}",
                           r.malloc_lib, a.preload.empty() ? "the C library" : a.realpath);
    return r;
  }
  r.ok = true;
  return r;
}

int Runner::dry_run() {
  fmt::print("{} cells x ({} warm-up + {} repetitions) = {} runs\n", cells_.size(), ex_.warmup,
             ex_.repetitions, cells_.size() * (ex_.warmup + ex_.repetitions));
  for (const auto& c : cells_) {
    std::string env;
    for (const auto& [k, v] : environment_of(c))
      env += fmt::format("{}={} ", k, shell_quote(v));
    std::string cmd;
    for (const auto& a : command_of(c))
      cmd += fmt::format("{}{}", cmd.empty() ? "" : " ", shell_quote(a));
    auto problem = would_fail_.find(c.id);
    fmt::print(
        "{}\n    {}{}{}\n", c.id, env, cmd,
        problem == would_fail_.end() ? "" : fmt::format("\n    (will fail: {})", problem->second));
  }
  std::fflush(stdout);
  return refuse_if_cells_would_fail("a run would stop before its first") ? 2 : 0;
}

int Runner::emit_jobs() {
  if (refuse_if_cells_would_fail("no jobs written")) return 2;
  fs::path file = fs::absolute(opt_.emit_jobs);
  fs::path jobs_dir = file.parent_path() / fmt::format("{}-jobs", ex_.name);
  fs::create_directories(jobs_dir);
  // The experiment travels with the jobs, so each line runs anywhere that sees this folder.
  fs::path exp = jobs_dir / "experiment.toml";
  write_text(exp.string(), ex_.text);
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  std::ofstream out(file);
  for (const auto& c : cells_) {
    std::string line = fmt::format(
        "{} run {} --cell {} --out {} --bench-dir {} --hoardlab-lib {} --no-plots --quiet",
        shell_quote(self.string()), shell_quote(exp.string()), shell_quote(c.id),
        shell_quote((jobs_dir / slug(c.id)).string()), shell_quote(where_.bench_dir),
        shell_quote(where_.hoardlab_lib));
    if (opt_.allow_debug) line += " --allow-debug-build";
    out << line << '\n';
  }
  fmt::print("{} commands written to {}\nrun them (GNU parallel, or experiments/slurm/"
             "run-array.sbatch), then: hoardlab merge {}/*/\n",
             cells_.size(), file.string(), jobs_dir.string());
  return 0;
}

// What the run will do and where it goes, before the first run starts, and whether the machine
// is busy enough to widen the intervals.
void Runner::print_start(const std::string& runs_text, int total) const {
  if (opt_.quiet) return;
  double bound = 0;
  for (const auto& c : cells_)
    bound += ex_.benchmarks[c.benchmark_index].timeout_s.value_or(ex_.timeout_s);
  bound *= static_cast<double>(total) / std::max<std::size_t>(1, cells_.size());
  std::string estimate =
      ex_.run_seconds ? fmt::format("about {} ({} s a run, as the experiment says)",
                                    human_duration(*ex_.run_seconds * total), *ex_.run_seconds)
                      : "shown by the progress line once runs finish";
  fmt::print(stderr,
             "{}: {} cells, {}; results in {}\nestimated time: {} (at most {} by the "
             "timeouts)\n",
             ex_.name, cells_.size(), runs_text, out_, estimate, human_duration(bound));
  auto load = load_average();
  unsigned cpus = online_cpus();
  if (load && *load > cpus)
    fmt::print(stderr,
               "warning: the load average ({:.1f}) exceeds the {} CPUs: other work competes with "
               "the benchmarks, so timings vary and ratios get wide intervals (marked ~)\n",
               *load, cpus);
}

int Runner::run() {
  prepare();
  if (opt_.dry_run) return dry_run();
  if (!opt_.emit_jobs.empty()) return emit_jobs();
  std::string flavour = cli_build_flavour();
  if (flavour != "Release" && flavour != "RelWithDebInfo" && !opt_.allow_debug) {
    fmt::print(stderr,
               "error: this hoardlab is a {} build; timings from it would mislead. Build the "
               "release preset, or pass --allow-debug-build for a functional run.\n",
               flavour);
    return 2;
  }
  if (cells_.empty()) {
    fmt::print(stderr, "error: no cells to run (check --filter)\n");
    return 2;
  }
  if (refuse_if_cells_would_fail("nothing was run")) return 2;
  const bool resuming = !opt_.resume_dir.empty();
  out_ = resuming
             ? opt_.resume_dir
             : (!opt_.out_dir.empty()
                    ? opt_.out_dir
                    : (fs::path("results") / fmt::format("{}-{}", ex_.name, timestamp())).string());
  const std::string runs_path = (fs::path(out_) / "runs.jsonl").string();
  if (!resuming && fs::exists(runs_path)) {
    fmt::print(stderr, "error: {} already holds a run; use --resume {} or another --out\n", out_,
               out_);
    return 2;
  }
  fs::create_directories(fs::path(out_) / "runs");

  // Resume: keep the finished runs, but only if nothing they ran has been rebuilt since.
  std::set<std::pair<std::string, int>> done;
  std::set<std::string> started_cells;
  if (resuming) {
    std::map<std::string, std::string> now_bench, now_alloc;
    for (const auto& c : cells_) {
      now_bench[c.id] = programs_[c.benchmark_index].hash;
      now_alloc[c.id] = allocator_of(c).hash;
    }
    std::vector<std::string> changed;
    for (const auto& r : read_runs(runs_path)) {
      if (!now_bench.count(r.cell_id)) continue;
      if (r.bench_hash != now_bench[r.cell_id] || r.allocator_hash != now_alloc[r.cell_id]) {
        changed.push_back(r.cell_id);
        continue;
      }
      done.emplace(r.cell_id, r.rep);
      started_cells.insert(r.cell_id);
    }
    if (!changed.empty()) {
      fmt::print(stderr,
                 "error: {} finished runs used a benchmark or allocator binary that has changed "
                 "since (first: {}); resuming would mix builds. Start a new run.\n",
                 changed.size(), changed.front());
      return 2;
    }
  } else {
    write_text((fs::path(out_) / "experiment.toml").string(), ex_.text);
  }
  // run.json says what the directory's run is to hold; a resume that adds repetitions
  // rewrites it with the new count.
  nlohmann::json run_info = {{"filter", opt_.filter},
                             {"cell", opt_.cell},
                             {"bench_dir", where_.bench_dir},
                             {"hoardlab_lib", where_.hoardlab_lib},
                             {"experiment_source", ex_.source},
                             {"repetitions", ex_.repetitions},
                             {"warmup", ex_.warmup},
                             {"allow_debug", opt_.allow_debug}};
  write_text((fs::path(out_) / "run.json").string(), run_info.dump(2) + "\n");

  nlohmann::json machine = machine_record();
  machine["experiment_file"] = ex_.source;
  machine["experiment"] = ex_.text;
  nlohmann::json allocs = nlohmann::json::array();
  for (const auto& a : allocators_)
    allocs.push_back(to_json(a));
  machine["allocators"] = allocs;
  nlohmann::json benches = nlohmann::json::object();
  for (std::size_t i = 0; i < programs_.size(); ++i)
    benches[ex_.benchmarks[i].name] = {{"path", programs_[i].path},
                                       {"hash", programs_[i].hash},
                                       {"problem", programs_[i].problem}};
  machine["benchmarks"] = benches;
  write_text((fs::path(out_) / "machine.json").string(), machine.dump(2) + "\n");

  int total = 0;
  for (const auto& c : cells_) {
    for (int rep = 0; rep < ex_.repetitions; ++rep)
      total += done.count({c.id, rep}) ? 0 : 1;
    total += started_cells.count(c.id) ? 0 : ex_.warmup;
  }
  print_start(resuming ? fmt::format("{} runs left", total)
                       : fmt::format("{} runs ({} warm-up + {} repetitions each)", total,
                                     ex_.warmup, ex_.repetitions),
              total);
  install_stop_handlers();
  Progress progress(total, opt_.quiet);
  CpuTimes cpu_start = read_cpu_times();
  std::map<std::string, std::string> warmup_failure;
  bool interrupted = false;
  // Repetition-major order: every cell's run r before any cell's run r+1, so allocators
  // alternate and slow drift (thermal, background load) spreads over all of them alike; within
  // a benchmark and thread count, the allocators in a seeded order of the round's own
  // (round_order: what each run follows changes from round to round).
  for (int round = -ex_.warmup; round < ex_.repetitions && !interrupted; ++round) {
    for (const std::size_t index : round_order(cells_, ex_.shuffle, ex_.seed, round)) {
      const Cell& c = cells_[index];
      if (stop_requested()) {
        interrupted = true;
        break;
      }
      if (round < 0 ? started_cells.count(c.id) > 0 : done.count({c.id, round}) > 0) continue;
      std::string run_dir = (fs::path(out_) / "runs" / slug(c.id)).string();
      fs::create_directories(run_dir);
      std::string label =
          round < 0 ? fmt::format("{} warm-up", c.id) : fmt::format("{} rep {}", c.id, round);
      RunRecord r;
      if (auto w = warmup_failure.find(c.id); w != warmup_failure.end() && round >= 0) {
        // The warm-up already failed: record its reason instead of spending the timeout again.
        r = failed_without_running(c, round, fmt::format("warm-up failed: {}", w->second));
        progress.start(label);
      } else {
        progress.start(label);
        r = execute(c, round, run_dir);
      }
      if (r.reason == "interrupted") {
        interrupted = true;
        break;
      }
      progress.done(r.ok ? human_rate(r.ops_per_s) : "FAILED: " + r.reason);
      if (round < 0) {
        if (!r.ok) warmup_failure.emplace(c.id, r.reason);
        continue;
      }
      append_run(runs_path, r);
    }
  }
  progress.finish();
  add_run_load(machine, cpu_start, read_cpu_times());
  write_text((fs::path(out_) / "machine.json").string(), machine.dump(2) + "\n");

  auto runs = read_runs(runs_path);
  ReportMeta meta{ex_.name, ex_.baseline, ex_.noisy_threshold, ex_.seed};
  nlohmann::json extra = {{"allocators", allocs},
                          {"complete", !interrupted},
                          {"runs_planned", cells_.size() * ex_.repetitions},
                          {"resume_command", fmt::format("hoardlab run --resume {}", out_)}};
  write_report(out_, meta, runs, extra, !opt_.no_plots, opt_.quiet);
  if (interrupted) {
    fmt::print(stderr, "stopped; finish with: hoardlab run --resume {}\n", out_);
    return 130;
  }
  fmt::print(stderr, "results in {}\n", out_);
  // Any failed run fails the command, so a script or a job array notices; the cells and the
  // first line their program wrote on stderr say why.
  auto cells = aggregate(runs, ex_.noisy_threshold, ex_.seed);
  std::vector<const CellSummary*> failed;
  for (const auto& c : cells)
    if (c.status != "ok") failed.push_back(&c);
  if (failed.empty()) return 0;
  fmt::print(stderr, "error: {} of {} cells had failed runs:\n", failed.size(), cells.size());
  for (const auto* c : failed)
    fmt::print(stderr, "  {} ({}/{} ok): {}\n", c->cell_id, c->reps_ok, c->reps_total, c->reason);
  return failed.size() == cells.size() ? 3 : 1;
}

} // namespace

ReportMeta read_meta(const std::string& dir) {
  auto path = (fs::path(dir) / "experiment.toml").string();
  if (!fs::exists(path))
    throw ConfigError(fmt::format("{}: not a result directory (no experiment.toml)", dir));
  auto ex = load_experiment(path);
  return {ex.name, ex.baseline, ex.noisy_threshold, ex.seed};
}

void write_report(const std::string& dir, const ReportMeta& meta,
                  const std::vector<RunRecord>& runs, const nlohmann::json& extra, bool plots,
                  bool quiet) {
  auto cells = aggregate(runs, meta.noisy_threshold, meta.seed);
  write_cells_csv((fs::path(dir) / "cells.csv").string(), cells);
  auto summary = summarize(cells, meta.baseline, meta.seed, meta.noisy_threshold);
  nlohmann::json results = {{"experiment", meta.name},
                            {"baseline", meta.baseline},
                            {"noisy_threshold", meta.noisy_threshold},
                            {"cells", cells_json(cells)},
                            {"summary", summary.json}};
  for (const auto& [k, v] : extra.items())
    results[k] = v;
  write_text((fs::path(dir) / "results.json").string(), results.dump(2) + "\n");
  std::string header = fmt::format("Experiment {}: {} cells\n", meta.name, cells.size());
  // A stopped run's table must not pass for the whole experiment.
  if (auto c = extra.find("complete"); c != extra.end() && c->is_boolean() && !c->get<bool>())
    header += fmt::format("PARTIAL: the run was stopped after {} of its {} runs; the figures "
                          "below cover those only. Finish it with: {}\n",
                          runs.size(), extra.value("runs_planned", 0),
                          extra.value("resume_command", "hoardlab run --resume DIR"));
  // What each allocator is, so a table is not read as more than it shows (the tcmalloc here
  // is gperftools' tcmalloc_minimal, not Google's per-CPU TCMalloc).
  std::string footer;
  if (extra.contains("allocators") && extra["allocators"].is_array()) {
    footer = "\nAllocators:\n";
    for (const auto& a : extra["allocators"]) {
      bool has_cells = std::any_of(runs.begin(), runs.end(), [&](const RunRecord& r) {
        return r.allocator == a.value("name", "");
      });
      if (a.value("skipped", false) || !has_cells) continue;
      std::string what = a.value("package", "");
      if (what.empty()) what = a.value("realpath", "");
      footer += fmt::format("  {:<10} {} ({})\n", a.value("name", ""), a.value("note", ""), what);
    }
  }
  write_text((fs::path(dir) / "summary.txt").string(), header + summary.text + footer);
  if (!quiet) fmt::print("{}{}{}", header, summary.text, footer);
  std::fflush(stdout); // the table before any later message on stderr
  if (plots) {
    auto p = draw_plots((fs::path(dir) / "plots").string(), cells);
    if (!p.warning.empty())
      fmt::print(stderr, "warning: {}\n", p.warning);
    else if (!quiet)
      fmt::print("{} plots in {}/plots\n", p.files.size(), dir);
  }
  std::fflush(stdout);
}

int run_command(const RunOptions& opt) {
  try {
    Experiment ex;
    if (!opt.resume_dir.empty()) {
      if (!opt.experiment_file.empty())
        throw ConfigError("--resume takes the experiment from its directory; give no file");
      ex = load_experiment((fs::path(opt.resume_dir) / "experiment.toml").string());
    } else if (opt.experiment_file.empty()) {
      ex = parse_experiment(default_experiment_text(), kEmbeddedSource);
    } else {
      ex = load_experiment(opt.experiment_file);
    }
    RunOptions o = opt;
    if (!opt.resume_dir.empty()) {
      // A resumed run keeps what it was started with: an option that would change which cells
      // or runs it holds is refused rather than silently ignored. --repetitions may raise the
      // count (the new repetitions are run); the locations and output flags apply.
      std::vector<std::string> ignored;
      if (!opt.out_dir.empty()) ignored.push_back("--out");
      if (!opt.filter.empty()) ignored.push_back("--filter");
      if (!opt.cell.empty()) ignored.push_back("--cell");
      if (opt.warmup >= 0) ignored.push_back("--warmup");
      if (!opt.emit_jobs.empty()) ignored.push_back("--emit-jobs");
      if (!ignored.empty())
        throw ConfigError(fmt::format(
            "--resume finishes the run as it was started, so {} cannot apply to it; start a new "
            "run (--out) to change {}",
            fmt::join(ignored, ", "), ignored.size() == 1 ? "it" : "them"));
      auto info = nlohmann::json::parse(read_text((fs::path(opt.resume_dir) / "run.json").string()),
                                        nullptr, false);
      if (info.is_object()) {
        o.filter = info.value("filter", "");
        o.cell = info.value("cell", "");
        if (o.bench_dir.empty()) o.bench_dir = info.value("bench_dir", "");
        if (o.hoardlab_lib.empty()) o.hoardlab_lib = info.value("hoardlab_lib", "");
        ex.repetitions = info.value("repetitions", ex.repetitions);
        ex.warmup = info.value("warmup", ex.warmup);
        o.allow_debug = o.allow_debug || info.value("allow_debug", false);
      }
      if (opt.repetitions > 0) {
        if (opt.repetitions < ex.repetitions)
          throw ConfigError(fmt::format("{} was started with {} repetitions; --repetitions {} "
                                        "with --resume can only add to them",
                                        opt.resume_dir, ex.repetitions, opt.repetitions));
        ex.repetitions = opt.repetitions;
      }
    } else {
      if (opt.repetitions > 0) ex.repetitions = opt.repetitions;
      if (opt.warmup >= 0) ex.warmup = opt.warmup;
    }
    Runner runner(std::move(ex), std::move(o));
    return runner.run();
  } catch (const ConfigError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
}

} // namespace hoardlab::harness
