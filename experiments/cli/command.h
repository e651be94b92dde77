// Subcommands of the `hoardlab` CLI register themselves here, one file each, so adding a
// command touches no other file.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <vector>

namespace hoardlab::cli {

// setup adds the subcommand (its options and callback) to the app.
struct Command {
  const char* name;
  std::function<void(CLI::App&)> setup;
};

std::vector<Command>& commands();

struct Registrar {
  explicit Registrar(Command c) { commands().push_back(std::move(c)); }
};

// Exit status a command's callback reports; main returns it.
int& exit_status();

} // namespace hoardlab::cli
