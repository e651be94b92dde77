// Thread caches (thread_cache.h): the registry, refills and flushes of the bins, and each
// class's capacity under the cache.bytes bound (C1).
#include "config/options.h"
#include "core/bits.h"
#include "mem/fork_held_guard.h"
#include "mem/internal.h"
#include "pal/pal.h"

#include <bit>
#include <new>

namespace hoardlab::mem {

namespace {

ThreadCache* new_cache_locked() noexcept {
  if (g.free_caches != nullptr) {
    ThreadCache* tc = g.free_caches;
    g.free_caches = tc->next_free;
    return tc; // keeps its seq: a per-thread heap is adopted by the next thread
  }
  std::size_t need = core::round_up(sizeof(ThreadCache), 64);
  if (g.meta_next == nullptr || g.meta_next + need > g.meta_end) {
    std::size_t chunk = core::round_up(need * 32, pal::kPageSize);
    char* m = static_cast<char*>(pal::map(chunk));
    if (m == nullptr) return nullptr;
    g.meta_next = m;
    g.meta_end = m + chunk;
  }
  ThreadCache* tc = new (g.meta_next) ThreadCache();
  g.meta_next += need;
  tc->seq = g.next_seq++;
  tc->next_all.store_relaxed(g.all_caches.load_relaxed());
  g.all_caches.store_release(tc); // [RG1] readers walk the registry from an acquire load
  return tc;
}

// ThreadCache::near_classes and near_limit from the process's table (fixed at init).
void fill_near_classes(ThreadCache* tc) noexcept {
  constexpr std::size_t kGranule = core::SizeClasses::kGranule;
  const std::size_t bytes =
      ThreadCache::kNearBytes < g.threshold ? ThreadCache::kNearBytes : g.threshold;
  for (std::size_t i = 0; i < bytes / kGranule; ++i)
    tc->near_classes[i] = static_cast<std::uint8_t>(g.classes.class_of_nonzero(i * kGranule));
  tc->near_limit = bytes - canary_bytes();
}

} // namespace

// The calling thread's cache, made on first use; nullptr when the thread is exiting.
ThreadCache* thread_cache() noexcept {
  ThreadCache* tc = tl_cache;
  if (tc != &kSentinel) return tc;
  if ((tl_flags & kExiting) != 0) return nullptr;
  {
    ForkHeldGuard guard(g.registry_lock);
    tc = new_cache_locked();
    if (tc == nullptr) return nullptr;
    tc->live = true;
    g.live_threads.fetch_add_relaxed(1);
    set_thread_bound_locked();
  }
  // Every bin starts with no capacity; a class earns it on its first misses (grow_cap), so the
  // bound goes to the classes the thread uses. A recycled cache was flushed at its thread's exit.
  for (std::size_t c = 0; c < g.classes.count(); ++c)
    tc->caps[c] = tc->rooms[c] = tc->misses[c] = tc->published[c] = 0;
  tc->cap_bytes = 0;
  tc->bound_epoch = g.tune.cache_epoch.load_acquire(); // [CE2]; no capacity to lower
  tc->published_bin_bytes = 0;
  tc->limit = g.threshold - canary_bytes(); // a hit's class holds the request and its canary
  fill_near_classes(tc);
  tc->set_home(home_heap(tc));
  tl_cache = tc;
  pal::set_thread_value(tc); // after tl_cache is set: a malloc inside it finds the cache
  return tc;
}

void count_remote(ThreadCache* tc, std::size_t n) noexcept {
  if (n == 0) return;
  if (tc != nullptr)
    tc->remote_sent.add_single_writer(n);
  else
    g.orphan_remote_sent.fetch_add_relaxed(n);
}
void count_batches(ThreadCache* tc, std::size_t n) noexcept {
  if (n == 0) return;
  if (tc != nullptr)
    tc->remote_batches.add_single_writer(n);
  else
    g.orphan_remote_batches.fetch_add_relaxed(n);
}

// Publishes the cached bytes after a slow step that changed bin cls (ThreadCache::published);
// the remote buffer counts with the bins (C2).
void publish_cached(ThreadCache* tc, std::size_t cls) noexcept {
  const std::uint32_t now = tc->bin(cls).count();
  tc->published_bin_bytes =
      tc->published_bin_bytes -
      static_cast<std::uint64_t>(tc->published[cls]) * g.classes.size_of(cls) +
      static_cast<std::uint64_t>(now) * g.classes.size_of(cls);
  tc->published[cls] = now;
  tc->cached_bytes.store_relaxed(tc->published_bin_bytes + tc->remote_bytes);
}

void publish_all_cached(ThreadCache* tc) noexcept {
  std::uint64_t bytes = 0;
  for (std::size_t c = 0; c < g.classes.count(); ++c) {
    tc->published[c] = tc->bin(c).count();
    bytes += static_cast<std::uint64_t>(tc->published[c]) * g.classes.size_of(c);
  }
  tc->published_bin_bytes = bytes;
  tc->cached_bytes.store_relaxed(bytes + tc->remote_bytes);
}

// After a step that changed only the remote buffer.
void publish_remote(ThreadCache* tc) noexcept {
  tc->cached_bytes.store_relaxed(tc->published_bin_bytes + tc->remote_bytes);
}

// Returns n blocks (a chain from the bin's head) to their superblocks: those of the heap the
// thread enters are freed locally; the others (cached before their superblock changed owner, or
// refilled from a heap the thread was passed over to) are sent to their owners (send_remote)
// after leaving it.
//
// Blocks freed one after another mostly share a superblock, so the bin's blocks come in runs of
// one superblock: a run is a stretch of the bin's list, linked already, and goes back with one
// splice and one regroup (heap_free_run), where a block at a time cost a regroup, with its
// division, per block; the last block's link is overwritten only after the walk has read it. The
// owner test is made once per run: no superblock changes owner into or out of h while the
// thread holds h.
void flush(ThreadCache* tc, std::size_t cls, std::size_t n) noexcept {
  CacheBin bin = tc->bin(cls);
  if (n > bin.count()) n = bin.count();
  if (n == 0) return;
  bin.room += static_cast<std::uint32_t>(n);

  void* others = nullptr;
  Heap* h = acquire_heap(tc);
  Superblock* run_sb = nullptr; // the run's superblock, owned by h; nullptr: no run
  void* run_first = nullptr;
  void* run_last = nullptr;
  std::size_t run_n = 0;
  void* next = bin.head;
  for (std::size_t i = 0; i < n; ++i) {
    void* p = next;
#ifdef HOARDLAB_HARDENED
    // (C1) the bin holds count() blocks; a list that ends sooner was cut by a misuse the free
    // path did not see. The fuzz target reached one with a one-byte write into a freed block's
    // link and a double free (the write breaks the check word that tells a free block, so the
    // second free can take it for a live one and it sits in two lists, one of which may rewrite
    // its link); followed, the walk read address 0 and the process died by SIGSEGV.
    if (p == nullptr) [[unlikely]]
      report_short_bin(cls, i, n);
#endif
    next = next_in_class(cls, p);
    Superblock* sb = superblock_of(p);
    if (sb == run_sb) { // the run is a stretch of the bin's list: already linked
      run_last = p;
      ++run_n;
      continue;
    }
    if (run_sb != nullptr) heap_free_run(h, run_sb, run_first, run_last, run_n);
    run_sb = nullptr;
    if (sb->owner.load_relaxed() != h) {
      store_link(p, others);
      others = p;
      continue;
    }
    run_sb = sb;
    run_first = run_last = p;
    run_n = 1;
  }
  if (run_sb != nullptr) heap_free_run(h, run_sb, run_first, run_last, run_n);
  bin.head = next;
  enforce_invariant(h);
  release_heap(h);
  send_remote(tc, others);
  publish_cached(tc, cls);
}

void flush_all(ThreadCache* tc) noexcept {
  for (std::size_t c = 0; c < g.classes.count(); ++c)
    flush(tc, c, tc->bin(c).count());
}

// ---- the process-wide budget (cache.total_bytes) ----
//
// Each thread caches up to cache.bytes, as long as the live threads' bounds together stay within
// cache.total_bytes; past that, each thread's bound is its share: total / live threads, never
// below kMinThreadShare (gperftools tcmalloc shares an overall thread-cache size among its
// threads in the same spirit, moving capacity to the threads that miss; here every thread gets
// the same share, so the budget needs no steal between threads, whose caches only their owners
// touch). The share is kept to three significant bits: the bound moves in steps of at most a
// quarter, so a process whose thread count hovers around a value lowers its threads' caches
// once, not at every thread start (each lowering sends every thread through lower_cache, a walk
// over all classes, at its next slow step). So with the default 64 MiB and 256 KiB, the first
// 256 threads keep 256 KiB each; at 2,000 threads each keeps 32 KiB.

// 16 KiB: a batch of 32 blocks of up to 512 bytes, four of 4 KiB.
constexpr std::uint64_t kMinThreadShare = 16 * 1024;

std::uint64_t thread_share(std::uint64_t total, std::uint32_t live) noexcept {
  if (total == 0 || live == 0) return UINT64_MAX; // no budget
  const std::uint64_t share = total / live;
  if (share <= kMinThreadShare) return kMinThreadShare;
  const unsigned drop = static_cast<unsigned>(std::bit_width(share)) - 3;
  return share >> drop << drop;
}

void set_thread_bound_locked() noexcept {
  const std::uint32_t live = g.live_threads.load_relaxed();
  // g.pus is do_init's, written before g.state turns ready (its release store): an option set
  // while another thread initialises reads it only after that, and until then no thread counts
  // as crowded (the next thread start or exit sets the flag).
  const bool crowded = g.state.load_acquire() == kStateReady && live > g.pus;
  if (g.crowded.load_relaxed() != crowded) g.crowded.store_relaxed(crowded);
  Tunables& t = g.tune;
  std::uint64_t bound = t.cache_option.load_relaxed();
  if (const std::uint64_t share = thread_share(t.cache_total.load_relaxed(), live); share < bound)
    bound = share;
  const std::uint64_t before = t.cache_bytes.load_relaxed();
  if (bound == before) return; // the line every slow step reads stays clean
  t.cache_bytes.store_relaxed(bound);
  // The registry lock serializes the writers: this is the epoch's only writer.
  if (bound < before) t.cache_epoch.store_release(t.cache_epoch.load_relaxed() + 1); // [CE1]
}

// ---- per-class capacity (C1: sum_c cap_c * size_c <= cache.bytes) ----
//
// A class's capacity adapts to its use, as tcmalloc's and jemalloc's per-class counts do: it
// starts at 0, and each miss (an allocation finding the bin empty, a free finding it full)
// doubles it, from a page of its blocks (first_fill) up to kMaxBinBlocks, and never beyond what the
// whole bound holds of that class. So a thread that works through 64 blocks at a time keeps all of
// them cached, whatever their size up to cache.bytes / 64, and one that keeps thousands of small
// blocks live keeps them out of the heap (threadtest: 5,000 blocks of 16 bytes per thread at 8
// threads). The capacity used to stop at 4 batches (128 blocks): every block of such a thread
// then went through a refill and a flush, about 45 instructions per malloc+free on top of the
// fast path's 49. Capacity for a growing class is taken from the
// others: first what they do not use (cap lowered to count, no block moves), then, if still
// short, their blocks (flushed to the heaps, cap 0). The bound is on capacity, so the bytes a
// thread caches never exceed cache.bytes however the capacity moves. A bound lowered at run time
// is followed the same way, for all classes at once, at the thread's next slow step
// (lower_cache).

std::size_t cache_bound() noexcept {
  return static_cast<std::size_t>(g.tune.cache_bytes.load_relaxed());
}

// How many blocks a refill or a flush of bin moves: the batch (cache.batch), or an eighth of the
// bin's capacity once it has grown past 8 batches, so that a thread working through thousands
// of blocks of a class enters a heap once per thousand blocks, not once per 32 (a heap entry and
// its invariant check cost about 175 instructions). Capacity grows only on misses, so only a
// class that has shown such use moves more than a batch at a time.
std::size_t move_count(const CacheBin& bin) noexcept {
  const std::size_t batch = g.tune.cache_batch.load_relaxed();
  const std::size_t eighth = bin.cap / 8;
  return eighth > batch ? eighth : batch;
}

// A class's first capacity: a page's worth of its blocks, at least one and at most a batch
// (cache.batch). A first batch of 32 linked, and so touched, 32 blocks for a thread's first
// allocation of a class: for 4 KiB blocks 35 pages (three superblocks) for one stdio buffer; now
// 1 block (2 pages with its superblock's header). Classes up to 128 bytes still start at a batch.
namespace {
std::size_t first_fill(std::size_t size, std::size_t batch) noexcept {
  const std::size_t n = pal::kPageSize / size;
  return n == 0 ? 1 : (n < batch ? n : batch);
}
} // namespace

// Misses of a class at the bound before it takes capacity from the others.
constexpr std::uint8_t kMissesToTake = 4;

// The most blocks a bin may hold, however small its class: the limit gperftools tcmalloc puts
// on a thread's free list of one class (kMaxDynamicFreeListLength, 8192). The bound C1 holds
// whatever it is; it keeps a thread that frees many tiny blocks from holding more of them than
// another allocator would.
constexpr std::size_t kMaxBinBlocks = 8192;

// Lowers other classes' capacity until `need` bytes of it are free under the bound.
void make_room(ThreadCache* tc, std::size_t keep, std::size_t need) noexcept {
  const std::size_t bound = cache_bound();
  for (int pass = 0; pass < 2; ++pass) {
    // Largest classes first: each of their blocks frees the most capacity.
    for (std::size_t c = g.classes.count(); c-- > 0;) {
      if (tc->cap_bytes + need <= bound) return;
      CacheBin bin = tc->bin(c);
      if (c == keep || bin.cap == 0) continue;
      if (pass == 1) flush(tc, c, bin.count());
      tc->cap_bytes -= static_cast<std::size_t>(bin.room) * g.classes.size_of(c);
      bin.cap -= bin.room;
      bin.room = 0;
    }
  }
}

void lower_cache(ThreadCache* tc, std::uint64_t epoch) noexcept {
  tc->bound_epoch = epoch;
  const std::size_t bound = cache_bound();
  if (tc->cap_bytes > bound) make_room(tc, g.classes.count(), 0); // no class kept
  // Hits since a class's last slow step left its published count stale, and make_room lowers
  // capacity without publishing: republished whole, the cached bytes read within the bound.
  for (std::size_t c = 0; c < g.classes.count(); ++c)
    publish_cached(tc, c);
  if (tc->remote_head != nullptr && tc->remote_bytes >= bound / 4) flush_remote(tc); // C2
}

// A miss on class cls: doubles its capacity within the bound (see above). Returns how many
// blocks a refill at this miss brings while the class is new to the thread (the capacity it
// added, up to a batch), or 0 once it is warm (its capacity past a batch, or not grown), when a
// refill moves what a flush moves (move_count).
//
// The capacity doubles at each miss, so refills of the capacity added add up to the capacity:
// for 4 KiB blocks 1, 1, 2, 4, 8, 16, then batches, 64 at the capacity 64, as 32 + 32 did when
// every class started at a batch. That is what lets a working set of W <= cap blocks settle: after
// its first round the bin holds the refills less the W in use, and the W freed back then fit
// under the capacity. Refills of the whole capacity (1, 2, 4 ... 32, then 32: 95 at the capacity
// 64) left the bin a block short of W at each round's end, and every round paid a refill and a
// flush (bench/fastpath.sh, 4 KiB batches of 64: 95 instructions per pair, not 49).
//
// The growth is out of line, behind the test that the class may still grow: a class at its
// most (8 KiB blocks, of which the bound holds 32, in batches of 64 miss on every round) then
// pays that test alone, without the registers the growth saves.
namespace {
[[gnu::noinline]] std::size_t grow_cap_to_most(ThreadCache* tc, std::size_t cls, std::size_t size,
                                               std::size_t bound, std::size_t most) noexcept {
  CacheBin bin = tc->bin(cls);
  const std::size_t batch = static_cast<std::size_t>(g.tune.cache_batch.load_relaxed());
  std::size_t want = bin.cap == 0 ? first_fill(size, batch) : 2 * static_cast<std::size_t>(bin.cap);
  if (want > most) want = most;
  std::size_t need = (want - bin.cap) * size;
  if (tc->cap_bytes + need > bound) {
    // Taking capacity from the others costs a walk over the classes and may flush: only a class
    // that keeps missing gets it, so classes of similar use do not trade it back and forth on
    // every miss. cache.bytes may also have been lowered at run time below what the thread
    // holds: then the others give back at once.
    // A class of which two batches would not fit in the bound (size > bound / (2 * batch),
    // above 4 KiB by default) only takes what is free: one batch of it already holds more than
    // half the bound, so were it to flush the others, they would flush it back on their next
    // misses, and each flush sends blocks back to the heaps and superblocks through the pool
    // (mstress, paper_notes/hoard.md; the limit used to be one batch, which let the 4-8 KiB
    // classes trade the bound with the small ones). Classes up to the limit still take, so 64
    // blocks of up to bound / 64 bytes stay cached (with the default batch of 32).
    bool may_take = 2 * size * batch <= bound && ++tc->misses[cls] >= kMissesToTake;
    if (may_take || tc->cap_bytes > bound) {
      tc->misses[cls] = 0;
      make_room(tc, cls, need);
    }
    if (tc->cap_bytes + need > bound) { // what the others did not give: take what is left
      std::size_t left = bound > tc->cap_bytes ? bound - tc->cap_bytes : 0;
      want = bin.cap + left / size;
      need = (want - bin.cap) * size;
    }
  }
  tc->cap_bytes += need;
  const std::size_t added = want - bin.cap;
  bin.room += static_cast<std::uint32_t>(added);
  bin.cap = static_cast<std::uint32_t>(want);
  return want <= batch ? added : 0;
}
} // namespace

std::size_t grow_cap(ThreadCache* tc, std::size_t cls) noexcept {
  const std::size_t size = g.classes.size_of(cls);
  const std::size_t bound = cache_bound();
  std::size_t most = kMaxBinBlocks;
  if (most > bound / size) most = bound / size;
  if (tc->caps[cls] >= most) return 0;
  return grow_cap_to_most(tc, cls, size, bound, most);
}

// Serves class cls through the thread cache (refilled at a miss, grow_cap) or straight from a heap.
void* allocate_class_slow(std::size_t cls) noexcept {
  ThreadCache* tc = thread_cache();
  count_alloc(tc);
  if (tc != nullptr) {
    follow_cache_bound(tc);
    CacheBin bin = tc->bin(cls);
    if (bin.head != nullptr) { // an aligned request reaches here with a warm bin
      void* p = bin.head;
      bin.head = next_in_class(cls, p);
      mark_in_use(p);
      ++bin.room;
      return p;
    }
    std::size_t want = grow_cap(tc, cls);
    if (bin.cap != 0) {
      if (want == 0) {
        const std::size_t batch = move_count(bin);
        want = batch < bin.cap ? batch : bin.cap;
      }
      Heap* h = acquire_heap(tc);
      void* chain = nullptr;
      std::size_t got = heap_allocate(h, cls, want, &chain);
      release_heap(h);
      if (got == 0) return nullptr;
      void* p = chain;
      bin.head = next_in_class(cls, p);
      mark_in_use(p);
      bin.room = bin.cap - static_cast<std::uint32_t>(got - 1);
      publish_cached(tc, cls);
      return p;
    }
  }
  Heap* h = acquire_heap(tc);
  void* p = nullptr;
  heap_allocate(h, cls, 1, &p);
  release_heap(h);
  if (p != nullptr) mark_in_use(p); // a chain of one: its block was linked
  return p;
}

} // namespace hoardlab::mem
