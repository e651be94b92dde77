// End to end: the hoardlab CLI runs small experiments over a stand-in benchmark and leaves the
// files a researcher reads (cells.csv, results.json, machine.json, plots); failures are
// recorded and the run goes on; resume, dry-run, emit-jobs and merge work.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {
namespace fs = std::filesystem;

struct Output {
  int status = -1;
  std::string text;
};

// Runs a shell command, returning its exit status and combined output.
Output shell(const std::string& cmd) {
  Output o;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return o;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0)
    o.text.append(buf, n);
  int st = pclose(p);
  o.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return o;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// cells.csv as rows of column -> value. The harness quotes fields with commas; the fields
// read here have none, so splitting on commas outside quotes is enough.
std::vector<std::map<std::string, std::string>> read_csv(const fs::path& p) {
  std::ifstream in(p);
  std::string line;
  auto split = [](const std::string& l) {
    std::vector<std::string> f(1);
    bool quoted = false;
    for (char c : l) {
      if (c == '"')
        quoted = !quoted;
      else if (c == ',' && !quoted)
        f.emplace_back();
      else
        f.back() += c;
    }
    return f;
  };
  std::getline(in, line);
  auto header = split(line);
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    auto f = split(line);
    std::map<std::string, std::string> row;
    for (std::size_t i = 0; i < header.size() && i < f.size(); ++i)
      row[header[i]] = f[i];
    rows.push_back(row);
  }
  return rows;
}

class HarnessEndToEnd : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hoardlab-harness-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  fs::path write_experiment(const std::string& body) {
    auto p = dir_ / "exp.toml";
    std::ofstream(p) << body;
    return p;
  }
  Output hoardlab(const std::string& args) {
    return shell(std::string(HARNESS_CLI) + " " + args + " --allow-debug-build");
  }
  fs::path dir_;
};

std::string fake_benchmark(const std::string& name, const std::string& extra = "") {
  return "[[benchmark]]\nname = \"" + name + "\"\nprogram = \"" HARNESS_FAKE_BENCH "\"\n" + extra;
}

bool dropin_built() {
  return fs::exists(HARNESS_DROPIN_LIB);
}

TEST_F(HarnessEndToEnd, OneBenchmarkUnderGlibcAndHoardlabGivesCsvRowsAndPlots) {
  auto exp = write_experiment("name = \"e2e\"\nrepetitions = 2\nwarmup = 1\nthreads = [1]\n"
                              "timeout_s = 20\nallocators = [\"hoardlab\", \"glibc\"]\n" +
                              fake_benchmark("fake", "args = { iterations = 300 }\n"));
  auto out = dir_ / "out";
  auto r = hoardlab("run " + exp.string() + " --out " + out.string() +
                    " --hoardlab-lib " HARNESS_DROPIN_LIB);
  if (!dropin_built()) { // refused before the first run
    EXPECT_EQ(r.status, 2) << r.text;
    EXPECT_NE(r.text.find("not built"), std::string::npos) << r.text;
    return;
  }
  ASSERT_EQ(r.status, 0) << r.text;
  auto rows = read_csv(out / "cells.csv");
  ASSERT_EQ(rows.size(), 2u) << slurp(out / "cells.csv");
  std::map<std::string, std::map<std::string, std::string>> by;
  for (auto& row : rows)
    by[row["allocator"]] = row;
  ASSERT_TRUE(by.count("glibc") && by.count("hoardlab"));
  EXPECT_EQ(by["glibc"]["status"], "ok") << by["glibc"]["reason"];
  EXPECT_EQ(by["glibc"]["reps_ok"], "2");
  EXPECT_EQ(by["glibc"]["threads"], "1");
  EXPECT_GT(std::stod(by["glibc"]["ops_per_s"]), 0);
  // The benchmark's own high-water mark (the stand-in reports 1024 KiB), not wait4's, which
  // never reads below the harness's own peak.
  EXPECT_EQ(std::stod(by["glibc"]["peak_rss_kib"]), 1024);
  EXPECT_EQ(by["hoardlab"]["status"], "ok") << by["hoardlab"]["reason"];
  for (const char* f : {"fake-throughput", "fake-speedup", "fake-rss"})
    for (const char* ext : {".png", ".svg"}) {
      auto p = out / "plots" / (std::string(f) + ext);
      EXPECT_TRUE(fs::exists(p) && fs::file_size(p) > 100) << p;
    }
  auto results = nlohmann::json::parse(slurp(out / "results.json"));
  EXPECT_EQ(results["cells"].size(), 2u);
  auto machine = nlohmann::json::parse(slurp(out / "machine.json"));
  EXPECT_TRUE(machine.contains("cpu_model"));
  EXPECT_TRUE(machine.contains("during_run"));
  EXPECT_EQ(machine["experiment"].get<std::string>(), slurp(exp));
  EXPECT_NE(r.text.find("Throughput"), std::string::npos) << r.text;
  // Where the results go and how long it takes, before the first run's progress.
  auto up_front = r.text.find("e2e: 2 cells, 6 runs (1 warm-up + 2 repetitions each); results in " +
                              out.string() + "\nestimated time: ");
  EXPECT_NE(up_front, std::string::npos) << r.text;
  EXPECT_LT(up_front, r.text.find("Throughput")) << r.text;
}

