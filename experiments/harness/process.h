// Runs one benchmark process: its own process group, a clean environment plus ours, stdout
// and stderr to files, a timeout that kills the whole group, and wait4's resource usage.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace hoardlab::harness {

struct ProcessSpec {
  std::vector<std::string> argv;
  // Set on top of the harness's environment, after LD_PRELOAD and HOARDLAB_* are removed from
  // it, so only what the cell asks for reaches the benchmark.
  std::vector<std::pair<std::string, std::string>> env;
  std::string stdout_path;
  std::string stderr_path;
  double timeout_s = 60;
  // Whether a stop request (SIGINT/SIGTERM) kills it. A benchmark yes; gnuplot and the other
  // utilities no: they run after the stop to write what the run has (their timeout bounds them).
  bool stop_kills = true;
  std::vector<int> cpus;        // affinity for the child; empty: inherit
  double sample_interval_s = 0; // > 0: call `sample` with the child's pid at this period
  std::function<void(int pid, double t)> sample;
};

struct ProcessResult {
  bool started = false;
  std::string spawn_error;
  int exit_code = -1; // valid when !signaled
  int signal = 0;     // the signal that ended it
  bool timed_out = false;
  bool interrupted = false; // the harness was asked to stop (SIGINT/SIGTERM)
  double wall_s = 0, user_s = 0, sys_s = 0;
  long max_rss_kib = 0;
  long minor_faults = 0, major_faults = 0; // the benchmark's, wait4's ru_minflt and ru_majflt
};

ProcessResult run_process(const ProcessSpec& spec);

// Installs SIGINT/SIGTERM handlers that ask the run to stop; the running child's group is
// killed and the harness writes what it has.
void install_stop_handlers();
bool stop_requested();

// Runs a command and returns its stdout (empty on failure); for dpkg-query, git, lstopo.
std::string capture_output(const std::vector<std::string>& argv, double timeout_s = 20);

// Rss minus LazyFree of a process in KiB, from /proc/<pid>/smaps_rollup: pages freed with
// MADV_FREE still count in Rss until the kernel reclaims them, and the allocator has already
// given them back. Returns -1 when the process is gone.
long rss_minus_lazyfree_kib(int pid);

} // namespace hoardlab::harness
