// The allocator's entry points (allocator.h): thread caches in front of the heaps, large
// objects above the threshold, the bootstrap arena during init.
#include "mem/allocator.h"
#include "mem/fast_path.h"

#include <cerrno>
#include <cstring>

#include "core/bits.h"
#include "mem/internal.h"
#include "mem/large.h"
#include "mem/purge_thread.h"
#include "pal/pal.h"

namespace hoardlab::mem {

constinit Globals g;

namespace {

// Large objects in use at their usable size, in the allocating thread's record (LargeInUse,
// state.h): counts p and names the record in its header. Inline: once per large malloc and free.
// A realloc counts the new object before the old one leaves, so that the peak is never low.
inline void count_large_added(void* p, std::uint64_t bytes) noexcept {
  ThreadCache* tc = tl_cache;
  if (tc == &kSentinel) {
    large::set_counter(p, 0);
    raise_shared_peak(g.large_orphan.peak, g.large_orphan.bytes.fetch_add_relaxed(bytes) + bytes);
    return;
  }
  large::set_counter(p, core::addr(tc));
  const std::uint64_t own = tc->large_own.load_relaxed() + bytes;
  tc->large_own.store_relaxed(own);
  const std::uint64_t now = own - tc->large_remote.load_relaxed();            // LU1: no wrap
  if (now > tc->large_peak.load_relaxed()) tc->large_peak.store_relaxed(now); // LU2
}
// The object whose counter word (large::counter_of, read before its run was released) is
// `counter` leaves use.
inline void count_large_removed(std::uintptr_t counter, std::uint64_t bytes) noexcept {
  if (counter == 0) {
    g.large_orphan.bytes.fetch_sub_relaxed(bytes);
    return;
  }
  auto* owner = reinterpret_cast<ThreadCache*>(counter);
  if (owner == tl_cache)
    owner->large_own.store_relaxed(owner->large_own.load_relaxed() - bytes);
  else
    owner->large_remote.fetch_add_relaxed(bytes);
}

// A large object, counted in use at its usable size (stats.cpp). A refusal the address-space
// limit explains is said once (a request larger than the limit is refused for its size alone).
// Inline: a call of its own was 22 of a large malloc/free pair's instructions.
[[gnu::always_inline]] inline void* allocate_large(std::size_t size, std::size_t alignment,
                                                   bool zeroed) noexcept {
  void* p = large::allocate(size, alignment, zeroed);
  if (p != nullptr)
    count_large_added(p, large::usable_size(p));
  else if (size < pal::address_space_limit())
    report_address_space_refusal("a large object", size);
  return p;
}

// The calling thread's cache if it has one, for counting a large allocation or free: its own
// counters are plain adds, where the orphan counters are a locked add on a line all threads write.
ThreadCache* counting_cache() noexcept {
  return tl_cache != &kSentinel ? tl_cache : nullptr;
}

// A small request for which no superblock could be had: the small range could not be reserved
// or grown (RLIMIT_AS, or an address space full of other mappings), and no heap or pool had one.
// Served as a page run, as a large object is: a header page and a page at least for each, so only
// as a last resort, but a program under a tight limit keeps running on what the limit leaves
// (under `prlimit --as=8M` a preloaded program has about 32 KiB of room: not enough for one
// aligned superblock, enough for a few runs). free, realloc and malloc_usable_size know such a
// block as a large object by its pagemap mark. Said once; every later request tries the
// superblocks first, so small objects go back to superblocks as soon as one can be had.
[[gnu::cold]] void* allocate_small_as_run(std::size_t size, std::size_t alignment,
                                          bool zeroed) noexcept {
  static constinit core::Atomic<bool> said{false};
  if (!said.exchange_relaxed(true))
    pal::Message()
        .text("hoardlab: no superblock can be had for small requests; they are served as page "
              "runs, a page or more each, until one can (said once)")
        .emit();
  count_alloc(counting_cache()); // freed as a large object, counted as one
  return allocate_large(size, alignment, zeroed);
}

// Classes from this size on serve calloc from a heap when the thread's bin is empty, to find
// blocks known to be zero (allocate_zeroed). Below it, clearing a block costs less than the trip
// to the heap (a try-acquire and a release) that finding a zero block takes.
constexpr std::size_t kZeroedFromHeapMin = 1024;

} // namespace

// Kept out of line: inlined, it would give the fast path a stack frame.
__attribute__((noinline)) void* allocate_after_miss(std::size_t size) noexcept {
  if (!ensure_init()) return boot_allocate(size, 16);
  purge_thread::maybe_start(); // no allocator lock is held here (purge_thread.h)
  if (size > g.threshold - canary_bytes()) {
    count_alloc(counting_cache());
    return allocate_large(size, 0, false);
  }
  if (void* p = allocate_class_slow(g.classes.class_of(size + canary_bytes()))) return armed(p);
  return allocate_small_as_run(size, 0, false);
}

namespace {

// Kept out of line: inlined, it would give the fast path a stack frame.
__attribute__((noinline)) void free_small_slow(Superblock* sb, void* p) noexcept {
  ErrnoGuard keep; // free preserves errno; the fast path never touches it
  ThreadCache* tc = thread_cache();
  count_free(tc);
  if (tc != nullptr) follow_cache_bound(tc);
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
      store_link(p, bin.head);
      bin.head = p;
      --bin.room;
      return;
    }
  }
  free_direct(tc, sb, p);
}

