// Real Debian programs preloaded with the malloc under test print exactly what they print on
// glibc's malloc, and the allocator under test really served them.
#include "process.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace hoardlab::dropin {
namespace {

bool have(const std::string& path) {
  return access(path.c_str(), X_OK) == 0;
}

// Runs the command twice (glibc, then preloaded) in the same pinned environment and scratch
// directory, and checks output, exit status and the probe's proof of activity.
void expect_same_output(const std::string& tag, const std::vector<std::string>& argv,
                        const std::string& input = "", const std::string& setup_script = "") {
  const ScratchDir scratch(tag);
  const std::string& dir = scratch.path;
  const auto env = pinned_environment(dir);
  auto run = [&](const std::map<std::string, std::string>& e, const std::string& sub) {
    // Each run starts from the same files in a fresh subdirectory.
    const std::string work = dir + "/" + sub;
    std::string script = "mkdir -p '" + work + "' && cd '" + work + "'";
    if (!setup_script.empty()) script += " && " + setup_script;
    ProcessResult setup = run_process({"/bin/sh", "-c", script}, env);
    EXPECT_EQ(setup.exit_code, 0) << setup.err;
    std::vector<std::string> full = {"/bin/sh", "-c", "cd '" + work + "' && exec \"$@\"", "sh"};
    full.insert(full.end(), argv.begin(), argv.end());
    return run_process(full, e, input);
  };
  const ProcessResult reference = run(env, "glibc");
  ASSERT_FALSE(reference.timed_out);
  ASSERT_EQ(reference.exit_code, 0) << "the program fails even without preloading:\n"
                                    << reference.err;
  ASSERT_FALSE(reference.out.empty()) << "the test compares nothing";

  const std::string probe = dir + "/probe.txt";
  auto preloaded_env = preloaded(env, probe);
  const bool hoardlab = library_is_hoardlab();
  const std::string stats_file = dir + "/stats.json";
  if (hoardlab) preloaded_env["HOARDLAB_STATS_FILE"] = stats_file;
  const ProcessResult preloaded_run = run(preloaded_env, "preloaded");
  ASSERT_FALSE(preloaded_run.timed_out) << "timed out under " << library_under_test();
  EXPECT_EQ(preloaded_run.exit_code, reference.exit_code) << preloaded_run.err;
  EXPECT_EQ(preloaded_run.out.size(), reference.out.size());
  EXPECT_TRUE(preloaded_run.out == reference.out)
      << "stdout differs under " << library_under_test() << "\n--- glibc (first 400 bytes):\n"
      << reference.out.substr(0, 400) << "\n--- preloaded:\n"
      << preloaded_run.out.substr(0, 400) << "\n--- stderr:\n"
      << preloaded_run.err.substr(0, 2000);

  // Proof of activity: every process that exited normally found malloc in the library under
  // test, and (for hoardlab) its statistics counted the allocations.
  const auto records = read_probe(probe);
  ASSERT_FALSE(records.empty()) << "no process recorded itself; stderr:\n" << preloaded_run.err;
  const std::string expected = real_path(library_under_test());
  long long most = -1;
  for (const auto& r : records) {
    EXPECT_EQ(real_path(r.malloc_from), expected) << "pid " << r.pid;
    most = std::max(most, r.allocations);
  }
  if (hoardlab) {
    EXPECT_GT(most, 100) << "hoardlab's statistics show (almost) no allocations";
    // The second witness: the statistics file the allocator writes at exit (one line per
    // process when there are several).
    const std::string json = read_file(stats_file);
    const auto totals = json.find("\"totals\"");
    ASSERT_NE(totals, std::string::npos) << "no HOARDLAB_STATS_FILE report:\n" << json;
    const auto key = json.find("\"allocations\":", totals);
    ASSERT_NE(key, std::string::npos) << json;
    EXPECT_GT(std::stoll(json.substr(key + 14)), 0) << json.substr(totals, 200);
  }
  std::cout << "[ activity ] " << records.size() << " process(es) ran on " << expected
            << "; most allocations counted in one: " << most << "\n";
}

TEST(RealPrograms, Python3WithThreadsPrintsTheSame) {
  const std::string python = "/usr/bin/python3";
  if (!have(python)) GTEST_SKIP() << python << " is not installed";
  const char* script = R"PY(
import random, threading, hashlib, json
results = [None] * 8
def work(i):
    rng = random.Random(1000 + i)
    d = {}
    for n in range(20000):
        k = "k%d" % rng.randrange(5000)
        d.setdefault(k, []).append(rng.random())
        if n % 7 == 0 and d:
            d.pop(next(iter(d)))
    blob = json.dumps(sorted((k, round(sum(v), 6)) for k, v in d.items()))
    results[i] = hashlib.sha256(blob.encode()).hexdigest()
threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
for i, r in enumerate(results): print(i, r)
print(sum(len(str(x)) for x in range(100000)))
)PY";
  expect_same_output("python3", {python, "-c", script});
}

