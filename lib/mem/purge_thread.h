// The background purge thread (purge.background = true): returns memory to the OS off the
// allocating and freeing paths. Layer: mem.
//
// Work reaches it through a bounded Boost.Lockfree queue of notifications (which pool has
// superblocks waiting for their purge.delay_ms, that the large-object cache holds mappings); it
// then purges each pool's due superblocks beyond the retention bound (purge_deferred) and
// unmaps large mappings cached idle for the delay, sleeping on a futex until the next one falls
// due or a notification arrives. While it runs, the slow paths leave due purges to it; when it
// does not run (not started yet, failed to start, or the child of a fork before it restarts) or
// its queue is full, the producer's slow paths purge inline as without it.
//
// Start: never from init (the drop-in library has no constructor, and init runs inside the
// first malloc) and never from a free: glibc frees thread stacks' TLS while it holds the lock
// that pthread_create takes (dl_stack_cache_lock), so a free could deadlock. It is started by
// maybe_start() from the allocation slow path, where the allocator holds no lock; pthread_create
// re-enters malloc, which finds the start under way and goes on without it.
// Exit: the thread is detached and never joined. It holds no lock that exit handlers need (a
// pool's purge-pass flag and the large cache's lock, each for one pass), its work is only ever
// giving memory back, and the process's memory goes back at exit anyway; stopping it would
// need a handler at exit, which the drop-in library cannot register without a constructor.
// Unload: both libraries are linked -z nodelete, so dlclose leaves their code mapped and the
// thread keeps running safely after the last handle is closed (as do the key destructors of
// threads that used the library).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/atomic.h"
#include "pal/pal.h"

namespace hoardlab::mem::purge_thread {

// The wake-up's two sides [PW1]/[PW2], written once for the thread (purge_thread.cpp) and the
// litmus test of their order (tests/litmus/purge_wake_litmus_test.cpp). The word is a sequence.
//
// A producer, after its push: increments the word (acq_rel) and wakes the sleepers [PW1].
inline void announce(core::Atomic<std::uint32_t>& word) noexcept {
  word.fetch_add_acq_rel(1); // [PW1]
  pal::wake_all(word);
}
// The sleeper: loads the word (acquire) before `work` looks for what producers pushed, then
// sleeps for at most the milliseconds `work` returns (none for 0) while the word still holds what
// it loaded: a push announced after the load, even during `work`, changed the word, so the wait
// returns at once [PW2]. Loaded after `work` instead, that announcement would be slept through.
template <class Work>
void work_then_sleep(core::Atomic<std::uint32_t>& word, Work work) noexcept {
  const std::uint32_t seen = word.load_acquire(); // [PW2]
  const std::uint64_t sleep_ms = work();
  if (sleep_ms != 0) pal::wait_while(word, seen, sleep_ms);
}

// purge.background: called by init; the thread starts at the next allocation slow path.
void enable() noexcept;
// The thread runs and takes due purges: slow paths leave them to it.
bool active() noexcept;
// The caller is the purge thread.
bool on_thread() noexcept;

// Notifications. false when the thread does not run or the queue is full: the caller's slow
// paths then do the work inline.
bool post_pool_due(unsigned node) noexcept;
bool post_large_cached() noexcept;

// Set while the thread is wanted and does not run (relaxed: a hint, start_if_wanted decides).
extern core::Atomic<bool> g_start_wanted;
void start_if_wanted() noexcept;
// Starts the thread if purge.background asked for it and it does not run. Only where the
// caller holds no allocator lock (see above).
inline void maybe_start() noexcept {
  if (g_start_wanted.load_relaxed()) [[unlikely]]
    start_if_wanted();
}

// Fork: no start may be under way across fork; the child has no purge thread and restarts it
// lazily (its queue is rebuilt empty: notifications lost there are found again by its scans).
void fork_prepare() noexcept;
void fork_parent() noexcept;
void fork_child() noexcept;

struct Stats {
  std::uint64_t starts;           // threads started (the first, and one per forked child)
  std::uint64_t passes;           // wake-ups that scanned the pools and the large cache
  std::uint64_t superblock_bytes; // superblock bytes the thread purged
  std::uint64_t large_bytes;      // idle large mappings the thread unmapped
  std::uint64_t notifications;    // accepted by the queue
  std::uint64_t queue_full;       // refused (queue full): the producer purged inline
};
Stats stats() noexcept;

} // namespace hoardlab::mem::purge_thread
