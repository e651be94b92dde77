// `hoardlab options`: the options table with the values the environment (and the file named by
// HOARDLAB_CONFIG) would give; `--markdown` prints the README's table.
#include "cli/command.h"

#include "config/loader.h"
#include "config/options.h"
#include "config/table_text.h"
#include "config/value.h"

#include <fmt/core.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

extern "C" char** environ; // NOLINT: POSIX

namespace hoardlab::cli {
namespace {

template <typename Fn>
std::string text_of(Fn&& write) {
  std::vector<char> buffer(64 * 1024);
  config::TextSink sink(buffer.data(), buffer.size());
  write(sink);
  return std::string(sink.data(), sink.size());
}

int print_markdown() {
  fmt::print("{}", text_of([](config::TextSink& s) { config::write_markdown_table(s); }));
  return 0;
}

int print_table() {
  auto current = std::make_unique<config::Options>();
  config::Provenance provenance[config::kOptionCount];
  auto messages = std::make_unique<config::Messages>();
  std::vector<char> file(64 * 1024);
  config::load_into(environ, *current, provenance, *messages, file.data(), file.size());
  if (messages->count > 0) std::fwrite(messages->sink.data(), 1, messages->sink.size(), stderr);

  const char* path = config::config_path(environ);
  fmt::print("hoardlab options: environment variable, file key ([section] key), default, allowed "
             "values, when it applies.\nCurrent values from the environment{}. HOARDLAB_PEER_* "
             "variables name the harness's peer allocators and are no options.\n\n",
             path != nullptr && *path != '\0' ? fmt::format(" and {}", path) : std::string());
  for (std::size_t i = 0; i < config::kOptionCount; ++i) {
    const config::OptionInfo& info = config::kOptions[i];
    const std::string value = text_of(
        [&](config::TextSink& s) { config::format_value(i, config::get_value(*current, i), s); });
    const std::string allowed =
        text_of([&](config::TextSink& s) { config::describe_allowed(i, s); });
    const config::Provenance& from = provenance[i];
    std::string source = config::describe(from.source);
    if (from.source == config::Source::kFile)
      source = fmt::format("from {}:{}", from.file != nullptr ? from.file : "file", from.line);
    fmt::print("{:<34} [{}] {}\n", info.env, info.section, info.key);
    fmt::print("    default {}; now {} ({}); applies {}\n",
               info.default_text[0] != '\0' ? info.default_text : "(empty)",
               value.empty() ? "(empty)" : value, source,
               info.init_only ? "at init only" : "at init and at run time (hl_option_set)");
    fmt::print("    allowed: {}\n    {}\n\n", allowed, info.doc);
  }
  return messages->count > 0 ? 1 : 0;
}

const Registrar registrar{
    {"options", [](CLI::App& app) {
       auto* cmd =
           app.add_subcommand("options", "print the allocator's options table and the values "
                                         "the environment gives");
       auto markdown = std::make_shared<bool>(false);
       cmd->add_flag("--markdown", *markdown, "print the README's markdown table instead");
       cmd->callback([markdown] { exit_status() = *markdown ? print_markdown() : print_table(); });
     }}};

} // namespace
} // namespace hoardlab::cli
