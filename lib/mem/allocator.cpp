// The allocator's entry points (allocator.h): thread caches in front of the heaps, large
// objects, the bootstrap arena, init, thread exit and fork.
#include "mem/allocator.h"
#include "mem/fast_path.h"

#include <bit>
#include <cerrno>
#include <cstring>
#include <new>

#include "config/options.h"
#include "core/bits.h"
#include "mem/internal.h"
#include "mem/large.h"
#include "mem/purge_thread.h"
#include "mem/stats.h"
#include "numa/placement.h"
#include "pal/pal.h"

namespace hoardlab::mem {

constinit Globals g;

void set_holds_all(bool on) noexcept; // heap.cpp

namespace {

class ErrnoGuard {
public:
  ErrnoGuard() noexcept : saved_(errno) {}
  ~ErrnoGuard() { errno = saved_; }
  ErrnoGuard(const ErrnoGuard&) = delete;
  ErrnoGuard& operator=(const ErrnoGuard&) = delete;

private:
  int saved_;
};

// ---- thread state: a pointer and a flag (DESIGN, "TLS") ----
constexpr std::uint8_t kExiting = 1; // the cache was flushed at exit: bypass it from now on
constexpr std::uint8_t kInInit = 2;  // this thread runs init: re-entrant calls use the bootstrap

constinit const ThreadCache kSentinel{};
constinit thread_local std::uint8_t tl_flags = 0;

} // namespace

// Not file-local: lib/front inlines the cache hits (fast_path.h).
constinit thread_local ThreadCache* tl_cache = const_cast<ThreadCache*>(&kSentinel);

namespace {

// ---- bootstrap arena: serves calls made while init runs (dlsym, atfork registration) ----
constexpr std::size_t kBootBytes = 256 * 1024;
constexpr std::size_t kBootHeader = 16;
alignas(64) constinit char g_boot[kBootBytes] = {};
constinit core::Atomic<std::size_t> g_boot_next{0};

bool in_boot(const void* p) noexcept {
  return core::addr(p) - core::addr(g_boot) < kBootBytes;
}

void* boot_allocate(std::size_t size, std::size_t align) noexcept {
  if (align < 16) align = 16;
  if (size > kBootBytes || align > 4096) return nullptr;
  std::size_t old = g_boot_next.load_relaxed();
  for (;;) {
    std::size_t start = core::round_up(old + kBootHeader, align);
    std::size_t next = start + core::round_up(size == 0 ? 1 : size, 16);
    if (next > kBootBytes) return nullptr;
    if (g_boot_next.cas_weak_acq_rel(old, next)) {
      std::memcpy(g_boot + start - sizeof(std::size_t), &size, sizeof(size));
      return g_boot + start; // never reused, so it reads as zero
    }
  }
}

std::size_t boot_size(const void* p) noexcept {
  std::size_t size = 0;
  std::memcpy(&size, static_cast<const char*>(p) - sizeof(std::size_t), sizeof(size));
  return size;
}

// ---- topology ----
// The topology the allocator boots with (numa/boot: sysfs, a synthetic description, or the
// one-node fallback), callable inside malloc.
const numa::Topology& boot_topology() noexcept {
  return numa::boot_topology();
}

void on_thread_exit(void*) noexcept {
  thread_exit();
}
void on_fork_prepare() {
  fork_prepare();
}
void on_fork_parent() {
  fork_parent();
}
void on_fork_child() {
  fork_child();
}

void warn(const char* what, std::uint64_t value, const char* instead) noexcept {
  pal::Message().text("hoardlab: ").text(what).num(value).text("; using ").text(instead).emit();
}

std::size_t reserve_small_range(std::size_t sb_size, unsigned nodes, char** base) noexcept {
  // As much address space as the platform grants, from 64 GiB down: reservations cost no
  // memory, and sanitizer runtimes leave less room than a plain process. Under RLIMIT_AS a
  // reservation counts in full against the limit: start from half of what is left, so that
  // large objects, thread stacks and libraries loaded later share the other half, and go down
  // to a few superblocks per node before giving up.
  std::size_t start = std::size_t{64} << 30;
  std::size_t left = pal::address_space_left();
  if (left != SIZE_MAX && left / 2 < start) start = left / 2;
  // The pools name a superblock by a 32-bit index into this range (core::TaggedStack), so it
  // holds at most kMaxNodes superblocks: 16 TiB at S = 4 KiB, so the cap binds only if the
  // start above grows past it; the address space beyond is left unreserved.
  std::size_t nameable = static_cast<std::size_t>(SuperblockStack::kMaxNodes) * sb_size;
  if (start > nameable) start = nameable;
  std::size_t floor = std::size_t{8} * sb_size * nodes;
  for (std::size_t bytes = core::round_down(start, sb_size); bytes >= floor;
       bytes = core::round_down(bytes / 2, sb_size)) {
    void* p = pal::reserve(bytes + sb_size);
    if (p != nullptr) {
      *base = reinterpret_cast<char*>(core::round_up(core::addr(p), sb_size));
      return bytes;
    }
  }
  *base = nullptr;
  return 0;
}

void do_init() noexcept {
  config::load();
  const config::Options& o = config::options();

  std::size_t s = o.heap_superblock_size;
  if (!core::is_pow2(s) || s < 4096 || s > (std::size_t{4} << 20)) {
    warn("heap.superblock_size must be a power of two in [4KiB, 4MiB], not ", s, "64KiB");
    s = 64 * 1024;
  }
  std::size_t threshold = core::round_down(o.large_threshold, core::SizeClasses::kGranule);
  if (threshold > s / 2) {
    warn("large.threshold must be <= superblock_size/2, not ", o.large_threshold, "S/2");
    threshold = s / 2;
  }
  if (threshold > core::SizeClasses::kMaxThreshold) threshold = core::SizeClasses::kMaxThreshold;
  if (threshold < 256) threshold = 256;
  unsigned per_doubling = static_cast<unsigned>(o.sizes_classes_per_doubling);
  if (!g.classes.build(per_doubling, threshold)) {
    warn("sizes.classes_per_doubling out of range: ", per_doubling, "4");
    g.classes.build(4, threshold);
  }
  g.sb_size = s;
  g.sb_shift = core::log2_floor(s);
  g.threshold = threshold;
  for (std::size_t c = 0; c < g.classes.count(); ++c) {
    std::size_t bs = g.classes.size_of(c);
    // Every block aligned to the largest power of two dividing its size, at no cost in blocks
    // (SizeClasses::first_block_offset): aligned requests up to the threshold use superblocks.
    std::size_t off = core::SizeClasses::first_block_offset(bs, sizeof(Superblock), s);
    g.class_offset[c] = static_cast<std::uint32_t>(off);
    g.class_capacity[c] = static_cast<std::uint32_t>((s - off) / bs);
  }
  std::int64_t groups = o.heap_fullness_groups;
  g.groups = static_cast<unsigned>(
      groups < 2 ? 2 : (groups > static_cast<std::int64_t>(kMaxGroups) ? kMaxGroups : groups));
  g.mapping = o.heap_mapping;
  if (o.purge_background) purge_thread::enable(); // started at the next allocation slow path

  g.topology = &boot_topology();
  g.nodes = g.topology->nodes == 0 ? 1 : g.topology->nodes;
  g.pus = g.topology->pus == 0 ? 1 : g.topology->pus;

  unsigned heaps = o.heap_count > 0 ? static_cast<unsigned>(o.heap_count) : 2 * g.pus;
  if (static_cast<config::HeapMapping>(g.mapping) == config::HeapMapping::PerThread &&
      o.heap_count == 0 && heaps < 256)
    heaps = 256; // one per thread; heaps are built on first use, so idle ones cost no memory
  void* hm = pal::map(core::round_up(sizeof(Heap) * heaps, pal::kPageSize));
  if (hm == nullptr) heaps = 0;
  g.heaps = static_cast<Heap*>(hm);
  for (unsigned i = 0; i < heaps; ++i) {
    Heap* h = new (&g.heaps[i]) Heap();
    h->index = i;
    h->node = g.topology->pu_node[i % g.pus];
    if (h->node >= g.nodes) h->node = 0;
  }
  g.heap_count = heaps;

  char* base = nullptr;
  std::size_t bytes = heaps == 0 ? 0 : reserve_small_range(s, g.nodes, &base);
  std::size_t per_node = core::round_down(bytes / g.nodes, s);
  // Every pool stack names the superblocks of the whole range, since a heap may take a
  // superblock from another node's pool. A stack refuses a range of more than kMaxNodes
  // superblocks, which reserve_small_range never reserves; were one refused, no superblock is
  // carved (small requests fail with ENOMEM) rather than two superblocks sharing an index.
  bool named = true;
  for (unsigned n = 0; n < g.nodes; ++n) {
    Pool& p = g.pools[n];
    named = p.empty.set_range(core::addr(base), per_node * g.nodes, g.sb_shift) && named;
    for (auto& st : p.partial)
      named = st.set_range(core::addr(base), per_node * g.nodes, g.sb_shift) && named;
  }
  if (!named) {
    warn("small-object range too large for the pools' 32-bit superblock indices: bytes ",
         per_node * g.nodes, "none");
    base = nullptr;
    per_node = 0;
  }
  for (unsigned n = 0; n < g.nodes; ++n) {
    Arena& ar = g.arenas[n];
    ar.begin = ar.next = ar.committed = base == nullptr ? nullptr : base + n * per_node;
    ar.limit = ar.begin == nullptr ? nullptr : ar.begin + per_node;
    if (ar.begin != nullptr)
      numa::place_arena(ar.begin, per_node, static_cast<int>(n),
                        static_cast<numa::PlacementPolicy>(o.numa_policy));
  }
  publish_options();
  pal::thread_exit_hook_init(on_thread_exit);
  pal::register_atfork(on_fork_prepare, on_fork_parent, on_fork_child);

  g.sb_mask.store_relaxed(~(std::uintptr_t{s} - 1));
  g.small_base.store_relaxed(core::addr(base));
  g.small_size.store_relaxed(base == nullptr ? 0 : per_node * g.nodes);
}

// Classes from this size on serve calloc from a heap when the thread's bin is empty, to find
// blocks known to be zero (allocate_zeroed). Below it, clearing a block costs less than the trip
// to the heap (a try-acquire and a release) that finding a zero block takes.
constexpr std::size_t kZeroedFromHeapMin = 1024;

// ---- thread caches ----

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

// The calling thread's cache, made on first use; nullptr when the thread is exiting.
ThreadCache* thread_cache() noexcept {
  ThreadCache* tc = tl_cache;
  if (tc != &kSentinel) return tc;
  if ((tl_flags & kExiting) != 0) return nullptr;
  {
    core::SpinGuard guard(g.registry_lock);
    tc = new_cache_locked();
    if (tc == nullptr) return nullptr;
    tc->live = true;
    g.live_threads.fetch_add_relaxed(1);
  }
  // Every bin starts with no capacity; a class earns it on its first misses (grow_cap), so the
  // bound goes to the classes the thread uses. A recycled cache was flushed at its thread's exit.
  for (std::size_t c = 0; c < g.classes.count(); ++c)
    tc->caps[c] = tc->rooms[c] = tc->misses[c] = tc->published[c] = 0;
  tc->cap_bytes = 0;
  tc->published_bin_bytes = 0;
  tc->limit = g.threshold;
  tc->home = home_heap(tc);
  tl_cache = tc;
  pal::set_thread_value(tc); // after tl_cache is set: a malloc inside it finds the cache
  return tc;
}

void count_alloc(ThreadCache* tc) noexcept {
  if (tc != nullptr)
    tc->slow_allocations.add_single_writer(1);
  else
    g.orphan_allocations.fetch_add_relaxed(1);
}
void count_free(ThreadCache* tc) noexcept {
  if (tc != nullptr)
    tc->slow_frees.add_single_writer(1);
  else
    g.orphan_frees.fetch_add_relaxed(1);
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

// After a step that changed only the remote buffer.
void publish_remote(ThreadCache* tc) noexcept {
  tc->cached_bytes.store_relaxed(tc->published_bin_bytes + tc->remote_bytes);
}

config::RemotePolicy remote_policy() noexcept {
  return static_cast<config::RemotePolicy>(g.tune.remote_policy.load_relaxed());
}

// Frees p, a block of sb, without the thread cache (cache.bytes = 0, an exiting thread, or a
// block whose owner changed under a batch). When the owner heap is free, it is entered and the
// block freed there, as in Hoard; under owner-lock the owner heap is always waited for (Hoard
// 2000). Otherwise the block is sent lock-free: onto its superblock's list, or, under heap-queue,
// as a one-block message to the owner. A block of another heap than the thread's counts in
// remote_frees_sent, and in remote_frees_drained once back in its superblock: here at once when
// the owner heap was entered, else when the owner drains it. (Counting only the lock-free sends
// made cross-thread frees read 0 without a cache, since the owner heap is usually free.)
void free_direct(ThreadCache* tc, Superblock* sb, void* p) noexcept {
  const config::RemotePolicy policy = remote_policy();
  const bool wait = policy == config::RemotePolicy::OwnerLock;
  Heap* home = tc != nullptr ? tc->home : nullptr;
  for (;;) {
    Heap* o = sb->owner.load_acquire(); // [OW2]
    if (o == nullptr) break;
    if (wait) {
      acquire_specific(o);
    } else if (o->try_acquire()) {
      enter_heap(o);
    } else {
      break;
    }
    if (sb->owner.load_relaxed() == o) {
      heap_free_local(o, sb, p);
      if (o != home) {
        count_remote(tc, 1);
        o->remote_drained.add_single_writer(1);
      }
      enforce_invariant(o);
      release_heap(o);
      return;
    }
    release_heap(o);
    if (!wait) break;
  }
  count_remote(tc, 1);
  count_batches(tc, 1);
  Heap* o = sb->owner.load_acquire(); // [OW2]
  if (policy == config::RemotePolicy::HeapQueue && o != nullptr) {
    *static_cast<void**>(p) = nullptr;
    send_message(o, p, 1, sb->block_size);
    return;
  }
  push_remote(sb, p, p, 1);
}

// The runs of one send_remote, in a table keyed on the destination: one probe per block in the
// common case, where a linear search over the runs cost a compare per run and, capped at a few
// runs, delivered early whenever a buffer spanned more superblocks than that. A destination whose
// home slot holds another one probes the next kProbes - 1 slots (linear probing) for its own run
// or a free slot; only when all of them hold other destinations is the run in the home slot
// delivered early and the new one started there. Without the probing, two superblocks a multiple
// of kSlots * S apart, freed alternately, cost one push per block. `used` lists the slots taken,
// in order, for the final delivery. Arrays by field, not an array of runs: each access is one
// addressing mode (a 40-byte record cost two address computations per block).
struct RemoteRuns {
  static constexpr std::size_t kSlots = 64; // a power of two
  static constexpr std::size_t kProbes = 8; // slots tried from the home slot on
  void* to[kSlots] = {}; // a Superblock* (in the small range) or a Heap*; nullptr: slot free
  void* first[kSlots];
  void* last[kSlots];
  std::size_t n[kSlots];
  std::size_t bytes[kSlots]; // by owner only: a superblock's run is n * block_size
  std::uint8_t used[kSlots];
  std::size_t nused = 0;

  // A superblock's slot is its address in units of S, modulo kSlots: superblocks are carved from
  // the arenas in order, so 64 neighbours never collide. Heaps (64-byte aligned, low bits empty)
  // are spread by Fibonacci hashing.
  static std::size_t slot_of_superblock(const void* sb, unsigned sb_shift) noexcept {
    return (core::addr(sb) >> sb_shift) & (kSlots - 1);
  }
  static std::size_t slot_of_heap(const void* h) noexcept {
    return static_cast<std::size_t>((core::addr(h) * 0x9e3779b97f4a7c15ull) >>
                                    (64 - std::countr_zero(kSlots)));
  }

  // Where a block bound for `to` goes, given its home slot r, which holds another destination:
  // the slot of to's run, or else a free slot, among the kProbes from r on; r itself when all of
  // them hold other destinations (its run is then delivered early). Out of line: the home slot
  // serves almost every block.
  __attribute__((noinline)) std::size_t probe(std::size_t r, const void* dest) const noexcept {
    for (std::size_t i = 1; i < kProbes; ++i) {
      const std::size_t s = (r + i) & (kSlots - 1);
      if (to[s] == dest || to[s] == nullptr) return s;
    }
    return r;
  }
};

// Sends a chain of blocks (nullptr-terminated) that the calling thread freed and that other heaps
// own, to their owners under the current remote.policy. One grouping serves the three policies:
// blocks are gathered into runs by destination (a superblock under superblock-list; the owner
// heap under heap-queue and owner-lock, the superblock when it is pooled), each run then goes as
//  - superblock-list: one pre-linked chain pushed onto the superblock's list (one CAS);
//  - heap-queue: one message onto the owner's queue, whatever superblocks of it the run spans;
//  - owner-lock: freed under the owner heap's lock, entered once for the run (Hoard 2000).
// A block whose owner changed between the grouping and the delivery under the lock goes through
// free_direct.
void send_remote(ThreadCache* tc, void* chain) noexcept {
  if (chain == nullptr) return;
  const config::RemotePolicy policy = remote_policy();
  RemoteRuns runs;
  std::size_t sent = 0;
  std::size_t batches = 0;
  void* stale = nullptr; // owner-lock: blocks whose superblock changed owner meanwhile

  auto deliver = [&](std::size_t r) {
    if (in_small_range(runs.to[r])) {
      push_remote(static_cast<Superblock*>(runs.to[r]), runs.first[r], runs.last[r], runs.n[r]);
      sent += runs.n[r];
      ++batches;
      return;
    }
    Heap* o = static_cast<Heap*>(runs.to[r]);
    *static_cast<void**>(runs.last[r]) = nullptr;
    if (policy == config::RemotePolicy::HeapQueue) {
      send_message(o, runs.first[r], runs.n[r], runs.bytes[r]);
      sent += runs.n[r];
      ++batches;
      return;
    }
    acquire_specific(o);
    std::size_t freed = 0;
    for (void* p = runs.first[r]; p != nullptr;) {
      void* next = *static_cast<void**>(p);
      Superblock* sb = superblock_of(p);
      if (sb->owner.load_relaxed() == o) {
        heap_free_local(o, sb, p);
        ++freed;
      } else {
        *static_cast<void**>(p) = stale;
        stale = p;
      }
      p = next;
    }
    o->remote_drained.add_single_writer(freed);
    enforce_invariant(o);
    release_heap(o);
    sent += freed;
  };
  // p starts a run to `to` in slot r, delivering the run there first.
  auto start_run = [&](std::size_t r, void* to, void* p) {
    if (runs.to[r] != nullptr)
      deliver(r);
    else
      runs.used[runs.nused++] = static_cast<std::uint8_t>(r);
    runs.to[r] = to;
    *static_cast<void**>(p) = nullptr;
    runs.first[r] = runs.last[r] = p;
    runs.n[r] = 1;
  };

  if (policy == config::RemotePolicy::SuperblockList) {
    // The common case, kept to a few instructions per block: no owner load, no byte count.
    // Both fixed since init; read once, since the stores through the blocks could alias them.
    const std::uintptr_t mask = g.sb_mask.load_relaxed();
    const unsigned shift = g.sb_shift;
    while (chain != nullptr) {
      void* p = chain;
      chain = *static_cast<void**>(p);
      void* sb = reinterpret_cast<void*>(core::addr(p) & mask);
      std::size_t r = RemoteRuns::slot_of_superblock(sb, shift);
      if (runs.to[r] != sb && runs.to[r] != nullptr) r = runs.probe(r, sb);
      if (runs.to[r] == sb) {
        *static_cast<void**>(p) = runs.first[r];
        runs.first[r] = p;
        ++runs.n[r];
      } else {
        start_run(r, sb, p);
      }
    }
  } else {
    while (chain != nullptr) {
      void* p = chain;
      chain = *static_cast<void**>(p);
      Superblock* sb = superblock_of(p);
      void* to = sb;
      std::size_t r = 0;
      if (Heap* o = sb->owner.load_acquire()) { // [OW2]
        to = o;
        r = RemoteRuns::slot_of_heap(o);
      } else {
        r = RemoteRuns::slot_of_superblock(sb, g.sb_shift);
      }
      if (runs.to[r] != to && runs.to[r] != nullptr) r = runs.probe(r, to);
      if (runs.to[r] == to) {
        *static_cast<void**>(p) = runs.first[r];
        runs.first[r] = p;
        ++runs.n[r];
        runs.bytes[r] += sb->block_size;
      } else {
        start_run(r, to, p);
        runs.bytes[r] = sb->block_size;
      }
    }
  }
  for (std::size_t i = 0; i < runs.nused; ++i)
    deliver(runs.used[i]);
  count_remote(tc, sent);
  count_batches(tc, batches);
  while (stale != nullptr) {
    void* p = stale;
    stale = *static_cast<void**>(p);
    free_direct(tc, superblock_of(p), p);
  }
}

// Sends the remote buffer (C2) to the blocks' owners.
void flush_remote(ThreadCache* tc) noexcept {
  void* chain = tc->remote_head;
  if (chain == nullptr) return;
  tc->remote_head = nullptr;
  tc->remote_count = 0;
  tc->remote_bytes = 0;
  send_remote(tc, chain);
  publish_remote(tc);
}

// A free of a block that another heap owns (C2): kept out of the bins, buffered, and sent in
// batches of remote.batch blocks (or cache.bytes / 4 bytes, so that a few large blocks are not
// held back long), grouped per destination by send_remote. The C library's free does this inline
// in its first out-of-line function (buffer_remote_hit, fast_path.h); this serves the other
// callers of deallocate.
void buffer_remote(ThreadCache* tc, Superblock* sb, void* p, std::uint64_t bound) noexcept {
  if (append_remote(tc, sb, p, bound)) flush_remote(tc);
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
    next = *static_cast<void**>(p);
    Superblock* sb = superblock_of(p);
    if (sb == run_sb) { // the run is a stretch of the bin's list: already linked
      run_last = p;
      ++run_n;
      continue;
    }
    if (run_sb != nullptr) heap_free_run(h, run_sb, run_first, run_last, run_n);
    run_sb = nullptr;
    if (sb->owner.load_relaxed() != h) {
      *static_cast<void**>(p) = others;
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

// ---- per-class capacity (C1: sum_c cap_c * size_c <= cache.bytes) ----
//
// A class's capacity adapts to its use, as tcmalloc's and jemalloc's per-class counts do: it
// starts at 0, and each miss (an allocation finding the bin empty, a free finding it full)
// doubles it, from the refill batch up to kMaxBinBlocks, and never beyond what the whole bound
// holds of that class. So a thread that works through 64 blocks at a time keeps all of them
// cached, whatever their size up to cache.bytes / 64, and one that keeps thousands of small
// blocks live keeps them out of the heap (threadtest: 5,000 blocks of 16 bytes per thread at 8
// threads). The capacity used to stop at 4 batches (128 blocks): every block of such a thread
// then went through a refill and a flush, about 45 instructions per malloc+free on top of the
// fast path's 49. Capacity for a growing class is taken from the
// others: first what they do not use (cap lowered to count, no block moves), then, if still
// short, their blocks (flushed to the heaps, cap 0). The bound is on capacity, so the bytes a
// thread caches never exceed cache.bytes however the capacity moves.

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

// A miss on class cls: doubles its capacity within the bound (see above).
void grow_cap(ThreadCache* tc, std::size_t cls) noexcept {
  CacheBin bin = tc->bin(cls);
  const std::size_t size = g.classes.size_of(cls);
  const std::size_t bound = cache_bound();
  const std::size_t batch = static_cast<std::size_t>(g.tune.cache_batch.load_relaxed());
  std::size_t most = kMaxBinBlocks;
  if (most > bound / size) most = bound / size;
  if (bin.cap >= most) return;
  std::size_t want = bin.cap == 0 ? batch : 2 * static_cast<std::size_t>(bin.cap);
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
  bin.room += static_cast<std::uint32_t>(want - bin.cap);
  bin.cap = static_cast<std::uint32_t>(want);
}

// Serves class cls through the thread cache (refilled by a batch) or straight from a heap.
void* allocate_class_slow(std::size_t cls) noexcept {
  ThreadCache* tc = thread_cache();
  count_alloc(tc);
  if (tc != nullptr) {
    CacheBin bin = tc->bin(cls);
    if (bin.head != nullptr) { // an aligned request reaches here with a warm bin
      void* p = bin.head;
      bin.head = *static_cast<void**>(p);
      ++bin.room;
      return p;
    }
    grow_cap(tc, cls);
    if (bin.cap != 0) {
      std::size_t batch = move_count(bin);
      std::size_t want = batch < bin.cap ? batch : bin.cap;
      Heap* h = acquire_heap(tc);
      void* chain = nullptr;
      std::size_t got = heap_allocate(h, cls, want, &chain);
      release_heap(h);
      if (got == 0) return nullptr;
      void* p = chain;
      bin.head = *static_cast<void**>(p);
      bin.room = bin.cap - static_cast<std::uint32_t>(got - 1);
      publish_cached(tc, cls);
      return p;
    }
  }
  Heap* h = acquire_heap(tc);
  void* p = nullptr;
  heap_allocate(h, cls, 1, &p);
  release_heap(h);
  return p;
}

// Kept out of line: inlined, it would give the fast path a stack frame.
__attribute__((noinline)) void* allocate_slow(std::size_t size) noexcept {
  if (!ensure_init()) return boot_allocate(size, 16);
  purge_thread::maybe_start(); // no allocator lock is held here (purge_thread.h)
  if (size > g.threshold) {
    count_alloc(nullptr);
    return large::allocate(size, 0, false);
  }
  return allocate_class_slow(g.classes.class_of(size));
}

// Kept out of line: inlined, it would give the fast path a stack frame.
__attribute__((noinline)) void free_small_slow(Superblock* sb, void* p) noexcept {
  ErrnoGuard keep; // free preserves errno; the fast path never touches it
  ThreadCache* tc = thread_cache();
  count_free(tc);
  if (tc != nullptr && sb->owner.load_relaxed() != tc->home) { // C2: into the bins if kept
    if (const std::uint64_t bound = cache_bound(); bound != 0) {
      if (!keep_remote(tc, sb, p)) buffer_remote(tc, sb, p, bound);
      return;
    }
    flush_remote(tc); // cache.bytes was set to 0 at run time: nothing stays buffered
  } else if (tc != nullptr) {
    CacheBin bin = tc->bin(sb->cls);
    grow_cap(tc, sb->cls);
    if (bin.cap != 0) {
      if (bin.room == 0) { // no capacity gained: make room
        std::size_t batch = move_count(bin);
        flush(tc, sb->cls, batch < bin.count() ? batch : bin.count());
      }
      *static_cast<void**>(p) = bin.head;
      bin.head = p;
      --bin.room;
      return;
    }
  }
  free_direct(tc, sb, p);
}

// Kept out of line: inlined, it would give the fast path a stack frame.
__attribute__((noinline)) void free_other(void* p) noexcept {
  ErrnoGuard keep;
  if (p == nullptr || in_boot(p)) return; // bootstrap blocks are never reused
  if (large::owns(p)) {
    count_free(nullptr);
    large::deallocate(p);
    return;
  }
  // Verbosity first: general.verbose may be raised at run time, and the one report is kept
  // for a process that asks for it.
  if (g.tune.verbose.load_relaxed() >= 1 && g.reported_foreign.exchange_relaxed(1) == 0)
    pal::Message().text("hoardlab: free of a pointer it does not own: ").hex(core::addr(p)).emit();
}

#ifdef HOARDLAB_CHECKED
// A pointer in the small range that is not a block start of a formatted superblock.
bool bad_small_pointer(const Superblock* sb, const void* p) noexcept {
  return misplaced_block(sb, p) != nullptr;
}
#endif

} // namespace

__attribute__((noinline)) void send_remote_buffer(ThreadCache* tc) noexcept {
  ErrnoGuard keep; // free preserves errno; a send may enter heaps and give memory back
  flush_remote(tc);
}

bool ensure_init() noexcept {
  if (g.state.load_acquire() == kStateReady) return true;
  int expected = kStateUninit;
  if (g.state.cas_strong_acq_rel(expected, kStateIniting)) {
    tl_flags |= kInInit;
    do_init();
    tl_flags &= static_cast<std::uint8_t>(~kInInit);
    g.state.store_release(kStateReady);
    return true;
  }
  if ((tl_flags & kInInit) != 0) return false;
  while (g.state.load_acquire() != kStateReady)
    pal::yield();
  return true;
}

Owner owner_of(const void* p) noexcept {
  if (in_small_range(p)) return Owner::kOurs;
  if (in_boot(p)) return Owner::kBootstrap;
  if (large::owns(p)) return Owner::kOurs;
  return Owner::kForeign;
}

void* allocate(std::size_t size) noexcept {
  if (void* p = allocate_hit(size)) return p;
  return allocate_slow(size);
}

void* allocate_zeroed(std::size_t size) noexcept {
  if (!ensure_init()) return boot_allocate(size, 16); // never reused: reads as zero
  if (size > g.threshold) {
    count_alloc(nullptr);
    return large::allocate(size, 0, true);
  }
  std::size_t cls = g.classes.class_of(size);
  if (g.classes.size_of(cls) >= kZeroedFromHeapMin) {
    // With the bin empty, one block straight from a heap: taken from a superblock's never-used
    // bump region it is known to be zero (Z1) and is not cleared, so its pages stay untouched
    // until the caller writes them. A cached block is reused memory: it is cleared below.
    ThreadCache* tc = thread_cache();
    if (tc == nullptr || tc->bin(cls).head == nullptr) {
      count_alloc(tc);
      Heap* h = acquire_heap(tc);
      bool zero = false;
      void* p = heap_allocate_zeroed(h, cls, &zero);
      release_heap(h);
      if (p != nullptr && !zero) std::memset(p, 0, size);
      return p;
    }
  }
  void* p = allocate(size);
  if (p != nullptr && !in_boot(p)) std::memset(p, 0, size);
  return p;
}

void* allocate_aligned(std::size_t alignment, std::size_t size) noexcept {
  if (alignment <= core::SizeClasses::kGranule) return allocate(size);
  if (!ensure_init()) return boot_allocate(size, alignment);
  if (alignment <= g.threshold && size <= g.threshold) {
    // A class whose size is a multiple of the alignment has every block aligned to it (do_init).
    // Up to the threshold such a class exists for every power of two with the default spacing;
    // where none does (coarse spacings skip some powers of two), the page-run path serves it.
    std::size_t cls = g.classes.class_of_aligned(size < alignment ? alignment : size, alignment);
    if (cls < g.classes.count()) return allocate_class_slow(cls);
  }
  count_alloc(nullptr);
  return large::allocate(size, alignment, false);
}

void deallocate(void* p) noexcept {
  if (deallocate_hit(p)) return; // never taken in the checked build
  if (in_small_range(p)) {
    Superblock* sb = superblock_of(p);
    // general.checked: the caches are off (publish_options), so every free of a small block
    // comes here and is checked against the block's state (checked.cpp).
    if (g.tune.checked.load_relaxed() && checked_free(sb, p)) return;
#ifdef HOARDLAB_CHECKED
    if (bad_small_pointer(sb, p)) {
      pal::Message().text("hoardlab: invalid free of ").hex(core::addr(p)).emit();
      return;
    }
    ThreadCache* tc = tl_cache;
    CacheBin bin = tc->bin(sb->cls);
    if (sb->owner.load_relaxed() == tc->home && bin.room != 0) {
      *static_cast<void**>(p) = bin.head;
      bin.head = p;
      --bin.room;
      tc->cached_frees.add_single_writer(1);
      return;
    }
#endif
    free_small_slow(sb, p);
    return;
  }
  free_other(p);
}

void deallocate_sized(void* p, std::size_t size_hint) noexcept {
  // The hint is not trusted (deletes through a base class pass the wrong size): the block's own
  // superblock or header decides.
  (void)size_hint;
  deallocate(p);
}

std::size_t usable_size(const void* p) noexcept {
  if (p == nullptr) return 0;
  if (in_small_range(p)) return superblock_of(p)->block_size;
  if (in_boot(p)) return boot_size(p);
  if (large::owns(p)) return large::usable_size(p);
  return 0;
}

void* reallocate(void* p, std::size_t size) noexcept {
  std::size_t old = usable_size(p);
  if (in_small_range(p)) {
    // Stay in place when the block fits and is not more than twice what is needed.
    if (size <= old && (size > old / 2 || old <= 64)) return p;
  } else if (!in_boot(p) && size > g.threshold) {
    return large::reallocate(p, size);
  }
  void* q = allocate(size);
  if (q == nullptr) return nullptr;
  std::memcpy(q, p, size < old ? size : old);
  deallocate(p);
  return q;
}

void thread_exit() noexcept {
  ThreadCache* tc = tl_cache;
  tl_flags |= kExiting;
  if (tc == &kSentinel) return;
  flush_all(tc);
  flush_remote(tc);
  tl_cache = const_cast<ThreadCache*>(&kSentinel);
  core::SpinGuard guard(g.registry_lock);
  tc->live = false;
  tc->next_free = g.free_caches;
  g.free_caches = tc;
  g.live_threads.fetch_sub_relaxed(1);
}

void fork_prepare() noexcept {
  if (g.state.load_acquire() != kStateReady) return;
  // First: a purge thread being started may still allocate inside pthread_create.
  purge_thread::fork_prepare();
  // The forking thread's remote buffer goes to its owners first (this may enter heaps, so before
  // they are all taken); other threads' buffers are leaked in the child with their caches.
  if (tl_cache != &kSentinel) flush_remote(tl_cache);
  config::lock_options(); // the options record: see config/options.cpp, "Protocol"
  g.registry_lock.lock();
  for (unsigned i = 0; i < g.heap_count; ++i)
    while (!g.heaps[i].try_acquire())
      pal::yield();
  for (unsigned n = 0; n < g.nodes; ++n)
    g.arenas[n].lock.lock();
  large::fork_prepare();
  purge_fork_prepare();
  // Other libraries' prepare handlers run after ours and may allocate: this thread keeps using
  // the heaps it now holds.
  set_holds_all(true);
}

void fork_parent() noexcept {
  if (g.state.load_acquire() != kStateReady) return;
  set_holds_all(false);
  purge_thread::fork_parent();
  purge_fork_release();
  large::fork_parent();
  for (unsigned n = 0; n < g.nodes; ++n)
    g.arenas[n].lock.unlock();
  for (unsigned i = 0; i < g.heap_count; ++i)
    g.heaps[i].release_lock();
  g.registry_lock.unlock();
  config::unlock_options();
}

void fork_child() noexcept {
  if (g.state.load_acquire() != kStateReady) return;
  set_holds_all(false);
  purge_thread::fork_child();
  purge_fork_release();
  large::fork_child();
  for (unsigned n = 0; n < g.nodes; ++n)
    g.arenas[n].lock.reset_in_child();
  for (unsigned i = 0; i < g.heap_count; ++i)
    g.heaps[i].release_lock();
  // Only the forking thread survives; the caches of the others are leaked (their blocks stay
  // counted as in use).
  g.live_threads.store_relaxed(tl_cache != &kSentinel ? 1 : 0);
  g.registry_lock.reset_in_child();
  config::reset_options_lock_in_child();
}

bool trim(std::size_t pad) noexcept {
  (void)pad;
  if (g.state.load_acquire() != kStateReady) return false;
  ThreadCache* tc = tl_cache;
  if (tc != &kSentinel) {
    flush_all(tc);
    flush_remote(tc);
  }
  for (unsigned i = 0; i < g.heap_count; ++i) {
    Heap* h = &g.heaps[i];
    acquire_specific(h);
    heap_collect(h);
    release_heap(h);
  }
  std::size_t released = purge_pools();
  released += large::trim();
  return released != 0;
}

// ---- stats (stats.h) ----

void stats_total(TotalStats* out) noexcept {
  *out = TotalStats{};
  if (g.state.load_acquire() != kStateReady) return;
  TotalStats& t = *out;
  for (ThreadCache* tc = g.all_caches.load_acquire(); tc != nullptr;
       tc = tc->next_all.load_relaxed()) {
    std::uint64_t hits = tc->hits.load_relaxed();
    t.cache_hits += hits;
    t.allocations += hits + tc->slow_allocations.load_relaxed();
    t.frees += tc->cached_frees.load_relaxed() + tc->slow_frees.load_relaxed();
    t.remote_frees_sent += tc->remote_sent.load_relaxed();
    t.remote_batches_sent += tc->remote_batches.load_relaxed();
    t.heap_pass_overs += tc->pass_overs.load_relaxed();
    t.cached_bytes += tc->cached_bytes.load_relaxed();
  }
  t.allocations += g.orphan_allocations.load_relaxed();
  t.frees += g.orphan_frees.load_relaxed();
  t.remote_frees_sent += g.orphan_remote_sent.load_relaxed();
  t.remote_batches_sent += g.orphan_remote_batches.load_relaxed();
  t.heap_pass_overs += g.orphan_pass_overs.load_relaxed();
  std::uint64_t u = 0;
  std::uint64_t a = 0;
  for (unsigned i = 0; i < g.heap_count; ++i) {
    Heap& h = g.heaps[i];
    t.remote_frees_drained += h.remote_drained.load_relaxed();
    t.superblocks_to_pool += h.to_pool.load_relaxed();
    t.superblocks_from_pool += h.from_pool.load_relaxed();
    u += h.pub_u.load_relaxed();
    a += h.pub_a.load_relaxed();
  }
  t.remote_frees_drained += g.pooled_remote_drained.load_relaxed();
  std::uint64_t pool_sb = 0;
  std::uint64_t mapped = 0;
  for (unsigned n = 0; n < g.nodes; ++n) {
    std::int64_t c = g.pools[n].superblocks.load_relaxed();
    pool_sb += c > 0 ? static_cast<std::uint64_t>(c) : 0;
    mapped += g.arenas[n].committed_bytes.load_relaxed();
  }
  large::Stats ls = large::stats();
  t.large_allocations = ls.allocations;
  t.large_cached_bytes = ls.cached_bytes;
  purge_thread::Stats ps = purge_thread::stats();
  t.background_purged_bytes = ps.superblock_bytes + ps.large_bytes;
  t.bytes_in_use = u + ls.live_bytes;
  t.pool_bytes = pool_sb * g.sb_size;
  t.bytes_held = a + t.pool_bytes + ls.mapped_bytes;
  t.os_bytes_mapped = mapped + ls.mapped_bytes;
  t.os_bytes_purged = g.purged_bytes.load_relaxed();
  std::int64_t pending = g.pending_bytes.load_relaxed();
  t.pending_bytes = pending > 0 ? static_cast<std::uint64_t>(pending) : 0;
  // The peak is sampled here and never decreases.
  std::uint64_t peak = g.peak_in_use.load_relaxed();
  while (t.bytes_in_use > peak && !g.peak_in_use.cas_weak_acq_rel(peak, t.bytes_in_use)) {
  }
  t.peak_bytes_in_use = t.bytes_in_use > peak ? t.bytes_in_use : peak;
  t.heaps = g.heap_count;
  t.nodes = g.nodes;
  t.superblock_size = g.sb_size;
}

bool stats_heap(std::uint32_t index, HeapStats* out) noexcept {
  if (g.state.load_acquire() != kStateReady || index >= g.heap_count) return false;
  Heap& h = g.heaps[index];
  *out = HeapStats{h.allocations.load_relaxed(),
                   h.frees.load_relaxed(),
                   h.remote_drained.load_relaxed(),
                   h.pub_u.load_relaxed(),
                   h.pub_a.load_relaxed(),
                   h.pub_superblocks.load_relaxed(),
                   h.node,
                   static_cast<std::uint32_t>(h.pub_partial_classes.load_relaxed())};
  return true;
}

bool stats_node(std::uint32_t index, NodeStats* out) noexcept {
  ensure_init();
  if (index >= g.nodes) return false;
  NodeStats s{};
  std::int64_t pool = g.pools[index].superblocks.load_relaxed();
  s.superblocks_held = pool > 0 ? static_cast<std::uint64_t>(pool) : 0;
  for (unsigned i = 0; i < g.heap_count; ++i) {
    if (g.heaps[i].node != index) continue;
    s.superblocks_held += g.heaps[i].pub_superblocks.load_relaxed();
    s.local_allocations += g.heaps[i].allocations.load_relaxed();
  }
  s.remote_allocations = g.remote_allocations[index].load_relaxed();
  s.cross_node_remote_frees = g.cross_node_remote_frees[index].load_relaxed();
  numa::NodePlacement np = numa::node_placement(static_cast<int>(index));
  s.bytes_placed = g.arenas[index].committed_bytes.load_relaxed() + large::node_mapped_bytes(index);
  s.os_node = np.os_node;
  s.bound = np.bound ? 1 : 0;
  *out = s;
  return true;
}

const char* topology_source() noexcept {
  ensure_init();
  switch (g.topology->source) {
  case numa::Source::kFallback:
    return "fallback";
  case numa::Source::kSysfs:
    return "sysfs";
  case numa::Source::kSynthetic:
    return "synthetic";
  case numa::Source::kHwloc:
    return "hwloc";
  case numa::Source::kHwlocXml:
    return "hwloc-xml";
  }
  return "fallback";
}

int check_invariants() noexcept {
  if (g.state.load_acquire() != kStateReady) return 0;
  int bad = 0;
  for (unsigned i = 0; i < g.heap_count; ++i) {
    Heap* h = &g.heaps[i];
    acquire_specific(h);
    bad += check_heap(h, true); // acquire_specific has just drained and enforced
    release_heap(h);
  }
  for (unsigned n = 0; n < g.nodes; ++n) {
    Pool& p = g.pools[n];
    if (p.empty_count.load_relaxed() < 0 || p.superblocks.load_relaxed() < 0) {
      ++bad;
      pal::Message()
          .text("hoardlab: invariant violated in pool ")
          .num(n)
          .text(": P1 negative count")
          .emit();
    }
  }
  return bad;
}

BoundSample sample_bound() noexcept {
  BoundSample s{};
  if (g.state.load_acquire() != kStateReady) return s;
  double f = g.tune.emptiness_f.load_relaxed();
  std::size_t k = g.tune.emptiness_k.load_relaxed();
  for (unsigned i = 0; i < g.heap_count; ++i) {
    Heap* h = &g.heaps[i];
    acquire_specific(h);
    s.held += h->a;
    if (h->a != 0) ++s.heaps_used;
    s.bound += heap_bound(h, k, f);
    release_heap(h);
  }
  return s;
}

} // namespace hoardlab::mem
