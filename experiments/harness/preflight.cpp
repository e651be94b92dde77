#include "harness/preflight.h"

#include "harness/process.h"
#include "harness/writers.h"

#include "config/loader.h"
#include "config/options.h"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>

namespace hoardlab::harness {

bool takes_check_flags(const std::string& program) {
  std::ifstream in(program, std::ios::binary);
  if (!in) return false;
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return bytes.find(kCheckFlagsFlag) != std::string::npos;
}

std::string first_line(const std::string& text) {
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(at, end - at);
    auto first = line.find_first_not_of(" \t\r");
    if (first != std::string::npos) {
      auto last = line.find_last_not_of(" \t\r");
      return line.substr(first, last - first + 1);
    }
    at = end + 1;
  }
  return {};
}

std::string check_bench_flags(const std::vector<std::string>& argv) {
  char tmpl[] = "/tmp/hoardlab-flags-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) return {}; // nothing to check with; the runs themselves will tell
  close(fd);
  ProcessSpec spec;
  spec.argv = argv;
  spec.argv.emplace_back(kCheckFlagsFlag);
  spec.stdout_path = "/dev/null";
  spec.stderr_path = tmpl;
  spec.timeout_s = 10;
  auto p = run_process(spec);
  std::string err = read_text(tmpl);
  unlink(tmpl);
  if (!p.started) return p.spawn_error;
  if (p.exit_code == 0) return {};
  std::string line = first_line(err);
  if (!line.empty()) return line;
  return p.signal != 0 ? fmt::format("killed by signal {} when asked for its flags", p.signal)
                       : fmt::format("exit status {} when asked for its flags", p.exit_code);
}

std::string
check_hoardlab_environment(const std::vector<std::pair<std::string, std::string>>& env) {
  std::vector<std::string> entries;
  for (const auto& [k, v] : env)
    if (k.starts_with("HOARDLAB_")) entries.push_back(fmt::format("{}={}", k, v));
  std::vector<const char*> block;
  for (const auto& e : entries)
    block.push_back(e.c_str());
  block.push_back(nullptr);
  auto options = std::make_unique<config::Options>();
  config::Provenance provenance[config::kOptionCount];
  auto messages = std::make_unique<config::Messages>();
  std::vector<char> file_buffer(64 * 1024);
  config::load_into(block.data(), *options, provenance, *messages, file_buffer.data(),
                    file_buffer.size());
  if (messages->count == 0) return {};
  return first_line(std::string(messages->sink.data(), messages->sink.size()));
}

} // namespace hoardlab::harness
