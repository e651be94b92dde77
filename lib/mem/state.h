// The allocator's process-wide state: one constinit, trivially destructible record, so that
// malloc may run before any constructor. Layer: mem.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/atomic.h"
#include "core/size_classes.h"
#include "core/spin_lock.h"
#include "mem/heap.h"
#include "mem/large_cache.h"
#include "mem/pool.h"
#include "mem/small_range.h"
#include "mem/thread_cache.h"
#include "numa/topology.h"
#include "pal/process_claim.h"

namespace hoardlab::mem {

// Globals::state (protocol in mem/lifecycle.cpp, ensure_init).
inline constexpr int kStateUninit = 0;
inline constexpr int kStateReady = 2;
// An init under way is a claim naming the process whose thread runs it (pal/process_claim.h): a
// fork child inherits the word with its parent's id, and knows from it that the thread is not
// here.
static_assert(!pal::is_claim(kStateUninit) && !pal::is_claim(kStateReady));

/// The run-time-settable options the allocator reads (hl_option_set may change them while
/// other threads allocate).
///
/// Protocol:   publish_options() (init, or hl_option_set after a change; serialized by the
///             options lock) copies them from the options table; every other thread only loads
///             them. cache_bytes and cache_epoch are derived from cache_option, cache_total and
///             the live thread count by set_thread_bound_locked (thread_cache.cpp), under the
///             registry lock, at each thread start and exit and after each publish.
/// Invariants: each option field holds a value the options table accepted (its range is checked
///             there); cache_bytes == min(cache_option, share(cache_total, live threads)) as of
///             the last registry change (thread_cache.cpp, "the process-wide budget").
/// Ordering:   relaxed both ways: each is an independent tunable, read afresh on each slow path;
///             no other data is published through them, and a reader seeing an old value for a
///             while is as correct as one that ran just before the change. The one exception is
///             cache_epoch: [CE1] its release store, after the store of the lowered cache_bytes,
///             pairs with [CE2], the acquire load of a thread's slow step, so a thread that sees
///             the new epoch reads the bound that bumped it or a later one.
/// ABA:        none (plain loads and stores; cache_epoch only grows, 2^64 lowerings apart).
/// Every field is zero until do_init's publish_options, and every reader runs after ensure_init:
/// see Globals for why no default is written here.
struct Tunables {
  core::Atomic<double> emptiness_f{0.0};
  core::Atomic<std::uint32_t> emptiness_k{0};
  core::Atomic<std::uint32_t> drain_threshold{0};
  core::Atomic<std::uint32_t> cache_batch{0};
  core::Atomic<std::uint32_t> remote_batch{0};
  core::Atomic<std::uint8_t> remote_policy{0}; // config::RemotePolicy
  // remote.keep as a mask on the block size: a block of another heap may stay in the freeing
  // thread's bin when (block_size & mask) == 0 (fast_path.h, buffer_remote_hit).
  core::Atomic<std::uint32_t> remote_keep_mask{0};
  core::Atomic<std::uint32_t> verbose{0};
  core::Atomic<bool> checked{false}; // general.checked (init-only: set once, before any block)
  core::Atomic<bool> report_misuse{false}; // hardened.on_error = report
  // The per-thread bound in effect (C1): cache.bytes, or the thread's share of
  // cache.total_bytes when that is lower. Written only when it changes.
  core::Atomic<std::uint64_t> cache_bytes{0};
  core::Atomic<std::uint64_t> cache_option{0}; // cache.bytes (0 under checked)
  core::Atomic<std::uint64_t> cache_total{0};  // cache.total_bytes
  // Bumped each time cache_bytes is lowered: a live thread's bins may then hold more than the
  // bound, and its next slow step brings them within it (follow_cache_bound, internal.h).
  core::Atomic<std::uint64_t> cache_epoch{0};
  core::Atomic<std::uint64_t> retain_superblocks{0};
  core::Atomic<std::uint64_t> purge_delay_ms{0};
  core::Atomic<std::uint64_t> large_decay_ms{0};
  core::Atomic<std::uint64_t> huge_pages_after{0}; // heap.huge_pages_after (0: never)
};

/// Large objects in use at their usable size, counted from allocation to free in the record of
/// the thread that allocated them, whichever thread frees them: the object's header names the
/// record (large::set_counter).
///
/// Protocol:   the allocating thread adds the bytes to its record's large_own and raises its
///             large_peak to large_own - large_remote, both plain stores of the owner's alone; a
///             free by that thread subtracts from large_own the same way; a free by any other
///             thread adds to the record's large_remote (an RMW). A record outlives its thread
///             (exited threads' records are reused, never unmapped), so the name stays valid.
///             Work without a thread cache (tl_cache is the sentinel) counts in g.large_orphan
///             by RMW, as the home shards did for all objects before.
/// Invariants: (LU1) for each record, large_own - large_remote is the bytes of its objects in
///             use, never below zero when read by the owner: a remote free subtracts only what
///             the owner added before it handed the pointer out.
///             (LU2) large_peak >= every value large_own - large_remote has had: the difference
///             only rises at the owner's adds, where the owner raises the peak from a
///             large_remote no newer than the true one (so from a difference no lower).
///             The total in use is the sum over records and the orphans; its peak is at most the
///             sum of the peaks, as for the heaps' u_i (stats.cpp).
/// Ordering:   relaxed throughout: statistics, no data hangs off them; a reader may see one
///             record's two words apart (clamped at zero in the sum).
/// ABA:        none (counters).
/// Why:        a home shard's line took a fetch_add at each large malloc and a fetch_sub at each
///             free, also when one thread's malloc/free loop was served from its own run cache
///             (paper_notes/contention.md); a thread's own pair is now plain adds and stores on
///             the line its slow-path count writes anyway. The objects installed (large
///             allocations) count in the record too (ThreadCache::large_allocations).
struct alignas(kLine) LargeInUse {
  core::Atomic<std::uint64_t> bytes{0};
  core::Atomic<std::uint64_t> peak{0};
};

/// The bytes in remote lists and heap-queue messages not yet drained, summed on demand from
/// shards (remote.cpp): a remote free adds to the shard of the heap that owned the superblock
/// when it looked (the pool's, for a pooled one), on the line it writes for pending_blocks
/// anyway; a drain subtracts from the draining heap's (or the pool's). One global counter here
/// was a read-modify-write of one line shared by every thread on every remote push and drain
/// (paper_notes/contention.md). Only the sum means anything: a shard goes negative when a
/// superblock changes owner between a push and its drain, and a sum read while pushes and
/// drains run is off by those in flight (the stats clamp it at 0). Read by the stats alone.
struct PendingBytes {
  std::int64_t load_relaxed() const noexcept;
};

/// Cross-node traffic counted by the thread that causes it, in the row of the node it runs on:
/// blocks a heap handed out to it from another node's superblock, and blocks it freed remotely
/// into another node's superblocks (by that node). A row is written only by threads of its node,
/// so the counters of cross-node traffic do not themselves cross nodes (one global line per
/// counter did, paper_notes/contention.md); slow paths only, so RMW is fine. The statistics
/// read node n's remote allocations from row n, its cross-node remote frees as the sum of
/// column n over the rows (stats.cpp).
struct alignas(64) NodeTraffic {
  core::Atomic<std::uint64_t> remote_allocations{0};
  core::Atomic<std::uint64_t> freed_into[numa::kMaxNodes];
};

// Which heap a thread enters (heap_map.cpp); fixed at init.
inline constexpr unsigned kMaxHeaps = 1024; // heap.count's upper bound
struct HeapMap {
  std::uint16_t pu_slot[numa::kMaxPus] = {};      // PU -> its slot, 0..P-1 (P = g.pus)
  std::uint16_t by_node[kMaxHeaps] = {};          // heap indices grouped by node
  std::uint16_t node_first[numa::kMaxNodes] = {}; // where node n's heaps start in by_node
  std::uint16_t node_count[numa::kMaxNodes] = {}; // and how many there are
};

// Everything here starts at zero and do_init sets the rest (lifecycle.cpp): a default that is
// not zero would move all of g (725 KiB, mostly the size-class lookup table) from .bss to .data,
// whose pages a program reads in from the file when it first touches g (the kernel maps the
// 64 KiB around a faulting file page): 116 KiB of a small program's resident set.
// tests/dropin/library_test.cpp checks where g lies.
struct Globals {
  core::Atomic<int> state{kStateUninit};
  Tunables tune;

