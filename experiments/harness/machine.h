// The machine record (machine.json): what a reader needs to judge whether two runs compare.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace hoardlab::harness {

// CPU time counters from /proc/stat, to report load and steal over the run.
struct CpuTimes {
  unsigned long long total = 0, idle = 0, steal = 0;
};
CpuTimes read_cpu_times();

// Static facts: CPU, topology (hwloc's lstopo), kernel, compiler, governor, turbo, SMT, THP,
// cgroup quota, git revision, load average.
nlohmann::json machine_record();

// Adds the run's load and steal (shares of all CPU time between two readings).
void add_run_load(nlohmann::json& machine, const CpuTimes& start, const CpuTimes& end);

// The build type the hoardlab CLI itself was compiled as ("Release", "Debug", ...; with
// "+sanitizer" when one was on).
std::string cli_build_flavour();

} // namespace hoardlab::harness
