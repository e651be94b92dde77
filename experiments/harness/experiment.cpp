#include "harness/experiment.h"

#include "harness/option_values.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace hoardlab::harness {

const std::vector<KnownPeer>& known_peers() {
  static const std::vector<KnownPeer> peers = {
      {"jemalloc", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "jemalloc (Debian)"},
      {"tcmalloc", "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
       "gperftools tcmalloc_minimal: per-thread caches, not Google's per-CPU TCMalloc"},
      {"mimalloc", "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2", "mimalloc (Debian)"},
      {"tbb", "/usr/lib/x86_64-linux-gnu/libtbbmalloc_proxy.so.2",
       "oneTBB scalable allocator through its malloc proxy"},
  };
  return peers;
}

namespace {

// Errors carry the node's source position, as compilers print them, so editors jump there.
[[noreturn]] void fail_at(const std::string& source, const toml::source_region& where,
                          const std::string& key, const std::string& what) {
  if (where.begin.line == 0) throw ConfigError(fmt::format("{}: key '{}': {}", source, key, what));
  throw ConfigError(fmt::format("{}:{}:{}: key '{}': {}", source, where.begin.line,
                                where.begin.column, key, what));
}

// toml++ keeps a table's keys sorted; flags and grid axes must keep the order of the file.
std::vector<std::pair<std::string, const toml::node*>> in_file_order(const toml::table& t) {
  std::vector<std::pair<std::string, const toml::node*>> out;
  for (const auto& [k, v] : t)
    out.emplace_back(std::string(k.str()), &v);
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    const auto& sa = a.second->source().begin;
    const auto& sb = b.second->source().begin;
    return std::tie(sa.line, sa.column) < std::tie(sb.line, sb.column);
  });
  return out;
}

class Reader {
public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const toml::node& n, const std::string& key, const std::string& what) {
    fail_at(source_, n.source(), key, what);
  }

  std::string string(const toml::node& n, const std::string& key) {
    if (auto s = n.value<std::string>(); s && n.is_string()) return *s;
    fail(n, key, "must be a string");
  }

  // A number or a string that the option parser reads ("64KiB" and 65536 are both fine).
  std::string scalar_text(const toml::node& n, const std::string& key) {
    if (n.is_string()) return *n.value<std::string>();
    if (n.is_integer()) return std::to_string(*n.value<std::int64_t>());
    if (n.is_floating_point()) return fmt::format("{}", *n.value<double>());
    if (n.is_boolean()) return *n.value<bool>() ? "true" : "false";
    fail(n, key, "must be a string, a number or a boolean");
  }

  std::int64_t integer(const toml::node& n, const std::string& key, std::int64_t lo,
                       std::int64_t hi) {
    if (!n.is_integer()) fail(n, key, "must be an integer");
    auto v = *n.value<std::int64_t>();
    if (v < lo || v > hi) fail(n, key, fmt::format("{} is out of range [{}, {}]", v, lo, hi));
    return v;
  }

  double number(const toml::node& n, const std::string& key, double lo, double hi) {
    if (!n.is_number()) fail(n, key, "must be a number");
    double v = *n.value<double>();
    if (!(v >= lo && v <= hi)) fail(n, key, fmt::format("{} is out of range [{}, {}]", v, lo, hi));
    return v;
  }

  std::vector<int> thread_list(const toml::node& n, const std::string& key) {
    const auto* arr = n.as_array();
    if (!arr || arr->empty())
      fail(n, key, "must be a non-empty array of thread counts, e.g. [1, 2, 4]");
    std::vector<int> out;
    for (const auto& e : *arr) {
      int t = static_cast<int>(integer(e, key, 1, 4096));
      if (std::find(out.begin(), out.end(), t) != out.end())
        fail(e, key, fmt::format("thread count {} is listed twice", t));
      out.push_back(t);
    }
    return out;
  }

  OptionSetting option(const toml::node& n, const std::string& key) {
    ResolvedOption r;
    std::string error;
    if (!resolve_option(key, r, error)) fail(n, key, error);
    std::string normalized;
    if (!check_option_value(r.name, scalar_text(n, key), normalized, error)) fail(n, key, error);
    return {r.name, r.env, normalized};
  }

  const std::string& source() const { return source_; }

private:
  std::string source_;
};

