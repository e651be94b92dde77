// short-lived: a program that starts, makes a few thousand allocations of mixed sizes and exits,
// as compilers' drivers, shell utilities and build steps do by the million. What it measures is
// what such a program pays for its allocator: loading and initialising it (the dynamic loader
// maps the preloaded library, its constructors run, its first malloc builds its heaps), the
// first touches of each size class, and tearing the process down; and the peak RSS the
// allocator's fixed structures cost a process with a small live set.
//
// The program launches itself: each launcher thread runs --processes children one after another
// (posix_spawn of /proc/self/exe with the same environment, so the preload carries over) and
// times each from the spawn to its reaping. A child does --allocations mallocs of log-uniform
// sizes between --min-size and --max-size, keeps one in four alive to the end (freeing the rest
// in bursts), checks every block, and exits without freeing what it kept, as real short programs
// do. At T threads, T children run at a time (make -j T).
// elapsed = from the first spawn to the last child reaped; ops = the children's allocations;
// so ops/s is allocations per second of whole-process lifetime. Adds the median child lifetime
// (`process_us`) and the largest child's peak RSS (`child_peak_rss_kib`), which is also the
// line's `peak_rss_kib` (the launcher holds less): the children are the programs measured.
// Each child reads its own VmHWM as it ends its work and writes it to a pipe. wait4's ru_maxrss
// is not used: posix_spawn runs the child in the launcher's memory until exec, and exec carries
// that memory's high-water mark into ru_maxrss, so no child would read below the launcher.
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/common/bench_common.h"

extern char** environ;

using namespace hoardlab::bench;

namespace {

constexpr const char* kName = "short-lived";
constexpr const char* kChildFlag = "--child";
// The descriptor on which a child writes its peak RSS (a pipe's write end, dup2'ed there).
constexpr int kReportFd = 3;

/// The child's whole life: argv = {exe, --child, allocations, min, max, seed}.
int child_main(char** argv) {
  const uint64_t allocations = std::strtoull(argv[2], nullptr, 10);
  const uint64_t min_size = std::strtoull(argv[3], nullptr, 10);
  const uint64_t max_size = std::strtoull(argv[4], nullptr, 10);
  const uint64_t seed = std::strtoull(argv[5], nullptr, 10);
  Rng rng(seed);
  constexpr uint64_t kBurst = 32;
  Block burst[kBurst];
  uint64_t in_burst = 0;
  std::vector<Block> kept;
  kept.reserve(allocations / 4 + 1);
  for (uint64_t i = 0; i < allocations; ++i) {
    Block b{nullptr, rng.log_uniform(min_size, max_size), make_tag(0, i)};
    b.p = checked_malloc(kName, b.size);
    pattern_fill(b.p, b.size, b.tag);
    if (i % 4 == 0) {
      kept.push_back(b);
      continue;
    }
    burst[in_burst++] = b;
    if (in_burst == kBurst) {
      for (uint64_t j = 0; j < in_burst; ++j) {
        pattern_verify(kName, burst[j].p, burst[j].size, burst[j].tag);
        std::free(burst[j].p);
      }
      in_burst = 0;
    }
  }
  for (const Block& b : kept)
    pattern_verify(kName, b.p, b.size, b.tag);
  do_not_optimize(kept.data());
  // Its peak RSS, for the launcher, on the pipe it was given. A child run by hand has no pipe
  // there (and may have a file open on that descriptor): it writes nothing. Exit 4: the write
  // failed.
  struct stat st {};
  if (fstat(kReportFd, &st) != 0 || !S_ISFIFO(st.st_mode)) return 0;
  const std::string peak = std::to_string(peak_rss_kib()) + "\n";
  return write(kReportFd, peak.data(), peak.size()) == static_cast<ssize_t>(peak.size()) ? 0 : 4;
}

/// Reads the peak RSS a child wrote on the pipe `fd` (the child has exited, so the pipe holds
/// all it will); 0 if it wrote nothing.
long read_child_peak(int fd) {
  char buf[32];
  ssize_t n;
  do
    n = read(fd, buf, sizeof buf - 1);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return 0;
  buf[n] = '\0';
  return std::strtol(buf, nullptr, 10);
}

/// The environment for a child: ours, less the statistics file a hoardlab parent writes (each
/// child would overwrite the parent's).
std::vector<char*> child_environment() {
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e)
    if (std::strncmp(*e, "HOARDLAB_STATS_FILE=", 20) != 0) env.push_back(*e);
  env.push_back(nullptr);
  return env;
}

} // namespace

