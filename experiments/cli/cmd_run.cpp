// `hoardlab run [EXPERIMENT.toml]`: the experiment harness.
#include "cli/command.h"

#include "harness/runner.h"

#include <fmt/format.h>

namespace hoardlab::cli {
namespace {

const Registrar kRun{
    {"run", [](CLI::App& app) {
       auto opt = std::make_shared<harness::RunOptions>();
       auto show_default = std::make_shared<bool>(false);
       auto* cmd = app.add_subcommand(
           "run", "Run an experiment (default: the built-in scalability study) and report it");
       cmd->add_option("experiment", opt->experiment_file, "Experiment file (TOML)");
       cmd->add_option("--out", opt->out_dir, "Result directory (default results/<name>-<time>)");
       cmd->add_option("--resume", opt->resume_dir,
                       "Finish an interrupted run in this directory (with --repetitions: add "
                       "repetitions to it)");
       cmd->add_option("--filter", opt->filter,
                       "Only cells whose id matches this regular expression");
       cmd->add_option("--cell", opt->cell, "Only the cell with exactly this id");
       cmd->add_flag("--dry-run", opt->dry_run,
                     "List the cells and their commands, check each; run nothing (exit 2 when a "
                     "cell would fail)");
       cmd->add_option("--emit-jobs", opt->emit_jobs,
                       "Write one self-contained command per cell to this file; run nothing");
       cmd->add_option("--bench-dir", opt->bench_dir,
                       "Where the benchmark programs are (default: beside hoardlab, or "
                       "../libexec/hoardlab when installed; env HOARDLAB_BENCH_DIR)");
       cmd->add_option("--hoardlab-lib", opt->hoardlab_lib,
                       "libhoardlab-malloc.so to preload (default: ../lib from hoardlab's "
                       "directory; env HOARDLAB_MALLOC_LIB)");
       cmd->add_option("--repetitions", opt->repetitions, "Override the file's repetitions")
           ->check(CLI::Range(1, 1000));
       cmd->add_option("--warmup", opt->warmup, "Override the file's warm-up runs per cell")
           ->check(CLI::Range(0, 100));
       cmd->add_flag("--allow-debug-build", opt->allow_debug,
                     "Run with a debug or sanitizer build (functional runs; not for timing)");
       cmd->add_flag("--no-plots", opt->no_plots, "Skip gnuplot");
       cmd->add_flag("--quiet", opt->quiet, "No progress and no summary on the terminal");
       cmd->add_flag("--show-default", *show_default,
                     "Print the built-in default experiment and exit");
       cmd->callback([opt, show_default] {
         if (*show_default) {
           fmt::print("{}", harness::default_experiment_text());
           exit_status() = 0;
           return;
         }
         exit_status() = harness::run_command(*opt);
       });
     }}};

} // namespace
} // namespace hoardlab::cli
