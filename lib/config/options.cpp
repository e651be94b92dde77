// The options in effect in the process, loaded once at allocator init, and their run-time
// access by name (hl_option_get/set).
#include "config/options.h"

#include "config/loader.h"
#include "config/value.h"
#include "pal/env.h"

#include "core/atomic.h"
#include "pal/process_claim.h"

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
///             so that, once they exist, a child never inherits it held by a thread it lacks.
///             Nothing that holds g_lock takes a heap, so prepare's order (options, then heaps)
///             cannot deadlock.
///             Before the handlers exist (a program that sets options, loads them, or reads the
///             topology before its first allocation), a fork can still catch another thread
///             holding g_lock. g_lock names the holder's process (pal::ProcessLock), so the
///             child's first taker takes it over and repairs what that thread was writing
///             (recover_lost_holder): a load under way starts again; the one option write that
///             a set or a rejection had under way is redone from its journal.
/// Invariants: (O1) once g_load_state != kNotLoaded, no init-only field changes: set_option
///             checks the state under the lock, and load sets it under that lock before reading.
///             One exception, under the lock: reject_loaded_option puts back the default of an
///             option the allocator's init found unusable (numa.topology, whose grammar config
///             cannot check); the one thread that reads it without the lock is the one rejecting
///             it (the boot topology's builder).
///             (O2) every field holds its default or a whole value that parse_value and
///             check_consistency accepted; a refused value changes nothing. In a fork child that
///             took g_lock over, O2 holds again once recover_lost_holder has run (a load cut
///             short leaves whole values and redoes its fields; a journaled write is redone).
///             (O3) a value set before init is never lost: load starts from the record as the
///             program left it (environment over file over that value).
///             (O4) g_journal_index >= 0 => g_journal holds the whole value and provenance that
///             option's write under way stores.
/// Ordering:   [OL1]/[OL2] the lock's acquire and release (pal::ProcessLock [PL1]/[PL2]) order
///             all sections. [L2] the store of kLoaded is release and pairs with [L3], the
///             acquire loads in loaded() and load()'s early return, so a thread that sees the
///             options loaded without taking the lock sees them whole. [V1] the verbosity copy
///             is relaxed: an independent setting, no other data hangs off it.
///             [J1] the journal index's release store follows the journal's writes, and the
///             release fence after it [J2] keeps it ahead of the option's own stores; [J3] its
///             release store of -1 follows them. These are not for other threads (the lock
///             orders those) but for a fork child, which sees a prefix of the lost holder's
///             stores in program order (ProcessLock, PL2): if any store of the option is there,
///             the index is, and so is the journal it names (O4).
/// ABA:        none (a lock, a state that only grows 0 -> 2 but for a fork child's step back
///             from 1 to 0 when its loader is lost, one independent copy).
constinit pal::ProcessLock g_lock;
constinit Options g_options{};
constinit Provenance g_provenance[kOptionCount]{};
constexpr int kNotLoaded = 0;
constexpr int kLoading = 1; // only while the loader holds g_lock
constexpr int kLoaded = 2;
constinit core::Atomic<int> g_load_state{kNotLoaded};
constinit core::Atomic<int> g_verbosity{0};
// The option write under way (O4): its index, or -1.
constinit Value g_journal{};
constinit Provenance g_journal_provenance{};
constinit core::Atomic<int> g_journal_index{-1};

// Stores the journaled value of option i, and what follows from it. Idempotent, so that a fork
// child may redo it over a half-done one. Under the lock.
void apply_journal(std::size_t i) noexcept {
  set_value(g_options, i, g_journal);
  g_provenance[i] = g_journal_provenance;
  if (i == index_of(OptionId::heap_superblock_size)) {
    Messages unused;
    check_consistency(g_options, g_provenance, unused);
  }
  g_verbosity.store_relaxed(static_cast<int>(g_options.general_verbose)); // [V1]
}

// Writes option i's value under the lock, journaled (O4). `write` stores it: apply_journal, or
// a caller's own writer of the same value and provenance (reject_value, which also reports).
template <typename Write>
void write_journaled(std::size_t i, const Value& value, const Provenance& from,
                     Write&& write) noexcept {
  g_journal = value;
  g_journal_provenance = from;
  g_journal_index.store_release(static_cast<int>(i)); // [J1]
  core::fence_release();                              // [J2]
  write();
  g_journal_index.store_release(-1); // [J3]
}

// Under a lock just taken over from a holder lost to fork (see "Protocol").
void recover_lost_holder() noexcept {
  const int journaled = g_journal_index.load_relaxed();
  if (journaled >= 0) {
    apply_journal(static_cast<std::size_t>(journaled));
    g_journal_index.store_relaxed(-1);
  }
  // A load cut short starts again: it sets every field it read again, over a half-written one.
  if (g_load_state.load_relaxed() == kLoading) g_load_state.store_relaxed(kNotLoaded);
}

void take_lock() noexcept {
  if (g_lock.lock()) recover_lost_holder(); // [OL1]
}

class LockGuard {
public:
  LockGuard() noexcept { take_lock(); }
  ~LockGuard() { g_lock.unlock(); } // [OL2]
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
  take_lock();
}
void unlock_options() noexcept {
  g_lock.unlock(); // [OL2]
}
void reset_options_lock_in_child() noexcept {
  g_lock.reset_in_child();
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
    // reject_value stores the default and a default provenance: journaled as such.
    static constexpr Options kDefaults{};
    const std::size_t i = index_of(id);
    write_journaled(i, get_value(kDefaults, i), Provenance{},
                    [&] { reject_value(i, why, g_options, g_provenance, messages); });
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
  write_journaled(i, parsed, Provenance{Source::kProgram, 0, nullptr}, [i] { apply_journal(i); });
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
