#include "harness/machine.h"

#include "harness/process.h"
#include "harness/writers.h"

#include <fmt/format.h>

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#ifndef HOARDLAB_BUILD_TYPE
#define HOARDLAB_BUILD_TYPE "unknown"
#endif
#ifndef HOARDLAB_SANITIZER_NAME
#define HOARDLAB_SANITIZER_NAME "none"
#endif
#ifndef HOARDLAB_SOURCE_DIR
#define HOARDLAB_SOURCE_DIR "."
#endif

namespace hoardlab::harness {
namespace {

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string strip(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}

nlohmann::json or_null(const std::string& s) {
  return s.empty() ? nlohmann::json() : nlohmann::json(s);
}

} // namespace

std::string cli_build_flavour() {
  std::string t = HOARDLAB_BUILD_TYPE;
  std::string s = HOARDLAB_SANITIZER_NAME;
  return s == "none" || s.empty() ? t : t + "+" + s;
}

CpuTimes read_cpu_times() {
  CpuTimes t;
  std::ifstream in("/proc/stat");
  std::string cpu;
  unsigned long long v[10] = {};
  if (in >> cpu && cpu == "cpu") {
    for (auto& x : v)
      in >> x;
    for (auto x : v)
      t.total += x;
    // guest and guest_nice are already counted in user and nice.
    t.total -= v[8] + v[9];
    t.idle = v[3] + v[4];
    t.steal = v[7];
  }
  return t;
}

void add_run_load(nlohmann::json& m, const CpuTimes& a, const CpuTimes& b) {
  double total = static_cast<double>(b.total - a.total);
  if (total <= 0) return;
  m["during_run"] = {{"busy_share", 1.0 - static_cast<double>(b.idle - a.idle) / total},
                     {"steal_share", static_cast<double>(b.steal - a.steal) / total},
                     {"loadavg_end", strip(first_line("/proc/loadavg"))},
                     {"note",
                      "shares of all CPUs' time between the first and the last run; busy includes "
                      "the benchmarks themselves"}};
}

nlohmann::json machine_record() {
  nlohmann::json m;
  std::string model;
  {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line))
      if (line.starts_with("model name")) {
        model = strip(line.substr(line.find(':') + 2));
        break;
      }
  }
  m["cpu_model"] = model;
  m["online_cpus"] = sysconf(_SC_NPROCESSORS_ONLN);
  m["hardware_concurrency"] = std::thread::hardware_concurrency();
  // hwloc's own tools give the topology (packages, NUMA nodes, caches, cores, PUs) in a form
  // a reader knows; the synthetic string is also what HOARDLAB_TOPOLOGY accepts.
  m["topology"] = {
      {"synthetic",
       or_null(strip(capture_output({"lstopo-no-graphics", "--no-io", "--of", "synthetic"})))},
      {"lstopo", or_null(capture_output({"lstopo-no-graphics", "--no-io", "--of", "console"}))}};
  utsname u{};
  uname(&u);
  m["kernel"] = fmt::format("{} {} {}", u.sysname, u.release, u.machine);
  m["hostname"] = u.nodename;
  m["compiler"] = __VERSION__;
  m["harness_build"] = cli_build_flavour();
  m["governor"] = or_null(first_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"));
  std::string no_turbo = first_line("/sys/devices/system/cpu/intel_pstate/no_turbo");
  std::string boost = first_line("/sys/devices/system/cpu/cpufreq/boost");
  m["turbo"] = !no_turbo.empty() ? nlohmann::json(no_turbo == "0")
               : !boost.empty()  ? nlohmann::json(boost == "1")
                                 : nlohmann::json();
  m["smt_active"] = or_null(first_line("/sys/devices/system/cpu/smt/active"));
  m["thp"] = {{"enabled", or_null(first_line("/sys/kernel/mm/transparent_hugepage/enabled"))},
              {"defrag", or_null(first_line("/sys/kernel/mm/transparent_hugepage/defrag"))}};
  std::string quota = first_line("/sys/fs/cgroup/cpu.max"); // cgroup v2
  if (quota.empty()) {
    std::string q = first_line("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
    std::string p = first_line("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
    if (!q.empty()) quota = q + " " + p;
  }
  m["cgroup_cpu_max"] = or_null(quota);
  m["loadavg_start"] = strip(first_line("/proc/loadavg"));
  std::string src = HOARDLAB_SOURCE_DIR;
  m["git"] = {
      {"revision", or_null(strip(capture_output({"git", "-C", src, "rev-parse", "HEAD"})))},
      {"dirty", !capture_output({"git", "-C", src, "status", "--porcelain", "--untracked-files=no"})
                     .empty()}};
  return m;
}

} // namespace hoardlab::harness
