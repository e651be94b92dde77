// libFuzzer harness for the options parser. The first byte picks what the rest is: a config
// file's text, or environment entries (one per line). After each input, every option must hold
// a valid value (nothing half-applied) and the checks across options must hold.
#include "config/loader.h"
#include "config/options.h"
#include "config/value.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

using namespace hoardlab::config;

namespace {

void check_record(const Options& o) {
  for (std::size_t i = 0; i < kOptionCount; ++i) {
    const Value v = get_value(o, i);
    const OptionInfo& info = kOptions[i];
    bool ok = true;
    switch (info.type) {
    case Type::Size:
      ok = static_cast<double>(v.size) >= info.min && static_cast<double>(v.size) <= info.max;
      break;
    case Type::Int:
      ok = static_cast<double>(v.integer) >= info.min && static_cast<double>(v.integer) <= info.max;
      break;
    case Type::Fraction:
      ok = v.fraction >= info.min && v.fraction <= info.max;
      break;
    case Type::Word: {
      unsigned words = 1;
      for (const char* p = info.words; *p != '\0'; ++p)
        words += *p == '|' ? 1 : 0;
      ok = v.word < words;
      break;
    }
    case Type::Bool:
    case Type::Text:
      break;
    }
    if (!ok) std::abort();
  }
  if ((o.heap_superblock_size & (o.heap_superblock_size - 1)) != 0 ||
      o.large_threshold > o.heap_superblock_size / 2)
    std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Messages messages;
  messages.sink.clear();
  messages.count = 0;
  Options options;
  Provenance provenance[kOptionCount];
  if (size > 0 && (data[0] & 1) != 0) {
    // Environment entries: copied, NUL-terminated, one per line.
    static char text[4096];
    static const char* entries[65];
    std::size_t n = size - 1 < sizeof(text) - 1 ? size - 1 : sizeof(text) - 1;
    std::size_t count = 0;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= n && count < 64; ++i) {
      if (i == n || data[1 + i] == '\n') {
        text[i] = '\0';
        entries[count++] = text + start;
        start = i + 1;
      } else {
        text[i] = static_cast<char>(data[1 + i]);
      }
    }
    entries[count] = nullptr;
    apply_environment(entries, options, provenance, messages);
  } else {
    apply_file_text(reinterpret_cast<const char*>(data) + (size > 0 ? 1 : 0),
                    size > 0 ? size - 1 : 0, "fuzz.toml", options, provenance, messages);
  }
  check_consistency(options, provenance, messages);
  check_record(options);
  return 0;
}
