// End to end: the hoardlab CLI runs small experiments over a stand-in benchmark and leaves the
// files a researcher reads (cells.csv, results.json, machine.json, plots); failures are
// recorded and the run goes on; resume, dry-run, emit-jobs and merge work.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <unistd.h>

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
  EXPECT_GT(std::stod(by["glibc"]["peak_rss_kib"]), 0);
  if (dropin_built()) {
    EXPECT_EQ(by["hoardlab"]["status"], "ok") << by["hoardlab"]["reason"];
  } else {
    EXPECT_EQ(by["hoardlab"]["status"], "failed");
    EXPECT_NE(by["hoardlab"]["reason"].find("not built"), std::string::npos);
  }
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
}

TEST_F(HarnessEndToEnd, FailuresAreRecordedWithTheirReasonAndTheRunGoesOn) {
  auto exp = write_experiment(
      "name = \"fail\"\nrepetitions = 2\nwarmup = 1\nthreads = [1]\ntimeout_s = 20\n"
      "allocators = [\"glibc\"]\n[allocator_paths]\nmissing = \"/nonexistent/libmissing.so\"\n"
      "notmalloc = \"/lib/x86_64-linux-gnu/libm.so.6\"\n" +
      fake_benchmark("ok", "args = { iterations = 100 }\n") +
      fake_benchmark("crash", "args = { mode = \"crash\" }\n") +
      fake_benchmark("hang", "args = { mode = \"hang\" }\ntimeout_s = 1\n") +
      fake_benchmark("selfcheck", "args = { mode = \"selfcheck\" }\n") +
      fake_benchmark("noline", "args = { mode = \"noline\" }\n"));
  auto out = dir_ / "out";
  auto r = hoardlab("run " + exp.string() + " --out " + out.string() + " --no-plots --quiet");
  ASSERT_EQ(r.status, 0) << r.text;
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
  EXPECT_NE(reason["ok/missing"].find("not found"), std::string::npos);
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
  // The good file runs; the bad one fails its cells under strict configuration, which shows
  // that each cell got its own file.
  std::ofstream(dir_ / "good.toml") << "[heap]\nsuperblock_size = \"64KiB\"\n";
  std::ofstream(dir_ / "bad.toml") << "[heap]\nsuperblock_size = \"48KiB\"\n";
  auto exp = write_experiment("name = \"configs\"\nrepetitions = 1\nwarmup = 0\nthreads = [1]\n"
                              "baseline = \"hoardlab\"\nallocators = [\"hoardlab\"]\n[grid]\n"
                              "config = [\"good.toml\", \"bad.toml\"]\n" +
                              fake_benchmark("fake", "args = { iterations = 100 }\n"));
  auto out = dir_ / "out";
  hoardlab("run " + exp.string() + " --out " + out.string() +
           " --no-plots --quiet --hoardlab-lib " + HARNESS_DROPIN_LIB);
  std::map<std::string, std::map<std::string, std::string>> by;
  for (auto& row : read_csv(out / "cells.csv"))
    by[row["series"]] = row;
  EXPECT_EQ(by["hoardlab[config=good]"]["status"], "ok") << by["hoardlab[config=good]"]["reason"];
  EXPECT_EQ(by["hoardlab[config=bad]"]["status"], "failed");
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

} // namespace
