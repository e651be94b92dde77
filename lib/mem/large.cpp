#include "mem/large.h"

#include <cstdint>
#include <cstring>

#include "config/options.h"
#include "core/atomic.h"
#include "core/bits.h"
#include "core/spin_lock.h"
#include "mem/fork_held_guard.h"
#include "mem/purge_thread.h"
#include "mem/state.h"
#include "numa/placement.h"
#include "numa/topology.h"
#include "pal/pal.h"

namespace hoardlab::mem::large {

namespace {

constexpr std::uintptr_t kMagic = 0x686c6c617267ull; // "hllarg"
constexpr std::size_t kPage = pal::kPageSize;

// Pagemap: one bit per 4 KiB page of the 47-bit user address space, set on the first page of
// every live large object. Two levels, leaves (one per GiB, 32 KiB) mapped on first use, so an
// unknown pointer costs two loads to reject and nothing is ever allocated through malloc.
constexpr unsigned kLeafShift = 30;
constexpr std::size_t kTopEntries = std::size_t{1} << (47 - kLeafShift);
constexpr std::size_t kLeafWords = (std::size_t{1} << (kLeafShift - 12)) / 64;
using Leaf = core::Atomic<std::uint64_t>[kLeafWords];
constinit core::Atomic<Leaf*> g_top[kTopEntries] = {};
constinit core::SpinLock g_leaf_lock;

core::Atomic<std::uint64_t>* bit_word(std::uintptr_t a, bool create, std::uint64_t* bit) noexcept {
  std::size_t top = a >> kLeafShift;
  if (top >= kTopEntries) return nullptr;
  Leaf* leaf = g_top[top].load_acquire(); // [PM1] pairs with [PM2]
  if (leaf == nullptr) {
    if (!create) return nullptr;
    ForkHeldGuard guard(g_leaf_lock);
    leaf = g_top[top].load_acquire();
    if (leaf == nullptr) {
      leaf = static_cast<Leaf*>(pal::map(sizeof(Leaf)));
      if (leaf == nullptr) return nullptr;
      g_top[top].store_release(leaf); // [PM2] the zeroed leaf is visible before its pointer
    }
  }
  std::size_t page = (a >> 12) & ((std::size_t{1} << (kLeafShift - 12)) - 1);
  *bit = std::uint64_t{1} << (page & 63);
  return &(*leaf)[page / 64];
}

bool mark(std::uintptr_t a, bool on) noexcept {
  std::uint64_t bit = 0;
  core::Atomic<std::uint64_t>* w = bit_word(a, on, &bit);
  if (w == nullptr) return false;
  // A leaf word is shared by 64 pages: a CAS loop, on the large path only.
  std::uint64_t old = w->load_relaxed();
  for (;;) {
    std::uint64_t desired = on ? (old | bit) : (old & ~bit);
    if (w->cas_weak_acq_rel(old, desired)) return true;
  }
}

// Freed page runs kept for reuse, bounded in bytes, oldest first: the free list of a small page
// allocator. A run is any range of pages this file mapped (a whole mapping, a piece carved from
// a reservation, or a part of either); Linux unmaps, binds and reuses any page range, so a run
// need not be a mapping of its own. Runs are split to serve smaller requests and joined with
// cached neighbours when freed, so a freed 40 KiB object and its freed neighbours serve a
// 100 KiB request instead of staying cached beside a fresh mapping: in mstress (objects of
// 32-128 KiB in every size, freed in bursts) a cache that reused only mappings of about the
// asked size held 23 MiB of freed runs while mapping new ones, half the peak RSS. Each run
// remembers its logical node (its pages keep the binding they got when fresh; runs of
// different nodes are never joined) and when it was cached (the purge thread unmaps those idle
// for purge.delay_ms).
struct CacheEntry {
  char* base;
  std::size_t bytes;
  std::uint64_t since_ms;
  std::uint32_t node;
};
// 512 slots: mstress keeps a few hundred large objects live per run and frees them in bursts;
// with 32 slots most of them were unmapped on free and mapped again fresh (at 8 threads 978
// munmap and 1,046 mmap calls in a 1-second run, each munmap a TLB shootdown to every CPU the
// process runs on, about a third of the run's time in the kernel); with 512, 114 and 523. The
// byte bound (large.cache_bytes) still limits what is kept.
constexpr std::size_t kCacheSlots = 512;
// Runs unmapped per lock hold: the unmapping is done outside the lock, from a buffer on the
// stack, and a malloc or free must not take kilobytes of a thread's stack for it.
constexpr std::size_t kUnmapChunk = 16;
constinit core::SpinLock g_cache_lock;
constinit CacheEntry g_cache[kCacheSlots] = {};
constinit std::size_t g_cache_count = 0;
constinit std::size_t g_cache_bytes = 0;
constinit core::Atomic<std::size_t> g_cache_bound{32u << 20};

constinit core::Atomic<std::uint64_t> g_allocations{0};
constinit core::Atomic<std::uint64_t> g_live_bytes{0};
constinit core::Atomic<std::uint64_t> g_mapped_bytes{0};
constinit core::Atomic<std::uint64_t> g_cached_stat{0};
// Live and cached mapped bytes per logical node (relaxed counters, read as a snapshot).
constinit core::Atomic<std::uint64_t> g_node_mapped[numa::kMaxNodes] = {};

// The header's first reserved word holds the run's logical node.
std::uint32_t node_of(const Header* h) noexcept {
  return static_cast<std::uint32_t>(h->reserved[0]);
}
void count_mapped(std::uint32_t node, std::size_t bytes, bool add) noexcept {
  if (add) {
    g_mapped_bytes.fetch_add_relaxed(bytes);
    g_node_mapped[node].fetch_add_relaxed(bytes);
  } else {
    g_mapped_bytes.fetch_sub_relaxed(bytes);
    g_node_mapped[node].fetch_sub_relaxed(bytes);
  }
}

Header* header_of(const void* p) noexcept {
  return reinterpret_cast<Header*>(const_cast<char*>(static_cast<const char*>(p)) - sizeof(Header));
}

// Under g_cache_lock: removes entry i, keeping the rest oldest first.
void remove_locked(std::size_t i) noexcept {
  for (std::size_t j = i + 1; j < g_cache_count; ++j)
    g_cache[j - 1] = g_cache[j];
  --g_cache_count;
}

// Under g_cache_lock: removes the n oldest entries (the caller has copied them out and
// adjusted g_cache_bytes), keeping the rest oldest first.
void drop_oldest_locked(std::size_t n) noexcept {
  for (std::size_t i = n; i < g_cache_count; ++i)
    g_cache[i - n] = g_cache[i];
  g_cache_count -= n;
}

// Unmaps runs taken out of the cache; returns their bytes.
std::size_t unmap_entries(const CacheEntry* e, std::size_t n) noexcept {
  std::size_t released = 0;
  for (std::size_t i = 0; i < n; ++i) {
    pal::unmap(e[i].base, e[i].bytes);
    count_mapped(e[i].node, e[i].bytes, false);
    released += e[i].bytes;
  }
  return released;
}

// Under g_cache_lock: takes the first `bytes` (at most its length) of entry i, which stays
// cached in its place with the rest, or goes when nothing is left; returns where they start.
char* take_front_locked(std::size_t i, std::size_t bytes) noexcept {
  CacheEntry& e = g_cache[i];
  char* base = e.base;
  if (e.bytes == bytes) {
    remove_locked(i);
  } else {
    e.base += bytes;
    e.bytes -= bytes;
  }
  g_cache_bytes -= bytes;
  g_cached_stat.store_relaxed(g_cache_bytes);
  return base;
}

// The smallest cached run of at least `bytes` on `node` (the newest among equals: its pages
// are the likeliest to be resident and in the TLB), its first `bytes` taken and the rest left
// cached in its place; nullptr if none fits. Best fit keeps the large runs whole for large
// requests.
char* cache_take(std::size_t bytes, std::uint32_t node) noexcept {
  ForkHeldGuard guard(g_cache_lock);
  std::size_t best = g_cache_count;
  for (std::size_t i = g_cache_count; i-- > 0;) {
    const CacheEntry& e = g_cache[i];
    if (e.node != node || e.bytes < bytes) continue;
    if (best == g_cache_count || e.bytes < g_cache[best].bytes) {
      best = i;
      if (e.bytes == bytes) break;
    }
  }
  if (best == g_cache_count) return nullptr;
  return take_front_locked(best, bytes);
}

// Under g_cache_lock: joins [*base, *base + *bytes) with the cached runs of the same node that
// end where it starts or start where it ends, removing them from the cache.
void join_neighbours_locked(char** base, std::size_t* bytes, std::uint32_t node) noexcept {
  for (std::size_t i = g_cache_count; i-- > 0;) {
    const CacheEntry& e = g_cache[i];
    if (e.node != node) continue;
    if (e.base + e.bytes == *base) {
      *base = e.base;
    } else if (e.base != *base + *bytes) {
      continue;
    }
    *bytes += e.bytes;
    g_cache_bytes -= e.bytes;
    remove_locked(i); // entries above i moved down; those below i, still to be seen, did not
  }
}

// Keeps a freed run, joined with its cached neighbours, evicting the oldest runs when the slots
// or the byte bound are full: recent sizes are the likeliest to be asked for again. Full slots
// evict whole runs; the byte bound takes only the pages it needs from the last run it reaches.
// Returns false when the run, joined, alone exceeds the bound: the caller then unmaps *base and
// *bytes, which the joining may have widened. Evicted runs are unmapped outside the lock.
bool cache_put(char** base, std::size_t* bytes, std::uint32_t node) noexcept {
  std::size_t bound = g_cache_bound.load_relaxed();
  if (*bytes > bound) return false;
  bool was_empty = false;
  std::uint64_t now = purge_thread::active() ? pal::now_ms() : 0;
  bool joined = false;
  for (bool kept = false; !kept;) {
    CacheEntry evicted[kUnmapChunk];
    std::size_t n_evicted = 0;
    {
      ForkHeldGuard guard(g_cache_lock);
      if (!joined) {
        join_neighbours_locked(base, bytes, node);
        joined = true;
        if (*bytes > bound) {
          g_cached_stat.store_relaxed(g_cache_bytes);
          return false;
        }
      }
      // Past the bound, the cache is brought an eighth of the bound below it, so that the
      // frees that follow keep their runs without an munmap each.
      std::size_t total = g_cache_bytes + *bytes;
      std::size_t need = total > bound ? total - bound + bound / 8 : 0;
      std::size_t drop = 0;
      while (drop < g_cache_count && n_evicted < kUnmapChunk) {
        CacheEntry& e = g_cache[drop];
        std::size_t cut = core::round_up(need, kPage); // only whole pages go
        if (g_cache_count - drop == kCacheSlots || cut >= e.bytes) {
          evicted[n_evicted++] = e;
          g_cache_bytes -= e.bytes;
          need = need > e.bytes ? need - e.bytes : 0;
          ++drop;
        } else {
          if (cut != 0) { // the end of this run
            e.bytes -= cut;
            evicted[n_evicted++] = {e.base + e.bytes, cut, e.since_ms, e.node};
            g_cache_bytes -= cut;
          }
          break;
        }
      }
      drop_oldest_locked(drop);
      // Room now, or the chunk was not enough: unmap it and evict further.
      if (g_cache_count < kCacheSlots && g_cache_bytes + *bytes <= bound) {
        was_empty = g_cache_count == 0;
        g_cache[g_cache_count++] = {*base, *bytes, now, node};
        g_cache_bytes += *bytes;
        kept = true;
      }
      g_cached_stat.store_relaxed(g_cache_bytes);
    }
    unmap_entries(evicted, n_evicted);
  }
  // The purge thread, if it runs, unmaps what stays idle; without it (or with its queue full)
  // the cache keeps its runs up to the bound, as without the thread.
  if (was_empty && now != 0) purge_thread::post_large_cached();
  return true;
}

// Takes up to kUnmapChunk of the oldest cached runs for which `take` holds (a prefix: it
// must hold for an entry only if it holds for every older one) into out; returns how many.
template <typename Take>
std::size_t take_oldest(CacheEntry* out, Take take) noexcept {
  ForkHeldGuard guard(g_cache_lock);
  std::size_t n = 0;
  while (n < g_cache_count && n < kUnmapChunk && take(g_cache[n])) {
    out[n] = g_cache[n];
    g_cache_bytes -= g_cache[n].bytes;
    ++n;
  }
  drop_oldest_locked(n);
  g_cached_stat.store_relaxed(g_cache_bytes);
  return n;
}

// Fresh mappings up to kCarveMax are carved from kCarveChunk reservations instead of mapped
// one by one. Each carved piece is still a mapping of its own to everything else here (cached,
// unmapped with munmap of its own pages, moved by mremap, bound with mbind), since Linux maps,
// unmaps and binds any page range; only the number of mmap calls changes. That number matters
// with many threads: mmap takes the process's address-space lock for writing and waits for
// every page fault in progress, and mstress at 8 threads on 2 CPUs spent about half its kernel
// time in 500 such calls, one per fresh object (tcmalloc makes about 100 for the same run).
// A chunk's pages are not touched until carved, so the reservation costs address space only,
// and a carved piece is zero, as a fresh mapping must be for calloc. When a request does not
// fit what is left, a new chunk replaces the old and the old one's uncarved tail is unmapped.
constexpr std::size_t kCarveChunk = std::size_t{4} << 20;
constexpr std::size_t kCarveMax = kCarveChunk / 16;
constinit core::SpinLock g_carve_lock;
constinit char* g_carve_next = nullptr; // the uncarved part of the current chunk: [next, end)
constinit char* g_carve_end = nullptr;

char* carve_locked(std::size_t bytes) noexcept {
  if (static_cast<std::size_t>(g_carve_end - g_carve_next) < bytes) return nullptr;
  char* p = g_carve_next;
  g_carve_next += bytes;
  return p;
}

// A fresh page-aligned mapping of `bytes` (a multiple of the page size), or nullptr.
char* map_fresh(std::size_t bytes) noexcept {
  if (bytes > kCarveMax) return static_cast<char*>(pal::map(bytes));
  {
    ForkHeldGuard guard(g_carve_lock);
    if (char* p = carve_locked(bytes)) return p;
  }
  // Mapped outside the lock. Under an address-space limit the chunk may be refused where the
  // object alone is not: then the object is mapped alone. Nor is a chunk taken that would use
  // more than an eighth of the room the limit leaves: libstdc++'s 73 KiB emergency pool, at
  // start, took 4 MiB of a tight limit for good, and a later 4 MiB malloc found no room.
  if (const std::size_t limit = pal::address_space_limit(); limit != SIZE_MAX) {
    const std::size_t mapped = pal::address_space_mapped();
    if (limit < mapped || (limit - mapped) / 8 < kCarveChunk)
      return static_cast<char*>(pal::map(bytes));
  }
  char* chunk = static_cast<char*>(pal::map(kCarveChunk));
  if (chunk == nullptr) return static_cast<char*>(pal::map(bytes));
  char* p = nullptr;
  char* tail = nullptr;
  std::size_t tail_bytes = 0;
  {
    ForkHeldGuard guard(g_carve_lock);
    p = carve_locked(bytes); // another thread may have installed a chunk meanwhile
    if (p == nullptr) {
      tail = g_carve_next;
      tail_bytes = static_cast<std::size_t>(g_carve_end - g_carve_next);
      g_carve_next = chunk + bytes;
      g_carve_end = chunk + kCarveChunk;
      p = chunk;
      chunk = nullptr;
    }
  }
  if (chunk != nullptr) pal::unmap(chunk, kCarveChunk);
  if (tail_bytes != 0) pal::unmap(tail, tail_bytes);
  return p;
}

// Takes the first `extra` bytes of the cached run of `node` that starts at `end`
// (the end of a live object's run), so that the object grows in place; false if there is none
// or it is too short.
bool cache_extend(char* end, std::size_t extra, std::uint32_t node) noexcept {
  ForkHeldGuard guard(g_cache_lock);
  for (std::size_t i = 0; i < g_cache_count; ++i) {
    const CacheEntry& e = g_cache[i];
    if (e.base != end) continue;
    if (e.node != node || e.bytes < extra) return false;
    take_front_locked(i, extra);
    return true;
  }
  return false;
}

// A freed page run of node's: cached (joined with cached neighbours), or unmapped past the
// cache's bound.
void release_run(char* base, std::size_t bytes, std::uint32_t node) noexcept {
  if (!cache_put(&base, &bytes, node)) {
    pal::unmap(base, bytes);
    count_mapped(node, bytes, false);
  }
}

// The page run an object of `size` bytes needs: its header page, the padding up to `alignment`
// (a power of two, at least a page; install() starts the object at most `alignment` past the
// run's start), and the object, in whole pages. false when that length overflows or exceeds
// PTRDIFF_MAX (no object may be longer, so that differences of pointers into it are defined):
// alignments of 2^62 and up with sizes near SIZE_MAX, whose sum would wrap to a few pages and
// be served a run of the wrong length.
bool run_bytes(std::size_t size, std::size_t alignment, std::size_t* bytes) noexcept {
  std::size_t unrounded = 0;
  if (__builtin_add_overflow(size, alignment, &unrounded)) return false;
  if (core::round_up_overflows(unrounded, kPage)) return false;
  *bytes = core::round_up(unrounded, kPage);
  return *bytes <= static_cast<std::size_t>(PTRDIFF_MAX);
}

// Makes the page run [base, base + bytes) an object of `size` bytes at the first address past
// its header page aligned to `alignment`: writes the header, marks the pagemap, counts it.
// nullptr when the pagemap leaf cannot be mapped; the run is then unmapped.
char* install(char* base, std::size_t bytes, std::size_t size, std::size_t alignment,
              std::uint32_t node) noexcept {
  char* user = reinterpret_cast<char*>(core::round_up(core::addr(base) + kPage, alignment));
  if (!mark(core::addr(user), true)) {
    pal::unmap(base, bytes);
    count_mapped(node, bytes, false);
    return nullptr;
  }
  Header* h = header_of(user);
  h->magic = kMagic;
  h->base = base;
  h->map_bytes = bytes;
  h->usable = static_cast<std::size_t>(base + bytes - user);
  h->requested = size;
  h->reserved[0] = node;
  g_allocations.fetch_add_relaxed(1);
  g_live_bytes.fetch_add_relaxed(size);
  return user;
}

// Shrinks the object at p (its header h) to `size` bytes, no more than it has room for: the
// whole pages past its new end leave the run as a freed run of their own (cached, joined with a
// cached run that follows, or unmapped past the cache's bound), so that resident memory follows
// the live data, as after glibc's mremap. Kept, a 64 MiB object shrunk to 64 KiB held all its
// pages until freed. A later growth takes the pages back in place if they are still cached.
void shrink_in_place(Header* h, void* p, std::size_t size) noexcept {
  char* base = static_cast<char*>(h->base);
  std::size_t offset = static_cast<std::size_t>(static_cast<char*>(p) - base);
  // offset + size <= offset + usable == map_bytes, a multiple of the page: no overflow.
  std::size_t keep = core::round_up(offset + size, kPage);
  std::size_t old_requested = h->requested;
  if (keep < h->map_bytes) {
    char* tail = base + keep;
    std::size_t tail_bytes = h->map_bytes - keep;
    std::uint32_t node = node_of(h);
    h->map_bytes = keep;
    h->usable = keep - offset;
    release_run(tail, tail_bytes, node);
  }
  h->requested = size;
  g_live_bytes.fetch_add_relaxed(size);
  g_live_bytes.fetch_sub_relaxed(old_requested);
}

} // namespace

void* allocate(std::size_t size, std::size_t alignment, bool zeroed) noexcept {
  if (alignment < kPage) alignment = kPage;
  std::size_t bytes = 0;
  if (!run_bytes(size, alignment, &bytes)) return nullptr;
  // numa.policy as for superblock arenas: the mapping goes to the thread's node (local, none) or
  // round-robin over the nodes (interleave); a cached mapping is reused only on its own node.
  auto policy = numa::PlacementPolicy::kNone;
  std::uint32_t node = 0;
  if (g.nodes > 1) {
    policy = static_cast<numa::PlacementPolicy>(config::options().numa_policy);
    int n = numa::large_node(numa::current_node(), policy);
    node = n < 0 || static_cast<unsigned>(n) >= g.nodes ? 0 : static_cast<std::uint32_t>(n);
  }
  char* base = cache_take(bytes, node);
  bool fresh = false;
  if (base == nullptr) {
    base = map_fresh(bytes);
    if (base == nullptr) return nullptr;
    fresh = true;
    numa::place_large(base, bytes, static_cast<int>(node), policy); // before the first touch
    count_mapped(node, bytes, true);
  }
  char* user = install(base, bytes, size, alignment, node);
  if (user != nullptr && zeroed && !fresh) std::memset(user, 0, size);
  return user;
}

bool owns(const void* p) noexcept {
  std::uintptr_t a = core::addr(p);
  if ((a & (kPage - 1)) != 0 || a == 0) return false;
  std::uint64_t bit = 0;
  core::Atomic<std::uint64_t>* w = bit_word(a, false, &bit);
  return w != nullptr && (w->load_acquire() & bit) != 0;
}

void deallocate(void* p) noexcept {
  Header* h = header_of(p);
  if (h->magic != kMagic) return;
  h->magic = 0;
  mark(core::addr(p), false);
  g_live_bytes.fetch_sub_relaxed(h->requested);
  char* base = static_cast<char*>(h->base);
  std::size_t bytes = h->map_bytes;
  std::uint32_t node = node_of(h);
  release_run(base, bytes, node);
}

std::size_t usable_size(const void* p) noexcept {
  return header_of(p)->usable;
}

void* reallocate(void* p, std::size_t size) noexcept {
  Header* h = header_of(p);
  if (size <= h->usable) {
    shrink_in_place(h, p, size);
    return p;
  }
  std::size_t offset =
      static_cast<std::size_t>(static_cast<char*>(p) - static_cast<char*>(h->base));
  // The run keeps its start: header page and padding (offset, a multiple of the page) and the
  // object. offset is at least a page, so the copy's run below (a page and the object) is no
  // longer than this one and needs no check of its own.
  std::size_t bytes = 0;
  if (!run_bytes(size, offset, &bytes)) return nullptr;
  std::size_t old_bytes = h->map_bytes;
  void* old_base = h->base;
  std::size_t old_requested = h->requested;
  std::uint32_t node = node_of(h);
  // Growing costs what the new pages cost: a page fault each when fresh, nothing when they come
  // from the cache (they are resident). So, in order: the cached pages that follow the run (in
  // place, nothing moves); a cached run of the new size (a copy of the old bytes, cheaper than
  // faulting the new ones: realloc-grow, buffers grown by half each step to 1 MiB, spent 2 s in
  // 76,000 page faults where reused pages took a fraction of that); mremap, which moves the old
  // pages without copying and faults only the new ones.
  if (cache_extend(static_cast<char*>(old_base) + old_bytes, bytes - old_bytes, node)) {
    h->map_bytes = bytes;
    h->usable = bytes - offset;
    h->requested = size;
    g_live_bytes.fetch_add_relaxed(size);
    g_live_bytes.fetch_sub_relaxed(old_requested);
    return p;
  }
  std::size_t copy_bytes = core::round_up(size + kPage, kPage);
  if (char* run = cache_take(copy_bytes, node)) {
    if (char* user = install(run, copy_bytes, size, kPage, node)) {
      std::memcpy(user, p, h->usable); // all the old object may hold: size is beyond it
      deallocate(p);
      return user;
    }
  }
  // p's bit is cleared before the mapping may move: once mremap returns, the old range can be
  // mapped again by another thread, and clearing the bit afterwards would erase the mark of that
  // thread's new object (it would then be taken for a foreign pointer: its free ignored, its
  // realloc refused). Nobody else may use p meanwhile: the caller owns it.
  mark(core::addr(p), false);
  // The pages may have been another thread's object until its own mremap moved it away; TSan
  // does not see mremap, and pal::remap tells it ([RM1], [RM2] in pal.cpp).
  char* base = static_cast<char*>(pal::remap(old_base, old_bytes, bytes));
  if (base == nullptr) {
    (void)mark(core::addr(p), true); // its leaf exists: p was marked
    // mremap moves a range of one kernel mapping only, and a run joined in the cache from two
    // neighbours may span two; or the address space is short. A new object and a copy, then.
    void* q = allocate(size, kPage, false);
    if (q == nullptr) return nullptr;
    std::memcpy(q, p, h->usable); // all the old object may hold: size is beyond it
    deallocate(p);
    return q;
  }
  char* user = base + offset;
  // mark() fails only when a 32 KiB pagemap leaf cannot be mapped; the object then stays valid
  // but unrecorded (free and usable_size no longer recognise it), a leak, never a crash.
  (void)mark(core::addr(user), true);
  Header* nh = header_of(user);
  nh->base = base;
  nh->map_bytes = bytes;
  nh->usable = bytes - offset;
  nh->requested = size;
  // mremap keeps the mapping's memory policy: the node stays (reserved[0] moved with the header).
  count_mapped(node, bytes, true);
  count_mapped(node, old_bytes, false);
  g_live_bytes.fetch_add_relaxed(size);
  g_live_bytes.fetch_sub_relaxed(old_requested);
  return user;
}

std::size_t trim() noexcept {
  std::size_t released = 0;
  CacheEntry local[kUnmapChunk];
  while (std::size_t n = take_oldest(local, [](const CacheEntry&) { return true; }))
    released += unmap_entries(local, n);
  return released;
}

std::size_t release_idle(std::uint64_t now_ms, std::uint64_t delay_ms,
                         std::uint64_t* next_due_ms) noexcept {
  // Oldest first: the idle ones are a prefix. An entry cached before the thread ran has no
  // stamp (0) and counts as idle.
  auto idle = [&](const CacheEntry& e) { return e.since_ms + delay_ms <= now_ms; };
  std::size_t released = 0;
  CacheEntry local[kUnmapChunk];
  while (std::size_t n = take_oldest(local, idle))
    released += unmap_entries(local, n);
  {
    ForkHeldGuard guard(g_cache_lock);
    *next_due_ms = g_cache_count != 0 ? g_cache[0].since_ms + delay_ms : UINT64_MAX;
  }
  return released;
}

std::uint64_t node_mapped_bytes(unsigned node) noexcept {
  return node < numa::kMaxNodes ? g_node_mapped[node].load_relaxed() : 0;
}

Stats stats() noexcept {
  return {g_allocations.load_relaxed(), g_live_bytes.load_relaxed(), g_mapped_bytes.load_relaxed(),
          g_cached_stat.load_relaxed()};
}

void set_cache_bound(std::size_t bytes) noexcept {
  g_cache_bound.store_relaxed(bytes);
}

void fork_prepare() noexcept {
  g_leaf_lock.lock();
  g_cache_lock.lock();
  g_carve_lock.lock();
}
void fork_parent() noexcept {
  g_carve_lock.unlock();
  g_cache_lock.unlock();
  g_leaf_lock.unlock();
}
void fork_child() noexcept {
  g_carve_lock.reset_in_child();
  g_cache_lock.reset_in_child();
  g_leaf_lock.reset_in_child();
}

} // namespace hoardlab::mem::large
