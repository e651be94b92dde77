// Typed option values: parsing one value's text, range checks, formatting, and reading or
// writing a field of the Options record by index. Layer: config. Nothing here allocates.
#pragma once

#include "config/options.h"
#include "config/text_sink.h"

#include <cstddef>
#include <cstdint>

namespace hoardlab::config {

// One value of any option type; only the member of the option's type is meaningful.
struct Value {
  std::uint64_t size = 0;
  std::int64_t integer = 0;
  bool boolean = false;
  double fraction = 0.0;
  std::uint8_t word = 0;
  TextValue text;
};

enum class ValueError : std::uint8_t {
  kNone,
  kEmpty,         // no text at all
  kMalformed,     // not of the option's type
  kOutOfRange,    // a number outside [min, max]
  kNotPowerOfTwo, // heap.superblock_size
  kUnknownWord,   // not one of the option's words
  kTooLong,       // text longer than TextValue holds
};
const char* describe(ValueError error) noexcept;

// Parses `text` (no quotes, size bytes, not NUL-terminated) as a value of option `index` and
// checks it alone (range, words, power of two). Sizes: bytes, or with a binary unit
// ("64KiB", "4 MiB", "2M"); integers: decimal, `_` between digits allowed; booleans:
// true/false, 1/0, yes/no, on/off; fractions: "1/8", "0.125", "0"; words: one of the option's.
ValueError parse_value(std::size_t index, const char* text, std::size_t size, Value& out) noexcept;

// What option `index` accepts, for messages and the options table ("a power-of-two size from
// 4KiB to 4MiB").
void describe_allowed(std::size_t index, TextSink& sink) noexcept;

// The option's value as a user would write it ("64KiB", "1/4", "thread-hash", "true").
void format_value(std::size_t index, const Value& value, TextSink& sink) noexcept;

Value get_value(const Options& options, std::size_t index) noexcept;
void set_value(Options& options, std::size_t index, const Value& value) noexcept;
bool values_equal(std::size_t index, const Value& a, const Value& b) noexcept;

// Lookups; each returns the index in kOptions or -1.
int find_option(const char* section, std::size_t section_size, const char* key,
                std::size_t key_size) noexcept;
int find_option_by_name(const char* dotted_name) noexcept; // "heap.superblock_size"
int find_option_by_env(const char* name, std::size_t size) noexcept;

// Levenshtein distance (insert, delete, substitute, and swap of neighbours) of two short names;
// saturates at 255 for names longer than 64 bytes.
unsigned edit_distance(const char* a, std::size_t a_size, const char* b,
                       std::size_t b_size) noexcept;

} // namespace hoardlab::config