int main(int argc, char** argv) {
  if (argc == 6 && std::strcmp(argv[1], kChildFlag) == 0) return child_main(argv);

  Flags flags(kName, "Short-lived processes: start, a few thousand allocations of mixed sizes, "
                     "exit; times whole process lifetimes.");
  Common c;
  c.threads = 1;
  c.iterations = 200;
  c.min_size = 16;
  c.max_size = 16384;
  uint64_t allocations = 4000;
  add_common(flags, c, kUseIterations | kUseSizes);
  flags.add_u64("allocations", &allocations, "mallocs each child makes", 1, 1ULL << 32);
  flags.set_quick([&] { c.iterations = 10; });
  flags.parse(argc, argv);
  finish_common(flags, c, kUseIterations | kUseSizes);
  // --iterations is the number of child processes in all, split among the launchers.
  const uint64_t per_thread = std::max<uint64_t>(1, c.iterations / c.threads);

  const std::vector<char*> env = child_environment();
  std::vector<std::vector<double>> lifetimes(c.threads);
  std::vector<long> child_rss(c.threads, 0);
  std::vector<std::string> failures(c.threads);
  double elapsed = run_threads(c.threads, [&](uint64_t t) {
    for (uint64_t i = 0; i < per_thread && failures[t].empty(); ++i) {
      std::string a = std::to_string(allocations), lo = std::to_string(c.min_size),
                  hi = std::to_string(c.max_size),
                  seed = std::to_string(c.seed * 1000003 + t * per_thread + i);
      char exe[] = "/proc/self/exe";
      char child[] = "--child";
      char* args[] = {exe, child, a.data(), lo.data(), hi.data(), seed.data(), nullptr};
      // The pipe is close-on-exec, so no other launcher's child inherits it; only the dup2'ed
      // copy reaches this child. A write end that is kReportFd already is moved first: a dup2
      // onto itself would leave the close-on-exec flag set.
      int report[2];
      if (pipe2(report, O_CLOEXEC) != 0) {
        failures[t] = std::string("pipe2: ") + std::strerror(errno);
        break;
      }
      if (report[1] == kReportFd) {
        report[1] = fcntl(kReportFd, F_DUPFD_CLOEXEC, kReportFd + 1);
        close(kReportFd);
        if (report[1] < 0) {
          close(report[0]);
          failures[t] = std::string("fcntl: ") + std::strerror(errno);
          break;
        }
      }
      posix_spawn_file_actions_t actions;
      posix_spawn_file_actions_init(&actions);
      posix_spawn_file_actions_adddup2(&actions, report[1], kReportFd);
      Stopwatch life;
      pid_t pid;
      int err = posix_spawn(&pid, exe, &actions, nullptr, args, env.data());
      posix_spawn_file_actions_destroy(&actions);
      close(report[1]);
      if (err != 0) {
        close(report[0]);
        failures[t] = std::string("posix_spawn: ") + std::strerror(err);
        break;
      }
      int status = 0;
      while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
          close(report[0]);
          failures[t] = std::string("waitpid: ") + std::strerror(errno);
          return;
        }
      lifetimes[t].push_back(life.seconds());
      const long peak = read_child_peak(report[0]);
      close(report[0]);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        failures[t] = "a child ended with status " + std::to_string(status) +
                      (WIFEXITED(status) ? " (exit " + std::to_string(WEXITSTATUS(status)) + ")"
                                         : " (signal " + std::to_string(WTERMSIG(status)) + ")");
      else if (peak <= 0)
        failures[t] = "a child did not report its peak RSS";
      child_rss[t] = std::max(child_rss[t], peak);
    }
  });
  for (const std::string& f : failures)
    if (!f.empty()) check_failed(kName, f);

  std::vector<double> all;
  for (const auto& l : lifetimes)
    all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Result r;
  r.elapsed_s = elapsed;
  r.ops = all.size() * allocations;
  const long largest_child = *std::max_element(child_rss.begin(), child_rss.end());
  r.other_peak_rss_kib = static_cast<uint64_t>(largest_child);
  r.extra_json = "\"process_us\":" + std::to_string(all[all.size() / 2] * 1e6) +
                 ",\"child_peak_rss_kib\":" + std::to_string(largest_child);
  print_result(flags, c, r);
  return 0;
}