  // Read on every free (relaxed: sb_mask and small_base change only during init, before any
  // block exists; small_readable only grows, before the superblocks it adds are carved: [SR1]).
  // The fast paths test against small_readable, the primary's readable prefix (small_range.h,
  // R4), so that no pointer they take for a block has a header that faults when read.
  core::Atomic<std::uintptr_t> small_base{0};
  core::Atomic<std::uintptr_t> small_readable{0};
  core::Atomic<std::uintptr_t> sb_mask{0};
  core::Atomic<std::uintptr_t> small_size{0}; // the primary's reserved bytes (under ranges.lock)

  // Fixed at init.
  std::size_t sb_size = 0;
  unsigned sb_shift = 0;
  bool huge_always = false; // the kernel's THP mode is "always" (pal::huge_pages_always); init
  std::size_t threshold = 0;
  std::size_t canary = 0; // hardened.canary: bytes at each small block's end (0 or 8); init only
  core::SizeClasses classes;
  std::uint32_t class_offset[core::SizeClasses::kMaxClasses] = {};
  std::uint32_t class_capacity[core::SizeClasses::kMaxClasses] = {};
  std::uint32_t cache_cap[core::SizeClasses::kMaxClasses] = {};
  unsigned groups = 0;
  unsigned pus = 0; // Hoard's P: the online PUs, each a slot of heap_map
  unsigned nodes = 0;
  unsigned heap_count = 0; // heaps allocated
  std::uint8_t mapping = 0;
  const numa::Topology* topology = nullptr;
  Heap* heaps = nullptr;
  HeapMap heap_map;
  Arena arenas[numa::kMaxNodes];
  core::StackSlots pool_slots; // the window every pool stack names its superblocks in
  Pool pools[numa::kMaxNodes];
  // The ranges opened after the primary (small_base/small_size), and the lock that grows
  // either: away from the line the fast paths read, since a step writes here.
  alignas(64) SmallRanges ranges;

