// Reading options from a config file (a TOML subset) and the HOARDLAB_* environment, the checks
// across options, and the messages for bad input. Layer: config. Nothing here allocates: text
// lives in caller-provided or static buffers and every message is formatted by TextSink, so the
// same code runs at allocator init and in `hoardlab check`.
//
// The file format, a subset of TOML so that the harness reads the same file with toml++:
//   # comment                 [section]               key = value   # comment
// values: integers (65536, 1_000), booleans (true, false), decimal numbers (0.125) and strings
// ("64KiB", "1/8", "thread-hash", 'literal'). Sizes with units, fractions and words are strings.
// Not supported (reported as such): dotted keys, nested tables, arrays, inline tables,
// multi-line strings, \u escapes.
//
// Precedence: environment over file over what the record held before (the table's defaults, or
// a value set by the program before init). A bad value leaves the option as it was and says so.
#pragma once

#include "config/options.h"
#include "config/text_sink.h"

#include <cstddef>
#include <cstdint>

namespace hoardlab::config {

enum class Source : std::uint8_t { kDefault, kProgram, kFile, kEnvironment, kDerived };
// Where the value in effect came from, for messages and the statistics header.
struct Provenance {
  Source source = Source::kDefault;
  std::uint32_t line = 0;     // kFile: the line number
  const char* file = nullptr; // kFile: the file's name, as given (it outlives the record)
};
const char* describe(Source source) noexcept;

// The messages produced while reading options, one line each, kept in a fixed buffer (messages
// past its end are counted, not kept).
struct Messages {
  static constexpr std::size_t kCapacity = 8192;
  char text[kCapacity];
  TextSink sink{text, kCapacity};
  unsigned count = 0;

  Messages() noexcept = default;
  Messages(const Messages&) = delete;
  Messages& operator=(const Messages&) = delete;
};

// Parses a config file's text (size bytes; need not be NUL-terminated) and applies each valid
// option to `options`. `source_name` names the file in messages.
void apply_file_text(const char* text, std::size_t size, const char* source_name, Options& options,
                     Provenance (&provenance)[kOptionCount], Messages& messages) noexcept;

// Reads the file into `buffer` (open/read/close) and applies it. A missing, unreadable or
// oversized file is one message and changes nothing. Returns false in those cases.
bool apply_file(const char* path, char* buffer, std::size_t capacity, Options& options,
                Provenance (&provenance)[kOptionCount], Messages& messages) noexcept;

// Applies every HOARDLAB_<SECTION>_<KEY>=value of a NULL-terminated environment block.
// HOARDLAB_CONFIG is not an option (it names the file) and is skipped.
void apply_environment(const char* const* environment, Options& options,
                       Provenance (&provenance)[kOptionCount], Messages& messages) noexcept;

// Checks across options: large.threshold <= S/2. An unset threshold follows S silently
// (min(the default, S/2)); one that was set and is too large is reported and gets that value too.
void check_consistency(Options& options, Provenance (&provenance)[kOptionCount],
                       Messages& messages) noexcept;

// HOARDLAB_CONFIG's value in the environment block, or nullptr.
const char* config_path(const char* const* environment) noexcept;

// The whole procedure: the file named by HOARDLAB_CONFIG, then the environment, then the checks.
// environment may be nullptr (a setuid process: nothing is read).
void load_into(const char* const* environment, Options& options,
               Provenance (&provenance)[kOptionCount], Messages& messages, char* file_buffer,
               std::size_t file_capacity) noexcept;

// load_into, then the messages on stderr with write(2); when general.strict_config ended up
// true and there was any message, a last line and _exit(2).
void load_and_report(const char* const* environment, Options& options,
                     Provenance (&provenance)[kOptionCount]) noexcept;

// The options' provenance in the process (defaults until load()).
const Provenance& provenance_of(std::size_t index) noexcept;

// Run-time access by "section.key", behind hl_option_get/set. Both take the options lock
// (options.cpp, "Protocol"): they may race the allocator's init and each other.
enum class SetResult { kOk, kUnknownName, kBadValue, kInitOnly };
// Applies value to the option whole, or changes nothing. When it refuses and `why` is given, one
// line says why, naming the option, the value and what is allowed (no trailing newline).
SetResult set_option(const char* name, const char* value, TextSink* why = nullptr) noexcept;
// Writes the value in effect; false for an unknown name.
bool get_option(const char* name, TextSink& sink) noexcept;

} // namespace hoardlab::config
