// The per-thread cache of freed large runs (large_thread_cache.h).
#include "mem/large_thread_cache.h"

#include <cstdint>

#include "core/atomic.h"
#include "mem/internal.h"
#include "mem/large_cache.h"
#include "pal/pal.h"

namespace hoardlab::mem::large_thread_cache {

namespace {

constexpr std::size_t kPage = pal::kPageSize;
// Runs a thread keeps: enough for a loop of one size, a few sizes in turn (mstress's 32-128 KiB
// objects), and the pieces of a run split for a smaller request; few enough that a linear scan
// is cheaper than the shard's bins.
constexpr std::uint32_t kSlots = 8;
// A thread's held bytes are published when they have moved this far from the last published
// figure (and at each flush): a shared counter written at every large malloc and free would
// bring back the cross-thread line the cache exists to avoid.
// The publication is a statistic (stats' large_cached_bytes), so each thread's share may be off
// by up to this much between flushes.
constexpr std::size_t kPublishStep = 64 * 1024;

struct Entry {
  char* base;
  std::size_t bytes;
  std::uint32_t home; // the shard the run goes back to (large_cache.h)
};

/// The calling thread's runs.
///
/// Protocol:   owner-only: only the thread whose TLS this is reads or writes it. Other threads
///             reach its runs only by asking (request_flush bumps g_epoch); the owner sees the
///             new epoch at its next take or put and gives every run to its home shard there.
///             Runs leave this cache only into large_cache::put, after this cache is consistent
///             again, so a put that sweeps the shards (and may call back into flush) finds it
///             whole.
/// Invariants: (T1) bytes == sum of runs[0..count) bytes <= bound and each run <= bound / 4;
///             (T2) runs[0..count) are pairwise disjoint, oldest first, and no two runs of one
///             home are adjacent (a freed run is joined with them), as the shards' S1;
///             (T3) a run here is mapped, counted as mapped on its node, and in no shard.
/// Ordering:   [TC1] g_epoch is a request, not a publication: the runs go to the shards under the
///             shards' locks, so a relaxed load and add suffice; a request missed by a racing
///             load is seen at the next operation. [TC2] g_held and g_bound are relaxed
///             counters (a statistic and a tunable).
/// ABA:        none (one thread).
struct RunCache {
  Entry runs[kSlots];
  std::uint32_t count;
  std::size_t bytes;
  std::size_t published; // this thread's share of g_held
  std::uint64_t epoch;   // g_epoch when this cache was last empty or flushed
};

constinit thread_local RunCache tl_runs{};
constinit core::Atomic<std::uint64_t> g_epoch{0};
constinit core::Atomic<std::uint64_t> g_held{0};
constinit core::Atomic<std::uint64_t> g_bound{1u << 20};

// Publishes this thread's held bytes when they moved kPublishStep or more (always with `exact`).
void publish(RunCache& c, bool exact = false) noexcept {
  const std::size_t diff = c.bytes > c.published ? c.bytes - c.published : c.published - c.bytes;
  if (diff == 0 || (diff < kPublishStep && !exact)) return;
  g_held.fetch_add_relaxed(c.bytes - c.published); // [TC2] wraps as a subtraction when smaller
  c.published = c.bytes;
}

void remove(RunCache& c, std::uint32_t i) noexcept {
  c.bytes -= c.runs[i].bytes;
  for (std::uint32_t k = i + 1; k < c.count; ++k)
    c.runs[k - 1] = c.runs[k];
  --c.count;
}

// Hands runs taken out of the cache to their shards (after the cache is consistent again).
void give_to_shards(const Entry* out, std::uint32_t n) noexcept {
  for (std::uint32_t i = 0; i < n; ++i)
    large_cache::put(out[i].home, out[i].base, out[i].bytes);
}

// Whether another thread asked for the runs since this cache last emptied.
bool asked(const RunCache& c) noexcept {
  return c.count != 0 && c.epoch != g_epoch.load_relaxed(); // [TC1]
}

} // namespace

char* take(std::uint32_t node, std::size_t bytes, std::uint32_t* home) noexcept {
  RunCache& c = tl_runs;
  if (c.count == 0) return nullptr;
  if (asked(c)) {
    flush();
    return nullptr;
  }
  // The newest exact fit (its pages were touched last), else the smallest longer run.
  std::uint32_t best = kSlots;
  for (std::uint32_t i = c.count; i-- > 0;) {
    const Entry& e = c.runs[i];
    if (e.bytes < bytes || large_cache::node_of_shard(e.home) != node) continue;
    if (e.bytes == bytes) {
      best = i;
      break;
    }
    if (best == kSlots || e.bytes < c.runs[best].bytes) best = i;
  }
  if (best == kSlots) return nullptr;
  Entry& e = c.runs[best];
  char* p = e.base;
  *home = e.home;
  if (e.bytes == bytes) {
    remove(c, best);
  } else {
    e.base += bytes;
    e.bytes -= bytes;
    c.bytes -= bytes;
  }
  publish(c);
  return p;
}

bool extend(std::uint32_t home, char* end, std::size_t extra) noexcept {
  RunCache& c = tl_runs;
  for (std::uint32_t i = 0; i < c.count; ++i) {
    Entry& e = c.runs[i];
    if (e.base != end || e.home != home) continue;
    if (e.bytes < extra) return false;
    if (e.bytes == extra) {
      remove(c, i);
    } else {
      e.base += extra;
      e.bytes -= extra;
      c.bytes -= extra;
    }
    publish(c);
    return true;
  }
  return false;
}

bool put(std::uint32_t home, char* base, std::size_t bytes) noexcept {
  const std::size_t bound = g_bound.load_relaxed(); // [TC2]
  if (bytes > bound / 4 || (tl_flags & kExiting) != 0) return false;
  RunCache& c = tl_runs;
  if (c.count == 0) {
    // The exit hook runs only for threads with a thread cache: a thread that allocates nothing
    // small gets one here, so that its runs are not lost when it exits.
    if (thread_cache() == nullptr) return false;
    c.epoch = g_epoch.load_relaxed(); // [TC1]
  } else if (asked(c)) {
    flush();
    c.epoch = g_epoch.load_relaxed(); // [TC1]
  }
  // T2: joined with this home's runs on either side (iterating down, a removal shifts only runs
  // already looked at).
  for (std::uint32_t i = c.count; i-- > 0;) {
    const Entry& e = c.runs[i];
    if (e.home != home) continue;
    if (e.base + e.bytes == base) {
      base = e.base;
      bytes += e.bytes;
      remove(c, i);
    } else if (base + bytes == e.base) {
      bytes += e.bytes;
      remove(c, i);
    }
  }
  Entry out[kSlots + 1];
  std::uint32_t n = 0;
  if (bytes > bound / 4) { // joined, it outgrew the cache: the shard takes it
    out[n++] = {base, bytes, home};
  } else {
    while (c.count != 0 && (c.count == kSlots || c.bytes + bytes > bound)) {
      out[n++] = c.runs[0]; // the oldest goes
      remove(c, 0);
    }
    c.runs[c.count++] = {base, bytes, home};
    c.bytes += bytes;
  }
  publish(c);
  give_to_shards(out, n);
  // The shards decay at frees, and a program whose large frees all stay here would never free
  // into them: the coarse clock keeps the check off the time-stamp counter.
  large_cache::sweep_if_due(pal::coarse_now_ms());
  return true;
}

void flush() noexcept {
  RunCache& c = tl_runs;
  Entry out[kSlots];
  const std::uint32_t n = c.count;
  for (std::uint32_t i = 0; i < n; ++i)
    out[i] = c.runs[i];
  c.count = 0;
  c.bytes = 0;
  c.epoch = g_epoch.load_relaxed(); // [TC1]
  publish(c, true);
  give_to_shards(out, n);
}

void request_flush() noexcept {
  g_epoch.fetch_add_relaxed(1); // [TC1]
}

std::uint64_t held_bytes() noexcept {
  return g_held.load_relaxed(); // [TC2]
}

void set_bound(std::size_t bytes) noexcept {
  g_bound.store_relaxed(bytes); // [TC2]
  // Options are set rarely; a flush at each lets a lowered large.cache_bytes reach the runs the
  // threads hold as well as the shards'.
  request_flush();
}

} // namespace hoardlab::mem::large_thread_cache