  // live_threads > pus, read at every heap acquire (heap.mapping=cpu picks a half of 2 x P
  // heaps by it): derived under the registry lock and stored only when it flips, on a line of
  // its own, so that threads starting and exiting do not invalidate it for every acquirer.
  alignas(64) core::Atomic<bool> crowded{false};

  // Thread registry.
  alignas(64) core::SpinLock registry_lock;
  core::Atomic<ThreadCache*> all_caches{nullptr};
  ThreadCache* free_caches = nullptr;
  std::uint32_t next_seq = 0;
  core::Atomic<std::uint32_t> live_threads{0};
  char* meta_next = nullptr;
  char* meta_end = nullptr;

  // Counters of work done without a thread cache (slow paths only, so RMW is fine).
  core::Atomic<std::uint64_t> orphan_allocations{0};
  core::Atomic<std::uint64_t> orphan_large_allocations{0};
  core::Atomic<std::uint64_t> orphan_frees{0};
  core::Atomic<std::uint64_t> orphan_remote_sent{0};
  core::Atomic<std::uint64_t> orphan_remote_batches{0};
  core::Atomic<std::uint64_t> pooled_remote_drained{0}; // drained from pooled superblocks
  core::Atomic<std::uint64_t> orphan_pass_overs{0};
  PendingBytes pending_bytes; // bytes in remote lists, not yet drained
  core::Atomic<std::uint64_t> purged_bytes{0};
  // In use outside the heaps' u_i (stats.cpp): blocks counted in the `used` of pooled
  // superblocks (a heap gives a partly used superblock to the pool with its live blocks), and
  // large objects at their usable size; each with its high-water mark, raised by the RMW that
  // raised the count, so that no peak between two readings is missed.
  core::Atomic<std::int64_t> pooled_in_use{0};
  core::Atomic<std::uint64_t> pooled_peak{0};
  LargeInUse large_orphan; // large objects allocated without a thread cache
  core::Atomic<std::uint32_t> reported_foreign{0};
  // Cross-node traffic, one row per node of the threads that cause it (NodeTraffic).
  NodeTraffic traffic[numa::kMaxNodes];
};

// Hidden: the declaration, not only the definition, must say so, or every access from the shared
// objects goes through the GOT (-fvisibility=hidden covers definitions alone). The free fast path
// then reads small_base, small_readable and sb_mask as RIP-relative operands (bench/fastpath.sh:
// 3 instructions per free).
extern constinit Globals g [[gnu::visibility("hidden")]];

} // namespace hoardlab::mem