void parse_benchmark(Reader& rd, const toml::table& t, Experiment& ex) {
  BenchmarkSpec b;
  for (const auto& [key, vp] : in_file_order(t)) {
    const auto& v = *vp;
    std::string path = "benchmark." + key;
    if (key == "name")
      b.name = rd.string(v, path);
    else if (key == "program")
      b.program = rd.string(v, path);
    else if (key == "threads")
      b.threads = rd.thread_list(v, path);
    else if (key == "timeout_s")
      b.timeout_s = rd.number(v, path, 0.1, 86400);
    else if (key == "sample_rss") {
      if (!v.is_boolean()) rd.fail(v, path, "must be true or false");
      b.sample_rss = *v.value<bool>();
    } else if (key == "args") {
      if (const auto* arr = v.as_array()) {
        for (const auto& e : *arr)
          b.args.push_back(rd.scalar_text(e, path));
      } else if (const auto* tab = v.as_table()) {
        // A table reads as flags in file order: {threads-per-x = 2} -> --threads-per-x 2.
        for (const auto& [flag, avp] : in_file_order(*tab)) {
          const auto& av = *avp;
          if (flag == "threads")
            rd.fail(av, path + "." + flag, "thread counts are set by `threads`, not args");
          b.args.push_back("--" + flag);
          if (!(av.is_boolean() && *av.value<bool>()))
            b.args.push_back(rd.scalar_text(av, path + "." + flag));
        }
      } else {
        rd.fail(v, path, "must be an array of strings or a table of flag = value");
      }
    } else {
      rd.fail(v, path,
              "unknown key (allowed: name, program, args, threads, timeout_s, sample_rss)");
    }
  }
  if (b.name.empty())
    fail_at(rd.source(), t.source(), "benchmark.name", "every [[benchmark]] needs a name");
  if (b.program.empty()) b.program = b.name;
  for (const auto& other : ex.benchmarks)
    if (other.name == b.name)
      fail_at(rd.source(), t.source(), "benchmark.name",
              fmt::format("benchmark '{}' is listed twice; give one a different name", b.name));
  ex.benchmarks.push_back(std::move(b));
}

// `user_named`: the names [allocator_paths] gives a library for.
void parse_allocators(Reader& rd, const toml::node& n, const std::set<std::string>& user_named,
                      Experiment& ex) {
  const auto* arr = n.as_array();
  if (!arr || arr->empty())
    rd.fail(n, "allocators", "must be a non-empty array of names, e.g. [\"hoardlab\", \"glibc\"]");
  std::set<std::string> seen;
  auto add = [&](const toml::node& at, AllocatorSpec s) {
    if (!seen.insert(s.name).second) {
      if (s.required) rd.fail(at, "allocators", fmt::format("'{}' is listed twice", s.name));
      return;
    }
    ex.allocators.push_back(std::move(s));
  };
  for (const auto& e : *arr) {
    std::string name = rd.string(e, "allocators");
    if (name == "peers") {
      for (const auto& p : known_peers())
        add(e, {p.name, "", false});
      continue;
    }
    bool known = name == "hoardlab" || name == "glibc" || user_named.count(name) > 0;
    for (const auto& p : known_peers())
      known = known || name == p.name;
    if (!known)
      rd.fail(e, "allocators",
              fmt::format("unknown allocator '{}': use hoardlab, glibc, jemalloc, tcmalloc, "
                          "mimalloc, tbb, \"peers\", or give its library in [allocator_paths]",
                          name));
    add(e, {name, "", true});
  }
}

} // namespace

namespace {

// "$NAME" or "${NAME}" as a whole value is the environment variable NAME, so a shared
// experiment file names a locally built library without a path of one machine in it
// (hoard = "$HOARDLAB_PEER_HOARD").
std::string expand_variable(Reader& rd, const toml::node& n, const std::string& key,
                            const std::string& text) {
  if (text.empty() || text[0] != '$') return text;
  bool braced = text.size() > 1 && text[1] == '{';
  if (braced && text.back() != '}') rd.fail(n, key, fmt::format("'{}': no closing brace", text));
  std::string name = braced ? text.substr(2, text.size() - 3) : text.substr(1);
  const char* value = std::getenv(name.c_str());
  if (!value || !*value)
    rd.fail(n, key, fmt::format("the environment variable {} is not set", name));
  return value;
}

// `config = ["../allocator/hoard-2000.toml", ...]` in [grid]: whole hoardlab configuration files
// as one axis, so designs that differ in many options (the paper's Hoard and today's default)
// sit side by side in one table. A path is relative to the experiment file; cells and tables
// name each file by its stem, and the cell gets it as HOARDLAB_CONFIG.
GridAxis config_axis(Reader& rd, const toml::array& files, const std::string& source) {
  namespace fs = std::filesystem;
  GridAxis axis;
  axis.name = "config";
  axis.env = "HOARDLAB_CONFIG";
  const fs::path base = fs::path(source).parent_path();
  for (const auto& e : files) {
    std::string text = rd.string(e, "grid.config");
    fs::path file = fs::path(text).is_absolute() ? fs::path(text) : base / text;
    std::error_code ec;
    if (!fs::is_regular_file(file, ec))
      rd.fail(e, "grid.config", fmt::format("{} is not a regular file", file.string()));
    std::string stem = file.stem().string();
    if (std::find(axis.values.begin(), axis.values.end(), stem) != axis.values.end())
      rd.fail(e, "grid.config", fmt::format("two files are named {}", stem));
    axis.values.push_back(stem);
    axis.env_values.push_back(fs::absolute(file, ec).lexically_normal().string());
  }
  return axis;
}

} // namespace

