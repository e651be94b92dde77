#include "harness/bench_line.h"

#include <filesystem>
#include <sstream>

namespace hoardlab::harness {

BenchLine parse_bench_output(const std::string& text) {
  BenchLine b;
  std::istringstream in(text);
  std::string line, found;
  int count = 0;
  while (std::getline(in, line))
    if (line.starts_with("HLBENCH ")) {
      found = line.substr(8);
      ++count;
    }
  if (count == 0) {
    b.error = "no HLBENCH result line on stdout";
    return b;
  }
  if (count > 1) {
    b.error = "more than one HLBENCH line on stdout";
    return b;
  }
  b.json = nlohmann::json::parse(found, nullptr, false);
  if (b.json.is_discarded() || !b.json.is_object()) {
    b.error = "the HLBENCH line is not a JSON object";
    return b;
  }
  if (!b.json.contains("ops_per_s") || !b.json["ops_per_s"].is_number()) {
    b.error = "the HLBENCH line has no numeric ops_per_s";
    return b;
  }
  if (!b.json.contains("malloc_lib") || !b.json["malloc_lib"].is_string()) {
    b.error = "the HLBENCH line has no malloc_lib";
    return b;
  }
  b.found = true;
  return b;
}

bool preload_took_effect(const std::string& malloc_lib, const std::string& expected_realpath,
                         bool glibc) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto real = fs::canonical(malloc_lib, ec);
  std::string got = ec ? malloc_lib : real.string();
  if (glibc) {
    auto name = fs::path(got).filename().string();
    return name.starts_with("libc.so") || name.starts_with("libc-");
  }
  return got == expected_realpath;
}

} // namespace hoardlab::harness