TEST(RealPrograms, GxxCompilingAFilePrintsTheSameAssembly) {
  if (!have("/usr/bin/g++")) GTEST_SKIP() << "g++ is not installed";
  const std::string source = R"CPP(
#include <map>
#include <string>
#include <vector>
#include <algorithm>
template <int N> struct Fib { static constexpr long v = Fib<N - 1>::v + Fib<N - 2>::v; };
template <> struct Fib<1> { static constexpr long v = 1; };
template <> struct Fib<0> { static constexpr long v = 0; };
std::map<std::string, std::vector<int>> build(int n) {
  std::map<std::string, std::vector<int>> m;
  for (int i = 0; i < n; ++i) m[std::to_string(i % 97)].push_back(i * Fib<40>::v % 1009);
  for (auto& [k, v] : m) std::sort(v.begin(), v.end());
  return m;
}
)CPP";
  expect_same_output("gxx", {"/usr/bin/g++", "-std=c++20", "-O2", "-S", "-o", "-", "unit.cpp"}, "",
                     "cat > unit.cpp <<'EOF'\n" + source + "\nEOF");
}

TEST(RealPrograms, GitPrintsTheSameHistory) {
  if (!have("/usr/bin/git")) GTEST_SKIP() << "git is not installed";
  const std::string script = R"SH(
set -e
export GIT_AUTHOR_NAME=A GIT_AUTHOR_EMAIL=a@example.org GIT_COMMITTER_NAME=A GIT_COMMITTER_EMAIL=a@example.org
export GIT_AUTHOR_DATE='2024-01-01T00:00:00Z' GIT_COMMITTER_DATE='2024-01-01T00:00:00Z'
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
git init -q -b main repo && cd repo
i=0
while [ $i -lt 30 ]; do
  seq $i 3 $((i * 50)) > file$((i % 7)).txt
  git add -A && git commit -q -m "change $i"
  i=$((i + 1))
done
git log --stat --format='%H %s' | head -c 20000
git gc -q --aggressive 2>/dev/null || true
git count-objects -v | grep -v size
git rev-list --all | wc -l
git diff HEAD~10 HEAD | md5sum
)SH";
  expect_same_output("git", {"/bin/sh", "-c", script});
}

TEST(RealPrograms, SortPrintsTheSameOrder) {
  if (!have("/usr/bin/sort")) GTEST_SKIP() << "sort is not installed";
  std::ostringstream input;
  unsigned x = 12345;
  for (int i = 0; i < 200000; ++i) {
    x = x * 1103515245u + 12345u;
    input << (x >> 8) % 100000 << " line-" << (x % 977) << "\n";
  }
  expect_same_output("sort", {"/usr/bin/sort", "-k2,2", "-k1,1n", "-S", "1M", "--parallel=4"},
                     input.str());
}

TEST(RealPrograms, Sqlite3PrintsTheSameQueryResults) {
  if (!have("/usr/bin/sqlite3")) GTEST_SKIP() << "sqlite3 is not installed";
  const std::string sql = R"SQL(
CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
INSERT INTO t(k, v) SELECT 'key' || (x * 7919 % 1000), (x * 31 % 997) / 7.0 FROM c;
CREATE INDEX tk ON t(k);
SELECT k, count(*), printf('%.4f', sum(v)) FROM t GROUP BY k ORDER BY k LIMIT 50;
SELECT group_concat(id) FROM (SELECT id FROM t WHERE k = 'key42' ORDER BY id LIMIT 20);
SELECT count(DISTINCT k), printf('%.3f', avg(v)) FROM t;
)SQL";
  expect_same_output("sqlite3", {"/usr/bin/sqlite3", ":memory:"}, sql);
}

TEST(RealPrograms, PerlPrintsTheSame) {
  if (!have("/usr/bin/perl")) GTEST_SKIP() << "perl is not installed";
  const char* script = R"PL(
srand(42);
my %h;
for my $i (1 .. 200000) { my $k = int(rand(20000)); push @{$h{"k$k"}}, $i; }
my @keys = sort { scalar(@{$h{$b}}) <=> scalar(@{$h{$a}}) || $a cmp $b } keys %h;
print scalar(@keys), "\n";
print join(",", @keys[0 .. 19]), "\n";
my $s = join("", map { chr(65 + $_ % 26) } 1 .. 100000);
my @m = ($s =~ /(ABC[D-Z]{3})/g);
print scalar(@m), "\n";
)PL";
  expect_same_output("perl", {"/usr/bin/perl", "-e", script});
}

TEST(RealPrograms, TarAndGzipProduceTheSameBytes) {
  if (!have("/usr/bin/tar") || !have("/usr/bin/gzip")) GTEST_SKIP() << "tar or gzip missing";
  const std::string setup = "mkdir -p data && i=0; while [ $i -lt 200 ]; do "
                            "seq $i $((i * 100)) > data/f$i.txt; i=$((i + 1)); done";
  const std::string script =
      "tar --sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner -cf - data | "
      "gzip -n -6 | od -An -tx1 | md5sum; tar -cf - --sort=name --mtime=@1700000000 "
      "--owner=0 --group=0 --numeric-owner data | gzip -n -9 | gzip -d | tar -tvf - | head -50";
  expect_same_output("tar", {"/bin/sh", "-c", script}, "", setup);
}