// Each run records its page faults (wait4), and each cell the median: a benchmark that touches
// 16 MiB more (4,096 pages, each faulted alone) shows at least 3,500 more.
TEST_F(HarnessEndToEnd, EachRunRecordsItsPageFaults) {
  auto exp =
      write_experiment("name = \"faults\"\nrepetitions = 2\nwarmup = 0\nthreads = [1]\n"
                       "timeout_s = 20\nallocators = [\"glibc\"]\n" +
                       fake_benchmark("quiet", "args = { iterations = 10 }\n") +
                       fake_benchmark("touch", "args = { iterations = 10, touch-mib = 16 }\n"));
  auto out = dir_ / "out";
  auto r = hoardlab("run " + exp.string() + " --out " + out.string());
  ASSERT_EQ(r.status, 0) << r.text;
  std::map<std::string, double> faults;
  for (auto& row : read_csv(out / "cells.csv")) {
    ASSERT_FALSE(row["minor_faults"].empty()) << row["cell"];
    faults[row["benchmark"]] = std::stod(row["minor_faults"]);
  }
  EXPECT_GT(faults["quiet"], 0);
  EXPECT_GE(faults["touch"], faults["quiet"] + 3500) << faults["touch"] << " " << faults["quiet"];
  std::ifstream runs(out / "runs.jsonl");
  std::string line;
  int records = 0;
  while (std::getline(runs, line)) {
    auto j = nlohmann::json::parse(line);
    EXPECT_GT(j.at("minor_faults").get<long>(), 0) << line.substr(0, 200);
    EXPECT_GE(j.at("major_faults").get<long>(), 0) << line.substr(0, 200);
    ++records;
  }
  EXPECT_EQ(records, 4);
}

TEST_F(HarnessEndToEnd, FailuresAreRecordedWithTheirReasonAndTheRunGoesOnButFails) {
  auto exp = write_experiment(
      "name = \"fail\"\nrepetitions = 2\nwarmup = 1\nthreads = [1]\ntimeout_s = 20\n"
      "allocators = [\"glibc\"]\n[allocator_paths]\n"
      "notmalloc = \"/lib/x86_64-linux-gnu/libm.so.6\"\n" +
      fake_benchmark("ok", "args = { iterations = 100 }\n") +
      fake_benchmark("crash", "args = { mode = \"crash\" }\n") +
      fake_benchmark("hang", "args = { mode = \"hang\" }\ntimeout_s = 1\n") +
      fake_benchmark("selfcheck", "args = { mode = \"selfcheck\" }\n") +
      fake_benchmark("noline", "args = { mode = \"noline\" }\n") +
      fake_benchmark("complain", "args = { mode = \"complain\" }\n"));
  auto out = dir_ / "out";
  auto r = hoardlab("run " + exp.string() + " --out " + out.string() + " --no-plots --quiet");
  // Some cells failed: the command fails, and names each failed cell with its reason, the
  // first line its program wrote on stderr.
  EXPECT_EQ(r.status, 1) << r.text;
  EXPECT_NE(r.text.find("complain/t1/glibc (0/2 ok): warm-up failed: exit status 4: fake-bench: "
                        "out of widgets\n"),
            std::string::npos)
      << r.text;
  EXPECT_NE(r.text.find("crash/t1/glibc (0/2 ok)"), std::string::npos) << r.text;
  EXPECT_EQ(r.text.find("ok/t1/glibc ("), std::string::npos) << r.text;
  std::map<std::string, std::string> reason, status;
  for (auto& row : read_csv(out / "cells.csv")) {
    reason[row["benchmark"] + "/" + row["allocator"]] = row["reason"];
    status[row["benchmark"] + "/" + row["allocator"]] = row["status"];
  }
  EXPECT_EQ(status["ok/glibc"], "ok");
  EXPECT_NE(reason["crash/glibc"].find("signal 11"), std::string::npos) << reason["crash/glibc"];
  EXPECT_NE(reason["hang/glibc"].find("timed out"), std::string::npos) << reason["hang/glibc"];
  EXPECT_NE(reason["selfcheck/glibc"].find("self-check"), std::string::npos);
  EXPECT_NE(reason["noline/glibc"].find("no HLBENCH"), std::string::npos);
  EXPECT_NE(reason["ok/notmalloc"].find("preload did not take effect"), std::string::npos)
      << reason["ok/notmalloc"];
  // The failing run's stderr is kept.
  EXPECT_TRUE(fs::exists(out / "runs" / "noline_t1_glibc" / "warmup.err"));
}

