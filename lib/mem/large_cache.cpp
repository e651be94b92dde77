// The large-object run cache (large_cache.h): shards of freed page runs, binned by page count,
// joined by address, decayed by time.
#include "mem/large_cache.h"

#include <cstdint>
#include <new>

#include "core/atomic.h"
#include "core/bits.h"
#include "core/spin_lock.h"
#include "mem/fork_held_guard.h"
#include "mem/internal.h"
#include "mem/large.h"
#include "mem/large_thread_cache.h"
#include "mem/purge_thread.h"
#include "mem/state.h"
#include "numa/topology.h"
#include "pal/pal.h"

namespace hoardlab::mem::large_cache {

namespace {

constexpr std::size_t kPage = pal::kPageSize;

// Bins by page count: one per count up to kExactPages (256 KiB, where most large objects of
// mixed workloads fall: mstress's are 32-128 KiB), then four per doubling (a bin's runs differ by
// at most a quarter, as jemalloc's size classes do), up to 2^35 pages (the 47-bit address space).
// An exact bin's head always fits; in a geometric bin the first kFitScan runs are tried, then the
// head of the next non-empty bin (found by a bit scan) fits whatever its size: O(1) either way.
constexpr std::uint32_t kExactPages = 64;
constexpr std::uint32_t kBins = 192;
constexpr std::uint32_t kFitScan = 8;
constexpr std::uint32_t bin_of(std::size_t pages) noexcept {
  if (pages <= kExactPages) return static_cast<std::uint32_t>(pages - 1);
  const unsigned lg = core::log2_floor(pages);
  const auto b = static_cast<std::uint32_t>(kExactPages + (lg - 6) * 4 + ((pages >> (lg - 2)) & 3));
  return b < kBins ? b : kBins - 1;
}
static_assert(bin_of(64) == 63 && bin_of(65) == 64 && bin_of(80) == 65 && bin_of(128) == 68);

// Runs a shard can hold (slot 0 is "none"). A shard that is full evicts its oldest run: the old
// single cache held 512 for the whole process, and one shard serves a few threads.
constexpr std::uint32_t kRuns = 511;
constexpr unsigned kBucketBits = 10;
constexpr std::uint32_t kBuckets = 1u << kBucketBits;
// Runs unmapped per lock hold: unmapping is done outside the lock from a buffer on the stack.
constexpr std::size_t kUnmapChunk = 16;

// Fresh runs up to kCarveMax are carved from a kCarveChunk reservation of the shard's instead of
// mapped one by one: mmap takes the process's address-space lock for writing and waits for every
// page fault in progress (mstress at 8 threads on 2 CPUs spent half its kernel time in one mmap
// per fresh object). A chunk's pages are untouched until carved (zero, as calloc needs), and the
// pieces carved side by side come back to the same shard, where they are joined when freed.
constexpr std::size_t kCarveChunk = std::size_t{4} << 20;
constexpr std::size_t kCarveMax = kCarveChunk / 16;
// Once the chunks are on huge pages (large.huge_chunks_after), runs up to kBigCarveMax are carved
// too, from kBigChunk reservations: mapped alone on 4 KiB pages, large-loop's 256 KiB-4 MiB runs
// took 6,400 of its 11,300 faults (mimalloc v3, whose arenas are huge pages throughout, 316 in
// all); mapped alone on huge pages, each would round up to whole 2 MiB pages (a 2.5 MiB run
// holds 4 MiB), where runs carved side by side share them. At most a quarter of a chunk, so that
// the tail left when a run does not fit (unmapped untouched) is at most a quarter too.
constexpr std::size_t kBigChunk = std::size_t{16} << 20;
constexpr std::size_t kBigCarveMax = kBigChunk / 4;

struct Run {
  char* base;
  std::size_t bytes;
  std::uint64_t since_ms;             // when it was freed (decay)
  std::uint32_t bin_prev, bin_next;   // in its bin, newest first; bin_next links free slots
  std::uint32_t age_prev, age_next;   // in the order cached (joined runs: see put)
  std::uint32_t start_next, end_next; // hash chains by base and by base + bytes
};

/// One shard of the cache: every field below `lock` is read and written only under it.
///
/// Protocol:   a thread takes runs from its own shard (shard_for_thread), else from the other
///             shards of its node, one lock at a time; a freed run goes back to its home shard
///             (recorded in the object's header), under that shard's lock alone. No operation
///             holds two shard locks; unmapping is done after the lock is given back.
/// Invariants: (S1) the cached runs are pairwise disjoint, and no two are adjacent (a freed run
///             is joined with the cached run ending where it starts and the one starting where
///             it ends); (S2) each cached run is in bin bin_of(bytes / page), in the age list
///             (in the order cached; since_ms is not monotonic along it, since a joined run
///             takes its parts' mean age), in by_start[h(base)] and in by_end[h(base + bytes)];
///             (S3) bytes == sum of the cached runs' bytes, and bin_mask has bit b set iff bin b is
///             non-empty.
/// Ordering:   the lock's ([SL1]/[SL2]); the shard pointer itself is published by [LS2] (a
///             release store of the fresh mapping, whose zeros are the shard's first state),
///             read by [LS1] (acquire).
/// ABA:        none (a lock).
struct Shard {
  core::SpinLock lock;
  std::uint32_t count = 0;      // cached runs
  std::uint32_t fresh = 0;      // slots handed out at least once: 1..fresh
  std::uint32_t free_slots = 0; // reused slots, linked through bin_next
  std::uint32_t oldest = 0, newest = 0;
  std::size_t bytes = 0;
  char* carve_next = nullptr; // the uncarved part of the current chunk: [carve_next, carve_end)
  char* carve_end = nullptr;
  std::uint64_t bin_mask[kBins / 64] = {};
  std::uint32_t bin_head[kBins] = {};
  std::uint32_t by_start[kBuckets] = {};
  std::uint32_t by_end[kBuckets] = {};
  Run runs[kRuns + 1] = {};
};

// Whether every member of a new shard but its lock starts at zero, as get_or_create takes a
// fresh mapping's zeros for them (the lock's false is zero too: core::SpinLock).
constexpr bool shard_starts_zero() noexcept {
  const Shard s{};
  bool zero = s.count == 0 && s.fresh == 0 && s.free_slots == 0 && s.oldest == 0 && s.newest == 0 &&
              s.bytes == 0 && s.carve_next == nullptr && s.carve_end == nullptr;
  for (std::uint64_t m : s.bin_mask)
    zero = zero && m == 0;
  for (std::uint32_t i = 0; i < kBins; ++i)
    zero = zero && s.bin_head[i] == 0;
  for (std::uint32_t i = 0; i < kBuckets; ++i)
    zero = zero && s.by_start[i] == 0 && s.by_end[i] == 0;
  for (const Run& r : s.runs)
    zero = zero && r.base == nullptr && r.bytes == 0 && r.since_ms == 0 && r.bin_prev == 0 &&
           r.bin_next == 0 && r.age_prev == 0 && r.age_next == 0 && r.start_next == 0 &&
           r.end_next == 0;
  return zero;
}
constexpr bool kShardStartsZero = shard_starts_zero();
static_assert(kShardStartsZero, "get_or_create takes a fresh mapping's zeros as a new shard");

constexpr std::uint32_t kShards = numa::kMaxNodes * kShardsPerNode;
constinit core::Atomic<Shard*> g_shards[kShards] = {};
constinit core::SpinLock g_create_lock;
constinit core::Atomic<std::uint64_t> g_shard_count{0}; // shards created (each may hold a chunk)
constinit core::Atomic<std::uint64_t> g_cached{0};
constinit core::Atomic<std::uint64_t> g_bound{std::uint64_t{1} << 30};
constinit core::Atomic<std::uint64_t> g_share{0};                         // large.cache_share
constinit core::Atomic<std::uint64_t> g_huge_min{std::uint64_t{4} << 20}; // large.huge_min
constinit core::Atomic<std::uint64_t> g_huge_after{0};                    // large.huge_chunks_after
} // namespace

// Without the purge thread, a large free sweeps every shard for runs idle for large.decay_ms
// when half a delay has passed since the last sweep, so that runs of shards nobody frees into
// any more (their threads exited) also decay. The time of the next sweep is kept rather than
// the last one's, so that the check at each free is one load and compare; it is reset at each
// publish of the options (decay_changed), so a lowered delay applies at once.
constinit core::Atomic<std::uint64_t> g_sweep_due_ms{0};

namespace {

std::uint32_t hash(std::uintptr_t a) noexcept {
  return static_cast<std::uint32_t>(((a >> 12) * 0x9E3779B97F4A7C15ull) >> (64 - kBucketBits));
}

Shard* shard_at(std::uint32_t id) noexcept {
  return g_shards[id].load_acquire(); // [LS1] pairs with [LS2]
}

Shard* get_or_create(std::uint32_t id) noexcept {
  if (Shard* s = shard_at(id)) return s;
  ForkHeldGuard guard(g_create_lock);
  Shard* s = g_shards[id].load_relaxed(); // under the lock that stores it
  if (s != nullptr) return s;
  void* mem = pal::map(sizeof(Shard));
  if (mem == nullptr) return nullptr;
  // A fresh anonymous mapping reads as zero, and zero is every member's first value (the
  // initialisers above, checked by kShardStartsZero): the shard is taken as the mapping made it.
  // Constructing it would write all of its 9 pages, where a process with a few large objects
  // touches one or two.
  s = std::launder(static_cast<Shard*>(mem));
  g_shard_count.fetch_add_relaxed(1);
  g_shards[id].store_release(s); // [LS2]
  return s;
}

// ---- the shard's structures (all under its lock) ----

void bin_link(Shard& s, std::uint32_t i) noexcept {
  Run& r = s.runs[i];
  const std::uint32_t b = bin_of(r.bytes / kPage);
  r.bin_prev = 0;
  r.bin_next = s.bin_head[b];
  if (r.bin_next != 0) s.runs[r.bin_next].bin_prev = i;
  s.bin_head[b] = i;
  s.bin_mask[b / 64] |= std::uint64_t{1} << (b % 64);
  std::uint32_t* h = &s.by_start[hash(core::addr(r.base))];
  r.start_next = *h;
  *h = i;
  h = &s.by_end[hash(core::addr(r.base + r.bytes))];
  r.end_next = *h;
  *h = i;
}

void bin_unlink(Shard& s, std::uint32_t i) noexcept {
  Run& r = s.runs[i];
  const std::uint32_t b = bin_of(r.bytes / kPage);
  if (r.bin_prev != 0) {
    s.runs[r.bin_prev].bin_next = r.bin_next;
  } else {
    s.bin_head[b] = r.bin_next;
    if (r.bin_next == 0) s.bin_mask[b / 64] &= ~(std::uint64_t{1} << (b % 64));
  }
  if (r.bin_next != 0) s.runs[r.bin_next].bin_prev = r.bin_prev;
  std::uint32_t* h = &s.by_start[hash(core::addr(r.base))];
  while (*h != i)
    h = &s.runs[*h].start_next;
  *h = r.start_next;
  h = &s.by_end[hash(core::addr(r.base + r.bytes))];
  while (*h != i)
    h = &s.runs[*h].end_next;
  *h = r.end_next;
}

// Appends run i as the newest.
void age_link(Shard& s, std::uint32_t i) noexcept {
  Run& r = s.runs[i];
  r.age_next = 0;
  r.age_prev = s.newest;
  if (s.newest != 0) {
    s.runs[s.newest].age_next = i;
  } else {
    s.oldest = i;
  }
  s.newest = i;
}

void age_unlink(Shard& s, std::uint32_t i) noexcept {
  Run& r = s.runs[i];
  if (r.age_prev != 0) {
    s.runs[r.age_prev].age_next = r.age_next;
  } else {
    s.oldest = r.age_next;
  }
  if (r.age_next != 0) {
    s.runs[r.age_next].age_prev = r.age_prev;
  } else {
    s.newest = r.age_prev;
  }
}

std::uint32_t find_starting_at(const Shard& s, const char* a) noexcept {
  std::uint32_t i = s.by_start[hash(core::addr(a))];
  while (i != 0 && s.runs[i].base != a)
    i = s.runs[i].start_next;
  return i;
}

std::uint32_t find_ending_at(const Shard& s, const char* a) noexcept {
  std::uint32_t i = s.by_end[hash(core::addr(a))];
  while (i != 0 && s.runs[i].base + s.runs[i].bytes != a)
    i = s.runs[i].end_next;
  return i;
}

void uncount(Shard& s, std::size_t bytes) noexcept {
  s.bytes -= bytes;
  g_cached.fetch_sub_relaxed(bytes);
}

// Removes run i from the shard entirely; its slot is free again.
void remove(Shard& s, std::uint32_t i) noexcept {
  bin_unlink(s, i);
  age_unlink(s, i);
  uncount(s, s.runs[i].bytes);
  s.runs[i].bin_next = s.free_slots;
  s.free_slots = i;
  --s.count;
}

// Takes the first `bytes` of run i; the rest keeps its slot, its age and its place in the age
// list (its pages were freed when the run was).
char* take_front(Shard& s, std::uint32_t i, std::size_t bytes) noexcept {
  Run& r = s.runs[i];
  char* base = r.base;
  if (r.bytes == bytes) {
    remove(s, i);
    return base;
  }
  bin_unlink(s, i);
  r.base += bytes;
  r.bytes -= bytes;
  bin_link(s, i);
  uncount(s, bytes);
  return base;
}

// The first run of at least `bytes` (see kFitScan), or 0.
std::uint32_t find_fit(const Shard& s, std::size_t bytes) noexcept {
  std::uint32_t b = bin_of(bytes / kPage);
  if (b >= kExactPages) {
    std::uint32_t i = s.bin_head[b];
    for (std::uint32_t n = 0; i != 0 && n < kFitScan; ++n, i = s.runs[i].bin_next)
      if (s.runs[i].bytes >= bytes) return i;
  } else if (s.bin_head[b] != 0) {
    return s.bin_head[b];
  }
  for (std::uint32_t w = (b + 1) / 64; w < kBins / 64; ++w) {
    std::uint64_t m = s.bin_mask[w];
    if (w == (b + 1) / 64) m &= ~std::uint64_t{0} << ((b + 1) % 64);
    if (m != 0) return s.bin_head[w * 64 + static_cast<unsigned>(__builtin_ctzll(m))];
  }
  return 0;
}

// Milliseconds since run r was cached; 0 for a run cached after `now` was read (by a thread
// that read the clock later).
std::uint64_t age(std::uint64_t now, const Run& r) noexcept {
  return now > r.since_ms ? now - r.since_ms : 0;
}

struct Taken {
  char* base;
  std::size_t bytes;
};

// Moves up to kUnmapChunk of the oldest runs for which `take` holds (a prefix of the age list)
// into out; returns how many.
template <typename Take>
std::size_t take_oldest(Shard& s, Taken* out, Take take) noexcept {
  std::size_t n = 0;
  while (s.oldest != 0 && n < kUnmapChunk && take(s.runs[s.oldest])) {
    out[n++] = {s.runs[s.oldest].base, s.runs[s.oldest].bytes};
    remove(s, s.oldest);
  }
  return n;
}

// Moves up to kUnmapChunk runs cached since `due_since` or earlier into out, wherever they are in
// the age list; *oldest gets the earliest since_ms among the runs left. Returns how many.
std::size_t take_idle(Shard& s, Taken* out, std::uint64_t due_since,
                      std::uint64_t* oldest) noexcept {
  std::size_t n = 0;
  std::uint64_t left = UINT64_MAX;
  for (std::uint32_t i = s.oldest; i != 0;) {
    const std::uint32_t next = s.runs[i].age_next;
    if (n < kUnmapChunk && s.runs[i].since_ms <= due_since) {
      out[n++] = {s.runs[i].base, s.runs[i].bytes};
      remove(s, i);
    } else if (s.runs[i].since_ms < left) {
      left = s.runs[i].since_ms;
    }
    i = next;
  }
  *oldest = left;
  return n;
}

std::size_t unmap_all(std::uint32_t node, const Taken* t, std::size_t n) noexcept {
  std::size_t released = 0;
  for (std::size_t i = 0; i < n; ++i) {
    count_unmapped(node, t[i].base, t[i].bytes);
    pal::unmap(t[i].base, t[i].bytes);
    released += t[i].bytes;
  }
  return released;
}

// Unmaps every run of shard id that `take` picks: take(shard, out) moves up to kUnmapChunk of
// them into out under the lock and returns how many.
template <typename Take>
std::size_t release_shard(std::uint32_t id, Take take) noexcept {
  Shard* s = shard_at(id);
  if (s == nullptr) return 0;
  std::size_t released = 0;
  for (;;) {
    Taken out[kUnmapChunk];
    std::size_t n = 0;
    {
      ForkHeldGuard guard(s->lock);
      n = take(*s, out);
    }
    if (n == 0) return released;
    released += unmap_all(node_of_shard(id), out, n);
  }
}

// Unmaps the oldest runs of every shard, from `first` on, until the cache is within the bound.
void evict_over_bound(std::uint32_t first) noexcept {
  auto over_bound = [](const Run&) { return g_cached.load_relaxed() > g_bound.load_relaxed(); };
  for (std::uint32_t k = 0; k < kShards && g_cached.load_relaxed() > g_bound.load_relaxed(); ++k)
    release_shard((first + k) % kShards,
                  [&](Shard& s, Taken* out) { return take_oldest(s, out, over_bound); });
}

char* carve(Shard& s, std::size_t bytes) noexcept {
  if (static_cast<std::size_t>(s.carve_end - s.carve_next) < bytes) return nullptr;
  char* p = s.carve_next;
  s.carve_next += bytes;
  return p;
}

// Gives back every shard's uncarved reservation (address space, never touched).
void drop_reservations() noexcept {
  for (std::uint32_t id = 0; id < kShards; ++id) {
    Shard* s = shard_at(id);
    if (s == nullptr) continue;
    char* tail = nullptr;
    std::size_t tail_bytes = 0;
    {
      ForkHeldGuard guard(s->lock);
      tail = s->carve_next;
      tail_bytes = static_cast<std::size_t>(s->carve_end - s->carve_next);
      s->carve_next = s->carve_end = nullptr;
    }
    if (tail_bytes != 0) pal::unmap(tail, tail_bytes);
  }
}

// A fresh mapping, on transparent huge pages when `huge` (pal::map_huge), else on 4 KiB pages.
// The callers never ask for huge pages under an address-space limit (no_address_limit), where
// the alignment's padding (up to 2 MiB) may be what is missing.
char* map_fresh(std::size_t bytes, bool huge) noexcept {
  if (huge)
    if (void* p = pal::map_huge(bytes)) return static_cast<char*>(p);
  return static_cast<char*>(pal::map(bytes));
}

// A getrlimit call: asked only once the cheaper tests for huge pages have passed.
bool no_address_limit() noexcept {
  return pal::address_space_limit() == SIZE_MAX;
}

// A fresh run mapped alone. Huge pages from large.huge_min on: a run of 4 KiB pages faults each
// page alone and costs a TLB entry per page; large-loop took 65,000-69,000 faults and 0.45 s of
// user time in 500 steps on small pages, 11,400 and 0.1 s with huge ones (the notes). *bytes is
// then rounded up to whole huge pages: the last part page of a run mapped alone faults 4 KiB at a
// time (3,400 of the 4,900 faults large-loop took once the shorter runs were carved), and the run
// keeps the rounding, so the object may grow into it and the cache reuses it whole.
char* map_pages(std::size_t* bytes) noexcept {
  const std::uint64_t huge_min = g_huge_min.load_relaxed();
  const bool huge =
      huge_min != 0 && *bytes >= huge_min && *bytes >= pal::kHugePageSize && no_address_limit();
  if (huge) *bytes = core::round_up(*bytes, pal::kHugePageSize);
  return map_fresh(*bytes, huge);
}

// Whether fresh chunks are on huge pages: once the large objects have large.huge_chunks_after
// bytes mapped (options.def: the first chunks stay on small pages, so that a program with a few
// large objects does not hold a part-used 2 MiB page for each), and not under an address-space
// limit (map_fresh).
bool huge_chunks() noexcept {
  const std::uint64_t after = g_huge_after.load_relaxed();
  return after != 0 && large::mapped_bytes() >= after && no_address_limit();
}

char* map_once(Shard* s, std::size_t* run_bytes) noexcept {
  if (*run_bytes > kBigCarveMax || s == nullptr) return map_pages(run_bytes);
  const bool huge = huge_chunks();
  if (*run_bytes > kCarveMax && !huge) return map_pages(run_bytes);
  const std::size_t bytes = *run_bytes;
  {
    ForkHeldGuard guard(s->lock);
    if (char* p = carve(*s, bytes)) return p;
  }
  const std::size_t chunk_bytes = huge ? kBigChunk : kCarveChunk;
  // Mapped outside the lock. Under an address-space limit the chunk may be refused where the
  // object alone is not: then the object is mapped alone. Nor is a chunk taken that would use
  // more than an eighth of the room the limit leaves: libstdc++'s 73 KiB emergency pool, at
  // start, took 4 MiB of a tight limit for good, and a later 4 MiB malloc found no room. (huge
  // chunks imply there is no limit: huge_chunks asked.)
  if (const std::size_t limit = huge ? SIZE_MAX : pal::address_space_limit(); limit != SIZE_MAX) {
    const std::size_t mapped = pal::address_space_mapped();
    if (limit < mapped || (limit - mapped) / 8 < chunk_bytes)
      return static_cast<char*>(pal::map(bytes));
  }
  char* chunk = map_fresh(chunk_bytes, huge);
  if (chunk == nullptr) return static_cast<char*>(pal::map(bytes));
  char* p = nullptr;
  char* tail = nullptr;
  std::size_t tail_bytes = 0;
  {
    ForkHeldGuard guard(s->lock);
    p = carve(*s, bytes); // another thread of this shard may have installed a chunk meanwhile
    if (p == nullptr) {
      tail = s->carve_next;
      tail_bytes = static_cast<std::size_t>(s->carve_end - s->carve_next);
      s->carve_next = chunk + bytes;
      s->carve_end = chunk + chunk_bytes;
      p = chunk;
      chunk = nullptr;
    }
  }
  if (chunk != nullptr) pal::unmap(chunk, chunk_bytes);
  if (tail_bytes != 0) pal::unmap(tail, tail_bytes);
  return p;
}

// Out of line: inlined into the loop over shards, gcc 12 takes the guard's optional for unset
// (-Wmaybe-uninitialized).
__attribute__((noinline)) char* take_from(std::uint32_t id, std::size_t bytes) noexcept {
  Shard* s = shard_at(id);
  if (s == nullptr) return nullptr;
  ForkHeldGuard guard(s->lock);
  const std::uint32_t i = find_fit(*s, bytes);
  return i == 0 ? nullptr : take_front(*s, i, bytes);
}

std::uint32_t shards_per_node() noexcept {
  const unsigned per_node = g.pus / (g.nodes == 0 ? 1 : g.nodes);
  return per_node == 0 ? 1 : (per_node < kShardsPerNode ? per_node : kShardsPerNode);
}

} // namespace

std::uint32_t shard_for_thread(std::uint32_t node) noexcept {
  return node * kShardsPerNode + tl_cache->seq % shards_per_node();
}

char* take(std::uint32_t shard, std::size_t bytes, std::uint32_t* home) noexcept {
  const std::uint32_t first = shard - shard % kShardsPerNode;
  const std::uint32_t n = shards_per_node();
  for (std::uint32_t k = 0; k < n; ++k) {
    const std::uint32_t id = first + (shard - first + k) % n;
    if (char* p = take_from(id, bytes)) {
      *home = id;
      return p;
    }
  }
  return nullptr;
}

bool extend(std::uint32_t home, char* end, std::size_t extra) noexcept {
  Shard* s = shard_at(home);
  if (s == nullptr) return false;
  ForkHeldGuard guard(s->lock);
  const std::uint32_t i = find_starting_at(*s, end);
  if (i == 0 || s->runs[i].bytes < extra) return false;
  take_front(*s, i, extra);
  return true;
}

void put(std::uint32_t home, char* base, std::size_t bytes) noexcept {
  const std::uint32_t node = node_of_shard(home);
  Shard* s = get_or_create(home);
  const std::uint64_t bound = g_bound.load_relaxed();
  if (s == nullptr || bytes > bound) {
    count_unmapped(node, base, bytes);
    pal::unmap(base, bytes);
    return;
  }
  const std::uint64_t now = pal::now_ms();
  Taken evicted{nullptr, 0};
  bool kept = false;
  bool was_empty = false;
  {
    ForkHeldGuard guard(s->lock);
    // S1: joined with the cached runs on either side, which leave the shard. The joined run's
    // age is its parts' mean age weighted by bytes: a small run freed beside a large idle one
    // must not keep the whole from decaying (a 100 KiB object taken from the front of an idle
    // 32 MiB run and freed again renewed all 32 MiB), nor make the large one go at once.
    std::uint64_t age_bytes = 0; // sum of (now - since) * pages over the parts
    if (std::uint32_t l = find_ending_at(*s, base)) {
      age_bytes += age(now, s->runs[l]) * (s->runs[l].bytes / kPage);
      base = s->runs[l].base;
      bytes += s->runs[l].bytes;
      remove(*s, l);
    }
    if (std::uint32_t r = find_starting_at(*s, base + bytes)) {
      age_bytes += age(now, s->runs[r]) * (s->runs[r].bytes / kPage);
      bytes += s->runs[r].bytes;
      remove(*s, r);
    }
    if (bytes <= bound) {
      std::uint32_t i = s->free_slots;
      if (i != 0) {
        s->free_slots = s->runs[i].bin_next;
      } else if (s->fresh < kRuns) {
        i = ++s->fresh;
      } else { // full: the oldest run goes
        evicted = {s->runs[s->oldest].base, s->runs[s->oldest].bytes};
        remove(*s, s->oldest);
        i = s->free_slots;
        s->free_slots = s->runs[i].bin_next;
      }
      was_empty = s->count == 0;
      s->runs[i].base = base;
      s->runs[i].bytes = bytes;
      s->runs[i].since_ms = now - age_bytes / (bytes / kPage);
      bin_link(*s, i);
      age_link(*s, i);
      ++s->count;
      s->bytes += bytes;
      g_cached.fetch_add_relaxed(bytes);
      kept = true;
    }
  }
  if (evicted.bytes != 0) unmap_all(node, &evicted, 1);
  if (!kept) { // joined, it exceeds the bound by itself
    count_unmapped(node, base, bytes);
    pal::unmap(base, bytes);
  }
  // Also when not kept: the bound may have been lowered, and the other shards' runs meet it here.
  if (g_cached.load_relaxed() > bound) evict_over_bound(home);
  if (!kept) return;
  if (purge_thread::active()) {
    if (was_empty) purge_thread::post_large_cached();
    return;
  }
  sweep_if_due(now);
}

void sweep_due(std::uint64_t now) noexcept {
  // Inline decay, at most twice a delay: the sweep's cost (a lock per shard in use) is spread
  // over the frees of half a delay. The delay is read before the claim, so a sweep racing a
  // publish may set the next one half the old delay ahead, once.
  const std::uint64_t delay = g.tune.large_decay_ms.load_relaxed();
  std::uint64_t due = g_sweep_due_ms.load_relaxed();
  if (now < due) return;
  // A relaxed counter of time (a request, as [TC1]): the runs move under the shards' locks.
  if (!g_sweep_due_ms.cas_strong_acq_rel(due, now + (delay / 2 == 0 ? 1 : delay / 2)))
    return;                           // another thread sweeps
  if (purge_thread::active()) return; // it decays the shards; the check stays one compare
  std::uint64_t next = 0;
  release_idle(now, delay, &next);
}

void decay_changed() noexcept {
  g_sweep_due_ms.store_relaxed(0);
}

// large.cache_share: a run the cache could not serve was just mapped (`bytes`, not yet counted):
// of the bytes cached past the share of the live ones, as many as it took go back, the oldest
// runs of this shard first, then of the others. Decay alone would keep every run freed in the
// last large.decay_ms, however little of it the program reuses: a window of blocks of random
// sizes misses whenever the new one is longer than any cached, and each miss added its run to
// what the process holds.
void give_back_for_fresh(std::uint32_t shard, std::size_t bytes) noexcept {
  const std::uint64_t share = g_share.load_relaxed();
  if (share == 0) return;
  const large::Stats st = large::stats();
  const std::uint64_t held = st.mapped_bytes + bytes; // counters read apart may cross
  const std::uint64_t live = held > st.cached_bytes ? held - st.cached_bytes : 0;
  const std::uint64_t allowed = live / 100 * share;
  if (st.cached_bytes <= allowed) return;
  std::uint64_t left = st.cached_bytes - allowed < bytes ? st.cached_bytes - allowed : bytes;
  auto some = [&left](const Run& r) {
    if (left == 0) return false;
    left -= r.bytes < left ? r.bytes : left;
    return true;
  };
  for (std::uint32_t k = 0; k < kShards && left != 0; ++k)
    release_shard((shard + k) % kShards,
                  [&](Shard& sh, Taken* out) { return take_oldest(sh, out, some); });
}

char* map_fresh(std::uint32_t shard, std::size_t* bytes) noexcept {
  Shard* s = get_or_create(shard);
  if (char* p = map_once(s, bytes)) {
    give_back_for_fresh(shard, *bytes);
    return p;
  }
  // A request longer than all that could be given back (impossible sizes, alignments of 2^62)
  // fails without emptying the cache.
  if (*bytes > g_cached.load_relaxed() + g_shard_count.load_relaxed() * kBigChunk) return nullptr;
  // The address space (RLIMIT_AS, vm.max_map_count, overcommit) is short: what the cache holds
  // and the shards' uncarved reservations go back first. Empty superblocks are not a source:
  // the pools purge them with madvise and their arenas stay reserved, which frees no address
  // space.
  give_back_address_space();
  return map_once(s, bytes);
}

std::size_t give_back_address_space() noexcept {
  const std::size_t released = trim(); // the threads' runs too (trim drains them)
  drop_reservations();
  return released;
}

std::size_t trim() noexcept {
  large_thread_cache::flush(); // the caller's own, even while another thread drains
  large_thread_cache::drain_all();
  std::size_t released = 0;
  for (std::uint32_t id = 0; id < kShards; ++id)
    released += release_shard(id, [](Shard& s, Taken* out) {
      return take_oldest(s, out, [](const Run&) { return true; });
    });
  return released;
}

std::size_t release_idle(std::uint64_t now_ms, std::uint64_t delay_ms,
                         std::uint64_t* next_due_ms) noexcept {
  // Runs held by threads reach the shards here (or at their owners' next step, for a thread
  // inside an operation) and decay from there.
  large_thread_cache::drain_all();
  const std::uint64_t due_since = now_ms >= delay_ms ? now_ms - delay_ms : 0;
  std::size_t released = 0;
  std::uint64_t oldest = UINT64_MAX;
  for (std::uint32_t id = 0; id < kShards; ++id) {
    std::uint64_t left = UINT64_MAX;
    released += release_shard(
        id, [&](Shard& s, Taken* out) { return take_idle(s, out, due_since, &left); });
    if (left < oldest) oldest = left;
  }
  *next_due_ms = oldest == UINT64_MAX ? UINT64_MAX : oldest + delay_ms;
  return released;
}

std::uint64_t cached_bytes() noexcept {
  return g_cached.load_relaxed();
}

void set_bound(std::size_t bytes) noexcept {
  g_bound.store_relaxed(bytes);
}

void set_share(std::uint32_t percent) noexcept {
  g_share.store_relaxed(percent);
}

void set_huge_pages(std::size_t min, std::size_t after) noexcept {
  g_huge_min.store_relaxed(min);
  g_huge_after.store_relaxed(after);
}

void fork_prepare() noexcept {
  g_create_lock.lock();
  for (std::uint32_t id = 0; id < kShards; ++id)
    if (Shard* s = shard_at(id)) s->lock.lock();
}

void fork_parent() noexcept {
  for (std::uint32_t id = kShards; id-- > 0;)
    if (Shard* s = shard_at(id)) s->lock.unlock();
  g_create_lock.unlock();
}

void fork_child() noexcept {
  for (std::uint32_t id = 0; id < kShards; ++id)
    if (Shard* s = shard_at(id)) s->lock.reset_in_child();
  g_create_lock.reset_in_child();
}

} // namespace hoardlab::mem::large_cache
