#include "mem/large.h"

#include <cstdint>
#include <cstring>

#include "config/options.h"
#include "core/atomic.h"
#include "core/bits.h"
#include "core/spin_lock.h"
#include "mem/fork_held_guard.h"
#include "mem/internal.h"
#include "mem/large_cache.h"
#include "mem/large_thread_cache.h"
#include "mem/state.h"
#include "numa/placement.h"
#include "numa/topology.h"
#include "pal/pal.h"

namespace hoardlab::mem::large {

namespace {

constexpr std::uintptr_t kMagic = 0x686c6c617267ull; // "hllarg"
constexpr std::size_t kPage = pal::kPageSize;

// Pagemap: a mark per 4 KiB page of the 47-bit user address space. Two levels, leaves (one per
// GiB) mapped on first use, so an unknown pointer costs two loads to reject and nothing is ever
// allocated through malloc. A leaf holds a byte per page, its start mark: 1 on the first page of
// every live large object (owns()); in the hardened build also two bitmaps, kRunPages, every page
// of a live object's run (header page to end: a pointer there that no object starts at is an
// invalid free), and kFreedStarts, the first page of an object freed since while that page is
// cached (a second free there is a double free). Start marks are bytes, not bits, so that
// install's mark is a plain store: a word of bits is shared by 64 pages, of neighbouring objects
// too, which other threads mark and claim at the same time, and setting a bit there took a
// locked or (one of a large malloc/free pair's read-modify-writes). A leaf's bytes cost 256 KiB
// of address space per GiB of large objects, of which only the pages of its used parts (one per
// 16 MiB of address space) are ever touched.
///
/// Protocol:   install (allocate, realloc's copy) stores an object's start mark once its run is
///             the caller's and its header written. Free claims it: claim() exchanges it with 0,
///             and only the caller whose exchange found it set releases the run; the other of two
///             frees at once finds it clear and leaves p alone (hardened: reports a double free).
///             owns() is a filter in front of the claim, never the decision; free() in the default
///             build skips it and lets the claim filter (release()): a claim that finds the mark
///             clear reads as owns() false, which the old pair of owns() then claim also gave
///             whenever the other free claimed before owns() ran. realloc clears the mark of the
///             object it moves (its caller owns p, no claim). The mark's byte is the object's
///             alone while it is live, so install's and realloc's stores race with nothing but
///             a program's free of an object it does not own yet. Hardened: run-page and
///             freed-start bits change only with the run, by the thread that holds it: set and
///             cleared when it becomes live (install, growth in place, mremap), cleared and set
///             before it leaves for a cache (deallocate, shrink's tail), freed starts cleared
///             before the cache unmaps it (count_unmapped); their words are shared by 64 pages,
///             so they are changed by atomic or and and.
/// Invariants: (P1) a start mark is set <=> its page starts a live large object; hardened:
///             (P2) run-page bit set <=> the page is in a live object's run; (P3) a freed-start
///             bit is set only on a page of a cached run, never on a live or unmapped one, so a
///             mapping made by anyone else after ours never reads as a freed object.
/// Ordering:   [PM1]/[PM2] publish a leaf. [LF1] the claim's exchange (acq_rel): the RMWs of one
///             byte are totally ordered, so of two claims of one mark exactly one reads it set;
///             the header it then reads was written before the program could hand p to a freeing
///             thread (no ordering through the map is needed for that). [LF2] install's store
///             (release, after the header; a load that finds it set with acquire, owns() and
///             realloc's, reads the header whole). The hardened bits are written before a run
///             enters a cache and after it leaves one, so the caches' hand-overs (the shards'
///             locks, the thread cache's drain, large_thread_cache.cpp [TC4]) order them between
///             the threads that hold the run in turn.
/// ABA:        a second free of p after p was allocated again finds the new object's mark and
///             frees it: the program freed p twice and p is live again, which no mark can tell
///             apart. The run is still released once per claim.
constexpr unsigned kLeafShift = 30;
constexpr std::size_t kTopEntries = std::size_t{1} << (47 - kLeafShift);
constexpr std::size_t kLeafPages = std::size_t{1} << (kLeafShift - 12);
#ifdef HOARDLAB_HARDENED
constexpr std::size_t kLeafWords = kLeafPages / 64;
enum Bitmap : unsigned { kRunPages, kFreedStarts, kBitmaps };
#endif
struct Leaf {
  core::Atomic<std::uint8_t> starts[kLeafPages];
#ifdef HOARDLAB_HARDENED
  core::Atomic<std::uint64_t> bits[kBitmaps][kLeafWords];
#endif
};
constinit core::Atomic<Leaf*> g_top[kTopEntries] = {};
constinit core::SpinLock g_leaf_lock;

// The leaf of top entry `top`, mapped now: once per GiB of address space, so out of line.
[[gnu::noinline]] Leaf* create_leaf(std::size_t top) noexcept {
  ForkHeldGuard guard(g_leaf_lock);
  Leaf* leaf = g_top[top].load_acquire();
  if (leaf == nullptr) {
    leaf = static_cast<Leaf*>(pal::map(sizeof(Leaf)));
    if (leaf == nullptr) return nullptr;
    g_top[top].store_release(leaf); // [PM2] the zeroed leaf is visible before its pointer
  }
  return leaf;
}

// The leaf of address a and a's page in it; nullptr when a is past the map, or its leaf is not
// mapped (and create is false, or mapping it failed). Inline: every large malloc and free looks
// up a mark (a call was 30 of a pair's instructions).
[[gnu::always_inline]] inline Leaf* leaf_of(std::uintptr_t a, bool create,
                                            std::size_t* page) noexcept {
  const std::size_t top = a >> kLeafShift;
  if (top >= kTopEntries) return nullptr;
  Leaf* leaf = g_top[top].load_acquire(); // [PM1] pairs with [PM2]
  if (leaf == nullptr) {
    if (!create) return nullptr;
    leaf = create_leaf(top);
    if (leaf == nullptr) return nullptr;
  }
  *page = (a >> 12) & (kLeafPages - 1);
  return leaf;
}

[[gnu::always_inline]] inline core::Atomic<std::uint8_t>* start_mark(std::uintptr_t a,
                                                                     bool create) noexcept {
  std::size_t page = 0;
  Leaf* leaf = leaf_of(a, create, &page);
  return leaf == nullptr ? nullptr : &leaf->starts[page];
}

bool marked_start(std::uintptr_t a) noexcept {
  const core::Atomic<std::uint8_t>* m = start_mark(a, false);
  return m != nullptr && m->load_acquire() != 0; // [LF2]
}

// Clears a's start mark; true when this call cleared it, which makes the caller the one that
// releases the object's run.
bool claim(std::uintptr_t a) noexcept {
  core::Atomic<std::uint8_t>* m = start_mark(a, false);
  // Clearing a mark already clear changes nothing, so the exchange needs no load before it.
  return m != nullptr && m->exchange_acq_rel(0) != 0; // [LF1]
}

#ifdef HOARDLAB_HARDENED
core::Atomic<std::uint64_t>* bit_word(std::uintptr_t a, bool create, std::uint64_t* bit,
                                      Bitmap map) noexcept {
  std::size_t page = 0;
  Leaf* leaf = leaf_of(a, create, &page);
  if (leaf == nullptr) return nullptr;
  *bit = std::uint64_t{1} << (page & 63);
  return &leaf->bits[map][page / 64];
}

// A bit word is shared by 64 pages, of neighbouring objects too, which other threads mark at the
// same time: an atomic or/and, never a plain store (it would undo their changes).
void update(core::Atomic<std::uint64_t>* w, std::uint64_t bits, bool on) noexcept {
  if (on)
    w->fetch_or_acq_rel(bits);
  else
    w->fetch_and_acq_rel(~bits);
}

void mark(std::uintptr_t a, bool on, Bitmap map) noexcept {
  std::uint64_t bit = 0;
  core::Atomic<std::uint64_t>* w = bit_word(a, on, &bit, map);
  if (w != nullptr) update(w, bit, on);
}

bool marked(std::uintptr_t a, Bitmap map) noexcept {
  std::uint64_t bit = 0;
  core::Atomic<std::uint64_t>* w = bit_word(a, false, &bit, map);
  return w != nullptr && (w->load_acquire() & bit) != 0;
}
#endif

#ifdef HOARDLAB_HARDENED
// Sets or clears map's bits of the pages of [begin, begin + bytes), a word (64 pages) at a time.
// Clearing skips the leaves never mapped; setting where a leaf cannot be mapped leaves those
// pages unmarked: their misuse then goes unreported (taken for foreign pointers), never worse.
void mark_pages(Bitmap map, std::uintptr_t begin, std::size_t bytes, bool on) noexcept {
  constexpr std::uintptr_t kWordSpan = 64 * kPage;
  constexpr std::uintptr_t kLeafSpan = std::uintptr_t{1} << kLeafShift;
  const std::uintptr_t end = begin + bytes;
  for (std::uintptr_t a = begin; a < end;) {
    std::uint64_t bit = 0;
    core::Atomic<std::uint64_t>* w = bit_word(a, on, &bit, map);
    if (w == nullptr) {
      if ((a >> kLeafShift) >= kTopEntries) return;
      a = (a | (kLeafSpan - 1)) + 1;
      continue;
    }
    const std::uintptr_t word_end = (a | (kWordSpan - 1)) + 1;
    const std::uintptr_t stop = end < word_end ? end : word_end;
    const auto pages = static_cast<unsigned>((stop - a) / kPage); // 1 to 64
    const std::uint64_t bits =
        pages == 64 ? ~std::uint64_t{0} : ((std::uint64_t{1} << pages) - 1) << ((a / kPage) & 63);
    update(w, bits, on);
    a = stop;
  }
}

// The run [base, base + bytes) is now live: every page a run page, no freed start left in it
// (P2, P3).
void run_becomes_live(const char* base, std::size_t bytes) noexcept {
  mark_pages(kRunPages, core::addr(base), bytes, true);
  mark_pages(kFreedStarts, core::addr(base), bytes, false);
}
#endif

constinit core::Atomic<std::uint64_t> g_mapped_bytes{0};
// Its high-water mark: a bound on the peak of the large bytes in use that does not grow with the
// number of threads (stats.cpp takes the lower of it and the allocating threads' peaks).
constinit core::Atomic<std::uint64_t> g_mapped_peak{0};
// Live and cached mapped bytes per logical node (relaxed counters, read as a snapshot).
constinit core::Atomic<std::uint64_t> g_node_mapped[numa::kMaxNodes] = {};

void count_mapped(std::uint32_t node, std::size_t bytes, bool add) noexcept {
  if (add) {
    raise_shared_peak(g_mapped_peak, g_mapped_bytes.fetch_add_relaxed(bytes) + bytes);
    g_node_mapped[node].fetch_add_relaxed(bytes);
  } else {
    g_mapped_bytes.fetch_sub_relaxed(bytes);
    g_node_mapped[node].fetch_sub_relaxed(bytes);
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

// A freed page run of home's shard: kept by the thread, else back to the shard, which joins,
// keeps or unmaps it.
void release_run(std::uint32_t home, char* base, std::size_t bytes) noexcept {
  if (!large_thread_cache::put(home, base, bytes)) large_cache::put(home, base, bytes);
}

// A cached run of exactly `bytes` on `node`: the thread's own first (no lock), then its shard's
// and the node's other shards'. *home receives the shard it belongs to.
char* take_run(std::uint32_t node, std::size_t bytes, std::uint32_t* home) noexcept {
  if (char* p = large_thread_cache::take(node, bytes, home)) return p;
  const std::uint32_t shard = large_cache::shard_for_thread(node);
  if (char* p = large_cache::take(shard, bytes, home)) return p;
  // Before a new mapping, the thread's own runs go to the shards, where they join with each
  // other and with the shards' runs (neighbours freed one by one stay apart in the thread's
  // cache once their sum outgrows it) and may make a fit.
  if (large_thread_cache::flush() != 0) return large_cache::take(shard, bytes, home);
  return nullptr;
}

// Makes the page run [base, base + bytes) of shard `home` an object of `size` bytes at the
// first address past its header page aligned to `alignment`: writes the header, marks the
// pagemap, counts it. nullptr when the pagemap leaf cannot be mapped; the run then goes back.
[[gnu::always_inline]] inline char* install(char* base, std::size_t bytes, std::size_t size,
                                            std::size_t alignment, std::uint32_t home) noexcept {
  char* user = reinterpret_cast<char*>(core::round_up(core::addr(base) + kPage, alignment));
  core::Atomic<std::uint8_t>* start = start_mark(core::addr(user), true);
  if (start == nullptr) {
    release_run(home, base, bytes);
    return nullptr;
  }
#ifdef HOARDLAB_HARDENED
  run_becomes_live(base, bytes);
#endif
  Header* h = header_of(user);
  h->magic = kMagic;
  h->base = base;
  h->map_bytes = bytes;
  h->usable = static_cast<std::size_t>(base + bytes - user);
  h->requested = size;
  h->reserved[0] = large_cache::node_of_shard(home);
  h->reserved[1] = home;
  // A count for the statistics, the installing thread's own (LargeInUse says why).
  if (ThreadCache* tc = tl_cache; tc != &kSentinel)
    tc->large_allocations.add_single_writer(1);
  else
    g.orphan_large_allocations.fetch_add_relaxed(1);
  start->store_release(1); // [LF2] after the header
  return user;
}

void set_requested(Header* h, std::size_t size) noexcept {
  h->requested = size;
}

// Shrinks the object at p (its header h) to `size` bytes, no more than it has room for: the
// whole pages past its new end leave the run as a freed run of their own, cached (a later growth
// takes them back in place) and given back after large.decay_ms unused, so that resident memory
// follows the live data (kept in the object, a 64 MiB object shrunk to 64 KiB held all its pages
// until freed). Unmapping long tails at once, as glibc's mremap does, faulted large-loop's pages
// afresh: 135k minor faults in 500 steps against 62k with the tails cached.
void shrink_in_place(Header* h, void* p, std::size_t size) noexcept {
  char* base = static_cast<char*>(h->base);
  std::size_t offset = static_cast<std::size_t>(static_cast<char*>(p) - base);
  // offset + size <= offset + usable == map_bytes, a multiple of the page: no overflow.
  std::size_t keep = core::round_up(offset + size, kPage);
  if (keep < h->map_bytes) {
    char* tail = base + keep;
    std::size_t tail_bytes = h->map_bytes - keep;
    h->map_bytes = keep;
    h->usable = keep - offset;
#ifdef HOARDLAB_HARDENED
    mark_pages(kRunPages, core::addr(tail), tail_bytes, false);
#endif
    release_run(home_of(h), tail, tail_bytes);
  }
  set_requested(h, size);
}

// The node a new object goes to: numa.policy as for superblock arenas, the thread's node (local,
// none) or round-robin over the nodes (interleave); a cached run is reused only on its own node.
std::uint32_t node_for_new_object(numa::PlacementPolicy* policy) noexcept {
  *policy = numa::PlacementPolicy::kNone;
  if (g.nodes <= 1) return 0;
  *policy = static_cast<numa::PlacementPolicy>(config::options().numa_policy);
  int n = numa::large_node(numa::current_node(), *policy);
  return n < 0 || static_cast<unsigned>(n) >= g.nodes ? 0 : static_cast<std::uint32_t>(n);
}

} // namespace

void* allocate(std::size_t size, std::size_t alignment, bool zeroed) noexcept {
  if (alignment < kPage) alignment = kPage;
  std::size_t bytes = 0;
  if (!run_bytes(size, alignment, &bytes)) return nullptr;
  auto policy = numa::PlacementPolicy::kNone;
  const std::uint32_t node = node_for_new_object(&policy);
  std::uint32_t home = 0;
  char* base = take_run(node, bytes, &home);
  bool fresh = false;
  if (base == nullptr) {
    home = large_cache::shard_for_thread(node);
    base = large_cache::map_fresh(home, &bytes);
    if (base == nullptr) return nullptr;
    fresh = true;
    numa::place_large(base, bytes, static_cast<int>(node), policy); // before the first touch
    count_mapped(node, bytes, true);
  }
  char* user = install(base, bytes, size, alignment, home);
  if (user != nullptr && zeroed && !fresh) std::memset(user, 0, size);
  return user;
}

bool owns(const void* p) noexcept {
  std::uintptr_t a = core::addr(p);
  if ((a & (kPage - 1)) != 0 || a == 0) return false;
  return marked_start(a);
}

namespace {

// What the hardened pagemap knows of a pointer owns() rejected, in the order of P1-P3: a freed
// start first (its page may since be inside a live run again, and that is what it is then), then
// a page of a live run.
enum class Known { kNothing, kFreedStart, kInsideRun };

Known classify(const void* p) noexcept {
#ifdef HOARDLAB_HARDENED
  const std::uintptr_t a = core::addr(p);
  if (a == 0) return Known::kNothing;
  if ((a & (kPage - 1)) == 0 && marked(a, kFreedStarts)) return Known::kFreedStart;
  if (marked(a, kRunPages)) return Known::kInsideRun;
#else
  (void)p;
#endif
  return Known::kNothing;
}

} // namespace

bool knows(const void* p) noexcept {
  return classify(p) != Known::kNothing;
}

bool reported(const void* p, MisuseOp op) noexcept {
#ifdef HOARDLAB_HARDENED
  const Known known = classify(p);
  if (known == Known::kFreedStart) {
    report_pointer_misuse(op == MisuseOp::kFree ? "double free" : "realloc of a freed block", p,
                          "a large object (page run) freed before");
    return true;
  }
  if (known == Known::kInsideRun) {
    report_pointer_misuse(op == MisuseOp::kFree
                              ? "invalid free (not the start of a large object)"
                              : "realloc of an invalid pointer (not the start of a large object)",
                          p, "inside the page run of a live large object");
    return true;
  }
#else
  (void)p;
  (void)op;
#endif
  return false;
}

namespace {

// Releases the run of the object at p, whose start mark this thread has just cleared; its usable
// size, 0 when the header was overwritten.
std::size_t release_claimed(void* p, std::uintptr_t* counter) noexcept {
  Header* h = header_of(p);
  // The header sits below the object: an underflow from it may have overwritten the run's
  // extent, which is then not trusted (the run leaks).
  if (h->magic != kMagic) return 0;
  h->magic = 0;
  char* const base = static_cast<char*>(h->base);
  const std::size_t bytes = h->map_bytes;
  const std::size_t usable = h->usable;
#ifdef HOARDLAB_HARDENED
  mark(core::addr(p), true, kFreedStarts); // its leaf exists: p was marked
  mark_pages(kRunPages, core::addr(base), bytes, false);
#endif
  *counter = static_cast<std::uintptr_t>(h->reserved[2]);
  release_run(home_of(h), base, bytes);
  return usable;
}

} // namespace

std::size_t deallocate(void* p, std::uintptr_t* counter) noexcept {
  if (!claim(core::addr(p))) { // [LF1] another free of p came first
#ifdef HOARDLAB_HARDENED
    report_pointer_misuse("double free", p,
                          "a large object (page run) another thread freed at the same time");
#endif
    return 0;
  }
  return release_claimed(p, counter);
}

bool release(void* p, std::size_t* usable, std::uintptr_t* counter) noexcept {
#ifdef HOARDLAB_HARDENED
  // The filter first, so that a free losing the claim to another at the same time is told from
  // a pointer that was no live start, and reported as a double free.
  if (!owns(p)) return false;
  *usable = deallocate(p, counter);
  return true;
#else
  const std::uintptr_t a = core::addr(p);
  if ((a & (kPage - 1)) != 0 || a == 0 || !claim(a)) return false; // [LF1]
  *usable = release_claimed(p, counter);
  return true;
#endif
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
  std::uint32_t node = node_of(h);
  std::uint32_t home = home_of(h);
  // Growing costs what the new pages cost: a page fault each when fresh, nothing when they come
  // from the cache (they are resident). So, in order: the cached pages that follow the run (in
  // place, nothing moves); a cached run of the new size (a copy of the old bytes, cheaper than
  // faulting the new ones: realloc-grow, buffers grown by half each step to 1 MiB, spent 2 s in
  // 76,000 page faults where reused pages took a fraction of that); mremap, which moves the old
  // pages without copying and faults only the new ones.
  char* const end = static_cast<char*>(old_base) + old_bytes;
  if (large_thread_cache::extend(home, end, bytes - old_bytes) ||
      large_cache::extend(home, end, bytes - old_bytes)) {
#ifdef HOARDLAB_HARDENED
    run_becomes_live(end, bytes - old_bytes);
#endif
    h->map_bytes = bytes;
    h->usable = bytes - offset;
    set_requested(h, size);
    return p;
  }
  std::size_t copy_bytes = core::round_up(size + kPage, kPage);
  std::uint32_t copy_home = home;
  if (char* run = take_run(node, copy_bytes, &copy_home)) {
    if (char* user = install(run, copy_bytes, size, kPage, copy_home)) {
      std::memcpy(user, p, h->usable); // all the old object may hold: size is beyond it
      std::uintptr_t old_counter = 0;  // the caller moves the count from p's counter to user's
      deallocate(p, &old_counter);
      return user;
    }
  }
  // p's bit is cleared before the mapping may move: once mremap returns, the old range can be
  // mapped again by another thread, and clearing the bit afterwards would erase the mark of that
  // thread's new object (it would then be taken for a foreign pointer: its free ignored, its
  // realloc refused). Nobody else may use p meanwhile: the caller owns it.
  start_mark(core::addr(p), false)->store_release(0); // its leaf exists: p was marked
#ifdef HOARDLAB_HARDENED
  mark_pages(kRunPages, core::addr(old_base), old_bytes, false);
#endif
  // The pages may have been another thread's object until its own mremap moved it away; TSan
  // does not see mremap, and pal::remap tells it ([RM1], [RM2] in pal.cpp).
  char* base = static_cast<char*>(pal::remap(old_base, old_bytes, bytes));
  if (base == nullptr) {
    start_mark(core::addr(p), false)->store_release(1); // [LF2] as above
#ifdef HOARDLAB_HARDENED
    run_becomes_live(static_cast<char*>(old_base), old_bytes);
#endif
    // mremap moves a range of one kernel mapping only, and a run joined in the cache from two
    // neighbours may span two; or the address space is short. A new object and a copy, then
    // (allocate gives the cache back to the OS and retries when the mapping fails).
    void* q = allocate(size, kPage, false);
    if (q == nullptr) return nullptr;
    std::memcpy(q, p, h->usable);   // all the old object may hold: size is beyond it
    std::uintptr_t old_counter = 0; // as above
    deallocate(p, &old_counter);
    return q;
  }
  char* user = base + offset;
#ifdef HOARDLAB_HARDENED
  run_becomes_live(base, bytes);
#endif
  Header* nh = header_of(user);
  nh->base = base;
  nh->map_bytes = bytes;
  nh->usable = bytes - offset;
  // mremap keeps the mapping's memory policy: the node stays (reserved[0] moved with the header),
  // and so does the home shard (reserved[1]), where the run goes back when freed.
  count_mapped(node, bytes, true);
  count_mapped(node, old_bytes, false);
  set_requested(nh, size);
  // The mark cannot be had only when a pagemap leaf (256 KiB of address space) cannot be mapped;
  // the object then stays valid but unrecorded (free and usable_size no longer recognise it), a
  // leak, never a crash.
  if (core::Atomic<std::uint8_t>* start = start_mark(core::addr(user), true))
    start->store_release(1); // [LF2] after the header
  return user;
}

std::size_t trim() noexcept {
  return large_cache::trim();
}

std::size_t release_idle(std::uint64_t now_ms, std::uint64_t delay_ms,
                         std::uint64_t* next_due_ms) noexcept {
  return large_cache::release_idle(now_ms, delay_ms, next_due_ms);
}

std::uint64_t node_mapped_bytes(unsigned node) noexcept {
  return node < numa::kMaxNodes ? g_node_mapped[node].load_relaxed() : 0;
}

std::uint64_t mapped_bytes() noexcept {
  return g_mapped_bytes.load_relaxed();
}

Stats stats() noexcept {
  return {g_mapped_bytes.load_relaxed(),
          large_cache::cached_bytes() + large_thread_cache::held_bytes(),
          g_mapped_peak.load_relaxed()};
}

// Called at each publish of the options, after large.decay_ms is stored.
void set_cache_bounds(std::size_t shared, std::size_t per_thread,
                      std::uint32_t share_percent) noexcept {
  large_cache::decay_changed();
  large_cache::set_bound(shared);
  large_cache::set_share(share_percent);
  large_thread_cache::set_bound(per_thread < shared ? per_thread : shared);
}

void set_huge_pages(std::size_t min, std::size_t after) noexcept {
  large_cache::set_huge_pages(min, after);
}

void thread_exit() noexcept {
  large_thread_cache::thread_exit();
}

// The registry first: a drain holds it while it puts runs into the shards (under their locks).
void fork_prepare() noexcept {
  large_thread_cache::fork_prepare();
  g_leaf_lock.lock();
  large_cache::fork_prepare();
}
void fork_parent() noexcept {
  large_cache::fork_parent();
  g_leaf_lock.unlock();
  large_thread_cache::fork_parent();
}
void fork_child() noexcept {
  large_cache::fork_child();
  g_leaf_lock.reset_in_child();
  large_thread_cache::fork_child();
}

} // namespace hoardlab::mem::large

namespace hoardlab::mem::large_cache {
void count_unmapped(std::uint32_t node, const char* base, std::size_t bytes) noexcept {
#ifdef HOARDLAB_HARDENED
  large::mark_pages(large::kFreedStarts, core::addr(base), bytes, false); // P3
#else
  (void)base;
#endif
  large::count_mapped(node, bytes, false);
}
} // namespace hoardlab::mem::large_cache
