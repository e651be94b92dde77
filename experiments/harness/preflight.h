// Checks made before the first run, so that a mistake in an experiment stops it at once instead
// of surfacing as failed cells an hour later: each benchmark program is asked whether it takes
// its flags, and each hoardlab cell's options go through the library's own reader and its checks
// across options, as the drop-in will apply them at init.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace hoardlab::harness {

// The flag every program built on bench/common takes: parse and check the other flags, print
// nothing, exit 0 (or 2 naming the problem). The harness asks only programs whose file holds
// this text, so a program of the user's own is never run with a flag it does not know.
inline constexpr const char* kCheckFlagsFlag = "--check-flags";

// Whether `program` speaks the convention above.
bool takes_check_flags(const std::string& program);

// Runs argv plus --check-flags; "" when the program accepts the flags, else the first line it
// printed on stderr (or its exit status).
std::string check_bench_flags(const std::vector<std::string>& argv);

// Reads a cell's HOARDLAB_* environment as the library does at init (the environment, then the
// checks across options); "" when it takes every value, else the first message, one line.
std::string check_hoardlab_environment(const std::vector<std::pair<std::string, std::string>>& env);

// The first non-empty line of `text`, trimmed; "" when there is none.
std::string first_line(const std::string& text);

} // namespace hoardlab::harness
