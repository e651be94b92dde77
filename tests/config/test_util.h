// Helpers shared by the config tests.
#pragma once

#include "config/loader.h"
#include "config/options.h"
#include "config/value.h"

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace hoardlab::config::testing {

// A fresh record with its provenance and messages, loaded from text and an environment.
struct Loaded {
  Options options{};
  Provenance provenance[kOptionCount]{};
  std::unique_ptr<Messages> messages = std::make_unique<Messages>();
  std::string text() const { return std::string(messages->sink.data(), messages->sink.size()); }
  unsigned count() const { return messages->count; }
};

inline std::unique_ptr<Loaded> from_file_text(const std::string& text,
                                              const char* name = "test.toml") {
  auto l = std::make_unique<Loaded>();
  apply_file_text(text.data(), text.size(), name, l->options, l->provenance, *l->messages);
  check_consistency(l->options, l->provenance, *l->messages);
  return l;
}

// environment: "NAME=value" entries.
inline std::unique_ptr<Loaded> from_environment(const std::vector<std::string>& environment) {
  auto l = std::make_unique<Loaded>();
  std::vector<const char*> envp;
  for (const auto& e : environment)
    envp.push_back(e.c_str());
  envp.push_back(nullptr);
  std::vector<char> buffer(64 * 1024);
  load_into(envp.data(), l->options, l->provenance, *l->messages, buffer.data(), buffer.size());
  return l;
}

inline std::string write_temp_file(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

inline std::string value_text(const Options& o, OptionId id) {
  char buffer[512];
  TextSink sink(buffer, sizeof(buffer));
  format_value(index_of(id), get_value(o, index_of(id)), sink);
  return std::string(sink.data(), sink.size());
}

} // namespace hoardlab::config::testing
