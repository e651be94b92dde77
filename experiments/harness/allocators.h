// Finding the allocators an experiment names, and what the record says of each.
#pragma once

#include "harness/experiment.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace hoardlab::harness {

// Where the harness finds its programs and libraries.
struct Locations {
  // Defaults: in a build tree, the directory of the hoardlab binary and <bin>/../lib; when
  // installed, <prefix>/<libexecdir>/hoardlab and <prefix>/<libdir>.
  std::string bench_dir;    // benchmarks
  std::string hoardlab_lib; // libhoardlab-malloc.so
};

// Defaults from /proc/self/exe (the installed layout when <prefix>/<libexecdir>/hoardlab exists),
// overridden by HOARDLAB_BENCH_DIR / HOARDLAB_MALLOC_LIB, then
// by the command line (empty arguments keep the default).
Locations find_locations(const std::string& bench_dir_flag, const std::string& lib_flag);

struct ResolvedAllocator {
  std::string name;
  std::string preload;  // the LD_PRELOAD path; empty for glibc
  std::string realpath; // what the benchmark's malloc_lib must name
  bool usable = false;
  bool skipped = false; // a "peers" entry not installed here: no cells at all
  std::string problem;  // why cells fail when !usable
  std::string note;     // e.g. tcmalloc is gperftools, not per-CPU TCMalloc
  std::string package;  // Debian package and version, when dpkg knows the file
  std::string build_id;
  std::string hash;
};

// Resolves each allocator; never throws. A library that is missing, unreadable, not ELF, or
// built with a sanitizer is unusable (its cells fail with `problem`); so is a hoardlab drop-in
// from a debug or sanitizer build tree unless `allow_debug`.
std::vector<ResolvedAllocator> resolve_allocators(const Experiment& ex, const Locations& where,
                                                  bool allow_debug);

// The Debian package owning a file and its version ("libjemalloc2 5.3.0-1"), or empty.
std::string debian_package_of(const std::string& path);

nlohmann::json to_json(const ResolvedAllocator& a);

// The build type of the tree a file was built in, from the CMakeCache.txt above it
// ("Release", "Debug", "RelWithDebInfo+tsan"); empty when not in a build tree.
std::string build_tree_flavour(const std::string& path);

} // namespace hoardlab::harness
