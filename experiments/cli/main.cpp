// `hoardlab`: the harness and utilities. Each subcommand lives in its own file and registers
// itself through cli::Registrar.
#include "cli/command.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>

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
  // CLI11's own messages name its internals ("A subcommand is required", a range bound printed
  // to 300 digits, a second line about --help): each mistake gets one line of ours instead.
  std::string names;
  for (const auto& c : cmds)
    names += fmt::format("{}{}", names.empty() ? "" : ", ", c.name);
  if (argc < 2) {
    fmt::print(stderr, "hoardlab: give a command: {} (hoardlab --help)\n", names);
    return 2;
  }
  std::string_view first = argv[1];
  bool known = first.starts_with("-");
  for (const auto& c : cmds)
    known = known || first == c.name;
  if (!known) {
    fmt::print(stderr, "hoardlab: unknown command '{}'; the commands are {} (hoardlab --help)\n",
               first, names);
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    std::string who = first.starts_with("-") ? "hoardlab" : fmt::format("hoardlab {}", first);
    fmt::print(stderr, "{}: {} ({} --help)\n", who, what, who);
    return 2;
  }
  return cli::exit_status();
}
