// hoardlab's options as an experiment file names them: "superblock_size" or
// "heap.superblock_size", checked against the one options table (lib/config/options.def).
#pragma once

#include <string>

namespace hoardlab::harness {

struct ResolvedOption {
  std::string name; // "section.key"
  std::string env;  // the environment variable the library reads
};

// Finds an option by "section.key" or by a key that only one section has. Returns false and
// sets `error` ("unknown option", "ambiguous: heap.batch or cache.batch") otherwise.
bool resolve_option(const std::string& key, ResolvedOption& out, std::string& error);

// Checks a value against the option's type and range; on success `normalized` is the text to
// put in the environment. Returns false with `error` naming the allowed values otherwise.
bool check_option_value(const std::string& name, const std::string& value, std::string& normalized,
                        std::string& error);

// Parses "64KiB", "1MiB", "4096" into bytes; false when not a size.
bool parse_size(const std::string& text, double& bytes);

} // namespace hoardlab::harness
