// `hoardlab plot DIR`: redraws a result directory's tables and plots from its runs.
#include "cli/command.h"

#include "harness/experiment.h"
#include "harness/records.h"
#include "harness/runner.h"
#include "harness/writers.h"

#include <fmt/format.h>

#include <filesystem>

namespace hoardlab::cli {
namespace {

const Registrar kPlot{
    {"plot", [](CLI::App& app) {
       auto dir = std::make_shared<std::string>();
       auto* cmd = app.add_subcommand("plot", "Redraw the tables and plots of a result directory");
       cmd->add_option("dir", *dir, "Result directory")->required();
       cmd->callback([dir] {
         try {
           auto meta = harness::read_meta(*dir);
           auto runs = harness::read_runs((std::filesystem::path(*dir) / "runs.jsonl").string());
           if (runs.empty()) throw harness::ConfigError(fmt::format("{}: no runs recorded", *dir));
           // The allocators' notes live in machine.json; the summary repeats them.
           nlohmann::json extra = nlohmann::json::object();
           auto machine = nlohmann::json::parse(
               harness::read_text((std::filesystem::path(*dir) / "machine.json").string()), nullptr,
               false);
           if (machine.is_object() && machine.contains("allocators"))
             extra["allocators"] = machine["allocators"];
           // A stopped run stays marked partial when redrawn.
           auto results = nlohmann::json::parse(
               harness::read_text((std::filesystem::path(*dir) / "results.json").string()), nullptr,
               false);
           if (results.is_object())
             for (const char* key : {"complete", "runs_planned", "resume_command"})
               if (results.contains(key)) extra[key] = results[key];
           harness::write_report(*dir, meta, runs, extra, true, false);
           exit_status() = 0;
         } catch (const std::exception& e) {
           fmt::print(stderr, "error: {}\n", e.what());
           exit_status() = 2;
         }
       });
     }}};

} // namespace
} // namespace hoardlab::cli