TEST_F(HarnessEndToEnd, ResumeRunsOnlyWhatIsMissingAndRefusesRebuiltBinaries) {
  auto exp = write_experiment("name = \"resume\"\nrepetitions = 3\nwarmup = 0\nthreads = [1]\n"
                              "allocators = [\"glibc\"]\n" +
                              fake_benchmark("fake", "args = { iterations = 50 }\n"));
  auto out = dir_ / "out";
  ASSERT_EQ(
      hoardlab("run " + exp.string() + " --out " + out.string() + " --no-plots --quiet").status, 0);
  auto runs = out / "runs.jsonl";
  std::string first_line = slurp(runs).substr(0, slurp(runs).find('\n') + 1);
  std::ofstream(runs) << first_line; // as if stopped after the first run
  auto r = hoardlab("run --resume " + out.string() + " --no-plots --quiet");
  ASSERT_EQ(r.status, 0) << r.text;
  std::vector<int> reps;
  std::istringstream lines(slurp(runs));
  std::string line;
  while (std::getline(lines, line))
    reps.push_back(nlohmann::json::parse(line)["rep"].get<int>());
  EXPECT_EQ(reps, (std::vector<int>{0, 1, 2}));

  auto j = nlohmann::json::parse(first_line);
  j["bench_hash"] = "0000000000000000";
  std::ofstream(runs) << j.dump() << "\n";
  r = hoardlab("run --resume " + out.string() + " --no-plots --quiet");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.text.find("changed"), std::string::npos) << r.text;
}

