// An experiment file, parsed and checked: what to run, against what, how often.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace hoardlab::harness {

// A bad experiment file: the message already names the file, line, column and key.
class ConfigError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// One hoardlab option given in the file, mapped onto the options table.
struct OptionSetting {
  std::string name;  // "section.key"
  std::string env;   // HOARDLAB_<SECTION>_<KEY>
  std::string value; // as the user wrote it ("64KiB", "1/8"); the library parses the same text
};

// A swept option: every value is one grid point.
struct GridAxis {
  std::string name; // "section.key", or "config" for whole configuration files
  std::string env;
  std::vector<std::string> values;     // as cells and tables name them
  std::vector<std::string> env_values; // what goes into `env`, where it differs from `values`
};

struct BenchmarkSpec {
  std::string name;                // the label in tables; also the program unless `program`
  std::string program;             // a name looked up in the bench dir, or a path
  std::vector<std::string> args;   // extra arguments, in order
  std::vector<int> threads;        // empty: the experiment's thread counts
  std::optional<double> timeout_s; // per-run limit; empty: the experiment's
  bool sample_rss = false;         // sample RSS over time (blowup runs)
};

struct AllocatorSpec {
  std::string name;     // hoardlab, glibc, jemalloc, ..., or a user's name
  std::string path;     // a user's library, or a known peer relocated by [allocator_paths]
  bool required = true; // false for names that came from "peers": skipped when absent
};

struct Experiment {
  std::string name;
  std::string description;
  std::string source; // the file's path ("<embedded default>" for the built-in one)
  std::string text;   // the file itself, recorded with the results
  int repetitions = 5;
  int warmup = 1;
  double timeout_s = 120.0;
  std::optional<double> run_seconds; // typical seconds of one run, for the estimate up front
  std::string baseline = "glibc";
  std::string pin = "none";      // none | compact | a CPU list "0-3,6"
  bool shuffle = true;           // order = "shuffled": each round's cells in a seeded order
  double noisy_threshold = 0.10; // a cell whose CI half-width exceeds this share of the median
  std::uint64_t seed = 1;        // for bootstrap resampling and benchmarks' --seed
  std::vector<int> threads{1};
  std::vector<AllocatorSpec> allocators;
  std::vector<OptionSetting> hoardlab_options; // fixed overrides for every hoardlab cell
  std::vector<GridAxis> grid;                  // cross product, hoardlab cells only
  std::vector<BenchmarkSpec> benchmarks;
};

// Parses and checks an experiment. `source` names the text in error messages. Throws
// ConfigError naming file:line:column and the key; nothing is run for a bad file.
Experiment parse_experiment(const std::string& text, const std::string& source);

// Reads a file and parses it.
Experiment load_experiment(const std::string& path);

// The peers looked for by name (Debian's packages on x86_64).
struct KnownPeer {
  const char* name;
  const char* path;
  const char* note;
};
const std::vector<KnownPeer>& known_peers();

} // namespace hoardlab::harness
