// The run-time-settable options, copied into atomics the allocator reads (state.h, Tunables).
#include "config/options.h"
#include "mem/allocator.h"
#include "mem/fork_held_guard.h"
#include "mem/internal.h"
#include "mem/large.h"
#include "mem/state.h"

#include <unistd.h>

namespace hoardlab::mem {

namespace {

// remote.keep as the mask Tunables::remote_keep_mask holds: a block of another heap stays in the
// freeing thread's bin when (block_size & mask) == 0.
//  - none: ~0, which no block size passes (every size is non-zero);
//  - whole-lines: line - 1, sizes that are a multiple of the cache line. Such a block starts on
//    a line boundary (a superblock's first block is aligned to the largest power of two dividing
//    the size, SizeClasses::first_block_offset, and every later one a multiple of the size past
//    it), so it shares no line with another block and a thread reusing it cannot write next to
//    another thread's data (Hoard §5's passive false sharing);
//  - all: 0, every block (tcmalloc's and jemalloc's thread caches).
std::uint32_t keep_mask(config::RemoteKeep keep) noexcept {
  switch (keep) {
  case config::RemoteKeep::WholeLines:
    return cache_line_bytes() - 1;
  case config::RemoteKeep::All:
    return 0;
  case config::RemoteKeep::None:
    break;
  }
  return ~0u;
}

} // namespace

// The C library's answer where it gives one: glibc reads it from CPUID on x86-64 (set up before
// any constructor, no allocation) and from the CPU's cache registers or sysfs elsewhere. A
// machine whose line is 128 bytes (Apple, some POWER and AArch64 parts) then keeps only blocks
// of 128-byte multiples, where a fixed 64 would let two kept 64-byte blocks share a line.
std::uint32_t cache_line_bytes() noexcept {
  long line = sysconf(_SC_LEVEL1_DCACHE_LINESIZE);
  if (line < 16 || line > 4096 || (line & (line - 1)) != 0) return kDefaultCacheLine;
  return static_cast<std::uint32_t>(line);
}

// Reads the table under the options lock (config/options.cpp, "Protocol"), so a set racing this
// copy is either all in it or published again by its own caller right after. Called at init and
// after each accepted hl_option_set; two racing callers may copy in either order, and each copies
// the table as it stands, so the last copy holds the last value set.
//
// Before init there is nothing to publish to: init publishes the table as it finds it. A set that
// sees kStateUninit after its write (under the options lock) is in that table, since init's copy
// takes the lock after the claim that set read too early to see. Publishing anyway would take
// the registry lock before the fork handlers exist, and a fork could then catch it held by the
// setting thread, leaving the child's init waiting for it (tests/core/fork_test.cpp,
// ForkBeforeInit). An init under way is waited for, or taken over in a fork child that lacks its
// thread (ensure_init); init's own call returns from ensure_init at once (kInInit).
void publish_options() noexcept {
  if (g.state.load_acquire() == kStateUninit) return; // [LI3]
  ensure_init();
  config::with_options([](const config::Options& o) {
    Tunables& t = g.tune;
    t.emptiness_f.store_relaxed(o.heap_emptiness_f);
    t.emptiness_k.store_relaxed(static_cast<std::uint32_t>(o.heap_emptiness_k));
    t.drain_threshold.store_relaxed(static_cast<std::uint32_t>(o.heap_drain_threshold));
    t.cache_batch.store_relaxed(static_cast<std::uint32_t>(o.cache_batch));
    t.remote_batch.store_relaxed(static_cast<std::uint32_t>(o.remote_batch));
    t.remote_policy.store_relaxed(o.remote_policy);
    t.remote_keep_mask.store_relaxed(keep_mask(static_cast<config::RemoteKeep>(o.remote_keep)));
    t.verbose.store_relaxed(static_cast<std::uint32_t>(o.general_verbose));
    // general.checked turns the thread caches off: a block freed into a cache could be freed
    // again there unseen, so under checked every free reaches checked_free (checked.cpp).
    t.checked.store_relaxed(o.general_checked);
    t.report_misuse.store_relaxed(o.hardened_on_error == 1);
    t.cache_option.store_relaxed(o.general_checked ? 0 : static_cast<std::uint64_t>(o.cache_bytes));
    t.cache_total.store_relaxed(static_cast<std::uint64_t>(o.cache_total_bytes));
    t.retain_superblocks.store_relaxed(static_cast<std::uint64_t>(o.purge_retain_superblocks));
    t.purge_delay_ms.store_relaxed(static_cast<std::uint64_t>(o.purge_delay_ms));
    t.large_decay_ms.store_relaxed(static_cast<std::uint64_t>(o.large_decay_ms));
    large::set_cache_bounds(static_cast<std::size_t>(o.large_cache_bytes),
                            static_cast<std::size_t>(o.large_thread_cache_bytes),
                            static_cast<std::uint32_t>(o.large_cache_share));
    t.huge_pages_after.store_relaxed(static_cast<std::uint64_t>(o.heap_huge_pages_after));
    large::set_huge_pages(static_cast<std::size_t>(o.large_huge_min),
                          static_cast<std::size_t>(o.large_huge_chunks_after));
  });
  {
    // After the copy, so that of racing publishes the last to take the lock derives the bound
    // from the last values copied.
    ForkHeldGuard guard(g.registry_lock);
    set_thread_bound_locked();
  }
  // Every other thread follows a lowered cache.bytes at its next slow step; the calling thread
  // may take none for as long as its bins serve it (a warm bin never misses on allocation), so it
  // follows here, outside the options lock (a flush enters heaps).
  if (tl_cache != &kSentinel) follow_cache_bound(tl_cache);
}

} // namespace hoardlab::mem