TEST_F(HarnessEndToEnd, EachConfigFileOfTheGridReachesItsOwnCells) {
  if (!dropin_built()) GTEST_SKIP() << "libhoardlab-malloc.so not built";
  // The bad file is refused before anything runs, for its own cells only: each cell is checked
  // with the file it will get. The good one then runs.
  std::ofstream(dir_ / "good.toml") << "[heap]\nsuperblock_size = \"64KiB\"\n";
  std::ofstream(dir_ / "bad.toml") << "[heap]\nsuperblock_size = \"48KiB\"\n";
  auto experiment = [&](const std::string& files) {
    return write_experiment("name = \"configs\"\nrepetitions = 1\nwarmup = 0\nthreads = [1]\n"
                            "baseline = \"hoardlab\"\nallocators = [\"hoardlab\"]\n[grid]\n"
                            "config = [" +
                            files + "]\n" +
                            fake_benchmark("fake", "args = { iterations = 100 }\n"));
  };
  auto out = dir_ / "out";
  const std::string lib = std::string(" --no-plots --quiet --hoardlab-lib ") + HARNESS_DROPIN_LIB;
  auto r = hoardlab("run " + experiment("\"good.toml\", \"bad.toml\"").string() + " --out " +
                    out.string() + lib);
  EXPECT_EQ(r.status, 2) << r.text;
  EXPECT_NE(r.text.find("1 of 2 cells would fail"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("fake/t1/hoardlab[config=bad]"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("bad.toml"), std::string::npos) << r.text;
  EXPECT_EQ(r.text.find("fake/t1/hoardlab[config=good]"), std::string::npos) << r.text;
  r = hoardlab("run " + experiment("\"good.toml\"").string() + " --out " + out.string() + lib);
  EXPECT_EQ(r.status, 0) << r.text;
  std::map<std::string, std::map<std::string, std::string>> by;
  for (auto& row : read_csv(out / "cells.csv"))
    by[row["series"]] = row;
  EXPECT_EQ(by["hoardlab[config=good]"]["status"], "ok") << by["hoardlab[config=good]"]["reason"];
}

TEST_F(HarnessEndToEnd, DryRunListsCellsAndRunsNothing) {
  auto exp = write_experiment("name = \"dry\"\nthreads = [1, 2]\nallocators = [\"glibc\"]\n" +
                              fake_benchmark("fake"));
  auto out = dir_ / "out";
  auto r = hoardlab("run " + exp.string() + " --out " + out.string() + " --dry-run");
  ASSERT_EQ(r.status, 0) << r.text;
  EXPECT_NE(r.text.find("fake/t1/glibc"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("fake/t2/glibc"), std::string::npos) << r.text;
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(HarnessEndToEnd, BadExperimentIsRefusedWithFileLineAndKey) {
  auto exp = write_experiment("name = \"bad\"\nallocators = [\"glibc\"]\nrepetitions = \"five\"\n" +
                              fake_benchmark("fake"));
  auto out = dir_ / "out";
  auto r = hoardlab("run " + exp.string() + " --out " + out.string());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.text.find(exp.string() + ":3:"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("'repetitions'"), std::string::npos) << r.text;
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(HarnessEndToEnd, EmittedJobsMergeIntoOneRunAndCompare) {
  auto exp = write_experiment("name = \"jobs\"\nrepetitions = 2\nwarmup = 0\nthreads = [1, 2]\n"
                              "allocators = [\"glibc\"]\n" +
                              fake_benchmark("fake", "args = { iterations = 50 }\n"));
  auto jobs = dir_ / "jobs.txt";
  auto r = hoardlab("run " + exp.string() + " --emit-jobs " + jobs.string());
  ASSERT_EQ(r.status, 0) << r.text;
  std::istringstream lines(slurp(jobs));
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    ++n;
    auto j = shell(line);
    ASSERT_EQ(j.status, 0) << line << "\n" << j.text;
  }
  EXPECT_EQ(n, 2);
  auto merged = dir_ / "merged";
  r = shell(std::string(HARNESS_CLI) + " merge " + (dir_ / "jobs-jobs").string() + "/*/ --out " +
            merged.string());
  ASSERT_EQ(r.status, 0) << r.text;
  EXPECT_EQ(read_csv(merged / "cells.csv").size(), 2u);
  auto c = shell(std::string(HARNESS_CLI) + " compare " + merged.string() + " " + merged.string());
  ASSERT_EQ(c.status, 0) << c.text;
  EXPECT_NE(c.text.find("1.000 [1.000,1.000]"), std::string::npos) << c.text;
}

TEST_F(HarnessEndToEnd, MergedJobsAreNotPairedByRepetition) {
  if (!dropin_built()) GTEST_SKIP() << "needs " HARNESS_DROPIN_LIB;
  auto exp = write_experiment("name = \"pairs\"\nrepetitions = 3\nwarmup = 0\nthreads = [1]\n"
                              "allocators = [\"hoardlab\", \"glibc\"]\n" +
                              fake_benchmark("fake", "args = { iterations = 50 }\n"));
  // One process ran both allocators interleaved: paired.
  auto direct = dir_ / "direct";
  auto r = hoardlab("run " + exp.string() + " --out " + direct.string() +
                    " --no-plots --quiet --hoardlab-lib " HARNESS_DROPIN_LIB);
  ASSERT_EQ(r.status, 0) << r.text;
  auto row = nlohmann::json::parse(slurp(direct / "results.json"))["summary"]["rows"][0];
  EXPECT_TRUE(row["hoardlab"]["paired"].get<bool>()) << row;
  // One job per cell, merged: the repetitions ran in separate processes, so not paired.
  auto jobs = dir_ / "jobs.txt";
  r = hoardlab("run " + exp.string() + " --emit-jobs " + jobs.string() +
               " --hoardlab-lib " HARNESS_DROPIN_LIB);
  ASSERT_EQ(r.status, 0) << r.text;
  std::istringstream lines(slurp(jobs));
  std::string line;
  while (std::getline(lines, line))
    ASSERT_EQ(shell(line).status, 0) << line;
  auto merged = dir_ / "merged";
  r = shell(std::string(HARNESS_CLI) + " merge " + (dir_ / "pairs-jobs").string() + "/*/ --out " +
            merged.string());
  ASSERT_EQ(r.status, 0) << r.text;
  auto results = nlohmann::json::parse(slurp(merged / "results.json"));
  for (const auto& mrow : results["summary"]["rows"])
    EXPECT_FALSE(mrow["hoardlab"]["paired"].get<bool>()) << mrow;
  EXPECT_NE(slurp(merged / "summary.txt").find("]^"), std::string::npos)
      << slurp(merged / "summary.txt");
}

// Each mistake stops the run before the first benchmark starts (no runs.jsonl), with the cell
// and the reason; --dry-run fails on it too.
TEST_F(HarnessEndToEnd, MistakesAreRefusedBeforeTheFirstRun) {
  struct Case {
    const char* what;
    std::string body;
    const char* expect;
  };
  const std::string head = "name = \"early\"\nrepetitions = 1\nwarmup = 0\nthreads = [1]\n";
  std::vector<Case> cases = {
      {"unknown benchmark",
       head + "allocators = [\"glibc\"]\n[[benchmark]]\nname = \"no-such-workload\"\n",
       "no-such-workload not found"},
      {"bad benchmark flag",
       head + "allocators = [\"glibc\"]\n" + fake_benchmark("fake", "args = { iterationz = 5 }\n"),
       "benchmark fake refuses its flags: fake-bench: unknown flag --iterationz"},
      {"missing library",
       head +
           "allocators = [\"glibc\", \"mine\"]\n[allocator_paths]\n"
           "mine = \"/nonexistent/libmine.so\"\n" +
           fake_benchmark("fake"),
       "/nonexistent/libmine.so not found"},
  };
  if (dropin_built())
    cases.push_back({"options the library refuses together",
                     head +
                         "allocators = [\"hoardlab\", \"glibc\"]\n[hoardlab]\n"
                         "superblock_size = \"8KiB\"\n\"large.threshold\" = \"16KiB\"\n" +
                         fake_benchmark("fake"),
                     "hoardlab options refused: hoardlab: config: large.threshold = 16KiB"});
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto exp = write_experiment(c.body);
    auto out = dir_ / "out";
    fs::remove_all(out);
    auto r =
        hoardlab("run " + exp.string() + " --out " + out.string() + " --no-plots --bench-dir " +
                 dir_.string() + " --hoardlab-lib " HARNESS_DROPIN_LIB);
    EXPECT_EQ(r.status, 2) << r.text;
    EXPECT_NE(r.text.find("would fail; nothing was run"), std::string::npos) << r.text;
    EXPECT_NE(r.text.find(c.expect), std::string::npos) << r.text;
    EXPECT_FALSE(fs::exists(out / "runs.jsonl"));
    auto d = hoardlab("run " + exp.string() + " --dry-run --bench-dir " + dir_.string() +
                      " --hoardlab-lib " HARNESS_DROPIN_LIB);
    EXPECT_EQ(d.status, 2) << d.text;
    EXPECT_NE(d.text.find(c.expect), std::string::npos) << d.text;
  }
}

// Starts the CLI with `args`, waits until `ready` exists, sends SIGINT, and returns the exit
// status and output.
Output interrupt_when(const std::string& args, const fs::path& ready, const fs::path& log) {
  Output o;
  pid_t pid = fork();
  if (pid == 0) {
    std::string cmd = std::string(HARNESS_CLI) + " " + args + " >" + log.string() + " 2>&1";
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 400 && !fs::exists(ready); ++i)
    usleep(50 * 1000);
  usleep(200 * 1000);
  kill(pid, SIGINT);
  int st = 0;
  waitpid(pid, &st, 0);
  o.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  o.text = slurp(log);
  return o;
}

TEST_F(HarnessEndToEnd, AnInterruptedRunStillDrawsItsPlotsAndSaysItIsPartial) {
  auto exp = write_experiment(
      "name = \"stop\"\nrepetitions = 2\nwarmup = 0\nthreads = [1]\ntimeout_s = 30\n"
      "allocators = [\"glibc\"]\n" +
      fake_benchmark("quick", "args = { iterations = 50 }\n") +
      fake_benchmark("slow", "args = { mode = \"hang\" }\n"));
  auto out = dir_ / "out";
  auto r = interrupt_when("run " + exp.string() + " --out " + out.string() + " --allow-debug-build",
                          out / "runs" / "slow_t1_glibc" / "rep0.err", dir_ / "log.txt");
  EXPECT_EQ(r.status, 130) << r.text;
  for (const char* f : {"quick-throughput.png", "quick-rss.svg"})
    EXPECT_TRUE(fs::exists(out / "plots" / f)) << f << "\n" << r.text;
  EXPECT_EQ(r.text.find("gnuplot drew nothing"), std::string::npos) << r.text;
  auto summary = slurp(out / "summary.txt");
  EXPECT_NE(summary.find("PARTIAL: the run was stopped after 1 of its 4 runs"), std::string::npos)
      << summary;
  EXPECT_NE(summary.find("hoardlab run --resume " + out.string()), std::string::npos) << summary;
}

TEST_F(HarnessEndToEnd, ResumeRefusesWhatItWouldIgnoreAndAddsRepetitions) {
  auto exp = write_experiment("name = \"more\"\nrepetitions = 2\nwarmup = 0\nthreads = [1]\n"
                              "allocators = [\"glibc\"]\n" +
                              fake_benchmark("fake", "args = { iterations = 50 }\n"));
  auto out = dir_ / "out";
  ASSERT_EQ(
      hoardlab("run " + exp.string() + " --out " + out.string() + " --no-plots --quiet").status, 0);
  for (const char* ignored : {"--filter x", "--warmup 2", "--cell fake/t1/glibc"}) {
    auto r = hoardlab("run --resume " + out.string() + " " + ignored + " --no-plots --quiet");
    EXPECT_EQ(r.status, 2) << ignored << "\n" << r.text;
    EXPECT_NE(r.text.find("cannot apply"), std::string::npos) << r.text;
  }
  auto fewer = hoardlab("run --resume " + out.string() + " --repetitions 1 --no-plots --quiet");
  EXPECT_EQ(fewer.status, 2) << fewer.text;
  auto r = hoardlab("run --resume " + out.string() + " --repetitions 4 --no-plots --quiet");
  ASSERT_EQ(r.status, 0) << r.text;
  auto rows = read_csv(out / "cells.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["reps"], "4");
  EXPECT_EQ(nlohmann::json::parse(slurp(out / "run.json"))["repetitions"].get<int>(), 4);
}

TEST_F(HarnessEndToEnd, CheckValidatesAnExperimentFileAsAnExperiment) {
  auto good = write_experiment("name = \"ok\"\nthreads = [1, 2]\nallocators = [\"glibc\"]\n" +
                               fake_benchmark("fake"));
  auto r = shell(std::string(HARNESS_CLI) + " check " + good.string());
  EXPECT_EQ(r.status, 0) << r.text;
  EXPECT_EQ(r.text, good.string() + ": valid experiment 'ok' (2 cells; hoardlab run --dry-run " +
                        good.string() +
                        " also checks its programs, their flags, the libraries and hoardlab's "
                        "options)\n");
  auto bad = write_experiment("name = \"bad\"\nallocators = [\"glibc\"]\nrepetitions = 0\n" +
                              fake_benchmark("fake"));
  r = shell(std::string(HARNESS_CLI) + " check " + bad.string());
  EXPECT_EQ(r.status, 1) << r.text;
  EXPECT_EQ(r.text, bad.string() + ":3:15: key 'repetitions': 0 is out of range [1, 1000]\n" +
                        bad.string() + ": invalid experiment\n");
}

TEST_F(HarnessEndToEnd, CommandLineMistakesGetOneClearLine) {
  auto r = shell(std::string(HARNESS_CLI) + " run --repetitions 0");
  EXPECT_EQ(r.status, 2) << r.text;
  EXPECT_EQ(r.text, "hoardlab run: --repetitions: Value 0 not in range 1 to 1000 (hoardlab run "
                    "--help)\n");
  r = shell(std::string(HARNESS_CLI) + " frobnicate");
  EXPECT_EQ(r.status, 2) << r.text;
  EXPECT_EQ(std::count(r.text.begin(), r.text.end(), '\n'), 1) << r.text;
  EXPECT_NE(r.text.find("unknown command 'frobnicate'"), std::string::npos) << r.text;
  r = shell(std::string(HARNESS_CLI));
  EXPECT_EQ(r.status, 2) << r.text;
  EXPECT_EQ(std::count(r.text.begin(), r.text.end(), '\n'), 1) << r.text;
}

} // namespace
