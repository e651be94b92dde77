// `hoardlab merge DIR...`: one run made of the cells of several (for example one per job of
// --emit-jobs), with its own tables and plots.
#include "cli/command.h"

#include "harness/experiment.h"
#include "harness/records.h"
#include "harness/runner.h"
#include "harness/writers.h"

#include <fmt/format.h>

#include <ctime>
#include <filesystem>

namespace hoardlab::cli {
namespace {
namespace fs = std::filesystem;

int merge(const std::vector<std::string>& dirs, std::string out) {
  auto meta = harness::read_meta(dirs.front());
  std::string experiment =
      harness::read_text((fs::path(dirs.front()) / "experiment.toml").string());
  std::vector<harness::RunRecord> runs;
  nlohmann::json machines = nlohmann::json::array();
  for (const auto& d : dirs) {
    auto other = harness::read_text((fs::path(d) / "experiment.toml").string());
    if (other != experiment)
      throw harness::ConfigError(
          fmt::format("{} ran a different experiment file than {}", d, dirs.front()));
    auto part = harness::read_runs((fs::path(d) / "runs.jsonl").string());
    // Runs of separate directories never ran interleaved, so they must not pair by repetition:
    // those written before runs named their session get their directory as one.
    for (auto& r : part)
      if (r.session.empty())
        r.session = fmt::format("dir:{}", fs::absolute(d).lexically_normal().string());
    runs.insert(runs.end(), part.begin(), part.end());
    auto m = nlohmann::json::parse(harness::read_text((fs::path(d) / "machine.json").string()),
                                   nullptr, false);
    machines.push_back({{"dir", d}, {"machine", m.is_discarded() ? nlohmann::json() : m}});
  }
  if (runs.empty()) throw harness::ConfigError("the directories hold no runs");
  if (out.empty()) {
    char stamp[32];
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    out = (fs::path("results") / fmt::format("{}-merged-{}", meta.name, stamp)).string();
  }
  if (fs::exists(fs::path(out) / "runs.jsonl"))
    throw harness::ConfigError(fmt::format("{} already holds a run; pick another --out", out));
  fs::create_directories(out);
  harness::write_text((fs::path(out) / "experiment.toml").string(), experiment);
  for (const auto& r : runs)
    harness::append_run((fs::path(out) / "runs.jsonl").string(), r);
  harness::write_text((fs::path(out) / "machine.json").string(),
                      nlohmann::json{{"merged_from", machines}}.dump(2) + "\n");
  harness::write_report(out, meta, runs, {{"merged_from", dirs}}, true, false);
  fmt::print(stderr, "merged {} runs from {} directories into {}\n", runs.size(), dirs.size(), out);
  return 0;
}

const Registrar kMerge{
    {"merge", [](CLI::App& app) {
       auto dirs = std::make_shared<std::vector<std::string>>();
       auto out = std::make_shared<std::string>();
       auto* cmd = app.add_subcommand("merge", "Combine result directories of one experiment");
       cmd->add_option("dirs", *dirs, "Result directories")->required();
       cmd->add_option("--out", *out,
                       "Merged result directory (default results/<name>-merged-<time>)");
       cmd->callback([dirs, out] {
         try {
           exit_status() = merge(*dirs, *out);
         } catch (const std::exception& e) {
           fmt::print(stderr, "error: {}\n", e.what());
           exit_status() = 2;
         }
       });
     }}};

} // namespace
} // namespace hoardlab::cli
