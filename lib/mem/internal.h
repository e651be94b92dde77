// What the parts of mem share with each other and with tests: heap operations, the pool, the
// thread state. Not for lib/front (it uses allocator.h and stats.h). Layer: mem.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "config/options.h"
#include "mem/state.h"
#include "pal/pal.h"

namespace hoardlab::mem {

// The header of the superblock p lies in: its start, or past the guard page (kHeaderOffset).
inline Superblock* superblock_of(const void* p) noexcept {
  return reinterpret_cast<Superblock*>(
      (reinterpret_cast<std::uintptr_t>(p) & g.sb_mask.load_relaxed()) + kHeaderOffset);
}
// The primary small range alone: the one subtract and compare of the fast paths (fast_path.h).
// A block of an extra range fails it and takes the ordinary path (small_range.h). Only the
// readable prefix counts (R4): a pointer into the reserved part beyond it has no superblock, and
// its header would fault.
inline bool in_primary_range(const void* p) noexcept {
  return reinterpret_cast<std::uintptr_t>(p) - g.small_base.load_relaxed() <
         g.small_readable.load_relaxed();
}
// Whether p lies in memory superblocks are carved from: every range's readable part
// (small_range.h), where every header can be read.
inline bool in_small_range(const void* p) noexcept {
  return in_primary_range(p) || (g.ranges.count.load_relaxed() != 0 && in_extra_ranges(p));
}

// ---- free-list links and misuse checks (free_link.h; hardening.cpp) ----
// Whether q, a link decoded from a bin of class cls, may be followed: null, or a block start of a
// superblock of class cls (hardened; always true otherwise).
inline bool is_block_of_class([[maybe_unused]] std::size_t cls,
                              [[maybe_unused]] const void* q) noexcept {
#ifdef HOARDLAB_HARDENED
  if (q == nullptr) return true;
  if (!in_small_range(q)) return false;
  const Superblock* sb = superblock_of(q);
  return sb->cls == cls && sb->is_block_start(q);
#else
  return true;
#endif
}
// Reports a thread cache's bin of class cls whose list ended after `found` blocks where its count
// says `expected`, and aborts (hardening.cpp; the hardened flush's check of C1).
[[noreturn, gnu::cold]] void report_short_bin(std::size_t cls, std::size_t found,
                                              std::size_t expected) noexcept;
// The link of `at`, a free block in a thread cache's bin of class cls. Hardened: a link that is
// neither null nor a block of a superblock of class cls aborts with a report.
inline void* next_in_class(std::size_t cls, const void* at) noexcept {
  void* q = load_link(at);
  if (!is_block_of_class(cls, q)) [[unlikely]]
    report_bad_link(at, q, "a block of the same size class");
  return q;
}
// next_in_class for the thread cache's hit, which must not need a stack frame and so reports
// nothing: false when the check word or the link fails (the caller then takes its slow path,
// whose next_in_class finds the same and reports it), or when the link leads out of the primary
// range (the extra ranges' test is a call; the slow path makes it). Else *next is the link, as
// validated as next_in_class validates it.
inline bool try_next_in_class([[maybe_unused]] std::size_t cls, const void* at,
                              void** next) noexcept {
  if (!try_load_link(at, next)) return false;
#ifdef HOARDLAB_HARDENED
  const void* q = *next;
  if (q == nullptr) return true;
  if (!in_primary_range(q)) return false;
  const Superblock* sb = superblock_of(q);
  return sb->cls == cls && sb->is_block_start(q);
#else
  return true;
#endif
}
// The link of `at`, a free block in a chain of any blocks (a remote buffer, a message).
inline void* next_block(const void* at) noexcept {
  void* q = load_link(at);
#ifdef HOARDLAB_HARDENED
  if (q != nullptr && !(in_small_range(q) && superblock_of(q)->is_block_start(q))) [[unlikely]]
    report_bad_link(at, q, "a block of the small-object range");
#endif
  return q;
}
// What a misused small pointer was given to.
enum class MisuseOp : std::uint8_t { kFree, kRealloc };
// Reports a free or realloc of p, a pointer into sb that is not a live block (hardened): one line
// on stderr, then abort(), or with hardened.on_error=report, false: the caller leaves it alone.
[[gnu::cold]] bool report_misuse(const Superblock* sb, const void* p, MisuseOp op) noexcept;
// Reports a misused pointer that has no superblock header to describe (hardened): "hoardlab:
// <kind> of <p>, <where>", then abort(), or with hardened.on_error=report, false.
[[gnu::cold]] bool report_pointer_misuse(const char* kind, const void* p,
                                         const char* where) noexcept;
// ---- hardened.canary: the last 8 bytes of each small block, checked on free ----
// The canary takes room from the block (a request is served by the class of size + 8; usable
// size is block_size - 8) rather than living in a class's slack, which most classes do not have
// (every multiple of 16 up to 16 * classes_per_doubling is a class). Init only: a block handed
// out before the option took effect would have none.
inline std::size_t canary_bytes() noexcept {
#ifdef HOARDLAB_HARDENED
  return g.canary;
#else
  return 0;
#endif
}
// A block's canary: keyed (an overflow cannot write it back without the key) and different for
// each block (one leaked canary does not give the others).
inline std::uint64_t canary_of(const void* p) noexcept {
  return ((g_link_keys.mark << 17) | (g_link_keys.mark >> 47)) ^
         reinterpret_cast<std::uintptr_t>(p);
}
// Writes p's canary (hardened.canary); p is a small block of `block_size` bytes just handed out.
// For 16-byte blocks the canary is word 1, after mark_in_use cleared it.
inline void arm_canary([[maybe_unused]] void* p, [[maybe_unused]] std::size_t block_size) noexcept {
#ifdef HOARDLAB_HARDENED
  if (g.canary != 0) [[unlikely]]
    *reinterpret_cast<std::uint64_t*>(static_cast<char*>(p) + block_size - 8) = canary_of(p);
#endif
}
// arm_canary for what an entry point returns (a small block, a large object or nullptr).
inline void* armed(void* p) noexcept {
  if (canary_bytes() != 0 && p != nullptr && in_small_range(p))
    arm_canary(p, superblock_of(p)->block_size);
  return p;
}
// Whether p's canary holds (always, with hardened.canary off).
inline bool canary_holds([[maybe_unused]] const Superblock* sb,
                         [[maybe_unused]] const void* p) noexcept {
#ifdef HOARDLAB_HARDENED
  return g.canary == 0 || *reinterpret_cast<const std::uint64_t*>(
                              static_cast<const char*>(p) + sb->block_size - 8) == canary_of(p);
#else
  return true;
#endif
}

// Whether p, a pointer into sb's superblock, is the start of a block that was handed out and is
// not free, and whose canary holds (hardened.canary). O(1): boundary arithmetic from the header and
// the block's check word. Always true in the default build (its checks are general.checked's, at a
// cost).
inline bool looks_live([[maybe_unused]] const Superblock* sb,
                       [[maybe_unused]] const void* p) noexcept {
#ifdef HOARDLAB_HARDENED
  // The block's own words are read only once it is known to be a block start below the bump
  // pointer (inside the superblock, on memory that was handed out).
  return sb->is_block_start(p) && p < static_cast<const void*>(sb->bump) && !is_marked_free(p) &&
         canary_holds(sb, p);
#else
  return true;
#endif
}
// Whether sb reads as a formatted header. Not so for a superblock never carved in a stretch of the
// range that another node's arena reserved and has not committed: it is read-only and reads as
// zero (small_range.h, R4), and nothing may be written there.
inline bool is_formatted(const Superblock* sb) noexcept {
  return sb->block_size != 0;
}
// looks_live, reporting a pointer that is not: one line on stderr, then abort(), or with
// hardened.on_error=report, false: the caller leaves it alone. Default build: false, and nothing
// said, only for a pointer into an unformatted superblock (a foreign pointer, as far as it knows).
inline bool small_block_is_live(const Superblock* sb, const void* p, MisuseOp op) noexcept {
#ifdef HOARDLAB_HARDENED
  if (!looks_live(sb, p)) [[unlikely]]
    return report_misuse(sb, p, op);
  return true;
#else
  (void)p;
  (void)op;
  return is_formatted(sb);
#endif
}
// Init: draws the link keys (hardened, or links encoded), before the first block is linked.
void init_link_keys() noexcept;

// ensure_init() past its test of the state: runs the init, or waits for another thread's.
bool ensure_init_slow() noexcept;
// Starts the allocator if needed; false when the caller re-entered during init (it must then
// use the bootstrap arena). Inline: every slow step of malloc tests it (a call was 5 of a large
// malloc/free pair's instructions).
inline bool ensure_init() noexcept {
  return g.state.load_acquire() == kStateReady || ensure_init_slow(); // [LI3]
}
// Says once per process, on stderr whatever the verbosity, that `bytes` of address space for
// `what` were refused and what RLIMIT_AS leaves: a request failing with ENOMEM under a limit is
// otherwise silent. Does nothing without a limit (the request was refused for its size alone).
void report_address_space_refusal(const char* what, std::size_t bytes) noexcept;

// ---- which heap a thread enters (heap_map.cpp) ----
// Numbers the online PUs of t densely into g.heap_map.pu_slot; returns their count, P.
unsigned map_pus_to_slots(const numa::Topology& t) noexcept;
// Puts heap i on the node of slot i mod P and groups the heaps by node for pass_over_candidate.
void group_heaps_by_node(const numa::Topology& t, Heap* heaps, unsigned count,
                         unsigned slots) noexcept;
// The heap a thread whose home is busy tries k-th (1 <= k < heap count): home's node first.
Heap* pass_over_candidate(const Heap* home, unsigned k) noexcept;

// ---- heaps (heap.cpp; the remote-free entry points in remote.cpp) ----
// The heap the calling thread's slow steps map to (heap.mapping), without entering it.
Heap* home_heap(ThreadCache* tc) noexcept;
// Enters a heap for the calling thread: its home heap or, if busy, up to P-1 others, then
// yields and retries. Drains the heap's pending remote frees and restores the invariant.
Heap* acquire_heap(ThreadCache* tc) noexcept;
// After a successful h->try_acquire(): drains pending remote frees, restores the invariant.
void enter_heap(Heap* h) noexcept;
// Enters this heap, waiting for it.
void acquire_specific(Heap* h) noexcept;
void release_heap(Heap* h) noexcept;
// Hands out up to `want` blocks of class cls linked through their first word; returns the count.
std::size_t heap_allocate(Heap* h, std::size_t cls, std::size_t want, void** head) noexcept;
// Hands out one block of class cls for calloc, from a superblock's bump region when its free
// list is empty; *zero tells whether the block is known to read as zero (Z1), so the caller
// skips clearing it. nullptr when memory is exhausted.
void* heap_allocate_zeroed(Heap* h, std::size_t cls, bool* zero) noexcept;
// The holder of h frees p, a block of sb, with sb->owner == h.
void heap_free_local(Heap* h, Superblock* sb, void* p) noexcept;
// The same for n blocks of sb linked from first to last: one splice and one regroup.
void heap_free_run(Heap* h, Superblock* sb, void* first, void* last, std::size_t n) noexcept;
// Pushes a chain of blocks of sb (first..last, n blocks, pre-linked) onto its remote list.
void push_remote(Superblock* sb, void* first, void* last, std::size_t n) noexcept;
// remote.policy=heap-queue: sends a chain of n blocks first..last (`bytes` in all,
// nullptr-terminated) of superblocks that o owned when read, as one message on o's queue.
void send_message(Heap* o, void* first, void* last, std::size_t n, std::size_t bytes) noexcept;
// Hoard's emptiness invariant with a per-class allowance (H3): while u < a - (K + C)S and
// u < (1-f)a, gives the pool an empty superblock, or the emptiest one of a class that holds
// another non-full one, if at least f empty.
void enforce_invariant(Heap* h) noexcept;
// What H3 bounds a held heap's a by: max(u + (K + C)S, u/(1-f) + C*S), at most
// u/(1-f) + (K + C)S, with C the classes that have a non-full superblock in h.
std::uint64_t heap_bound(const Heap* h, std::size_t k, double f) noexcept;
// Drains every superblock's remote list and gives empty superblocks to the pool (trim).
void heap_collect(Heap* h) noexcept;
// Checks H1, H2 (and H3 when `emptiness`, i.e. right after a drain) for a held heap; returns
// the number of violations (each reported).
int check_heap(Heap* h, bool emptiness) noexcept;
// Drains the remote lists of a pool's partial superblocks; those now empty move to the empty
// stack (released to the arena beyond the retention bound).
bool sweep_pool(Pool& p) noexcept; // false: another thread is sweeping p [SW1]
// Releases every empty pool superblock to its arena (purged whole, Arena A1); returns the bytes
// given back.
std::size_t purge_pools() noexcept;
// purge.delay_ms: releases the pool's empty superblocks beyond the retention bound whose delay has
// run out (all of them beyond the bound when `force`); returns the bytes given back. Cheap when
// nothing is due; one pass at a time per pool.
std::size_t purge_deferred(Pool& p, bool force) noexcept;
// Fork: no deferred-purge pass may be in flight across fork (prepare takes every pool's pass
// flag; parent and child release them).
void purge_fork_prepare() noexcept;
void purge_fork_release() noexcept;
std::size_t drain_threshold() noexcept;

// general.checked (checked.cpp): checks a free of p, a pointer into sb, against the block's state
// under the owner heap and frees it there; an invalid or double free is reported and ignored.
// Returns false when the ordinary path must free p (sb is in a pool: no heap to check it under).
bool checked_free(Superblock* sb, void* p) noexcept;
// Why p, a pointer into sb, is not the start of one of sb's blocks (no class, inside the header,
// not on a block boundary, past the last block); nullptr when it is. Used by checked_free and by
// the HOARDLAB_CHECKED build's free.
const char* misplaced_block(const Superblock* sb, const void* p) noexcept;

// Per-node superblock supply (pool.cpp): a released superblock of the node's arena, else fresh
// memory; either reads as zero past its new header (Z1 kZeroAll).
Superblock* carve_superblock(unsigned node) noexcept;

// ---- the thread state (lifecycle.cpp; DESIGN, "TLS") ----
inline constexpr std::uint8_t kExiting = 1; // the cache was flushed at exit: bypass it from now on
inline constexpr std::uint8_t kInInit =
    2; // this thread runs init: re-entrant calls use the bootstrap
extern constinit const ThreadCache kSentinel;
extern constinit thread_local std::uint8_t tl_flags;
extern constinit thread_local ThreadCache* tl_cache;

// Keeps errno across a call that may change it (free preserves errno).
class ErrnoGuard {
public:
  ErrnoGuard() noexcept : saved_(errno) {}
  ~ErrnoGuard() { errno = saved_; }
  ErrnoGuard(const ErrnoGuard&) = delete;
  ErrnoGuard& operator=(const ErrnoGuard&) = delete;

private:
  int saved_;
};

// ---- the bootstrap arena (lifecycle.cpp): serves calls made while init runs ----
bool in_boot(const void* p) noexcept;
void* boot_allocate(std::size_t size, std::size_t align) noexcept;
std::size_t boot_size(const void* p) noexcept;

// ---- thread caches (thread_cache.cpp) ----
// The calling thread's cache, made on first use; nullptr when the thread is exiting.
ThreadCache* thread_cache() noexcept;
// A slow-path malloc or free, in the thread's own counters (no RMW), or the orphans' when the
// thread has no cache (exiting). Inline: once per slow step.
inline void count_alloc(ThreadCache* tc) noexcept {
  if (tc != nullptr)
    tc->slow_allocations.add_single_writer(1);
  else
    g.orphan_allocations.fetch_add_relaxed(1);
}
inline void count_free(ThreadCache* tc) noexcept {
  if (tc != nullptr)
    tc->slow_frees.add_single_writer(1);
  else
    g.orphan_frees.fetch_add_relaxed(1);
}
void count_remote(ThreadCache* tc, std::size_t n) noexcept;
void count_batches(ThreadCache* tc, std::size_t n) noexcept;
void publish_cached(ThreadCache* tc, std::size_t cls) noexcept;
void publish_remote(ThreadCache* tc) noexcept;
// Republishes every bin of the calling thread's own cache, for a statistics reading that is
// exact for the thread that asks (stats.cpp).
void publish_all_cached(ThreadCache* tc) noexcept;
// Returns n blocks from the head of bin cls to their superblocks.
void flush(ThreadCache* tc, std::size_t cls, std::size_t n) noexcept;
void flush_all(ThreadCache* tc) noexcept;
std::size_t cache_bound() noexcept;
// Derives the per-thread cache bound (Tunables::cache_bytes, under cache.total_bytes) and
// Globals::crowded from the options and the live thread count; the registry lock held.
void set_thread_bound_locked() noexcept;
std::size_t move_count(const CacheBin& bin) noexcept;
// A miss on class cls: grows its capacity (C1); returns the blocks a refill at this miss brings,
// or 0 for move_count's (thread_cache.cpp).
std::size_t grow_cap(ThreadCache* tc, std::size_t cls) noexcept;
// Brings the bins and the remote buffer within a lowered cache.bytes (C1, C2): capacity falls in
// every bin, and the blocks beyond it go back to the heaps.
void lower_cache(ThreadCache* tc, std::uint64_t epoch) noexcept;
// The first act of every slow step of a thread with a cache (a refill, a free that misses, a
// remote buffer sent, calloc's trip to a heap): a bin that has blocks never misses on
// allocation, so a lowered bound must reach all of the thread's bins from whichever step comes.
inline void follow_cache_bound(ThreadCache* tc) noexcept {
  const std::uint64_t epoch = g.tune.cache_epoch.load_acquire(); // [CE2]
  if (epoch != tc->bound_epoch) [[unlikely]]
    lower_cache(tc, epoch);
}
void* allocate_class_slow(std::size_t cls) noexcept;

// ---- the freeing thread's remote frees (remote_buffer.cpp) ----
config::RemotePolicy remote_policy() noexcept;
void free_direct(ThreadCache* tc, Superblock* sb, void* p) noexcept;
void flush_remote(ThreadCache* tc) noexcept;
void buffer_remote(ThreadCache* tc, Superblock* sb, void* p, std::uint64_t bound) noexcept;
// Sends a chain of blocks of other heaps to their owners under the current remote.policy.
void send_remote(ThreadCache* tc, void* chain) noexcept;

// ---- heap internals shared with remote.cpp, pool.cpp and invariants.cpp (heap.cpp) ----
inline constexpr std::uint16_t kEmptyGroup = 0xffff;
// The lists of class cls in h, one per group 0..G (H1): rows of G + 1 (Heap::groups says why).
inline core::IntrusiveList* row_of(Heap* h, std::size_t cls) noexcept {
  return &h->groups.lists[cls * (g.groups + 1)];
}
std::uint16_t group_for(const Superblock* sb) noexcept;
bool is_nonfull_group(std::uint16_t group) noexcept;
// Moves sb to the list of the fullness group its `used` now puts it in.
void regroup(Heap* h, Superblock* sb) noexcept;
// On entering h: drains its pending remote frees and restores the invariant.
void on_acquire(Heap* h) noexcept;
bool invariant_violated(const Heap* h, std::size_t k, double f) noexcept;
bool at_least_f_empty(const Superblock* sb, double f) noexcept;
// The forking thread holds every heap (fork_prepare .. fork_parent/fork_child).
extern constinit thread_local bool tl_holds_all;
void set_holds_all(bool on) noexcept;

// ---- remote-free handshakes (remote.cpp) ----
// The owner takes sb's whole remote list and returns the blocks to its free list; may skip a list
// that looks empty, which is safe only for a superblock h owned before the pushes it may miss.
std::size_t drain_remote(Heap* h, Superblock* sb) noexcept;
// The same without the look: for a hand-off (adopt, give), where the look would miss a push
// whose pusher saw the old owner (remote.cpp, [AD1]).
std::size_t take_remote(Heap* h, Superblock* sb) noexcept;
// The holder of h drains the superblocks on its pending stack.
void drain_pending(Heap* h) noexcept;
// The holder of h takes h's message queue (remote.policy = heap-queue).
std::size_t drain_queue(Heap* h) noexcept;
// The popper of a pool superblock drains its remote list without a heap.
void drain_pooled(Superblock* sb) noexcept;
// The handshake's steps (remote.cpp, whose header states the protocol and tags), shared by the
// allocator and tests/litmus:
// Pushes a pre-linked chain of sb's blocks onto its remote list [RF1]; notifies when it was empty.
void push_chain(Superblock* sb, void* first, void* last) noexcept;
// Tells sb's owner that sb has remote frees: claims in_pending [PN1] and pushes sb on the
// owner's pending stack [HN1]; nothing for a pooled superblock.
void notify(Superblock* sb) noexcept;
// Takes sb's whole remote list [RF2] [AD1].
void* take_list(Superblock* sb) noexcept;
// The holder gives back the claim of a superblock taken from its pending stack [PN2]; true when
// its list has blocks to take.
bool release_pending_claim(Superblock* sb) noexcept;
// A giver claims in_pending before sb leaves its heap [GV1]; false while it is claimed.
bool claim_for_give(Superblock* sb) noexcept;
// ... and gives the claim back once owner is nullptr [GV2].
void release_give_claim(Superblock* sb) noexcept;
// Fork child, holding every heap: rebuilds the pending stacks (claims left by threads that are
// gone would otherwise silence their superblocks' notifications for good).
void remote_fork_child() noexcept;

// ---- the pool (pool.cpp) ----
Pool& pool_of(const Superblock* sb) noexcept;
// The nodes other than `node` that exist, nearest first (numa::nearest_nodes), into order;
// returns how many. What a node reuses or carves when its own has nothing left.
unsigned other_nodes_nearest_first(unsigned node, unsigned (&order)[numa::kMaxNodes]) noexcept;
// Puts an empty superblock (owner already nullptr) on its pool's empty stack.
void push_empty(Pool& p, Superblock* sb) noexcept;
Superblock* pop_empty(Pool& p) noexcept;
// Every pool's pass word summed (Pool::passes): passes started in the high half, in flight in the
// low half.
std::uint64_t pool_passes() noexcept;
// After a look at the pools that found nothing, with `before` = pool_passes() read before it:
// true when no pass held superblocks during the look (none in flight before it, none started
// since), so that an empty look means the pools were empty [PS1].
bool no_pass_hid_superblocks(std::uint64_t before) noexcept;
// [PS1] The popper's side, written once for every popper (heap.cpp's refill and the litmus test
// of the handshake, tests/litmus/pool_litmus_test.cpp): tries `look` (a callable returning a
// Superblock*, nullptr when it found none) until it finds one, and returns it; or returns nullptr
// once a look found nothing while no pass held superblocks, so that the pools were empty. The
// pass word is read before each look: read after it, a pass that began before the look and
// ended after it would go unseen. `after_empty_look` runs between a look that found nothing and
// that check: a no-op for heap.cpp; the litmus test spins there, so that a pass can end in the
// window, which an order mistake here needs in order to show.
template <class Look, class AfterEmptyLook>
Superblock* look_past_pool_passes(Look look, AfterEmptyLook after_empty_look) noexcept {
  for (;;) {
    const std::uint64_t before = pool_passes();
    if (Superblock* sb = look()) return sb;
    after_empty_look();
    if (no_pass_hid_superblocks(before)) return nullptr;
    pal::yield();
  }
}

// ---- in-use figures kept beside the heaps' u_i (stats.cpp sums them) ----
// Bytes of blocks in use in pooled superblocks: + when a heap gives a superblock with used
// blocks to a pool, - when a heap adopts it or a pooled drain takes blocks back.
void count_pooled_in_use(std::int64_t delta) noexcept;
// Raises a shared high-water mark to `value`: one CAS loop where the count it follows was just
// changed by an RMW, so a peak lasts in it however briefly it was reached.
inline void raise_shared_peak(core::Atomic<std::uint64_t>& peak, std::uint64_t value) noexcept {
  std::uint64_t seen = peak.load_relaxed();
  while (value > seen && !peak.cas_weak_acq_rel(seen, value)) {
  }
}
} // namespace hoardlab::mem
