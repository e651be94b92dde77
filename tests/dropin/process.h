// Running a program with and without the malloc under test, for the drop-in tests.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace hoardlab::dropin {

// The malloc library the tests preload: $HOARDLAB_DROPIN_LIB when set (so the same tests run
// against jemalloc, mimalloc, ...), else the libhoardlab-malloc.so of this build tree.
std::string library_under_test();
// True when the library under test is hoardlab's (it exports hl_stats_get).
bool library_is_hoardlab();
// A program or library of this build tree (build/<preset>/bin or lib).
std::string build_program(const std::string& name);
std::string probe_library();

struct ProcessResult {
  int exit_code = -1; // exit status, or 128 + signal
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Runs argv with exactly `env` as its environment (nothing inherited), stdin from `input`,
// killed after timeout_s seconds.
ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::map<std::string, std::string>& env,
                          const std::string& input = "", double timeout_s = 50.0);

// A pinned environment: C locale, UTC, fixed hash seeds, HOME in a scratch directory.
std::map<std::string, std::string> pinned_environment(const std::string& home);

// The environment plus LD_PRELOAD of the library under test and the activity probe, whose
// records go to probe_file.
std::map<std::string, std::string> preloaded(std::map<std::string, std::string> env,
                                             const std::string& probe_file);

// What the probe recorded (one line per process that exited normally).
struct ProbeRecord {
  long pid = 0;
  std::string malloc_from;    // the object that `malloc` resolves into
  long long allocations = -1; // hl_stats_get's count, -1 when the allocator has no hl_stats
  long long bytes_held = -1;  // hl_stats bytes_held, -1 likewise
};
std::vector<ProbeRecord> read_probe(const std::string& probe_file);

// A fresh scratch directory under the build tree (tests/dropin/scratch).
std::string make_scratch_dir(const std::string& tag);

// A scratch directory that is removed when the test passed, and kept for a look when it failed.
class ScratchDir {
public:
  explicit ScratchDir(const std::string& tag) : path(make_scratch_dir(tag)) {}
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string path;
};
void write_file(const std::string& path, const std::string& data);
std::string read_file(const std::string& path);
std::string real_path(const std::string& path);

} // namespace hoardlab::dropin
