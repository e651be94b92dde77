// The statistics report: the readable summary (hl_stats_print) and the JSON written at exit,
// formatted from canned figures that this test provides in place of lib/mem's.
#include <gtest/gtest.h>

#include "config/options.h"
#include "hoardlab/hoardlab.h"

#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

// The heaps the canned figures report: 2, or as many as a test sets in its child.
unsigned g_canned_heaps = 2;

extern "C" {
void hl_stats_get(hl_stats* out) {
  *out = hl_stats{};
  out->allocations = 1000;
  out->frees = 900;
  out->cache_hits = 750;
  out->remote_frees_sent = 40;
  out->remote_frees_drained = 38;
  out->superblocks_to_pool = 5;
  out->superblocks_from_pool = 7;
  out->bytes_in_use = 1 << 20;
  out->bytes_held = 3 << 19; // A/U = 1.5
  out->peak_bytes_in_use = 2 << 20;
  out->os_bytes_mapped = 8 << 20;
  out->os_bytes_purged = 1 << 20;
  out->large_allocations = 3;
  out->heaps = g_canned_heaps;
  out->nodes = 2;
  out->large_cached_bytes = 3 << 20;
}
int hl_stats_heap(uint32_t index, hl_heap_stats* out) {
  if (index >= g_canned_heaps) return -1;
  *out = hl_heap_stats{};
  out->allocations = 600 - 200 * index;
  out->frees = 500 - 100 * index;
  out->remote_frees_drained = 19;
  out->bytes_in_use = 512 * 1024;
  out->bytes_held = 768 * 1024;
  out->superblocks = 12;
  out->node = index;
  out->partial_classes = 7 + 2 * index;
  return 0;
}
int hl_stats_node(uint32_t index, hl_node_stats* out) {
  if (index >= 2) return -1;
  *out = hl_node_stats{};
  out->superblocks_held = 12;
  out->bytes_placed = 4 << 20;
  out->local_allocations = 490;
  out->remote_allocations = 10;
  out->cross_node_remote_frees = 4;
  out->os_node = -1;
  return 0;
}
const char* hl_topology_source(void) {
  return "synthetic";
}
}

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string print_to_string() {
  // One file per process: ctest runs these tests in parallel processes.
  const std::string path =
      ::testing::TempDir() + "stats_print." + std::to_string(getpid()) + ".txt";
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs("before\n", f); // stdio text already buffered comes first
  hl_stats_print(f);
  std::fclose(f);
  return read_all(path);
}

TEST(StatsPrint, SummaryHasTotalsRatesHeapsAndNodes) {
  const std::string text = print_to_string();
  EXPECT_EQ(text.rfind("before\nhoardlab statistics (pid ", 0), 0u) << text;
  for (const char* expected : {"allocations",
                               "1000",
                               "(large 3)",
                               "frees",
                               "900",
                               "cache hit rate",
                               "75.0%",
                               "sent 40, drained 38",
                               "to pool 5, from pool 7",
                               "in use U",
                               "1.00 MiB",
                               "(peak at most 2.00 MiB",
                               "held A",
                               "1.50 MiB",
                               "blowup A/U",
                               "1.500",
                               "mapped 8.00 MiB",
                               "purged 1.00 MiB",
                               "large objects cached",
                               "3.00 MiB",
                               "heaps (2):",
                               "u/a",
                               "0.67",
                               "nodes (2), topology from synthetic",
                               "synthetic"})
    EXPECT_NE(text.find(expected), std::string::npos) << "missing " << expected << " in\n" << text;
}

TEST(StatsPrint, EachHeapsRowEndsWithItsPartlyUsedClasses) {
  const std::string text = print_to_string();
  const std::size_t header = text.find("superblocks  classes C_i\n");
  ASSERT_NE(header, std::string::npos) << text;
  std::istringstream rows(text.substr(text.find('\n', header) + 1));
  for (unsigned h = 0; h < 2; ++h) {
    std::string row;
    ASSERT_TRUE(std::getline(rows, row));
    std::istringstream words(row);
    std::string word, last;
    while (words >> word)
      last = word;
    EXPECT_EQ(last, std::to_string(7 + 2 * h)) << row;
  }
}

