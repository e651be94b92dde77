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
// HOARDLAB_OPTIONS holds many options in one variable, as jemalloc's MALLOC_CONF does:
//   HOARDLAB_OPTIONS="heap.emptiness_f=1/8, cache.bytes=64KiB"
// entries `section.key=value` separated by commas, blanks around them ignored; values as in the
// HOARDLAB_* variables, unquoted, so none holds a comma (a path with one goes in its own
// variable or the file).
//
// Precedence: an option's own HOARDLAB_<SECTION>_<KEY> variable over HOARDLAB_OPTIONS over the
// file over what the record held before (the table's defaults, or a value set by the program
// before init): the more specific setting wins, so a script can export a shared
// HOARDLAB_OPTIONS and still vary one option per run, and the environment as a whole wins over
// the file, as before. A bad value leaves the option as it was and says so.
#pragma once

#include "config/options.h"
#include "config/text_sink.h"

#include <cstddef>
#include <cstdint>

namespace hoardlab::config {

enum class Source : std::uint8_t {
  kDefault,
  kProgram,
  kFile,
  kEnvironment, // its own HOARDLAB_<SECTION>_<KEY> variable
  kDerived,
  kOptionsVariable, // an entry of HOARDLAB_OPTIONS
};
// Where the value in effect came from, for messages and the statistics header.
struct Provenance {
  Source source = Source::kDefault;
  std::uint32_t line = 0;     // kFile: the line number
  const char* file = nullptr; // kFile: the file's name, as given (it outlives the record)
};
const char* describe(Source source) noexcept;

// The messages produced while reading options, one line each, kept in a fixed buffer. A message
// that does not fit whole is dropped whole, and so is every later one (their order stays true);
// finish_messages then adds one line that counts them, in room kept back for it.
struct Messages {
  static constexpr std::size_t kCapacity = 8192;
  static constexpr std::size_t kNoticeRoom = 80; // "hoardlab: config: N more messages ..."
  char text[kCapacity] = {};                     // initialised, so that a record can be constinit
  TextSink sink{text, kCapacity - kNoticeRoom};
  unsigned count = 0;    // messages produced, kept or dropped
  unsigned dropped = 0;  // of those, the ones not kept
  std::size_t start = 0; // where the message being written begins in text

  Messages() noexcept = default;
  // For a static record: all zero, so that it lies in .bss rather than 8 KiB of .data that every
  // process maps; its sink is bound by the clear() that must come before its first use.
  struct Unbound {};
  constexpr explicit Messages(Unbound) noexcept : sink{} {}
  void clear() noexcept {
    sink.bind(text, kCapacity - kNoticeRoom);
    count = dropped = 0;
    start = 0;
  }
  Messages(const Messages&) = delete;
  Messages& operator=(const Messages&) = delete;
};

// The line that counts the dropped messages, in the room Messages keeps back for it; after the
// last message (load_into calls it). Once: the record is full from then on, until clear().
void finish_messages(Messages& messages) noexcept;

// Parses a config file's text (size bytes; need not be NUL-terminated) and applies each valid
// option to `options`. `source_name` names the file in messages.
void apply_file_text(const char* text, std::size_t size, const char* source_name, Options& options,
                     Provenance (&provenance)[kOptionCount], Messages& messages) noexcept;

// Reads the file into `buffer` (open/read/close) and applies it. A missing, unreadable or
// oversized file is one message and changes nothing. Returns false in those cases.
bool apply_file(const char* path, char* buffer, std::size_t capacity, Options& options,
                Provenance (&provenance)[kOptionCount], Messages& messages) noexcept;

// Applies HOARDLAB_OPTIONS's text (the variable's value): each section.key=value entry, with
// the same checks and messages as a variable of its own; a key given twice keeps the first.
void apply_options_text(const char* text, Options& options, Provenance (&provenance)[kOptionCount],
                        Messages& messages) noexcept;

// Applies every HOARDLAB_<SECTION>_<KEY>=value of a NULL-terminated environment block.
// HOARDLAB_CONFIG (it names the file) and HOARDLAB_OPTIONS are not options and are skipped.
void apply_environment(const char* const* environment, Options& options,
                       Provenance (&provenance)[kOptionCount], Messages& messages) noexcept;

// Checks across options: large.threshold <= S/2. An unset threshold follows S silently
// (min(the default, S/2)); one that was set and is too large is reported and gets that value too.
void check_consistency(Options& options, Provenance (&provenance)[kOptionCount],
                       Messages& messages) noexcept;

// HOARDLAB_CONFIG's value in the environment block, or nullptr.
const char* config_path(const char* const* environment) noexcept;
// HOARDLAB_OPTIONS's value in the environment block, or nullptr.
const char* options_variable(const char* const* environment) noexcept;

// A value the loader took that a higher layer then could not use (numa.topology's grammar is
// numa's, above config): one message as for a bad value, naming where it came from and why, and
// the option goes back to its default.
void reject_value(std::size_t index, const char* why, Options& options,
                  Provenance (&provenance)[kOptionCount], Messages& messages) noexcept;

// The messages on stderr with write(2); when `strict` and there was any message, a last line
// and _exit(2).
void report(const Messages& messages, bool strict) noexcept;

// The whole procedure: the file named by HOARDLAB_CONFIG, then HOARDLAB_OPTIONS, then the
// other variables, then the checks; and the line counting dropped messages, if any.
// environment may be nullptr (a setuid process: nothing is read).
void load_into(const char* const* environment, Options& options,
               Provenance (&provenance)[kOptionCount], Messages& messages, char* file_buffer,
               std::size_t file_capacity) noexcept;

// load_into, then report(messages, general.strict_config).
void load_and_report(const char* const* environment, Options& options,
                     Provenance (&provenance)[kOptionCount]) noexcept;

// The options' provenance in the process (defaults until load()).
const Provenance& provenance_of(std::size_t index) noexcept;

// reject_value on the process's options (under the options lock), then report: the allocator's
// own use of an option, after load(), found it unusable. Under HOARDLAB_STRICT_CONFIG the
// process ends with status 2, as for any other bad option.
void reject_loaded_option(OptionId id, const char* why) noexcept;

// Run-time access by "section.key", behind hl_option_get/set. Both take the options lock
// (options.cpp, "Protocol"): they may race the allocator's init and each other.
enum class SetResult { kOk, kUnknownName, kBadValue, kInitOnly };
// Applies value to the option whole, or changes nothing. When it refuses and `why` is given, one
// line says why, naming the option, the value and what is allowed (no trailing newline).
SetResult set_option(const char* name, const char* value, TextSink* why = nullptr) noexcept;
// Writes the value in effect; false for an unknown name.
bool get_option(const char* name, TextSink& sink) noexcept;

} // namespace hoardlab::config