// ---- HOARDLAB_STATS_FILE in the processes of a shell pipeline ----

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

// sh runs echo and cat in a pipeline. echo and cat exit through exit(), so each writes its report;
// the probe counts the processes that did (dash leaves by _exit, which runs no destructor).
ProcessResult run_pipeline(const std::string& dir, const std::string& stats_file) {
  auto env = preloaded(pinned_environment(dir), dir + "/probe.txt");
  env["HOARDLAB_STATS_FILE"] = stats_file;
  return run_process({"/bin/sh", "-c", "/bin/echo piped | /bin/cat"}, env, "", 30);
}

TEST(StatsFile, EveryProcessOfAPipelineAppendsItsReportAsOneLine) {
  if (!library_is_hoardlab()) GTEST_SKIP() << "HOARDLAB_STATS_FILE is hoardlab's";
  const ScratchDir scratch("stats-append");
  const std::string path = scratch.path + "/stats.json";
  const ProcessResult r = run_pipeline(scratch.path, path);
  ASSERT_FALSE(r.timed_out) << r.err;
  ASSERT_EQ(r.out, "piped\n") << r.err;
  const std::size_t processes = read_probe(scratch.path + "/probe.txt").size();
  ASSERT_GE(processes, 2u) << "echo and cat exit normally";
  const auto lines = lines_of(read_file(path));
  ASSERT_EQ(lines.size(), processes) << "one report per process, none overwritten:\n"
                                     << read_file(path).substr(0, 600);
  std::set<std::string> pids;
  for (const auto& line : lines) {
    ASSERT_EQ(line.front(), '{') << line.substr(0, 100);
    ASSERT_EQ(line.back(), '}') << line.substr(line.size() - 100);
    EXPECT_NE(line.find("\"totals\": {"), std::string::npos) << line.substr(0, 200);
    pids.insert(line.substr(0, line.find(',')));
  }
  EXPECT_EQ(pids.size(), processes) << "each report is another process's";
}

TEST(StatsFile, PercentPGivesEveryProcessOfAPipelineItsOwnFile) {
  if (!library_is_hoardlab()) GTEST_SKIP() << "HOARDLAB_STATS_FILE is hoardlab's";
  const ScratchDir scratch("stats-pid");
  const ProcessResult r = run_pipeline(scratch.path, scratch.path + "/stats.%p.json");
  ASSERT_FALSE(r.timed_out) << r.err;
  ASSERT_EQ(r.out, "piped\n") << r.err;
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(scratch.path)) {
    const std::string name = entry.path().filename();
    if (name.rfind("stats.", 0) != 0) continue;
    ++files;
    const std::string text = read_file(entry.path());
    EXPECT_EQ(lines_of(text).size(), 1u) << name;
    // The file is named for the process that wrote it.
    EXPECT_EQ(name, "stats." + text.substr(8, text.find(',') - 8) + ".json") << text.substr(0, 40);
  }
  const std::size_t processes = read_probe(scratch.path + "/probe.txt").size();
  EXPECT_GE(processes, 2u) << "echo and cat exit normally";
  EXPECT_EQ(static_cast<std::size_t>(files), processes) << "each process wrote a file of its own";
}

TEST(StatsFile, AFifoIsRefusedAtExitInsteadOfWaitingForAReader) {
  if (!library_is_hoardlab()) GTEST_SKIP() << "HOARDLAB_STATS_FILE is hoardlab's";
  const ScratchDir scratch("stats-fifo");
  const std::string fifo = scratch.path + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  auto env = preloaded(pinned_environment(scratch.path), scratch.path + "/probe.txt");
  env["HOARDLAB_STATS_FILE"] = fifo;
  const ProcessResult r = run_process({"/bin/true"}, env, "", 10);
  ASSERT_FALSE(r.timed_out) << "the process hung at exit opening the FIFO";
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.err.find("cannot write the statistics file " + fifo +
                       " (HOARDLAB_STATS_FILE): not a regular file"),
            std::string::npos)
      << r.err;
}

TEST(StatsFile, DevFullIsReportedOnStderrNotIgnored) {
  if (!library_is_hoardlab()) GTEST_SKIP() << "HOARDLAB_STATS_FILE is hoardlab's";
  const ScratchDir scratch("stats-full");
  auto env = preloaded(pinned_environment(scratch.path), scratch.path + "/probe.txt");
  env["HOARDLAB_STATS_FILE"] = "/dev/full";
  const ProcessResult r = run_process({"/bin/true"}, env, "", 10);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.err.find("cannot write the statistics file /dev/full (HOARDLAB_STATS_FILE): "),
            std::string::npos)
      << "a failed statistics write said nothing: '" << r.err << "'";
}

} // namespace
} // namespace hoardlab::dropin
