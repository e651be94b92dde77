// The background purge thread (see purge_thread.h for when it runs, starts and stops).
#include "mem/purge_thread.h"

#include <boost/lockfree/queue.hpp>

#include <new>

#include "mem/internal.h"
#include "mem/large.h"
#include "pal/pal.h"

namespace hoardlab::mem::purge_thread {

constinit core::Atomic<bool> g_start_wanted{false};

namespace {

enum : std::uint32_t { kPoolDue = 1, kLargeCached = 2 };
struct Work {
  std::uint32_t kind;
  std::uint32_t node;
};

// Boost.Lockfree's queue with a compile-time capacity keeps its nodes in an array inside the
// object: no allocation after construction, so producers inside malloc may push. It is built in
// static storage when the thread starts (its constructor is not constexpr, and the library must
// have no global constructor). A notification only says where to look, so the capacity needs
// to cover a burst, not a backlog: each pool posts once per pass, the large cache once each time
// it fills from empty.
constexpr std::size_t kQueueCapacity = 64;
using Queue = boost::lockfree::queue<Work, boost::lockfree::capacity<kQueueCapacity>>;
alignas(Queue) constinit unsigned char g_queue_storage[sizeof(Queue)] = {};
Queue* queue() noexcept {
  return std::launder(reinterpret_cast<Queue*>(g_queue_storage));
}

/// The thread's life cycle.
///
/// Protocol:   enable() (init) sets kWanted; start_if_wanted (allocation slow paths) moves
///             kWanted -> kStarting by CAS, builds the queue, creates the thread, and stores
///             kRunning (or kFailed). Producers push only in kRunning. fork_prepare waits out a
///             start and parks the state as kForkHeld (no start, no push across fork); the
///             parent puts it back, the child too except that its thread is gone (kRunning
///             becomes kWanted).
/// Invariants: (PT1) the queue is constructed before state first reads kRunning, and is not
///             rebuilt while any thread may push (only in the fork child, single-threaded).
///             (PT2) at most one thread runs run() per process.
/// Ordering:   [PT1] the starter's store of kRunning is release, after building the queue;
///             [PT2] producers load state acquire before pushing. The wake word is a sequence:
///             [PW1] producers increment it (acq_rel) after pushing; [PW2] the thread loads it
///             (acquire) before draining the queue, and sleeps only while it is unchanged, so a
///             push after the drain changes the word and the futex wait returns at once.
/// ABA:        the queue's own (Boost's tagged indices); the state moves only along the protocol.
enum : std::uint32_t {
  kOff = 0,
  kWanted = 1,
  kStarting = 2,
  kRunning = 3,
  kFailed = 4,
  kForkHeld = 5
};
constinit core::Atomic<std::uint32_t> g_state{kOff};
constinit core::Atomic<std::uint32_t> g_wake{0};
constinit std::uint32_t g_state_before_fork = kOff;
constinit thread_local bool tl_on_thread = false;

constinit core::Atomic<std::uint64_t> g_starts{0};
constinit core::Atomic<std::uint64_t> g_passes{0};
constinit core::Atomic<std::uint64_t> g_sb_bytes{0};
constinit core::Atomic<std::uint64_t> g_large_bytes{0};
constinit core::Atomic<std::uint64_t> g_notifications{0};
constinit core::Atomic<std::uint64_t> g_queue_full{0};

// Longest sleep with nothing due: the thread also rescans then, so a notification lost in a fork
// child or refused by a full queue delays a purge by this much at most.
constexpr std::uint64_t kIdleWakeMs = 1000;

// One pass: every pool's due superblocks, then the large cache's idle mappings. Returns when
// the next one falls due (UINT64_MAX when nothing waits).
std::uint64_t purge_pass() noexcept {
  std::uint64_t delay = g.tune.purge_delay_ms.load_relaxed();
  std::uint64_t next = UINT64_MAX;
  for (unsigned n = 0; n < g.nodes; ++n) {
    Pool& p = g.pools[n];
    if (p.deferred.load_relaxed() <= 0) continue;
    g_sb_bytes.fetch_add_relaxed(purge_deferred(p, false));
    if (p.deferred.load_relaxed() > 0) {
      std::uint64_t oldest = p.oldest_deferred_ms.load_relaxed();
      std::uint64_t due = oldest == 0 ? pal::now_ms() + delay : oldest + delay;
      if (due < next) next = due;
    }
  }
  std::uint64_t large_next = UINT64_MAX;
  g_large_bytes.fetch_add_relaxed(
      large::release_idle(pal::now_ms(), g.tune.large_decay_ms.load_relaxed(), &large_next));
  return large_next < next ? large_next : next;
}

void run(void*) {
  tl_on_thread = true;
  for (;;) {
    work_then_sleep(g_wake, [] { // [PW2]
      Work w{};
      while (queue()->pop(w)) {
        // Each notification only says where work may be; the pass below looks everywhere.
      }
      g_passes.fetch_add_relaxed(1);
      const std::uint64_t next = purge_pass();
      const std::uint64_t now = pal::now_ms();
      const std::uint64_t sleep = next == UINT64_MAX ? kIdleWakeMs : (next > now ? next - now : 1);
      return sleep < kIdleWakeMs ? sleep : kIdleWakeMs;
    });
  }
}

bool post(Work w) noexcept {
  if (g_state.load_acquire() != kRunning) return false; // [PT2]
  if (!queue()->bounded_push(w)) {
    g_queue_full.fetch_add_relaxed(1);
    return false;
  }
  g_notifications.fetch_add_relaxed(1);
  announce(g_wake); // [PW1]
  return true;
}

} // namespace

void enable() noexcept {
  g_state.store_relaxed(kWanted);
  g_start_wanted.store_relaxed(true);
}

bool active() noexcept {
  return g_state.load_relaxed() == kRunning;
}

bool on_thread() noexcept {
  return tl_on_thread;
}

void start_if_wanted() noexcept {
  std::uint32_t expected = kWanted;
  if (!g_state.cas_strong_acq_rel(expected, kStarting)) return; // running, starting or held
  new (g_queue_storage) Queue(); // PT1: nobody pushes before kRunning
  g_start_wanted.store_relaxed(false);
  bool ok = pal::start_thread(run, nullptr); // re-enters malloc: it finds kStarting
  if (ok) g_starts.fetch_add_relaxed(1);
  g_state.store_release(ok ? kRunning : kFailed); // [PT1]
  if (!ok)
    pal::Message()
        .text("hoardlab: purge.background: the purge thread could not start; purging inline")
        .emit();
}

bool post_pool_due(unsigned node) noexcept {
  return post(Work{kPoolDue, node});
}

bool post_large_cached() noexcept {
  return post(Work{kLargeCached, 0});
}

void fork_prepare() noexcept {
  for (;;) {
    std::uint32_t s = g_state.load_acquire();
    if (s == kStarting) {
      pal::yield();
      continue;
    }
    if (g_state.cas_strong_acq_rel(s, kForkHeld)) {
      g_state_before_fork = s;
      return;
    }
  }
}

void fork_parent() noexcept {
  g_state.store_release(g_state_before_fork);
}

void fork_child() noexcept {
  // Only the forking thread exists: no push is under way, and the queue may be rebuilt empty.
  if (g_state_before_fork == kRunning || g_state_before_fork == kWanted) {
    new (g_queue_storage) Queue();
    g_state.store_release(kWanted);
    g_start_wanted.store_relaxed(true);
  } else {
    g_state.store_release(g_state_before_fork);
  }
}

Stats stats() noexcept {
  return {g_starts.load_relaxed(),        g_passes.load_relaxed(),
          g_sb_bytes.load_relaxed(),      g_large_bytes.load_relaxed(),
          g_notifications.load_relaxed(), g_queue_full.load_relaxed()};
}

} // namespace hoardlab::mem::purge_thread