Experiment parse_experiment(const std::string& text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw ConfigError(fmt::format("{}:{}:{}: {}", source, e.source().begin.line,
                                  e.source().begin.column, e.description()));
  }
  Reader rd(source);
  Experiment ex;
  ex.source = source;
  ex.text = text;
  const toml::node* allocators_node = nullptr;
  for (const auto& [key, vp] : in_file_order(root)) {
    const auto& v = *vp;
    if (key == "name")
      ex.name = rd.string(v, key);
    else if (key == "description")
      ex.description = rd.string(v, key);
    else if (key == "repetitions")
      ex.repetitions = static_cast<int>(rd.integer(v, key, 1, 1000));
    else if (key == "warmup")
      ex.warmup = static_cast<int>(rd.integer(v, key, 0, 100));
    else if (key == "timeout_s")
      ex.timeout_s = rd.number(v, key, 0.1, 86400);
    else if (key == "run_seconds")
      ex.run_seconds = rd.number(v, key, 0.001, 86400);
    else if (key == "baseline")
      ex.baseline = rd.string(v, key);
    else if (key == "noisy_threshold")
      ex.noisy_threshold = rd.number(v, key, 0.0, 10.0);
    else if (key == "seed")
      ex.seed = static_cast<std::uint64_t>(rd.integer(v, key, 0, INT64_MAX));
    else if (key == "threads")
      ex.threads = rd.thread_list(v, key);
    else if (key == "pin") {
      ex.pin = rd.string(v, key);
      bool list = !ex.pin.empty() && ex.pin.find_first_not_of("0123456789,-") == std::string::npos;
      if (ex.pin != "none" && ex.pin != "compact" && !list)
        rd.fail(v, key, "must be \"none\", \"compact\" (first N CPUs) or a CPU list like \"0-3\"");
    } else if (key == "order") {
      const std::string order = rd.string(v, key);
      if (order != "shuffled" && order != "fixed")
        rd.fail(v, key, "must be \"shuffled\" (each round in its own seeded order) or \"fixed\"");
      ex.shuffle = order == "shuffled";
    } else if (key == "allocators")
      allocators_node = &v;
    else if (key == "allocator_paths" || key == "hoardlab" || key == "grid" || key == "benchmark")
      continue; // read below, once the simple keys are known
    else
      rd.fail(v, key,
              "unknown key (allowed: name, description, repetitions, warmup, timeout_s, "
              "run_seconds, baseline, noisy_threshold, seed, threads, pin, order, allocators, "
              "allocator_paths, "
              "hoardlab, grid, benchmark)");
  }
  if (ex.name.empty())
    throw ConfigError(fmt::format("{}: key 'name': the experiment needs a name", source));
  if (ex.name.find_first_of("/ \t") != std::string::npos)
    rd.fail(*root.get("name"), "name", "must not contain '/' or spaces (it names the output dir)");
  if (!allocators_node)
    throw ConfigError(fmt::format("{}: key 'allocators': missing; e.g. allocators = [\"hoardlab\", "
                                  "\"glibc\"]",
                                  source));
  std::set<std::string> user_named;
  if (const auto* paths = root.get("allocator_paths"); paths && paths->is_table())
    for (const auto& [name, v] : *paths->as_table())
      user_named.insert(std::string(name.str()));
  parse_allocators(rd, *allocators_node, user_named, ex);

  if (const auto* paths = root.get("allocator_paths")) {
    const auto* t = paths->as_table();
    if (!t) rd.fail(*paths, "allocator_paths", "must be a table of name = \"/path/lib.so\"");
    for (const auto& [name, vp] : in_file_order(*t)) {
      const auto& v = *vp;
      std::string key = "allocator_paths." + name;
      std::string path = expand_variable(rd, v, key, rd.string(v, key));
      if (path.empty() || path[0] != '/')
        rd.fail(v, key, "must be an absolute path to a preloadable library");
      if (name == "hoardlab" || name == "glibc")
        rd.fail(v, key,
                fmt::format("'{}' cannot be relocated here (hoardlab: --hoardlab-lib; glibc is "
                            "the C library the benchmarks load)",
                            name));
      // A known peer named here is that peer from another place (a build from source, a
      // bundle): it replaces the Debian path and becomes required.
      bool relocated = false;
      for (auto& a : ex.allocators)
        if (a.name == name) {
          a.path = path;
          a.required = true;
          relocated = true;
        }
      if (!relocated) ex.allocators.push_back({name, path, true});
    }
  }

  if (const auto* opts = root.get("hoardlab")) {
    const auto* t = opts->as_table();
    if (!t) rd.fail(*opts, "hoardlab", "must be a table of option = value");
    for (const auto& [key, vp] : in_file_order(*t)) {
      const auto& v = *vp;
      if (const auto* sub = v.as_table()) { // [hoardlab.heap] superblock_size = ...
        for (const auto& [skey, sv] : in_file_order(*sub))
          ex.hoardlab_options.push_back(rd.option(*sv, key + "." + skey));
      } else {
        ex.hoardlab_options.push_back(rd.option(v, key));
      }
    }
  }

  if (const auto* grid = root.get("grid")) {
    const auto* t = grid->as_table();
    if (!t) rd.fail(*grid, "grid", "must be a table of option = [values]");
    for (const auto& [kname, vp] : in_file_order(*t)) {
      const auto& v = *vp;
      std::string key = "grid." + kname;
      const auto* arr = v.as_array();
      if (!arr || arr->empty())
        rd.fail(v, key, "must be a non-empty array of values, e.g. [\"16KiB\", \"64KiB\"]");
      if (kname == "config") {
        ex.grid.push_back(config_axis(rd, *arr, source));
        continue;
      }
      GridAxis axis;
      for (const auto& e : *arr) {
        ResolvedOption r;
        std::string error;
        if (!resolve_option(kname, r, error)) rd.fail(v, key, error);
        auto s = rd.option(e, kname);
        if (std::find(axis.values.begin(), axis.values.end(), s.value) != axis.values.end())
          rd.fail(e, key, fmt::format("value {} is listed twice", s.value));
        axis.name = s.name;
        axis.env = s.env;
        axis.values.push_back(s.value);
      }
      for (const auto& other : ex.grid)
        if (other.name == axis.name) rd.fail(v, key, fmt::format("{} is swept twice", axis.name));
      for (const auto& fixed : ex.hoardlab_options)
        if (fixed.name == axis.name)
          rd.fail(v, key, fmt::format("{} is both fixed in [hoardlab] and swept", axis.name));
      ex.grid.push_back(std::move(axis));
    }
    bool has_hoardlab = std::any_of(ex.allocators.begin(), ex.allocators.end(),
                                    [](const AllocatorSpec& a) { return a.name == "hoardlab"; });
    if (!ex.grid.empty() && !has_hoardlab)
      rd.fail(*grid, "grid", "sweeps hoardlab options, but hoardlab is not in allocators");
  }

  if (const auto* benches = root.get("benchmark")) {
    const auto* arr = benches->as_array();
    if (!arr) rd.fail(*benches, "benchmark", "write each benchmark as a [[benchmark]] table");
    for (const auto& e : *arr) {
      const auto* t = e.as_table();
      if (!t) rd.fail(e, "benchmark", "each entry must be a table with a name");
      parse_benchmark(rd, *t, ex);
    }
  }
  if (ex.benchmarks.empty())
    throw ConfigError(fmt::format("{}: key 'benchmark': no [[benchmark]] given", source));

  bool baseline_known = std::any_of(ex.allocators.begin(), ex.allocators.end(),
                                    [&](const AllocatorSpec& a) { return a.name == ex.baseline; });
  if (!baseline_known) {
    const auto* b = root.get("baseline");
    std::string what = fmt::format("baseline '{}' is not one of the allocators", ex.baseline);
    if (b) rd.fail(*b, "baseline", what);
    throw ConfigError(fmt::format("{}: key 'baseline': {}", source, what));
  }
  return ex;
}

Experiment load_experiment(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(fmt::format("{}: cannot read the experiment file", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_experiment(ss.str(), path);
}

} // namespace hoardlab::harness
