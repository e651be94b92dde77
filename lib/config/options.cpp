// The options in effect in the process, loaded once at allocator init, and their run-time
// access by name (hl_option_get/set).
#include "config/options.h"

#include "config/loader.h"
#include "config/value.h"
#include "pal/env.h"

#include "core/atomic.h"
#include "core/spin_lock.h"

namespace hoardlab::config {
namespace {
/// The options record, shared by the allocator's init, hl_option_set/get and the statistics.
///
/// Protocol:   g_lock serializes load(), set_option(), get_option() and with_options(): every
///             write to g_options and g_provenance happens under it. load() runs once (at the
///             allocator's init, or first from the at-exit statistics hook), inside the lock.
///             Init-only fields are written only before load (by set_option) and by load itself;
///             after load they are read without the lock (the allocator's init, placement).
///             Run-time fields are written by set_option at any time and read under the lock
///             (mem::publish_options copies them into the allocator's atomics). mem's fork
///             handlers take g_lock before fork and release (parent) or reset (child) it after,
///             so a child never inherits it held by a thread it does not have. Nothing that holds
///             g_lock takes a heap, so prepare's order (options, then heaps) cannot deadlock.
///             A fork before mem's handlers exist can still leave a load half done in the child:
///             recover_load_in_fork_child (called by the thread that takes the interrupted init
///             over, mem/lifecycle.cpp) releases the lock and lets load run again.
/// Invariants: (O1) once g_load_state != kNotLoaded, no init-only field changes: set_option
///             checks the state under the lock, and load sets it under that lock before reading.
///             One exception, under the lock: reject_loaded_option puts back the default of an
///             option the allocator's init found unusable (numa.topology, whose grammar config
///             cannot check); the one thread that reads it without the lock is the one rejecting
///             it (the boot topology's builder).
///             (O2) every field holds its default or a whole value that parse_value and
///             check_consistency accepted; a refused value changes nothing.
///             (O3) a value set before init is never lost: load starts from the record as the
///             program left it (environment over file over that value).
/// Ordering:   [OL1]/[OL2] the lock's acquire and release (core::SpinLock [SL1]/[SL2]) order all
///             sections. [L2] the store of kLoaded is release and pairs with [L3], the acquire
///             loads in loaded() and load()'s early return, so a thread that sees the options
///             loaded without taking the lock sees them whole. [V1] the verbosity copy is
///             relaxed: an independent setting, no other data hangs off it.
/// ABA:        none (a lock, a state that only grows 0 -> 2, one independent copy).
constinit core::SpinLock g_lock;
constinit Options g_options{};
constinit Provenance g_provenance[kOptionCount]{};
constexpr int kNotLoaded = 0;
constexpr int kLoading = 1; // only while the loader holds g_lock
constexpr int kLoaded = 2;
constinit core::Atomic<int> g_load_state{kNotLoaded};
constinit core::Atomic<int> g_verbosity{0};

class LockGuard {
public:
  LockGuard() noexcept { g_lock.lock(); } // [OL1]
  ~LockGuard() { g_lock.unlock(); }       // [OL2]
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;
};
} // namespace

const Options& options() noexcept {
  return g_options;
}

bool loaded() noexcept {
  return g_load_state.load_acquire() != kNotLoaded; // [L3]
}

void lock_options() noexcept {
  g_lock.lock(); // [OL1]
}
void unlock_options() noexcept {
  g_lock.unlock(); // [OL2]
}
void reset_options_lock_in_child() noexcept {
  g_lock.reset_in_child();
}

void recover_load_in_fork_child() noexcept {
  // kLoading outside the lock's holder means the loader was left behind by fork (O1 still
  // holds: nothing set init-only fields meanwhile, since set_option needs the lock).
  if (g_load_state.load_relaxed() != kLoading) return;
  g_lock.reset_in_child();
  g_load_state.store_relaxed(kNotLoaded);
}

int verbosity() noexcept {
  return g_verbosity.load_relaxed(); // [V1]
}

const Provenance& provenance_of(std::size_t index) noexcept {
  return g_provenance[index];
}

void load() noexcept {
  if (g_load_state.load_acquire() == kLoaded) return; // [L3]
  LockGuard guard;
  // Another caller loaded while this one waited: only the loader holds the lock while loading.
  if (g_load_state.load_relaxed() != kNotLoaded) return;
  // Set first (O1): from here on set_option refuses init-only options, and whatever it stored
  // before is in the record this load starts from (O3).
  g_load_state.store_relaxed(kLoading);
  // AT_SECURE: a setuid process reads neither HOARDLAB_* nor the file HOARDLAB_CONFIG names.
  const char* const* environment = pal::secure_process() ? nullptr : pal::environment();
  load_and_report(environment, g_options, g_provenance);
  g_verbosity.store_relaxed(static_cast<int>(g_options.general_verbose)); // [V1]
  g_load_state.store_release(kLoaded);                                    // [L2]
}

void reject_loaded_option(OptionId id, const char* why) noexcept {
  // Static: called inside malloc's init (the topology's build); under the lock, so one user.
  // constinit: no guard, as load_and_report's.
  static constinit Messages messages{Messages::Unbound{}};
  bool strict = false;
  {
    LockGuard guard;
    messages.clear();
    reject_value(index_of(id), why, g_options, g_provenance, messages);
    strict = g_options.general_strict_config;
  }
  report(messages, strict);
}

SetResult set_option(const char* name, const char* value, TextSink* why) noexcept {
  // Messages go to a scratch sink when the caller wants none.
  char scratch[1];
  TextSink discard(scratch, sizeof(scratch));
  TextSink& out = why != nullptr ? *why : discard;
  if (name == nullptr) {
    out.put("no option name given");
    return SetResult::kUnknownName;
  }
  const int index = find_option_by_name(name);
  if (index < 0) {
    out.put("unknown option '").put_escaped(name, text_length(name) > 80 ? 80 : text_length(name));
    out.put("'; names are section.key, as `hoardlab options` lists them");
    return SetResult::kUnknownName;
  }
  const auto i = static_cast<std::size_t>(index);
  const OptionInfo& info = kOptions[i];
  auto refuse_value = [&](const char* reason) {
    out.put(info.section).put('.').put(info.key).put(" = \"");
    if (value != nullptr) out.put_escaped(value, text_length(value) > 80 ? 80 : text_length(value));
    out.put("\": ").put(reason).put("; allowed: ");
    describe_allowed(i, out);
    out.put("; unchanged");
    return SetResult::kBadValue;
  };
  if (value == nullptr) return refuse_value("no value given");
  Value parsed;
  const ValueError error = parse_value(i, value, text_length(value), parsed);
  if (error != ValueError::kNone) return refuse_value(describe(error));
  LockGuard guard;
  // Under the lock (O1): a load that has begun has already set the state.
  if (info.init_only && g_load_state.load_relaxed() != kNotLoaded) {
    out.put(info.section).put('.').put(info.key);
    out.put(" applies only at init, and the allocator has started; unchanged (set it in the "
            "environment or the config file, or before the first allocation)");
    return SetResult::kInitOnly;
  }
  // The checks across options hold for the result, or the value is refused (never half-applied).
  if (i == index_of(OptionId::large_threshold) && parsed.size > g_options.heap_superblock_size / 2)
    return refuse_value("more than half the superblock size (heap.superblock_size / 2)");
  const Source threshold_source = g_provenance[index_of(OptionId::large_threshold)].source;
  if (i == index_of(OptionId::heap_superblock_size) &&
      g_options.large_threshold > parsed.size / 2 && threshold_source != Source::kDefault &&
      threshold_source != Source::kDerived)
    return refuse_value("less than twice large.threshold, which was set");
  set_value(g_options, i, parsed);
  g_provenance[i] = Provenance{Source::kProgram, 0, nullptr};
  if (i == index_of(OptionId::heap_superblock_size)) {
    Messages unused;
    check_consistency(g_options, g_provenance, unused);
  }
  g_verbosity.store_relaxed(static_cast<int>(g_options.general_verbose)); // [V1]
  return SetResult::kOk;
}

bool get_option(const char* name, TextSink& sink) noexcept {
  if (name == nullptr) return false;
  const int index = find_option_by_name(name);
  if (index < 0) return false;
  LockGuard guard;
  format_value(static_cast<std::size_t>(index),
               get_value(g_options, static_cast<std::size_t>(index)), sink);
  return true;
}

} // namespace hoardlab::config
