// Processor heaps (Hoard §3): superblocks per size class in fullness groups, entered by an
// atomic try-acquire, and Hoard's emptiness invariant. The remote-free handshakes are in
// remote.cpp, the pool and the arenas in pool.cpp.

#include <new>

#include "config/options.h"
#include "core/bits.h"
#include "mem/internal.h"
#include "numa/placement.h"
#include "numa/topology.h"
#include "pal/pal.h"

namespace hoardlab::mem {

namespace {

void ensure_ready(Heap* h) noexcept {
  if (h->ready) return;
  h->empty.clear();
  for (std::size_t c = 0; c < g.classes.count(); ++c)
    for (unsigned gi = 0; gi <= g.groups; ++gi)
      new (&row_of(h, c)[gi]) core::IntrusiveList();
  h->ready = true;
}

core::IntrusiveList& list_of(Heap* h, Superblock* sb) noexcept {
  return sb->group == kEmptyGroup ? h->empty : row_of(h, sb->cls)[sb->group];
}

} // namespace

std::uint16_t group_for(const Superblock* sb) noexcept {
  if (sb->used == 0) return kEmptyGroup;
  if (sb->used >= sb->capacity) return static_cast<std::uint16_t>(g.groups);
  return static_cast<std::uint16_t>(static_cast<std::size_t>(sb->used) * g.groups / sb->capacity);
}

bool is_nonfull_group(std::uint16_t group) noexcept {
  return group < g.groups; // neither the full group nor kEmptyGroup
}

namespace {

// A superblock of class cls entered a non-full group (H4, H5).
void count_nonfull(Heap* h, std::size_t cls) noexcept {
  const std::uint64_t bit = std::uint64_t{1} << (cls % 64);
  const std::uint32_t n = ++h->nonfull[cls];
  if (n == 1) {
    ++h->nonfull_class_count;
    h->nonfull_classes[cls / 64] |= bit;
  } else if (n == 2) {
    h->spare_classes[cls / 64] |= bit;
  }
}

// A superblock of class cls left a non-full group (H4, H5).
void uncount_nonfull(Heap* h, std::size_t cls) noexcept {
  const std::uint64_t bit = std::uint64_t{1} << (cls % 64);
  const std::uint32_t n = --h->nonfull[cls];
  if (n == 0) {
    --h->nonfull_class_count;
    h->nonfull_classes[cls / 64] &= ~bit;
  } else if (n == 1) {
    h->spare_classes[cls / 64] &= ~bit;
  }
}

// Puts sb on the list of its group. An empty superblock keeps the class it last had; it is
// counted under no class, and format sets the class before it is linked for a new one.
void link(Heap* h, Superblock* sb) noexcept {
  list_of(h, sb).push_front(&sb->link);
  if (is_nonfull_group(sb->group)) count_nonfull(h, sb->cls);
}

void unlink(Heap* h, Superblock* sb) noexcept {
  list_of(h, sb).remove(&sb->link);
  if (is_nonfull_group(sb->group)) uncount_nonfull(h, sb->cls);
}

} // namespace

void regroup(Heap* h, Superblock* sb) noexcept {
  std::uint16_t ng = group_for(sb);
  if (ng == sb->group) return;
  const bool was_nonfull = is_nonfull_group(sb->group);
  list_of(h, sb).remove(&sb->link);
  sb->group = ng;
  list_of(h, sb).push_front(&sb->link);
  // Most moves stay on one side (a free or a refill between two non-full groups): no count.
  if (const bool nonfull = is_nonfull_group(ng); nonfull != was_nonfull) {
    if (nonfull)
      count_nonfull(h, sb->cls);
    else
      uncount_nonfull(h, sb->cls);
  }
}

namespace {

void format(Superblock* sb, std::size_t cls) noexcept {
  // Z1: blocks were handed out since the memory was zero (the bump pointer moved): reused memory.
  if (sb->bump != nullptr && sb->bump != sb->base() + sb->first_offset) sb->zero_state = kZeroNone;
  sb->cls = static_cast<std::uint32_t>(cls);
  sb->set_geometry(static_cast<std::uint32_t>(g.classes.size_of(cls)), g.class_capacity[cls],
                   g.class_offset[cls]);
  sb->free_list = nullptr;
  sb->bump = sb->base() + sb->first_offset;
  sb->end = sb->bump + static_cast<std::size_t>(sb->capacity) * sb->block_size;
  sb->used = 0;
}

// After u grew: the high-water mark (H2) is kept where u changes, on the heap's own line, so
// that it misses no peak between two readings of the statistics.
void raise_peak(Heap* h) noexcept {
  if (h->u > h->peak_u) h->peak_u = h->u;
}

// h takes sb (fresh, or popped from the pool): [OW1].
void adopt(Heap* h, Superblock* sb) noexcept {
  sb->owner.store_release(h); // [OW1]
  sb->group = group_for(sb);
  link(h, sb);
  h->a += g.sb_size;
  h->u += static_cast<std::size_t>(sb->used) * sb->block_size;
  raise_peak(h);
  ++h->superblocks;
}

} // namespace

void on_acquire(Heap* h) noexcept {
  ensure_ready(h);
  drain_pending(h);
  drain_queue(h);
  enforce_invariant(h);
}

namespace {

// Gives sb to its node's pool; false when it must stay for now (a notification to h is in
// flight: remote.cpp, N2).
bool give_to_pool(Heap* h, Superblock* sb) noexcept {
  // The giver claims in_pending first, so that sb never sits in a pool while it is on h's pending
  // stack or about to be pushed there (remote.cpp, [GV1]). A claim already held is h's own entry
  // (taken by drain_pending) or a notification in flight, which h keeps sb for.
  if (!claim_for_give(sb)) {
    drain_pending(h);
    if (!claim_for_give(sb)) return false;
  }
  // Ownership changes only after a drain: first the queue (it may hold blocks of sb), then sb's
  // own list. Blocks that arrive after this reach sb through its list (drain_queue forwards), and
  // its next owner takes them [AD1].
  drain_queue(h);
  take_remote(h, sb);
  unlink(h, sb);
  h->a -= g.sb_size;
  const std::size_t used_bytes = static_cast<std::size_t>(sb->used) * sb->block_size;
  h->u -= used_bytes;
  count_pooled_in_use(static_cast<std::int64_t>(used_bytes));
  --h->superblocks;
  h->to_pool.add_single_writer(1);
  Pool& p = pool_of(sb);
  sb->owner.store_release(nullptr); // [OW1]
  release_give_claim(sb);           // a notifier that found the claim held relied on it (N1)
  p.superblocks.fetch_add_relaxed(1);
  if (sb->used == 0)
    push_empty(p, sb);
  else
    p.partial[sb->cls].push(sb);
  return true;
}

// h takes a partial superblock popped from pool p; returns it when it has a free block (one
// that turns out full stays with h, as in Hoard), else nullptr.
Superblock* adopt_partial(Heap* h, Pool& p, Superblock* sb, std::size_t cls) noexcept {
  p.superblocks.fetch_sub_relaxed(1);
  h->from_pool.add_single_writer(1);
  count_pooled_in_use(
      -static_cast<std::int64_t>(static_cast<std::size_t>(sb->used) * sb->block_size));
  adopt(h, sb);
  take_remote(h, sb); // [AD1]
  if (sb->used == 0) {
    unlink(h, sb);
    format(sb, cls);
    sb->group = group_for(sb);
    link(h, sb);
  }
  return sb->has_free() ? sb : nullptr;
}

// A superblock with a free block of class cls from the pools, adopted by h; nullptr when the
// pools have none (now).
Superblock* from_pools(Heap* h, std::size_t cls) noexcept {
  Pool& pool = g.pools[h->node];
  // Partially used superblocks of this class first (Hoard's global heap), a few at a time.
  for (int tries = 0; tries < 4; ++tries) {
    Superblock* sb = pool.partial[cls].pop();
    if (sb == nullptr) break;
    if (adopt_partial(h, pool, sb, cls) != nullptr) return sb;
  }
  Superblock* sb = pop_empty(pool);
  if (sb == nullptr && g.nodes > 1) {
    // The own node's pool is dry: memory other nodes' heaps gave back is reused before fresh
    // memory is carved, nearest node first (a remote superblock is slower to use, but carving
    // one more would let the pools grow without bound while some node's pool sits idle).
    unsigned order[numa::kMaxNodes];
    const unsigned n = other_nodes_nearest_first(h->node, order);
    for (unsigned i = 0; i < n && sb == nullptr; ++i) {
      Pool& other = g.pools[order[i]];
      if (Superblock* part = other.partial[cls].pop())
        if (adopt_partial(h, other, part, cls) != nullptr) return part;
      sb = pop_empty(other);
    }
  }
  if (sb == nullptr) return nullptr;
  h->from_pool.add_single_writer(1);
  format(sb, cls);
  adopt(h, sb);
  return sb;
}

// A superblock with a free block of class cls for h, or nullptr when memory is exhausted.
Superblock* get_superblock(Heap* h, std::size_t cls) noexcept {
  if (core::ListNode* n = h->empty.front()) {
    Superblock* sb = Superblock::of_link(n);
    unlink(h, sb);
    format(sb, cls);
    sb->group = group_for(sb);
    link(h, sb);
    return sb;
  }
  // Fresh space is carved only when the pools had no superblock while no pass held any [PS1]:
  // no pass in flight before the look and none started during it (a pass that ended between a
  // failed look and a check made after it would otherwise go unseen). A pass pushes each
  // superblock back, or releases it to its arena, as soon as it is done with it, so the wait is
  // short unless the pass's thread is preempted; then the popper waits for it: carved space is
  // never given back, so growth for good is worse than a wait. Passes start rarely (a deferred
  // purge at most once per purge.delay_ms, a sweep when remote frees into pooled superblocks pass a
  // threshold, a trim), so a look with none starting comes soon.
  if (Superblock* sb = look_past_pool_passes([h, cls] { return from_pools(h, cls); }, [] {}))
    return sb;
  Superblock* sb = carve_superblock(static_cast<unsigned>(
      numa::superblock_node(static_cast<int>(h->node),
                            static_cast<numa::PlacementPolicy>(config::options().numa_policy))));
  if (sb == nullptr) return nullptr; // carve_superblock has tried every node's arena
  format(sb, cls);
  adopt(h, sb);
  return sb;
}

Superblock* fullest_with_free(Heap* h, std::size_t cls) noexcept {
  for (int gi = static_cast<int>(g.groups) - 1; gi >= 0; --gi) {
    core::ListNode* n = row_of(h, cls)[gi].front();
    if (n != nullptr) return Superblock::of_link(n);
  }
  return nullptr;
}

// The superblock H3 gives back first: an empty one, else the emptiest non-full superblock (the
// front of its class's lowest non-empty group) among the classes that hold a second non-full one
// (H5); nullptr when there is none. A class's only non-full superblock is never given back: the
// class's next refill would take a superblock again, and the blocks still in use in it would come
// back through the remote path (each such move cost a pool round trip in xmalloc and mstress).
// Giving it back would not help H3 either: a falls by S, but so does the allowance (K + C)S.
Superblock* emptiest(Heap* h) noexcept {
  if (core::ListNode* n = h->empty.front()) return Superblock::of_link(n);
  Superblock* best = nullptr;
  std::size_t best_bytes = SIZE_MAX;
  // Only the classes H5 marks, usually none or a few: this runs after every drain, flush and
  // refill while the invariant is violated.
  for (std::size_t word = 0; word < 2; ++word) {
    std::uint64_t bits = h->spare_classes[word];
    while (bits != 0) {
      std::size_t c = word * 64 + static_cast<std::size_t>(__builtin_ctzll(bits));
      bits &= bits - 1;
      for (unsigned gi = 0; gi < g.groups; ++gi) {
        core::ListNode* n = row_of(h, c)[gi].front();
        if (n == nullptr) continue;
        Superblock* sb = Superblock::of_link(n);
        std::size_t bytes = static_cast<std::size_t>(sb->used) * sb->block_size;
        if (bytes < best_bytes) {
          best = sb;
          best_bytes = bytes;
        }
        break;
      }
    }
  }
  return best;
}

} // namespace

bool invariant_violated(const Heap* h, std::size_t k, double f) noexcept {
  // u < a - (K + C)*S  and  u < (1-f) a
  return h->u + (k + h->nonfull_class_count) * g.sb_size < h->a &&
         static_cast<double>(h->u) < (1.0 - f) * static_cast<double>(h->a);
}

bool at_least_f_empty(const Superblock* sb, double f) noexcept {
  std::size_t used_bytes = static_cast<std::size_t>(sb->used) * sb->block_size;
  return static_cast<double>(g.sb_size - used_bytes) >= f * static_cast<double>(g.sb_size);
}

constinit thread_local bool tl_holds_all = false;

void set_holds_all(bool on) noexcept {
  tl_holds_all = on;
}

Heap* home_heap(ThreadCache* tc) noexcept {
  unsigned home = 0;
  std::uint32_t seq = tc != nullptr ? tc->seq : 0;
  if (tc == nullptr) {
    // A thread without a cache (exiting, or its cache could not be made): hash its TLS address.
    static constinit thread_local char tl_marker = 0;
    seq = static_cast<std::uint32_t>(core::addr(&tl_marker) >> 12);
  }
  switch (static_cast<config::HeapMapping>(g.mapping)) {
  case config::HeapMapping::Cpu: {
    home = g.heap_map.pu_slot[numa::current_pu()];
    // More threads than PUs with heap.count >= 2 x PUs: a thread's parity picks its half (by
    // default there is one heap per PU, and this never applies: lifecycle.cpp, do_init).
    if (g.crowded.load_relaxed() && g.heap_count >= 2 * g.pus) home += g.pus * (seq & 1u);
    break;
  }
  case config::HeapMapping::ThreadHash:
    home = static_cast<unsigned>((seq * 2654435761u) >> 7);
    break;
  case config::HeapMapping::PerThread:
    home = seq;
    break;
  }
  return &g.heaps[home % g.heap_count];
}

namespace {

// One entry in 64 of a thread into a heap probes one other heap for idleness on the way out.
constexpr std::uint32_t kProbeEvery = 64;

// The holder of h notes an entry of its own (not a drain on another's behalf).
void note_entry(Heap* h) noexcept {
  const std::uint32_t n = h->entries.load_relaxed() + 1;
  h->entries.store_relaxed(n);
  h->probe_due = n % kProbeEvery == 0;
}

// A heap no thread enters any more (its threads exited or moved) kept up to drain_threshold
// blocks of remote frees, and their superblocks, for good: only a freeing thread over the
// threshold drained it. So the heaps' holders take turns looking at the others, one heap per 64
// entries, round the heap array: a heap with pending frees that no thread entered since the
// last look is drained by the looker. With H heaps and E entries a second over all of them, an
// idle heap waits at most about 2 x 64 x H / E seconds (paper_notes/contention.md); a process
// that enters no heap at all allocates nothing, and needs nothing back.
void drain_an_idle_heap(unsigned cursor) noexcept {
  Heap* o = &g.heaps[cursor % g.heap_count];
  const std::uint32_t seen = o->entries.load_relaxed();
  const bool idle = o->idle_seen.load_relaxed() == seen;
  o->idle_seen.store_relaxed(seen);
  if (idle && o->pending_blocks.load_relaxed() > 0 && o->try_acquire()) {
    on_acquire(o);
    release_heap(o); // o->probe_due is false: only its own entries set it
  }
}

} // namespace

Heap* acquire_heap(ThreadCache* tc) noexcept {
  Heap* home_h = home_heap(tc);
  if (tc != nullptr) tc->set_home(home_h); // the free fast path's compare (C2)
  if (tl_holds_all) {
    ensure_ready(home_h);
    return home_h;
  }
  // Home and at most P-1 others per round (Hoard), in node-first order (heap_map.cpp); a round
  // after a yield goes on along that order, so a thread whose node's heaps are all busy waits
  // one yield for one of them before it takes a heap of the nearest node.
  unsigned tries = g.pus < g.heap_count ? g.pus : g.heap_count;
  std::uint64_t passes = 0;
  unsigned k = 0;
  for (;;) {
    for (unsigned i = 0; i < tries; ++i, k = k + 1 < g.heap_count ? k + 1 : 0) {
      Heap* h = k == 0 ? home_h : pass_over_candidate(home_h, k);
      if (h->try_acquire()) {
        if (passes != 0) {
          if (tc != nullptr)
            tc->pass_overs.add_single_writer(passes);
          else
            g.orphan_pass_overs.fetch_add_relaxed(passes);
        }
        note_entry(h);
        on_acquire(h);
        return h;
      }
      ++passes;
    }
    pal::yield();
  }
}

void enter_heap(Heap* h) noexcept {
  on_acquire(h);
}

void acquire_specific(Heap* h) noexcept {
  if (!tl_holds_all) {
    while (!h->try_acquire())
      pal::yield();
    note_entry(h);
  }
  on_acquire(h);
}

void release_heap(Heap* h) noexcept {
  h->pub_u.store_relaxed(h->u);
  h->pub_peak_u.store_relaxed(h->peak_u);
  h->pub_a.store_relaxed(h->a);
  h->pub_superblocks.store_relaxed(h->superblocks);
  h->pub_partial_classes.store_relaxed(h->nonfull_class_count);
#ifdef HOARDLAB_CHECKED
  // Every 16th slow-path step: the full walk is O(superblocks). H3 is left to check_invariants:
  // enforce_invariant judges a class by the front of its emptiest fullness group, and a
  // superblock of the same group behind it may be just at least f empty where the front is not.
  if ((++h->checks & 15u) == 0) check_heap(h, false);
#endif
  unsigned probe = 0; // 1 + the heap to probe for idleness, read before h is let go
  if (h->probe_due && !tl_holds_all && g.heap_count > 1) {
    h->probe_due = false;
    probe = 1 + (h->index + 1 + h->probe_cursor++ % (g.heap_count - 1)) % g.heap_count;
  }
  if (!tl_holds_all) h->release_lock();
  // Empty superblocks whose purge.delay_ms has run out are purged on the way out of a slow step.
  Pool& p = g.pools[h->node];
  if (p.deferred.load_relaxed() > 0) purge_deferred(p, false);
  if (probe != 0) drain_an_idle_heap(probe - 1);
}

namespace {
// The logical node of the allocating thread, for the local/remote allocation counters; 0 on a
// one-node machine without asking.
unsigned allocating_node() noexcept {
  if (g.nodes <= 1) return 0;
  auto here = static_cast<unsigned>(numa::current_node());
  return here < g.nodes ? here : 0;
}
} // namespace

std::size_t heap_allocate(Heap* h, std::size_t cls, std::size_t want, void** head) noexcept {
  std::size_t got = 0;
  void* chain = nullptr;
  const unsigned here = allocating_node();
  std::size_t remote = 0;
  while (got < want) {
    Superblock* sb = fullest_with_free(h, cls);
    if (sb == nullptr) {
      sb = get_superblock(h, cls);
      if (sb == nullptr) break;
    }
    std::size_t before = got;
    // The superblock's local blocks, then those its remote list brought, while it has any.
    do
      got += sb->take_blocks(want - got, &chain);
    while (got < want && drain_remote(h, sb) != 0);
    h->u += (got - before) * sb->block_size;
    raise_peak(h);
    if (sb->node != here) remote += got - before;
    regroup(h, sb);
  }
  if (remote != 0) g.traffic[here].remote_allocations.fetch_add_relaxed(remote);
  h->allocations.add_single_writer(got);
  *head = chain;
  // A refill can break H3: a class whose only non-full superblock it fills leaves C, which
  // lowers the allowance by S while a stays.
  enforce_invariant(h);
  return got;
}

void* heap_allocate_zeroed(Heap* h, std::size_t cls, bool* zero) noexcept {
  *zero = false;
  Superblock* sb = fullest_with_free(h, cls);
  if (sb == nullptr) sb = get_superblock(h, cls);
  if (sb == nullptr) return nullptr;
  // A superblock below the full group has a block in its free list or bump region (S1).
  bool from_bump = sb->free_list == nullptr && sb->bump < sb->end;
  bool z = from_bump && sb->bump_block_is_zero();
  void* p = sb->take_block();
  if (p == nullptr) { // defensive: every block is in the remote list
    heap_allocate(h, cls, 1, &p);
    if (p != nullptr) mark_in_use(p); // a chain of one: its block was linked
    return p;
  }
  h->u += sb->block_size;
  raise_peak(h);
  if (const unsigned here = allocating_node(); sb->node != here)
    g.traffic[here].remote_allocations.fetch_add_relaxed(1);
  regroup(h, sb);
  h->allocations.add_single_writer(1);
  enforce_invariant(h); // as after heap_allocate
  *zero = z;
  return p;
}

void heap_free_local(Heap* h, Superblock* sb, void* p) noexcept {
  heap_free_run(h, sb, p, p, 1);
}

void heap_free_run(Heap* h, Superblock* sb, void* first, void* last, std::size_t n) noexcept {
  sb->put_blocks(first, last, n);
  h->u -= n * sb->block_size;
  h->frees.add_single_writer(n);
  regroup(h, sb);
}

void enforce_invariant(Heap* h) noexcept {
  std::size_t k = g.tune.emptiness_k.load_relaxed();
  double f = g.tune.emptiness_f.load_relaxed();
  while (invariant_violated(h, k, f)) {
    Superblock* sb = emptiest(h);
    if (sb == nullptr || !at_least_f_empty(sb, f) || !give_to_pool(h, sb)) break;
  }
}

std::uint64_t heap_bound(const Heap* h, std::size_t k, double f) noexcept {
  // After enforce_invariant one of three holds: a <= u + (K + C)S; a <= u/(1-f); or nothing is
  // releasable, so every superblock but one non-full one per class is full or less than f empty,
  // hence at least (1-f)S used (for classes whose blocks fill a superblock to within f):
  // a <= C*S + u/(1-f).
  const std::uint64_t c = h->nonfull_class_count;
  const std::uint64_t slack = h->u + (k + c) * g.sb_size;
  const auto fraction = static_cast<std::uint64_t>(static_cast<double>(h->u) / (1.0 - f));
  const std::uint64_t emptiness = fraction + c * g.sb_size;
  return slack > emptiness ? slack : emptiness;
}

void heap_collect(Heap* h) noexcept {
  for (std::size_t c = 0; c < g.classes.count(); ++c) {
    for (unsigned gi = 0; gi <= g.groups; ++gi) {
      core::IntrusiveList& l = row_of(h, c)[gi];
      core::ListNode* n = l.front();
      while (n != nullptr) {
        core::ListNode* next = l.next_of(n); // saved: a drain may move n to another list
        drain_remote(h, Superblock::of_link(n));
        n = next;
      }
    }
  }
  for (core::ListNode* n = h->empty.front(); n != nullptr;) {
    core::ListNode* next = h->empty.next_of(n); // saved: a give unlinks n
    give_to_pool(h, Superblock::of_link(n));    // one that stays goes at the next collect
    n = next;
  }
  enforce_invariant(h);
}

} // namespace hoardlab::mem
