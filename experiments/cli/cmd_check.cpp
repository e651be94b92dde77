// `hoardlab check FILE...`: validates allocator config files with the allocator's own parser
// (the same messages it would print at init) and with toml++ (the harness's reader), so a file
// that passes is read identically by both; an experiment file (one with allocators or
// [[benchmark]]) is validated as an experiment instead. Each file ends with one verdict line on
// stdout, "FILE: valid ..." or "FILE: invalid ...", after the problems on stderr. Exit status 1
// when any file has a problem.
#include "cli/command.h"

#include "config/loader.h"
#include "config/options.h"
#include "config/value.h"
#include "harness/cells.h"
#include "harness/experiment.h"

#include <fmt/core.h>
#include <toml++/toml.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace hoardlab::cli {
namespace {

// An experiment names allocators and benchmarks; an allocator config has neither.
bool is_experiment(const std::string& path) {
  try {
    auto root = toml::parse_file(path);
    return root.contains("allocators") || root.contains("benchmark");
  } catch (const toml::parse_error&) {
    return false;
  }
}

bool check_experiment(const std::string& path) {
  try {
    auto ex = harness::load_experiment(path);
    auto cells = harness::expand_cells(ex);
    fmt::print("{}: valid experiment '{}' ({} cells; hoardlab run --dry-run {} also checks its "
               "programs, their flags, the libraries and hoardlab's options)\n",
               path, ex.name, cells.size(), path);
    return true;
  } catch (const harness::ConfigError& e) {
    fmt::print(stderr, "{}\n", e.what());
    fmt::print("{}: invalid experiment\n", path);
    return false;
  }
}

bool check_one(const std::string& path) {
  if (is_experiment(path)) return check_experiment(path);
  auto options = std::make_unique<config::Options>();
  config::Provenance provenance[config::kOptionCount];
  auto messages = std::make_unique<config::Messages>();
  std::vector<char> buffer(64 * 1024);
  const bool read = config::apply_file(path.c_str(), buffer.data(), buffer.size(), *options,
                                       provenance, *messages);
  if (read) config::check_consistency(*options, provenance, *messages);
  config::finish_messages(*messages);
  if (messages->count > 0) std::fwrite(messages->sink.data(), 1, messages->sink.size(), stderr);
  bool ok = read && messages->count == 0;
  if (read) {
    try {
      (void)toml::parse_file(path);
    } catch (const toml::parse_error& e) {
      fmt::print(stderr, "hoardlab: check: {}:{}:{}: not valid TOML for the harness: {}\n", path,
                 e.source().begin.line, e.source().begin.column, e.description());
      ok = false;
    }
  }
  if (ok) {
    unsigned set = 0;
    for (std::size_t i = 0; i < config::kOptionCount; ++i)
      set += provenance[i].source == config::Source::kFile ? 1 : 0;
    fmt::print("{}: valid allocator config ({} option{} set)\n", path, set, set == 1 ? "" : "s");
  } else {
    fmt::print("{}: invalid allocator config\n", path);
  }
  return ok;
}

const Registrar registrar{
    {"check", [](CLI::App& app) {
       auto* cmd = app.add_subcommand(
           "check", "validate allocator config files (HOARDLAB_CONFIG) and experiment files");
       auto files = std::make_shared<std::vector<std::string>>();
       cmd->add_option("FILE", *files, "files to check")->required();
       cmd->callback([files] {
         bool ok = true;
         for (const auto& f : *files) {
           ok = check_one(f) && ok;
           std::fflush(stdout); // the verdict before the next file's problems
         }
         exit_status() = ok ? 0 : 1;
       });
     }}};

} // namespace
} // namespace hoardlab::cli
