// The one result line every benchmark prints: `HLBENCH {json}`.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace hoardlab::harness {

struct BenchLine {
  bool found = false;
  nlohmann::json json;
  std::string error; // set when the line is missing or malformed
};

// Finds the HLBENCH line in a benchmark's stdout and checks the fields the harness relies on:
// ops_per_s (a number), check ("ok" or the failure), malloc_lib (a path).
BenchLine parse_bench_output(const std::string& stdout_text);

// Whether the library that malloc resolved to in the benchmark is the one preloaded; for
// glibc (empty preload) it must be the C library itself.
bool preload_took_effect(const std::string& malloc_lib, const std::string& expected_realpath,
                         bool glibc);

} // namespace hoardlab::harness