TEST(StatsPrint, ListsOptionsThatDifferFromTheDefaultsWithTheirSource) {
  ASSERT_EQ(hl_option_set("heap.emptiness_k", "2"), 0);
  const std::string text = print_to_string();
  EXPECT_NE(text.find("heap.emptiness_k = 2  (set by the program)"), std::string::npos) << text;
  ASSERT_EQ(hl_option_set("heap.emptiness_k", "4"), 0);
  EXPECT_NE(print_to_string().find("  (none)\n"), std::string::npos);
}

TEST(StatsAtExit, StatsFileIsJsonWithTheOptionsRecordAndNodes) {
  const std::string path = ::testing::TempDir() + "stats.json";
  std::remove(path.c_str());
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("HOARDLAB_STATS_FILE", path.c_str(), 1);
        setenv("HOARDLAB_HEAP_EMPTINESS_F", "1/8", 1);
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "");
  const auto json = nlohmann::json::parse(read_all(path));
  EXPECT_EQ(json["options"]["heap.emptiness_f"]["text"], "1/8");
  EXPECT_DOUBLE_EQ(json["options"]["heap.emptiness_f"]["value"].get<double>(), 0.125);
  EXPECT_EQ(json["options"]["heap.emptiness_f"]["source"], "from the environment");
  EXPECT_EQ(json["options"]["heap.superblock_size"]["value"], 65536);
  EXPECT_EQ(json["options"].size(), hoardlab::config::kOptionCount);
  EXPECT_EQ(json["totals"]["allocations"], 1000);
  EXPECT_EQ(json["totals"]["large_cached_bytes"], 3 << 20);
  EXPECT_DOUBLE_EQ(json["totals"]["blowup"].get<double>(), 1.5);
  EXPECT_EQ(json["heaps"].size(), 2u);
  EXPECT_EQ(json["heaps"][1]["allocations"], 400);
  EXPECT_EQ(json["heaps"][0]["partial_classes"], 7);
  EXPECT_EQ(json["heaps"][1]["partial_classes"], 9);
  ASSERT_EQ(json["nodes"].size(), 2u);
  EXPECT_EQ(json["nodes"][0]["os_node"], -1);
  EXPECT_EQ(json["topology_source"], "synthetic");
}

TEST(StatsAtExit, StatsOnePrintsTheSummaryOnStderr) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("HOARDLAB_STATS", "1", 1);
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "hoardlab statistics.*blowup A/U");
}

TEST(StatsAtExit, StatsFileNameTakesTheHostAndThePid) {
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
  const std::filesystem::path dir = ::testing::TempDir() + "stats-names";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string pattern = (dir / "stats-%h-%p-100%%.json").string();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("HOARDLAB_STATS_FILE", pattern.c_str(), 1);
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "");
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    names.push_back(entry.path().filename().string());
  ASSERT_EQ(names.size(), 1u) << "expected one file in " << dir;
  // The child's pid is in its report: the file is named for it and the host.
  const auto json = nlohmann::json::parse(read_all((dir / names[0]).string()));
  EXPECT_EQ(names[0], "stats-" + std::string(host) + "-" + std::to_string(json["pid"].get<long>()) +
                          "-100%.json");
  std::filesystem::remove_all(dir);
}

// The children of a threadsafe death test run this body again from its start, so the file is
// removed after the test, not before: lines left by an earlier run are counted and skipped.
std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

