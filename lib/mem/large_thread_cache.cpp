// The per-thread cache of freed large runs (large_thread_cache.h).
#include "mem/large_thread_cache.h"

#include <cstdint>

#include "core/atomic.h"
#include "core/spin_lock.h"
#include "mem/internal.h"
#include "mem/large_cache.h"
#include "pal/asymmetric_fence.h"
#include "pal/pal.h"

namespace hoardlab::mem::large_thread_cache {

namespace {

constexpr std::size_t kPage = pal::kPageSize;
// Runs a thread keeps: enough for a loop of one size, a few sizes in turn (mstress's 32-128 KiB
// objects), and the pieces of a run split for a smaller request; few enough that a linear scan
// is cheaper than the shard's bins.
constexpr std::uint32_t kSlots = 8;
// In a loop of one size, the puts per read of the clock for the shards' decay (put()).
constexpr std::uint8_t kClockEvery = 16;

// The longest run a thread keeps: a quarter of its bound, and a page for the object's header, so
// that an object of a quarter (256 KiB by default, a 260 KiB run) is kept too. Without the page,
// a 256 KiB malloc/free pair went to the shard each time: its lock, a clock read and two hash
// updates, 1,000 instructions per pair against 673 at 20 KiB.
std::size_t longest_run(std::size_t bound) noexcept {
  return bound / 4 + kPage;
}

struct Entry {
  char* base;
  std::size_t bytes;
  std::uint32_t home; // the shard the run goes back to (large_cache.h)
};

/// The calling thread's runs.
///
/// Protocol:   the owner (the thread whose TLS this is) raises `busy` around each operation; a
///             drainer raises `draining` around its look at the cache. A drainer is a thread
///             sweeping for decay or trimming (drain_all): under g_registry_lock it empties every
///             registered cache whose owner is outside an operation, so that runs kept by a
///             thread that stopped making large calls (blocked, or busy with small ones) still
///             reach the shards and decay there. The two flags are a store-buffering handshake
///             over asymmetric fences (pal/asymmetric_fence.h): the owner stores busy, runs a
///             light fence (a compiler barrier) and loads draining; the drainer stores draining
///             on every cache, runs one heavy fence (membarrier) and loads each busy. At least one
///             of the two sees the other's flag (AF1): an owner that sees draining leaves its
///             cache alone for that call (a take misses, a put goes to the shards); a drainer
///             that sees busy skips that cache, and asks (g_epoch): its owner gives every run to
///             the shards at its next take or put. Neither waits for the other. The lock this
///             replaced cost a locked exchange at each take and put (two of a large malloc/free
///             pair's four read-modify-writes). A cache joins the registry at its thread's first
///             kept run and leaves it at the thread's exit, under g_registry_lock, so a drainer
///             (which holds that lock throughout, and lowers every flag it raised before it
///             lets go) never reaches a cache whose thread has gone, and an exiting thread's last
///             flush (after it left the registry) needs no handshake. Runs leave a cache only
///             into large_cache::put, after the cache is consistent again and the flag lowered,
///             so a put that sweeps the shards (and drains) finds it whole; a drain from inside
///             an operation sees its own thread busy and skips it.
/// Invariants: (T1) bytes == sum of runs[0..count) bytes <= bound and each run <=
/// longest_run(bound);
///             (T2) runs[0..count) are pairwise disjoint, oldest first, and no two runs of one
///             home are adjacent (a freed run is joined with them), as the shards' S1;
///             (T3) a run here is mapped, counted as mapped on its node, and in no shard;
///             (T4) registered <=> this cache is on the registry list (next/prev), and a
///             registered cache's thread has not finished its exit;
///             (T5) the cache's runs are written by its owner only between a store of busy = 1
///             whose handshake found draining low and the store of busy = 0, and by a drainer
///             only between a store of draining = 1 whose handshake found busy low and the store
///             of draining = 0; by (AF1) the two never overlap.
/// Ordering:   [TC1] g_epoch is a request, not a publication: the runs go to the shards under the
///             shards' locks, so a relaxed load and add suffice; a request missed by a racing
///             load is seen at the next operation. [TC2] g_bound is a relaxed tunable;
///             `held` is the owner's relaxed copy of `bytes`, read by held_bytes (a statistic)
///             while it walks the registry under g_registry_lock, and g_held_sum the last sum.
///             [TC3] the handshake: owner busy = 1 (relaxed), [AF1], draining (acquire); drainer
///             draining = 1 (relaxed), [AF2], busy (acquire). [TC4] the owner's busy = 0 is
///             release and pairs with the drainer's acquire of busy: a drainer that finds it
///             low sees the owner's writes to the cache; the drainer's draining = 0 is release
///             and pairs with the owner's acquire of draining: an owner that finds it low after
///             a drain sees the drainer's writes (an owner that read the low value from before
///             the drain raised it was seen busy by that drainer, (AF1), which then wrote
///             nothing). Drainers follow one another under g_registry_lock. next, prev and the
///             registry head are written under g_registry_lock.
/// ABA:        none (flags, not values that are reused).
struct RunCache {
  core::Atomic<std::uint8_t> busy;     // the owner is inside an operation [TC3]
  core::Atomic<std::uint8_t> draining; // a drainer looks at the cache [TC3]
  Entry runs[kSlots];
  std::uint32_t count;
  std::size_t bytes;
  core::Atomic<std::uint64_t> held; // bytes, as the owner last stored it [TC2]
  std::uint64_t epoch;              // g_epoch when this cache was last empty or flushed
  RunCache* next;                   // the registry (under g_registry_lock)
  RunCache* prev;
  bool registered; // the owner's (T4)
  // The owner's alone, outside the handshake (no drainer reads them): whether its last take was
  // served by its newest run, and how many more puts after such a take may leave the clock
  // unread (put() says why).
  bool newest_hit;
  std::uint8_t clock_skips;
};

constinit thread_local RunCache tl_runs{};
constinit core::SpinLock g_registry_lock;
constinit RunCache* g_registry = nullptr;
constinit core::Atomic<std::uint64_t> g_epoch{0};
constinit core::Atomic<std::uint64_t> g_held_sum{0};
constinit core::Atomic<std::uint64_t> g_bound{1u << 20};

// Publishes this thread's held bytes for held_bytes: a store to its own cache's line. A shared
// counter updated here (the sum, once a thread's figure moved 64 KiB) was written twice per
// malloc/free pair of 64 KiB and more, since each take and put moves a run's whole length: the
// line every thread's large calls then fought over (paper_notes/contention.md: a 64 KiB loop at
// 2 threads ran 45% faster without it).
void publish(RunCache& c) noexcept {
  c.held.store_relaxed(c.bytes); // [TC2]
}

void remove(RunCache& c, std::uint32_t i) noexcept {
  c.bytes -= c.runs[i].bytes;
  for (std::uint32_t k = i + 1; k < c.count; ++k)
    c.runs[k - 1] = c.runs[k];
  --c.count;
}

// Takes the first n bytes (at most its length) of runs[i]: the whole run, or its front.
void take_front(RunCache& c, std::uint32_t i, std::size_t n) noexcept {
  Entry& e = c.runs[i];
  if (e.bytes == n) {
    remove(c, i);
    return;
  }
  e.base += n;
  e.bytes -= n;
  c.bytes -= n;
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

// [TC3] The owner's side of the handshake: true when it may use its cache (T5), until leave().
// An operation never nests in another of the same thread: runs leave for the shards only after
// leave().
bool enter(RunCache& c) noexcept {
  c.busy.store_relaxed(1);
  pal::light_fence();                              // [AF1]
  if (c.draining.load_acquire() == 0) return true; // [TC4]
  c.busy.store_release(0);
  return false;
}

void leave(RunCache& c) noexcept {
  c.busy.store_release(0); // [TC4]
}

// Moves every run of c (held by the caller, T5) to out, which has room for kSlots; their number.
std::uint32_t empty_held(RunCache& c, Entry* out) noexcept {
  const std::uint32_t n = c.count;
  for (std::uint32_t i = 0; i < n; ++i)
    out[i] = c.runs[i];
  c.count = 0;
  c.bytes = 0;
  c.epoch = g_epoch.load_relaxed(); // [TC1]
  publish(c);
  return n;
}

// T4: the calling thread's cache joins the registry; false (the run is not kept) when the
// registry is busy, e.g. with a drain that led here.
bool register_cache(RunCache& c) noexcept {
  if (!g_registry_lock.try_lock()) return false;
  c.prev = nullptr;
  c.next = g_registry;
  if (g_registry != nullptr) g_registry->prev = &c;
  g_registry = &c;
  c.registered = true;
  g_registry_lock.unlock();
  return true;
}

// put() into a cache that holds runs (entered, T5): joined with its neighbours, the oldest runs
// evicted past the bound, the cache left, and whatever left it given to the shards. Out of line:
// a malloc/free loop's put finds the cache empty and needs none of it, nor its stack frame (27
// of a large pair's instructions).
[[gnu::noinline]] void put_beside(RunCache& c, std::uint32_t home, char* base, std::size_t bytes,
                                  std::size_t bound) noexcept {
  Entry out[kSlots + 1];
  std::uint32_t n = 0;
  if (asked(c)) n = empty_held(c, out); // then none is evicted below: at most kSlots + 1 leave
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
  if (bytes > longest_run(bound)) { // joined, it outgrew the cache: the shard takes it
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
  leave(c);
  give_to_shards(out, n);
}

// take() past the newest run (entered, T5): the runs go to the shards when asked, else the scan
// below; leaves the cache. Out of line, as put_beside.
[[gnu::noinline]] char* take_scan(RunCache& c, std::uint32_t node, std::size_t bytes,
                                  std::uint32_t* home) noexcept {
  c.newest_hit = false; // not a loop of one size: the next put reads the clock
  if (asked(c)) {
    Entry out[kSlots];
    const std::uint32_t n = empty_held(c, out);
    leave(c);
    give_to_shards(out, n);
    return nullptr;
  }
  // The newest exact fit (its pages were touched last), else the smallest run at most a quarter
  // longer. A longer run is left whole for a request of its own size, and the request goes to
  // the shards, whose best fit over all the node's runs cuts less: with 8 slots, cutting the
  // smallest longer run broke mstress's 132 KiB runs for its 20 KiB objects, and its next
  // 128 KiB objects took fresh pages (peak RSS +6-11% at 1-4 threads, paper_notes/
  // large-objects.md, "A thread's runs are cut only for a request near their length").
  std::uint32_t best = kSlots;
  for (std::uint32_t i = c.count; i-- > 0;) {
    const Entry& e = c.runs[i];
    if (e.bytes < bytes || e.bytes - bytes > bytes / 4 ||
        large_cache::node_of_shard(e.home) != node)
      continue;
    if (e.bytes == bytes) {
      best = i;
      break;
    }
    if (best == kSlots || e.bytes < c.runs[best].bytes) best = i;
  }
  if (best == kSlots) {
    leave(c);
    return nullptr;
  }
  char* p = c.runs[best].base;
  *home = c.runs[best].home;
  take_front(c, best, bytes);
  publish(c);
  leave(c);
  return p;
}

} // namespace

char* take(std::uint32_t node, std::size_t bytes, std::uint32_t* home) noexcept {
  RunCache& c = tl_runs;
  if (!c.registered || !enter(c)) return nullptr; // it never kept a run (T4), or is drained
  // The newest run first, when it fits exactly and nobody asked for the runs: a malloc/free loop
  // of one size finds its run there, without the scan (its conditions and the shift of remove()
  // were 15 of a large pair's instructions, and its stack frame, out of line now, 11 more).
  if (c.count != 0 && !asked(c)) {
    const Entry& last = c.runs[c.count - 1];
    if (last.bytes == bytes && large_cache::node_of_shard(last.home) == node) {
      char* p = last.base;
      *home = last.home;
      --c.count;
      c.bytes -= bytes;
      c.newest_hit = true;
      publish(c);
      leave(c);
      return p;
    }
  }
  return take_scan(c, node, bytes, home);
}

bool extend(std::uint32_t home, char* end, std::size_t extra) noexcept {
  RunCache& c = tl_runs;
  if (!c.registered || !enter(c)) return false;
  bool taken = false;
  for (std::uint32_t i = 0; i < c.count; ++i) {
    const Entry& e = c.runs[i];
    if (e.base != end || e.home != home) continue;
    if (e.bytes >= extra) {
      take_front(c, i, extra);
      publish(c);
      taken = true;
    }
    break;
  }
  leave(c);
  return taken;
}

bool put(std::uint32_t home, char* base, std::size_t bytes) noexcept {
  const std::size_t bound = g_bound.load_relaxed(); // [TC2]
  if (bytes > longest_run(bound) || (tl_flags & kExiting) != 0) return false;
  RunCache& c = tl_runs;
  // The exit hook (which leaves the registry) runs only for threads with a thread cache: a
  // thread that allocates nothing small gets one here, so that its runs are not lost when it
  // exits.
  if (!c.registered && (thread_cache() == nullptr || !register_cache(c))) return false;
  if (!enter(c)) return false; // a drainer looks at it: the shards take the run
  if (c.count == 0) {
    // Nothing to join or evict (T1: a run no longer than longest_run(bound) is within bound).
    c.epoch = g_epoch.load_relaxed(); // [TC1]
    c.runs[0] = {base, bytes, home};
    c.count = 1;
    c.bytes = bytes;
    publish(c);
    leave(c);
  } else {
    put_beside(c, home, base, bytes, bound);
  }
  // The shards decay at frees, and a program whose large frees all stay here would never free
  // into them: the coarse clock keeps the check off the time-stamp counter. A loop of one size
  // (each take served by the newest run, each put giving it back) reads the clock at one put in
  // kClockEvery: the read was 2.2 of a 20 KiB pair's 24 ns and 24 of its instructions. Its own
  // run is in use, not idle, and the shards' idle runs wait for at most kClockEvery - 1 of its
  // frees past their delay. Any other put reads it (a free after a pause, as the decay tests
  // make, follows a take the newest run did not serve: reading it at a fixed one put in four
  // missed that free's sweep).
  const bool skip = c.newest_hit && c.clock_skips != 0;
  c.newest_hit = false;
  if (skip) {
    --c.clock_skips;
    return true;
  }
  c.clock_skips = kClockEvery - 1;
  large_cache::sweep_if_due(pal::coarse_now_ms());
  return true;
}

std::uint32_t flush() noexcept {
  RunCache& c = tl_runs;
  if (!c.registered || !enter(c)) return 0; // a drainer gives them, or asks again
  Entry out[kSlots];
  const std::uint32_t n = empty_held(c, out);
  leave(c);
  give_to_shards(out, n);
  return n;
}

void drain_all() noexcept {
  if (!g_registry_lock.try_lock()) { // a drain in progress, or the put of one that led here
    request_flush();
    return;
  }
  // [TC3] Every flag first, then one heavy fence for all the caches: a system call per drain,
  // not per cache.
  for (RunCache* c = g_registry; c != nullptr; c = c->next)
    c->draining.store_relaxed(1);
  const bool fenced = pal::heavy_fence(); // [AF2]
  bool missed = !fenced;
  for (RunCache* c = g_registry; c != nullptr; c = c->next) {
    if (!fenced || c->busy.load_acquire() != 0) { // [TC4] inside an operation: asked instead
      c->draining.store_release(0);
      missed = true;
      continue;
    }
    Entry out[kSlots];
    const std::uint32_t n = empty_held(*c, out);
    c->draining.store_release(0); // [TC4]
    give_to_shards(out, n);
  }
  g_registry_lock.unlock();
  if (missed) request_flush();
}

void thread_exit() noexcept {
  RunCache& c = tl_runs;
  if (!c.registered) return;
  {
    // T4: gone from the list before its TLS is. Taken with lock(): a drain in progress lowers
    // every flag it raised before it lets go, and none can reach the cache afterwards, so the
    // runs are this thread's alone below (no handshake, which a drain could make miss them).
    core::SpinGuard guard(g_registry_lock);
    if (c.prev != nullptr)
      c.prev->next = c.next;
    else
      g_registry = c.next;
    if (c.next != nullptr) c.next->prev = c.prev;
    c.registered = false;
  }
  Entry out[kSlots];
  const std::uint32_t n = empty_held(c, out);
  give_to_shards(out, n);
}

void fork_prepare() noexcept {
  g_registry_lock.lock(); // no drain has a cache's flag raised across the fork
}
void fork_parent() noexcept {
  g_registry_lock.unlock();
}
void fork_child() noexcept {
  // The child has one thread: the others' caches are left out of the registry (their runs, at
  // most large.thread_cache_bytes each, stay mapped and are never reused; their owners were
  // possibly inside an operation, so their runs cannot be trusted).
  RunCache& c = tl_runs;
  c.busy.store_relaxed(0); // the forking thread was outside an operation; no drainer went along
  c.draining.store_relaxed(0);
  c.prev = nullptr;
  c.next = nullptr;
  g_registry = c.registered ? &c : nullptr;
  g_registry_lock.reset_in_child();
}

void request_flush() noexcept {
  g_epoch.fetch_add_relaxed(1); // [TC1]
}

std::uint64_t held_bytes() noexcept {
  // [TC2] A walk that cannot take the registry lock returns the last sum: a drain holds it (and
  // may wait for a shard's lock, which the caller may hold), or another walk does.
  if (!g_registry_lock.try_lock()) return g_held_sum.load_relaxed();
  std::uint64_t sum = 0;
  for (const RunCache* c = g_registry; c != nullptr; c = c->next)
    sum += c->held.load_relaxed();
  g_registry_lock.unlock();
  g_held_sum.store_relaxed(sum);
  return sum;
}

void set_bound(std::size_t bytes) noexcept {
  g_bound.store_relaxed(bytes); // [TC2]
  // Options are set rarely; a flush at each lets a lowered large.cache_bytes reach the runs the
  // threads hold as well as the shards'.
  request_flush();
}

} // namespace hoardlab::mem::large_thread_cache
