// The freeing thread's side of remote frees: blocks of other heaps are buffered (C2), grouped
// per destination and sent under the current remote.policy, or freed directly without a cache.
#include <bit>

#include "config/options.h"
#include "core/bits.h"
#include "mem/fast_path.h"
#include "mem/internal.h"

namespace hoardlab::mem {

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
    store_link(p, nullptr);
    send_message(o, p, p, 1, sb->block_size);
    return;
  }
  push_remote(sb, p, p, 1);
}

namespace {

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

} // namespace

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
    store_link(runs.last[r], nullptr);
    if (policy == config::RemotePolicy::HeapQueue) {
      send_message(o, runs.first[r], runs.last[r], runs.n[r], runs.bytes[r]);
      sent += runs.n[r];
      ++batches;
      return;
    }
    acquire_specific(o);
    std::size_t freed = 0;
    for (void* p = runs.first[r]; p != nullptr;) {
      void* next = next_block(p);
      Superblock* sb = superblock_of(p);
      if (sb->owner.load_relaxed() == o) {
        heap_free_local(o, sb, p);
        ++freed;
      } else {
        store_link(p, stale);
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
    store_link(p, nullptr);
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
      chain = next_block(p);
      void* sb = reinterpret_cast<void*>((core::addr(p) & mask) + kHeaderOffset); // superblock_of
      std::size_t r = RemoteRuns::slot_of_superblock(sb, shift);
      if (runs.to[r] != sb && runs.to[r] != nullptr) r = runs.probe(r, sb);
      if (runs.to[r] == sb) {
        store_link(p, runs.first[r]);
        runs.first[r] = p;
        ++runs.n[r];
      } else {
        start_run(r, sb, p);
      }
    }
  } else {
    while (chain != nullptr) {
      void* p = chain;
      chain = next_block(p);
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
        store_link(p, runs.first[r]);
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
    stale = next_block(p);
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

__attribute__((noinline)) void send_remote_buffer(ThreadCache* tc) noexcept {
  ErrnoGuard keep; // free preserves errno; a send may enter heaps and give memory back
  follow_cache_bound(tc);
  flush_remote(tc);
}

} // namespace hoardlab::mem