TEST(StatsAtExit, ReportsFromTwoProcessesAreAppendedOneLineEach) {
  const std::string path = ::testing::TempDir() + "stats-appended.json";
  const std::size_t before = lines_of(path).size();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto child = [&path] {
    setenv("HOARDLAB_STATS_FILE", path.c_str(), 1);
    std::exit(0);
  };
  EXPECT_EXIT(child(), ::testing::ExitedWithCode(0), "");
  EXPECT_EXIT(child(), ::testing::ExitedWithCode(0), "");
  const std::vector<std::string> lines = lines_of(path);
  std::remove(path.c_str());
  ASSERT_EQ(lines.size(), before + 2) << "the second process overwrote the first's report";
  const auto first = nlohmann::json::parse(lines[before]);
  const auto second = nlohmann::json::parse(lines[before + 1]);
  EXPECT_NE(first["pid"], second["pid"]);
  EXPECT_EQ(second["totals"]["allocations"], 1000);
}

// A report of thousands of heaps is longer than the line buffer (64 KiB) and goes out in several
// writes. Eight processes write such reports to one file at the same moment, three times over:
// every line must be one whole report.
TEST(StatsAtExit, LongReportsFromProcessesExitingTogetherStayOneLineEach) {
  const std::string path = ::testing::TempDir() + "stats-long.json";
  const std::size_t before = lines_of(path).size();
  constexpr unsigned kHeaps = 3000; // about 400 KiB of JSON each
  constexpr int kProcesses = 8;
  constexpr int kRounds = 3;
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("HOARDLAB_STATS_FILE", path.c_str(), 1);
        g_canned_heaps = kHeaps;
        for (int round = 0; round < kRounds; ++round) {
          int go[2];
          if (pipe(go) != 0) _exit(2);
          std::vector<pid_t> children;
          for (int i = 0; i < kProcesses; ++i) {
            const pid_t pid = fork();
            if (pid < 0) _exit(3);
            if (pid == 0) {
              close(go[1]);
              char byte = 0;
              (void)read(go[0], &byte, 1); // returns when the parent closes its end: all at once
              std::exit(0);                // the report is written by the at-exit hook
            }
            children.push_back(pid);
          }
          close(go[0]);
          close(go[1]);
          for (const pid_t pid : children) {
            int status = 0;
            if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
              _exit(4);
          }
        }
        _exit(0); // this process writes no report of its own
      },
      ::testing::ExitedWithCode(0), "");
  const std::vector<std::string> lines = lines_of(path);
  std::remove(path.c_str());
  ASSERT_EQ(lines.size(), before + kProcesses * kRounds);
  int whole = 0;
  for (std::size_t i = before; i < lines.size(); ++i) {
    const auto json = nlohmann::json::parse(lines[i], nullptr, false);
    whole += !json.is_discarded() && json["heaps"].size() == kHeaps;
  }
  EXPECT_EQ(whole, kProcesses * kRounds) << "reports split by another process's writes";
}

TEST(StatsAtExit, AFailedWriteIsOneMessageWithItsReason) {
  const std::string path = ::testing::TempDir() + "stats-too-large.json";
  std::remove(path.c_str());
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        // A file size limit below one report (about 4 KiB) and above the message (which goes
        // to a file too, where the test captures stderr): the write fails with EFBIG, the
        // signal ignored.
        std::signal(SIGXFSZ, SIG_IGN);
        rlimit limit{};
        limit.rlim_cur = limit.rlim_max = 1024;
        setrlimit(RLIMIT_FSIZE, &limit);
        setenv("HOARDLAB_STATS_FILE", path.c_str(), 1);
        std::exit(0);
      },
      ::testing::ExitedWithCode(0),
      "cannot write the statistics file " + path + " \\(HOARDLAB_STATS_FILE\\): file too large");
  std::remove(path.c_str());
}

TEST(StatsAtExit, UnwritableStatsFileIsOneMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("HOARDLAB_STATS_FILE", "/nonexistent/dir/stats.json", 1);
        std::exit(0);
      },
      ::testing::ExitedWithCode(0),
      "cannot write the statistics file /nonexistent/dir/stats.json \\(HOARDLAB_STATS_FILE\\): "
      "no such file");
}

} // namespace
