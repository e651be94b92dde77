// The options in effect in the process, loaded once at allocator init, and their run-time
// access by name (hl_option_get/set).
#include "config/options.h"

#include "config/loader.h"
#include "config/value.h"
#include "pal/env.h"

#include "core/atomic.h"

namespace hoardlab::config {
namespace {
constinit Options g_options{};
constinit Provenance g_provenance[kOptionCount]{};
// load() runs once; a second caller (the at-exit statistics hook, another library's init)
// returns at once.
// Ordering: [L1] the claiming CAS is acq_rel; [L2] the store of "loaded" is release and pairs
// with [L3], the acquire load in loaded(), so a thread that sees the options loaded sees them
// whole.
constinit core::Atomic<int> g_load_state{0}; // 0 not loaded, 1 loading, 2 loaded
} // namespace

const Options& options() noexcept {
  return g_options;
}

bool loaded() noexcept {
  return g_load_state.load_acquire() != 0; // [L3]
}

const Provenance& provenance_of(std::size_t index) noexcept {
  return g_provenance[index];
}

void load() noexcept {
  int expected = 0;
  if (!g_load_state.cas_strong_acq_rel(expected, 1)) return; // [L1]
  // AT_SECURE: a setuid process reads neither HOARDLAB_* nor the file HOARDLAB_CONFIG names.
  const char* const* environment = pal::secure_process() ? nullptr : pal::environment();
  load_and_report(environment, g_options, g_provenance);
  g_load_state.store_release(2); // [L2]
}

SetResult set_option(const char* name, const char* value) noexcept {
  if (name == nullptr) return SetResult::kUnknownName;
  const int index = find_option_by_name(name);
  if (index < 0) return SetResult::kUnknownName;
  const auto i = static_cast<std::size_t>(index);
  if (kOptions[i].init_only && loaded()) return SetResult::kInitOnly;
  if (value == nullptr) return SetResult::kBadValue;
  Value parsed;
  if (parse_value(i, value, text_length(value), parsed) != ValueError::kNone)
    return SetResult::kBadValue;
  // The checks across options hold for the result, or the value is refused (never half-applied).
  if (i == index_of(OptionId::large_threshold) && parsed.size > g_options.heap_superblock_size / 2)
    return SetResult::kBadValue;
  const Source threshold_source = g_provenance[index_of(OptionId::large_threshold)].source;
  if (i == index_of(OptionId::heap_superblock_size) &&
      g_options.large_threshold > parsed.size / 2 && threshold_source != Source::kDefault &&
      threshold_source != Source::kDerived)
    return SetResult::kBadValue;
  // Run-time options are plain fields read on the allocator's slow paths; one word-sized aligned
  // store each (Text options are read only at exit).
  set_value(g_options, i, parsed);
  g_provenance[i] = Provenance{Source::kProgram, 0, nullptr};
  if (i == index_of(OptionId::heap_superblock_size)) {
    Messages unused;
    check_consistency(g_options, g_provenance, unused);
  }
  return SetResult::kOk;
}

bool get_option(const char* name, TextSink& sink) noexcept {
  if (name == nullptr) return false;
  const int index = find_option_by_name(name);
  if (index < 0) return false;
  format_value(static_cast<std::size_t>(index),
               get_value(g_options, static_cast<std::size_t>(index)), sink);
  return true;
}

} // namespace hoardlab::config
