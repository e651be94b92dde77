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
// (`process_us`) and the children's peak RSS (`child_peak_rss_kib`: the largest; the harness's
// wait4 figure includes it as well).
#include <spawn.h>
#include <sys/resource.h>
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
  return 0;
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
      Stopwatch life;
      pid_t pid;
      int err = posix_spawn(&pid, exe, nullptr, nullptr, args, env.data());
      if (err != 0) {
        failures[t] = std::string("posix_spawn: ") + std::strerror(err);
        break;
      }
      int status = 0;
      struct rusage usage {};
      while (wait4(pid, &status, 0, &usage) < 0)
        if (errno != EINTR) {
          failures[t] = std::string("wait4: ") + std::strerror(errno);
          return;
        }
      lifetimes[t].push_back(life.seconds());
      child_rss[t] = std::max(child_rss[t], usage.ru_maxrss);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        failures[t] = "a child ended with status " + std::to_string(status) +
                      (WIFEXITED(status) ? " (exit " + std::to_string(WEXITSTATUS(status)) + ")"
                                         : " (signal " + std::to_string(WTERMSIG(status)) + ")");
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
  r.extra_json = "\"process_us\":" + std::to_string(all[all.size() / 2] * 1e6) +
                 ",\"child_peak_rss_kib\":" +
                 std::to_string(*std::max_element(child_rss.begin(), child_rss.end()));
  print_result(flags, c, r);
  return 0;
}
