#include "harness/process.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace hoardlab::harness {
namespace {

volatile std::sig_atomic_t g_stop = 0;

void on_stop(int) {
  g_stop = 1;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<std::string> child_environment(const ProcessSpec& spec) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    if (v.starts_with("LD_PRELOAD=") || v.starts_with("HOARDLAB_")) continue;
    env.emplace_back(v);
  }
  for (const auto& [k, v] : spec.env)
    env.push_back(k + "=" + v);
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

struct AffinityGuard {
  cpu_set_t saved;
  bool active = false;
  explicit AffinityGuard(const std::vector<int>& cpus) {
    if (cpus.empty() || sched_getaffinity(0, sizeof(saved), &saved) != 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c : cpus)
      CPU_SET(c, &set);
    // posix_spawn cannot set the child's affinity; the child inherits ours, so the harness
    // (single-threaded) pins itself for the spawn and returns to its own set after.
    active = sched_setaffinity(0, sizeof(set), &set) == 0;
  }
  ~AffinityGuard() {
    if (active) sched_setaffinity(0, sizeof(saved), &saved);
  }
};

} // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool stop_requested() {
  return g_stop != 0;
}

ProcessResult run_process(const ProcessSpec& spec) {
  ProcessResult r;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, spec.stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&fa, 2, spec.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group, so a timeout kills the benchmark and anything it started, and a
  // terminal's Ctrl-C reaches only the harness, which then stops the group itself.
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGCHLD);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  auto argv_store = spec.argv;
  auto env_store = child_environment(spec);
  auto argv = c_strings(argv_store);
  auto envp = c_strings(env_store);

  // SIGCHLD is blocked and waited for with sigtimedwait, so the wall time is not rounded to a
  // polling period.
  sigset_t chld, old;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, &old);

  pid_t pid = -1;
  double start = 0;
  int rc = 0;
  {
    AffinityGuard pin(spec.cpus);
    start = now_s();
    rc = posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), envp.data());
  }
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    sigprocmask(SIG_SETMASK, &old, nullptr);
    r.spawn_error = std::string("cannot start ") + spec.argv[0] + ": " + std::strerror(rc);
    return r;
  }
  r.started = true;
  const double deadline = start + spec.timeout_s;
  double next_sample = spec.sample_interval_s > 0 ? start : INFINITY;
  int status = 0;
  rusage ru{};
  for (;;) {
    pid_t done = wait4(pid, &status, WNOHANG, &ru);
    if (done == pid) break;
    double t = now_s();
    if (t >= next_sample && spec.sample) {
      spec.sample(pid, t - start);
      next_sample = t + spec.sample_interval_s;
    }
    const bool stop = g_stop != 0 && spec.stop_kills;
    if (stop || t >= deadline) {
      r.timed_out = !stop;
      r.interrupted = stop;
      kill(-pid, SIGKILL);
      wait4(pid, &status, 0, &ru);
      break;
    }
    double wait = std::min(deadline, next_sample) - t;
    wait = std::clamp(wait, 0.0005, 0.25); // a bounded wait also notices a stop request
    timespec ts{static_cast<time_t>(wait), static_cast<long>((wait - std::floor(wait)) * 1e9)};
    sigtimedwait(&chld, nullptr, &ts);
  }
  r.wall_s = now_s() - start;
  // Anything the benchmark left behind in its group goes with it.
  kill(-pid, SIGKILL);
  sigprocmask(SIG_SETMASK, &old, nullptr);
  if (WIFSIGNALED(status))
    r.signal = WTERMSIG(status);
  else if (WIFEXITED(status))
    r.exit_code = WEXITSTATUS(status);
  r.user_s = static_cast<double>(ru.ru_utime.tv_sec) + ru.ru_utime.tv_usec / 1e6;
  r.sys_s = static_cast<double>(ru.ru_stime.tv_sec) + ru.ru_stime.tv_usec / 1e6;
  r.max_rss_kib = ru.ru_maxrss;
  r.minor_faults = ru.ru_minflt;
  r.major_faults = ru.ru_majflt;
  return r;
}

std::string capture_output(const std::vector<std::string>& argv, double timeout_s) {
  char tmpl[] = "/tmp/hoardlab-capture-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) return {};
  close(fd);
  ProcessSpec spec;
  spec.argv = argv;
  spec.stdout_path = tmpl;
  spec.stderr_path = "/dev/null";
  spec.timeout_s = timeout_s;
  spec.stop_kills = false;
  // A program named without a slash is looked up in PATH, as a shell would.
  if (spec.argv[0].find('/') == std::string::npos) {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "/usr/bin:/bin");
    std::string dir;
    bool found = false;
    while (std::getline(dirs, dir, ':'))
      if (access((dir + "/" + argv[0]).c_str(), X_OK) == 0) {
        spec.argv[0] = dir + "/" + argv[0];
        found = true;
        break;
      }
    if (!found) {
      unlink(tmpl);
      return {};
    }
  }
  auto r = run_process(spec);
  std::ifstream in(tmpl);
  std::stringstream ss;
  ss << in.rdbuf();
  unlink(tmpl);
  if (!r.started || r.exit_code != 0) return {};
  return ss.str();
}

long rss_minus_lazyfree_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  if (!in) return -1;
  long rss = -1, lazy = 0;
  std::string key;
  long value = 0;
  std::string unit;
  while (in >> key) {
    if (key == "Rss:" && in >> value >> unit)
      rss = value;
    else if (key == "LazyFree:" && in >> value >> unit)
      lazy = value;
    else
      in.ignore(1 << 20, '\n');
  }
  return rss < 0 ? -1 : rss - lazy;
}

} // namespace hoardlab::harness
