// The options record, generated from options.def. Layer: config (uses core, pal).
#pragma once

#include <cstddef>
#include <cstdint>

namespace hoardlab::config {

enum class Type : std::uint8_t { Size, Int, Bool, Fraction, Word, Text };

// A fixed-size string, so the record is constinit and parsing never allocates.
struct TextValue {
  static constexpr std::size_t kCapacity = 256;
  char value[kCapacity] = {};
  constexpr TextValue() = default;
  constexpr TextValue(const char* s) { // NOLINT(google-explicit-constructor): table defaults
    for (std::size_t i = 0; s[i] != '\0' && i + 1 < kCapacity; ++i)
      value[i] = s[i];
  }
  constexpr bool empty() const { return value[0] == '\0'; }
};

template <Type T>
struct StorageOf;
template <>
struct StorageOf<Type::Size> {
  using type = std::size_t;
};
template <>
struct StorageOf<Type::Int> {
  using type = std::int64_t;
};
template <>
struct StorageOf<Type::Bool> {
  using type = bool;
};
template <>
struct StorageOf<Type::Fraction> {
  using type = double;
};
template <>
struct StorageOf<Type::Word> {
  using type = std::uint8_t;
};
template <>
struct StorageOf<Type::Text> {
  using type = TextValue;
};

// One field per option, named section_key, holding the typed value in effect.
struct Options {
#define HOARDLAB_OPTION(section, key, env, kind, dv, dt, mn, mx, words, init, doc)                 \
  typename StorageOf<Type::kind>::type section##_##key = dv;
#include "config/options.def"
#undef HOARDLAB_OPTION
};

// What the table says of each option, for parsers, `hoardlab options` and the docs.
struct OptionInfo {
  const char* section;
  const char* key;
  const char* env;
  Type type;
  const char* default_text;
  double min;
  double max;
  const char* words; // "a|b|c" for Word
  bool init_only;
  const char* doc;
};

inline constexpr OptionInfo kOptions[] = {
#define HOARDLAB_OPTION(section, key, env, kind, dv, dt, mn, mx, words, init, doc)                 \
  {#section, #key, env, Type::kind, dt, static_cast<double>(mn), static_cast<double>(mx),          \
   words,    init, doc},
#include "config/options.def"
#undef HOARDLAB_OPTION
};
inline constexpr std::size_t kOptionCount = sizeof(kOptions) / sizeof(kOptions[0]);

// An option's index in kOptions, by name: OptionId::heap_superblock_size.
enum class OptionId : std::size_t {
#define HOARDLAB_OPTION(section, key, env, kind, dv, dt, mn, mx, words, init, doc) section##_##key,
#include "config/options.def"
#undef HOARDLAB_OPTION
};
constexpr std::size_t index_of(OptionId id) {
  return static_cast<std::size_t>(id);
}

// Word option values, by index in the table's words.
enum class HeapMapping : std::uint8_t { Cpu = 0, ThreadHash = 1, PerThread = 2 };
enum class RemotePolicy : std::uint8_t { SuperblockList = 0, HeapQueue = 1, OwnerLock = 2 };
enum class RemoteKeep : std::uint8_t { None = 0, WholeLines = 1, All = 2 };
enum class NumaPolicy : std::uint8_t { Local = 0, Interleave = 1, None = 2 };

// The options in effect. Before load() they are the table's defaults (or what the program set).
//
// Who may read this record without the options lock (see options.cpp, "Protocol"):
//  - init-only fields, once load() has returned: nothing writes them any more;
//  - anything, from a thread that holds the lock (with_options).
// Run-time fields change under the lock through hl_option_set; read them with with_options, or
// through the allocator's own atomic copies (mem::publish_options).
const Options& options() noexcept;

// Reads HOARDLAB_CONFIG's file and the HOARDLAB_* environment once, at allocator init:
// no allocation, no libc call that allocates; errors are written with write(2). Later calls do
// nothing. In a setuid process (AT_SECURE) HOARDLAB_* is ignored. With
// HOARDLAB_STRICT_CONFIG=1 any error ends the process with _exit(2). See config/loader.h.
void load() noexcept;
// True once load() has begun: options marked init_only no longer change (hl_option_set refuses
// them from then on).
bool loaded() noexcept;

// Runs fn(const Options&) with the options lock held: no set, get or load runs meanwhile, so fn
// sees a record no other thread is writing. fn must not allocate through hoardlab (a first
// allocation would run init, which takes this lock) and must not call set_option or get_option.
void lock_options() noexcept;
void unlock_options() noexcept;
// After fork: the child has one thread, so a lock held by another thread at fork is free again.
// mem's fork handlers hold the lock across fork (prepare locks, parent unlocks, child resets).
// A fork before those handlers exist needs no call: the lock names its holder's process, and the
// child's first taker takes it over from a thread the child lacks (options.cpp, "Protocol").
void reset_options_lock_in_child() noexcept;
template <typename Fn>
void with_options(Fn&& fn) noexcept {
  lock_options();
  fn(options());
  unlock_options();
}

// general.verbose as it is now, readable from any thread without the lock (an atomic copy kept
// by load and set_option).
int verbosity() noexcept;

} // namespace hoardlab::config
