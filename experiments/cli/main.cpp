// `hoardlab`: the harness and utilities. Each subcommand lives in its own file and registers
// itself through cli::Registrar.
#include "cli/command.h"

#include <algorithm>
#include <cstdio>

namespace hoardlab::cli {
std::vector<Command>& commands() {
  static std::vector<Command> all;
  return all;
}
int& exit_status() {
  static int status = 0;
  return status;
}
} // namespace hoardlab::cli

int main(int argc, char** argv) {
  using namespace hoardlab;
  CLI::App app{"hoardlab: a Hoard-style allocator and its experiment harness", "hoardlab"};
  app.set_version_flag("--version", HOARDLAB_VERSION);
  app.require_subcommand(1);
  auto& cmds = cli::commands();
  std::sort(cmds.begin(), cmds.end(), [](const cli::Command& a, const cli::Command& b) {
    return std::string_view(a.name) < b.name;
  });
  for (auto& c : cmds)
    c.setup(app);
  CLI11_PARSE(app, argc, argv);
  return cli::exit_status();
}
