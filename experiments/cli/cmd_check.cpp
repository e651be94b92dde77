// `hoardlab check FILE...`: validates allocator config files with the allocator's own parser
// (the same messages it would print at init) and with toml++ (the harness's reader), so a file
// that passes is read identically by both. Exit status 1 when any file has a problem.
#include "cli/command.h"

#include "config/loader.h"
#include "config/options.h"
#include "config/value.h"

#include <fmt/core.h>
#include <toml++/toml.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace hoardlab::cli {
namespace {

bool check_one(const std::string& path) {
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
    fmt::print("{}: valid ({} option{} set)\n", path, set, set == 1 ? "" : "s");
  }
  return ok;
}

const Registrar registrar{{"check", [](CLI::App& app) {
                             auto* cmd = app.add_subcommand(
                                 "check", "validate allocator config files (HOARDLAB_CONFIG)");
                             auto files = std::make_shared<std::vector<std::string>>();
                             cmd->add_option("FILE", *files, "config files to check")->required();
                             cmd->callback([files] {
                               bool ok = true;
                               for (const auto& f : *files)
                                 ok = check_one(f) && ok;
                               exit_status() = ok ? 0 : 1;
                             });
                           }}};

} // namespace
} // namespace hoardlab::cli