// Frees p when it is the start of a live large object (large::release). Counted by the free
// that claims the object: of two at once, the other releases nothing. Inline, as allocate_large.
[[gnu::always_inline]] inline bool release_large(void* p) noexcept {
  std::size_t usable = 0;
  std::uintptr_t counter = 0;
  if (!large::release(p, &usable, &counter)) return false;
  if (usable != 0) {
    count_free(counting_cache());
    count_large_removed(counter, usable);
  }
  return true;
}

// Kept out of line: inlined, it would give the fast path a stack frame.
__attribute__((noinline)) void free_other(void* p) noexcept {
  ErrnoGuard keep;
  if (p == nullptr || in_boot(p)) return; // bootstrap blocks are never reused
  if (release_large(p)) return;
#ifdef HOARDLAB_HARDENED
  // A freed large object's start or a page of a live one's run (large.cpp, P2/P3).
  if (large::reported(p, MisuseOp::kFree)) return;
  // Reserved for superblocks but never carved (past the readable part, small_range.h R4): no
  // block was ever there. Tested here, after every block's own test, since it is rare.
  if (in_reserved_small_range(p)) {
    report_pointer_misuse("invalid free (no superblock there)", p,
                          "in the small-object range where none was carved");
    return;
  }
#endif
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

Owner owner_of(const void* p) noexcept {
  if (in_small_range(p)) return Owner::kOurs;
  if (in_boot(p)) return Owner::kBootstrap;
  if (large::owns(p)) return Owner::kOurs;
#ifdef HOARDLAB_HARDENED
  // A freed large object's start or a page of a live one's run: free and realloc report it.
  if (large::knows(p)) return Owner::kOurs;
  // The reserved part of the small range past what was carved holds no block, but is the
  // allocator's: free and realloc report it rather than pass it on as foreign.
  if (in_reserved_small_range(p)) return Owner::kOurs;
#endif
  return Owner::kForeign;
}

void* allocate(std::size_t size) noexcept {
  if (void* p = allocate_hit(size)) return p;
  return allocate_after_miss(size);
}

void* allocate_zeroed(std::size_t size) noexcept {
  if (!ensure_init()) return boot_allocate(size, 16); // never reused: reads as zero
  if (size > g.threshold - canary_bytes()) {
    count_alloc(counting_cache());
    return allocate_large(size, 0, true);
  }
  std::size_t cls = g.classes.class_of(size + canary_bytes());
  if (g.classes.size_of(cls) >= kZeroedFromHeapMin) {
    // With the bin empty, one block straight from a heap: taken from a superblock's never-used
    // bump region it is known to be zero (Z1) and is not cleared, so its pages stay untouched
    // until the caller writes them. A cached block is reused memory: it is cleared below.
    ThreadCache* tc = thread_cache();
    if (tc == nullptr || tc->bin(cls).head == nullptr) {
      count_alloc(tc);
      if (tc != nullptr) follow_cache_bound(tc);
      Heap* h = acquire_heap(tc);
      bool zero = false;
      void* p = heap_allocate_zeroed(h, cls, &zero);
      release_heap(h);
      if (p == nullptr) return allocate_small_as_run(size, 0, true);
      if (!zero) std::memset(p, 0, size);
      return armed(p);
    }
  }
  void* p = allocate(size);
  if (p != nullptr && !in_boot(p)) std::memset(p, 0, size);
  return p;
}

void* allocate_aligned(std::size_t alignment, std::size_t size) noexcept {
  if (alignment <= core::SizeClasses::kGranule) return allocate(size);
  if (!ensure_init()) return boot_allocate(size, alignment);
  if (alignment <= g.threshold && size <= g.threshold - canary_bytes()) {
    // A class whose size is a multiple of the alignment has every block aligned to it (do_init).
    // Up to the threshold such a class exists for every power of two with the default spacing;
    // where none does (coarse spacings skip some powers of two), the page-run path serves it.
    const std::size_t need = size + canary_bytes();
    std::size_t cls = g.classes.class_of_aligned(need < alignment ? alignment : need, alignment);
    if (cls < g.classes.count()) {
      if (void* p = allocate_class_slow(cls)) return armed(p);
      return allocate_small_as_run(size, alignment, false);
    }
  }
  count_alloc(counting_cache());
  return allocate_large(size, alignment, false);
}

void deallocate(void* p) noexcept {
  if (deallocate_hit(p)) return; // never taken in the checked build
  if (in_small_range(p)) {
    Superblock* sb = superblock_of(p);
    // Hardened: the report for a pointer deallocate_hit declined as not live; again for a block
    // it passed (a miss; cheap next to the slow path), and first for the extra ranges' blocks and
    // the checked build's, which it does not look at.
    if (!small_block_is_live(sb, p, MisuseOp::kFree)) return;
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
      store_link(p, bin.head);
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

bool free_if_large(void* p) noexcept {
  if (in_small_range(p)) return false;
  ErrnoGuard keep;
  return release_large(p);
}

void deallocate_sized(void* p, std::size_t size_hint) noexcept {
  // The hint is not trusted (deletes through a base class pass the wrong size): the block's own
  // superblock or header decides.
  (void)size_hint;
  deallocate(p);
}

std::size_t usable_size(const void* p) noexcept {
  if (p == nullptr) return 0;
  if (in_small_range(p)) return superblock_of(p)->block_size - canary_bytes();
  if (in_boot(p)) return boot_size(p);
  if (large::owns(p)) return large::usable_size(p);
  return 0;
}

void* reallocate(void* p, std::size_t size) noexcept {
  std::size_t old = usable_size(p);
#ifdef HOARDLAB_HARDENED
  if (p != nullptr && !in_small_range(p) && in_reserved_small_range(p)) {
    report_pointer_misuse("realloc of an invalid pointer (no superblock there)", p,
                          "in the small-object range where none was carved");
    return nullptr;
  }
  if (p != nullptr && !in_small_range(p) && !in_boot(p) && !large::owns(p) &&
      large::reported(p, MisuseOp::kRealloc))
    return nullptr;
#endif
  if (in_small_range(p)) {
    // Hardened: a realloc of a freed or misplaced block is reported; NULL leaves it alone.
    if (!small_block_is_live(superblock_of(p), p, MisuseOp::kRealloc)) return nullptr;
    // Stay in place when the block fits and is not more than twice what is needed.
    if (size <= old && (size > old / 2 || old <= 64)) return p;
  } else if (!in_boot(p) && size > g.threshold && large::owns(p)) { // a foreign p: copy nothing
    const std::uintptr_t counter = large::counter_of(p);
    void* q = large::reallocate(p, size);
    if (q != nullptr) {
      count_large_added(q, large::usable_size(q));
      count_large_removed(counter, old);
    }
    return q;
  }
  void* q = allocate(size);
  if (q == nullptr) return nullptr;
  std::memcpy(q, p, size < old ? size : old);
  deallocate(p);
  return q;
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

} // namespace hoardlab::mem
