// The allocator's life cycle: the thread state, the bootstrap arena that serves calls made
// while init runs, init itself, thread exit and fork.
#include "mem/allocator.h"

#include <cstring>
#include <new>

#include "config/options.h"
#include "core/bits.h"
#include "mem/internal.h"
#include "mem/large.h"
#include "mem/purge_thread.h"
#include "numa/placement.h"
#include "numa/topology.h"
#include "pal/asymmetric_fence.h"
#include "pal/pal.h"

namespace hoardlab::mem {

// Its hit_owner is itself, which no superblock's owner equals (ThreadCache::hit_owner).
constinit const ThreadCache kSentinel{.hit_owner = &kSentinel};
constinit thread_local std::uint8_t tl_flags = 0;

// Not file-local: lib/front inlines the cache hits (fast_path.h).
constinit thread_local ThreadCache* tl_cache = const_cast<ThreadCache*>(&kSentinel);

// ---- bootstrap arena: serves calls made while init runs (dlsym, atfork registration) ----
// Its last bytes hold the heap used when the heap array cannot be mapped (map_heaps): static
// storage that costs the process no more address space than the arena already does.
constexpr std::size_t kBootBytes = 256 * 1024;
constexpr std::size_t kBootServed = core::round_down(kBootBytes - sizeof(Heap), alignof(Heap));
static_assert(kBootServed >= 128 * 1024, "the bootstrap arena must keep room for init's calls");
constexpr std::size_t kBootHeader = 16;
alignas(alignof(Heap)) constinit char g_boot[kBootBytes] = {};
constinit core::Atomic<std::size_t> g_boot_next{0};

bool in_boot(const void* p) noexcept {
  return core::addr(p) - core::addr(g_boot) < kBootBytes;
}

void* boot_allocate(std::size_t size, std::size_t align) noexcept {
  if (align < 16) align = 16;
  if (size > kBootServed || align > 4096) return nullptr;
  std::size_t old = g_boot_next.load_relaxed();
  for (;;) {
    std::size_t start = core::round_up(old + kBootHeader, align);
    std::size_t next = start + core::round_up(size == 0 ? 1 : size, 16);
    if (next > kBootServed) return nullptr;
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

namespace {

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

// The smallest superblock: one page, or with the hardened build's guard page (kHeaderOffset) four,
// so that every class up to S/2 still fits one block after the guard and the header.
constexpr std::size_t kMinSuperblock = kHeaderOffset == 0 ? 4096 : 16 * 1024;

void warn(const char* what, std::uint64_t value, const char* instead) noexcept {
  pal::Message().text("hoardlab: ").text(what).num(value).text("; using ").text(instead).emit();
}

// The heap array: the heaps do_init counts (heap.count, or one per PU) when the address space
// grants the mapping, else one heap in static storage, so that a process under a tight RLIMIT_AS
// still allocates (and no heap count is 0 to divide by). One heap rather than a smaller array:
// where the array does not fit, what the address space has left is better spent on superblocks than
// on more heaps.
Heap* map_heaps(unsigned* count) noexcept {
  if (*count > 1) {
    if (void* hm = pal::map(core::round_up(sizeof(Heap) * *count, pal::kPageSize)))
      return static_cast<Heap*>(hm);
  }
  *count = 1;
  return reinterpret_cast<Heap*>(g_boot + kBootServed);
}

void do_init() noexcept {
  init_link_keys();              // before the first block is linked
  pal::init_asymmetric_fences(); // before any thread can reach a handshake that uses them
  config::load();
  const config::Options& o = config::options();

  std::size_t s = o.heap_superblock_size;
  if (!core::is_pow2(s) || s < kMinSuperblock || s > (std::size_t{4} << 20)) {
    warn(kHeaderOffset == 0 ? "heap.superblock_size must be a power of two in [4KiB, 4MiB], not "
                            : "heap.superblock_size must be a power of two in [16KiB, 4MiB] (a "
                              "guard page takes 4KiB of each), not ",
         s, "64KiB");
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
  g.huge_always = pal::huge_pages_always();
  g.sb_shift = core::log2_floor(s);
  g.threshold = threshold;
#ifdef HOARDLAB_HARDENED
  if (o.hardened_canary) g.canary = 8;
#endif
  for (std::size_t c = 0; c < g.classes.count(); ++c) {
    std::size_t bs = g.classes.size_of(c);
    // Every block aligned to the largest power of two dividing its size, at no cost in blocks
    // (SizeClasses::first_block_offset): aligned requests up to the threshold use superblocks.
    std::size_t off =
        core::SizeClasses::first_block_offset(bs, kHeaderOffset + sizeof(Superblock), s);
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
  g.pus = map_pus_to_slots(*g.topology);

  // A first step of address space per node (small_range.h); when even one superblock per node
  // cannot be reserved, the arenas start empty and their first carve reserves what it can.
  // Before the heap array: under a tight RLIMIT_AS superblocks come first, the heaps then make
  // do with what is left (map_heaps). Under a limit the first step takes at most an eighth of
  // the room left, down to one superblock: reserved whole at once, it would otherwise leave no
  // room for the first large object (8 MiB of room: 4 MiB reserved here, and a 4 MiB malloc
  // that glibc serves failed). Later steps grow as the arenas fill (pool.cpp, next_step).
  std::size_t first_step = kArenaFirstStep;
  if (const std::size_t limit = pal::address_space_limit(); limit != SIZE_MAX) {
    const std::size_t mapped = pal::address_space_mapped();
    const std::size_t room = limit > mapped ? limit - mapped : 0;
    while (first_step > s && first_step * g.nodes > room / 8)
      first_step /= 2;
  }
  std::size_t per_node = reserve_primary(first_step, g.nodes);
  if (per_node == 0) report_address_space_refusal("the small-object range", s * g.nodes);
  char* base = reinterpret_cast<char*>(g.small_base.load_relaxed());
  // The pools name a superblock by a 32-bit index (core::TaggedStack): every pool stack uses the
  // one window of 2^32 - 1 superblocks, since a heap may take a superblock from another node's
  // pool, and reserve_small keeps every range inside it. At S >= 64 KiB the window from address
  // 0 covers the whole user address space (2^47 bytes); below, it is centred on the first range,
  // so that ranges the kernel puts below it (top-down, as under ThreadSanitizer) fit as well as
  // those above.
  const std::uint64_t span = SuperblockStack::kMaxNodes << g.sb_shift;
  std::uintptr_t window = 0;
  if (span < (std::uint64_t{1} << 47) && core::addr(base) > span / 2)
    window = core::round_down(core::addr(base) - span / 2, s);
  // A slot's address is the header's (kHeaderOffset past the superblock's start).
  if (!g.pool_slots.set(window + kHeaderOffset, span, g.sb_shift))
    warn("the pools cannot name superblocks of shift ", g.sb_shift, "none");
  for (unsigned n = 0; n < g.nodes; ++n) {
    Arena& ar = g.arenas[n];
    if (per_node != 0) {
      ar.next = ar.committed = base + n * per_node;
      ar.limit = ar.next + per_node;
      ar.reserved = per_node;
      numa::place_arena(ar.next, per_node, static_cast<int>(n),
                        static_cast<numa::PlacementPolicy>(o.numa_policy));
    }
    Pool& p = g.pools[n];
    p.empty.use_slots(&g.pool_slots);
    for (auto& st : p.partial)
      st.use_slots(&g.pool_slots);
  }
  // One heap per PU under `cpu`: a heap is held only for a slow step, so threads sharing a PU
  // share its heap at little cost, and a busy one is passed over. Doubling the heaps once threads
  // outnumber the PUs (the default before; heap.count = 2 x PUs still does it) spread every
  // program whose main thread waits on P workers over 2 x P heaps, each keeping a part-used
  // superblock per class, for no speed on 2 PUs: larson's peak RSS at 2-4 threads was 1.3-1.4x
  // what one heap per PU holds, the C++ server's at 4 threads 1.2x
  // (paper_notes/decisions/heap-count.md). `thread-hash` keeps Hoard's 2 x PUs: threads land by
  // hash, not by where they run, and more heaps make fewer collisions. `per-thread` keeps its
  // 2 x PUs and at least 256: one per thread; heaps are built on first use, so idle ones cost no
  // memory.
  unsigned heaps = static_cast<unsigned>(o.heap_count);
  if (heaps == 0) {
    switch (static_cast<config::HeapMapping>(g.mapping)) {
    case config::HeapMapping::Cpu:
      heaps = g.pus;
      break;
    case config::HeapMapping::ThreadHash:
      heaps = 2 * g.pus;
      break;
    case config::HeapMapping::PerThread:
      heaps = 2 * g.pus < 256 ? 256 : 2 * g.pus;
      break;
    }
  }
  if (heaps > kMaxHeaps) heaps = kMaxHeaps;
  g.heaps = map_heaps(&heaps);
  for (unsigned i = 0; i < heaps; ++i) {
    Heap* h = new (&g.heaps[i]) Heap; // default-initialised: Heap() would zero all 52 KiB
    h->index = i;
  }
  group_heaps_by_node(*g.topology, g.heaps, heaps, g.pus);
  g.heap_count = heaps;

  publish_options();
  pal::thread_exit_hook_init(on_thread_exit);
  pal::register_atfork(on_fork_prepare, on_fork_parent, on_fork_child);

  g.sb_mask.store_relaxed(~(std::uintptr_t{s} - 1));
}

} // namespace

// Cold: a refused mapping (config/loader.cpp's apply_file_text says why).
[[gnu::cold]] void report_address_space_refusal(const char* what, std::size_t bytes) noexcept {
  static constinit core::Atomic<bool> reported{false};
  const std::size_t limit = pal::address_space_limit();
  if (limit == SIZE_MAX || reported.exchange_relaxed(true)) return;
  pal::Message()
      .text("hoardlab: cannot reserve ")
      .num(bytes)
      .text(" bytes of address space for ")
      .text(what)
      .text(": RLIMIT_AS is ")
      .num(limit)
      .text(" bytes and ")
      .num(pal::address_space_mapped())
      .text(" are mapped; a request the limit leaves no room for fails with ENOMEM (said once)")
      .emit();
}

/// The allocator's lazy init (g.state).
///
/// Protocol:   the first caller claims init by a CAS from kStateUninit to its process's claim
///             (pal::try_claim), runs do_init and stores kStateReady; its re-entrant calls
///             (kInInit) use the bootstrap arena; other callers wait for kStateReady. Fork during
///             init: once do_init has registered the fork handlers, fork_prepare calls ensure_init
///             and so waits for the init to finish before it takes any lock (the initing thread
///             needs none of them). A fork before that registration leaves the child a claim in its
///             parent's name and no thread running do_init. A caller that finds a claim naming
///             another process takes it over by CAS to its own name (one winner when several
///             threads of the child get there) and runs do_init from the start. What the lost
///             thread held in the layers below (the options lock and a load under way, the boot
///             topology's build) names the parent the same way, and each is taken over where
///             do_init next asks for it. What the lost run had mapped (the heap array, the
///             small-object reservation) is leaked in that child; its pthread key, if made, is
///             reused; a second registration of the fork handlers is harmless (fork_prepare and
///             friends act once per fork, see tl_holds_all).
/// Invariants: (LI1) state == this process's claim (pal::own_claim) => a thread of this
///             process runs do_init. (LI2) state == kStateReady => every field
///             do_init writes is final.
/// Ordering:   [LI1] the claim and the takeover are acq_rel CASes: one winner, which also sees
///             whatever an earlier claimer of this address space wrote. [LI2] the store of
///             kStateReady is release, after all of do_init's writes; [LI3] every reader of the
///             state loads it acquire (here and in each "is the allocator up" check), pairing
///             with [LI2].
/// ABA:        a claim names a process; it reads as this process's own only in the process
///             that made it, since a fork child never has its parent's id. (A descendant given
///             the id of a parent that has since exited would wait forever: pid reuse within
///             one fork lineage, during an init, is not guarded against.)
bool ensure_init_slow() noexcept {
  int s = g.state.load_acquire(); // [LI3]
  if (s == kStateReady) return true;
  if ((tl_flags & kInInit) != 0) return false;
  const int self = pal::own_claim();
  for (;;) {
    if (pal::try_claim(g.state, kStateUninit, self, s) != pal::ClaimResult::kBusy) { // [LI1]
      tl_flags |= kInInit;
      do_init();
      tl_flags &= static_cast<std::uint8_t>(~kInInit);
      g.state.store_release(kStateReady); // [LI2]
      return true;
    }
    if (s == kStateReady) return true; // [LI3]: the failed CAS loaded it acquire
    pal::yield();
  }
}

void thread_exit() noexcept {
  ThreadCache* tc = tl_cache;
  tl_flags |= kExiting;
  large::thread_exit();
  if (tc == &kSentinel) return;
  flush_all(tc);
  flush_remote(tc);
  tl_cache = const_cast<ThreadCache*>(&kSentinel);
  core::SpinGuard guard(g.registry_lock);
  tc->live = false;
  tc->next_free = g.free_caches;
  g.free_caches = tc;
  g.live_threads.fetch_sub_relaxed(1);
  set_thread_bound_locked();
}

// Takes every lock of the allocator in the one order all other paths respect: the options
// record, the thread registry, each heap, each pool's pass flags (purging, sweeping), each
// arena's lock, then the large objects' (large.cpp). A path holding one of them takes only those
// after it (a heap's slow step carves under the arena lock; a purge pass releases superblocks
// under their arena's lock; carving gives large runs back under a shard's lock).
void fork_prepare() noexcept {
  // Already held: these handlers were registered twice (init redone in a fork child).
  if (tl_holds_all) return;
  // An init under way finishes first (see ensure_init); false only inside init, which never
  // forks.
  if (!ensure_init()) return;
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
  // The pools' pass flags before the arena locks: a purge pass holds its flag while it takes its
  // arena's lock for each superblock it releases, so taking the arenas first and then waiting for
  // the flags deadlocked a fork against a pass in flight (tests/core/purge_test.cpp).
  purge_fork_prepare();
  for (unsigned n = 0; n < g.nodes; ++n)
    g.arenas[n].lock.lock();
  large::fork_prepare();
  // Prepare handlers registered before ours (before the allocator's first use) run after it, and
  // parent and child handlers registered before ours run before ours: they may allocate, on this
  // thread, while it holds everything. It keeps using the heaps it holds, and enters the locked
  // sections of the registry, the arenas and the large objects without their locks
  // (ForkHeldGuard).
  set_holds_all(true);
}

void fork_parent() noexcept {
  // Only what this thread's fork_prepare took is released (once, when registered twice).
  if (!tl_holds_all) return;
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
  if (!tl_holds_all) return;
  set_holds_all(false);
  purge_thread::fork_child();
  purge_fork_release();
  large::fork_child();
  for (unsigned n = 0; n < g.nodes; ++n)
    g.arenas[n].lock.reset_in_child();
  remote_fork_child(); // while every heap is still held
  for (unsigned i = 0; i < g.heap_count; ++i)
    g.heaps[i].release_lock();
  // Only the forking thread survives; the caches of the others are leaked (their blocks stay
  // counted as in use).
  g.live_threads.store_relaxed(tl_cache != &kSentinel ? 1 : 0);
  set_thread_bound_locked(); // the registry lock is still held
  g.registry_lock.reset_in_child();
  config::reset_options_lock_in_child();
}

} // namespace hoardlab::mem
