// Processor heaps, the per-node pool and the arenas: the slow paths of the allocator.
// Hoard §3 (heaps, fullness groups, the emptiness invariant) with lock-free remote frees.
#include <new>
#include <span>

#include "config/options.h"
#include "core/bits.h"
#include "mem/internal.h"
#include "mem/purge_thread.h"
#include "mem/yielding_guard.h"
#include "numa/placement.h"
#include "numa/topology.h"
#include "pal/pal.h"

namespace hoardlab::mem {

namespace {

constexpr std::uint16_t kEmptyGroup = 0xffff;
// Arenas are committed in chunks: fewer mprotect calls, and adjacent read-write ranges merge
// into one mapping, so the number of mappings stays small however many superblocks exist.
constexpr std::size_t kCommitChunk = std::size_t{4} << 20;

void ensure_ready(Heap* h) noexcept {
  if (h->ready) return;
  h->empty.clear();
  for (auto& cls_groups : h->groups)
    for (auto& l : cls_groups)
      l.clear();
  h->ready = true;
}

core::IntrusiveList& list_of(Heap* h, Superblock* sb) noexcept {
  return sb->group == kEmptyGroup ? h->empty : h->groups[sb->cls][sb->group];
}

std::uint16_t group_for(const Superblock* sb) noexcept {
  if (sb->used == 0) return kEmptyGroup;
  if (sb->used >= sb->capacity) return static_cast<std::uint16_t>(g.groups);
  return static_cast<std::uint16_t>(static_cast<std::size_t>(sb->used) * g.groups / sb->capacity);
}

bool is_nonfull_group(std::uint16_t group) noexcept {
  return group < g.groups; // neither the full group nor kEmptyGroup
}

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

void format(Superblock* sb, std::size_t cls) noexcept {
  // Z1: blocks were handed out since the memory was zero (the bump pointer moved): reused memory.
  if (sb->bump != nullptr && sb->bump != sb->base() + sb->first_offset) sb->zero_state = kZeroNone;
  sb->cls = static_cast<std::uint32_t>(cls);
  sb->block_size = static_cast<std::uint32_t>(g.classes.size_of(cls));
  sb->capacity = g.class_capacity[cls];
  sb->first_offset = g.class_offset[cls];
  sb->free_list = nullptr;
  sb->bump = sb->base() + sb->first_offset;
  sb->end = sb->bump + static_cast<std::size_t>(sb->capacity) * sb->block_size;
  sb->used = 0;
}

// h takes sb (fresh, or popped from the pool): [OW1].
void adopt(Heap* h, Superblock* sb) noexcept {
  sb->owner.store_release(h); // [OW1]
  sb->group = group_for(sb);
  link(h, sb);
  h->a += g.sb_size;
  h->u += static_cast<std::size_t>(sb->used) * sb->block_size;
  ++h->superblocks;
}

// The owner takes sb's whole remote list ([RF2]) and returns the blocks to its free list.
std::size_t drain_remote(Heap* h, Superblock* sb) noexcept {
  if (sb->remote_head.load_relaxed() == nullptr) return 0;
  void* list = sb->remote_head.exchange_acquire(nullptr); // [RF2]
  if (list == nullptr) return 0;
  std::size_t n = 1;
  void* tail = list;
  while (*static_cast<void**>(tail) != nullptr) {
    tail = *static_cast<void**>(tail);
    ++n;
  }
  if (n > sb->used) {
    // More blocks came back than were handed out: a double free. The count cannot be trusted;
    // keep the superblock consistent by clamping and report.
    pal::Message().text("hoardlab: double free detected in superblock ").hex(core::addr(sb)).emit();
    n = sb->used;
  }
  *static_cast<void**>(tail) = sb->free_list;
  sb->free_list = list;
  sb->used -= static_cast<std::uint32_t>(n);
  std::size_t bytes = n * sb->block_size;
  h->u -= bytes;
  g.pending_bytes.fetch_sub_relaxed(static_cast<std::int64_t>(bytes));
  h->remote_drained.add_single_writer(n);
  regroup(h, sb);
  return n;
}

// Tells sb's owner that sb has remote frees ([PN1], [HN1]).
void notify_owner(Superblock* sb) noexcept {
  if (sb->in_pending.exchange_acq_rel(true)) // [PN1] already on a pending stack
    return;
  Heap* o = sb->owner.load_acquire(); // [OW2]
  if (o == nullptr) {
    // In the pool: whoever pops it drains it.
    sb->in_pending.store_release(false); // [PN2]
    return;
  }
  Superblock* old = o->pending_head.load_relaxed();
  do {
    sb->pending_next.store_relaxed(old);
  } while (!o->pending_head.cas_weak_release(old, sb)); // [HN1]
}

void drain_pending(Heap* h) noexcept {
  if (h->pending_head.load_relaxed() == nullptr) return;
  Superblock* s = h->pending_head.exchange_acquire(nullptr); // [HN2]
  h->pending_blocks.store_relaxed(0);
  while (s != nullptr) {
    Superblock* next = s->pending_next.load_relaxed();
    s->in_pending.store_release(false); // [PN2] a later push notifies again
    if (s->owner.load_relaxed() == h)
      drain_remote(h, s);
    else if (s->remote_head.load_relaxed() != nullptr)
      notify_owner(s); // it changed owner since: tell the new one
    s = next;
  }
}

// Pushes a pre-linked chain of blocks of sb (first..last) onto sb's remote list ([RF1]) and
// tells the owner when the list was empty; the caller has done the accounting.
void push_chain(Superblock* sb, void* first, void* last) noexcept {
  void* old = sb->remote_head.load_relaxed();
  do {
    *static_cast<void**>(last) = old;
  } while (!sb->remote_head.cas_weak_release(old, first)); // [RF1]
  if (old == nullptr) notify_owner(sb);
}

// The holder of h takes h's whole message queue ([MQ2]) and returns each block to its
// superblock. Whatever the policy now is: messages sent before a switch of remote.policy are
// delivered by the next holder all the same.
//
// A block whose superblock changed owner while its message was in flight (h gave the superblock
// to the pool, and maybe another heap took it) is forwarded to that superblock's own remote list:
// the superblock list is the ground truth every owner drains (on notify, on entry through the
// pending stack, when popping it from the pool, when giving it away), so the block reaches the
// right superblock whoever owns it now, and its bytes stay pending until then. It cannot have
// been reformatted meanwhile: the block is still counted in its superblock's `used` (Q3).
std::size_t drain_queue(Heap* h) noexcept {
  if (h->queue.looks_empty()) return 0;
  void* message = h->queue.take_all(); // [MQ2]
  std::size_t back = 0;
  std::size_t back_bytes = 0;
  while (message != nullptr) {
    void* next_message = RemoteQueue::next_message(message);
    Superblock* run = nullptr; // the superblock of the blocks just put back, regrouped once
    for (void* p = message; p != nullptr;) {
      void* next = *static_cast<void**>(p);
      Superblock* sb = superblock_of(p);
      if (sb != run) {
        if (run != nullptr) regroup(h, run);
        run = nullptr;
      }
      if (sb->owner.load_relaxed() != h) {
        push_chain(sb, p, p); // forwarded; still pending
      } else if (sb->used == 0) {
        pal::Message()
            .text("hoardlab: double free detected in superblock ")
            .hex(core::addr(sb))
            .emit();
      } else {
        sb->put_block(p);
        h->u -= sb->block_size;
        back_bytes += sb->block_size;
        ++back;
        run = sb;
      }
      p = next;
    }
    if (run != nullptr) regroup(h, run);
    message = next_message;
  }
  h->pending_blocks.store_relaxed(0);
  g.pending_bytes.fetch_sub_relaxed(static_cast<std::int64_t>(back_bytes));
  h->remote_drained.add_single_writer(back);
  return back;
}

void on_acquire(Heap* h) noexcept {
  ensure_ready(h);
  drain_pending(h);
  drain_queue(h);
  enforce_invariant(h);
}

Pool& pool_of(const Superblock* sb) noexcept {
  return g.pools[sb->node];
}

// The caller holds sb alone (it is empty and off every stack, or not yet pushed).
std::size_t purge_blocks(Superblock* sb) noexcept {
  pal::purge(sb->base() + pal::kPageSize, g.sb_size - pal::kPageSize);
  sb->purged = true;
  sb->zero_state = kZeroAbovePage; // Z1: the block pages read as zero again
  sb->bump = nullptr;              // format then knows no block was handed out since
  g.purged_bytes.fetch_add_relaxed(g.sb_size - pal::kPageSize);
  return g.sb_size - pal::kPageSize;
}

// Puts an empty superblock (owner already nullptr) on its pool's empty stack. Beyond the
// retention bound its block pages go back to the OS, at once when purge.delay_ms is 0, else
// once the delay has passed (purge_deferred): a superblock emptied and reused again within the
// delay costs no madvise and no page faults. The header page stays, since a concurrent pop may
// read it (the pool's ABA argument).
void push_empty(Pool& p, Superblock* sb) noexcept {
  bool defer = false;
  std::uint64_t stamp = 0; // sb is not ours to read once pushed: a pop may reuse it at once
  if (!sb->purged) {
    if (static_cast<std::uint64_t>(p.unpurged_empty.load_relaxed()) >=
        g.tune.retain_superblocks.load_relaxed()) {
      if (g.tune.purge_delay_ms.load_relaxed() == 0) {
        purge_blocks(sb);
      } else {
        defer = true;
        stamp = pal::now_ms();
        sb->empty_since_ms = stamp;
        p.unpurged_empty.fetch_add_relaxed(1);
      }
    } else {
      p.unpurged_empty.fetch_add_relaxed(1);
    }
  }
  p.empty_count.fetch_add_relaxed(1);
  p.empty.push(sb);
  if (defer) {
    p.deferred.fetch_add_relaxed(1);
    std::uint64_t old = 0; // only the first deferred one sets the oldest stamp
    // The first one since the last pass tells the purge thread, if it runs; when it does not
    // take the notification (queue full), the slow paths purge this pool inline.
    if (p.oldest_deferred_ms.cas_strong_acq_rel(old, stamp) && purge_thread::active() &&
        !purge_thread::post_pool_due(static_cast<unsigned>(&p - g.pools)))
      p.purge_inline.store_relaxed(true);
  }
}

void give_to_pool(Heap* h, Superblock* sb) noexcept {
  // Ownership changes only after a drain: first the queue (it may hold blocks of sb), then sb's
  // own list. Blocks that arrive after this reach sb through its list (drain_queue forwards).
  drain_queue(h);
  drain_remote(h, sb);
  unlink(h, sb);
  h->a -= g.sb_size;
  h->u -= static_cast<std::size_t>(sb->used) * sb->block_size;
  --h->superblocks;
  h->to_pool.add_single_writer(1);
  Pool& p = pool_of(sb);
  sb->owner.store_release(nullptr); // [OW1]
  p.superblocks.fetch_add_relaxed(1);
  if (sb->used == 0)
    push_empty(p, sb);
  else
    p.partial[sb->cls].push(sb);
}

Superblock* pop_empty(Pool& p) noexcept {
  Superblock* sb = p.empty.pop();
  if (sb != nullptr) {
    p.superblocks.fetch_sub_relaxed(1);
    p.empty_count.fetch_sub_relaxed(1);
    if (!sb->purged) p.unpurged_empty.fetch_sub_relaxed(1);
    sb->purged = false;
    sb->empty_since_ms = 0;
  }
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
  Pool& pool = g.pools[h->node];
  // Partially used superblocks of this class first (Hoard's global heap), a few at a time: one
  // that turns out full stays with h, as in Hoard.
  for (int tries = 0; tries < 4; ++tries) {
    Superblock* sb = pool.partial[cls].pop();
    if (sb == nullptr) break;
    pool.superblocks.fetch_sub_relaxed(1);
    h->from_pool.add_single_writer(1);
    adopt(h, sb);
    drain_remote(h, sb);
    if (sb->used == 0) {
      unlink(h, sb);
      format(sb, cls);
      sb->group = group_for(sb);
      link(h, sb);
    }
    if (sb->has_free()) return sb;
  }
  Superblock* sb = pop_empty(pool);
  if (sb == nullptr && g.nodes > 1) {
    // The own node's pool is dry: memory other nodes' heaps gave back is reused before fresh
    // memory is carved, nearest node first (a remote superblock is slower to use, but carving
    // one more would let the pools grow without bound while some node's pool sits idle).
    int order[numa::kMaxNodes];
    int n = numa::nearest_nodes(static_cast<int>(h->node), std::span<int>(order, g.nodes));
    for (int i = 0; i < n && sb == nullptr; ++i) {
      if (order[i] < 0 || static_cast<unsigned>(order[i]) >= g.nodes ||
          static_cast<unsigned>(order[i]) == h->node)
        continue;
      Pool& other = g.pools[order[i]];
      if (Superblock* part = other.partial[cls].pop()) {
        other.superblocks.fetch_sub_relaxed(1);
        h->from_pool.add_single_writer(1);
        adopt(h, part);
        drain_remote(h, part);
        if (part->used == 0) {
          unlink(h, part);
          format(part, cls);
          part->group = group_for(part);
          link(h, part);
        }
        if (part->has_free()) return part;
      }
      sb = pop_empty(other);
    }
  }
  if (sb != nullptr) {
    h->from_pool.add_single_writer(1);
  } else {
    sb = carve_superblock(static_cast<unsigned>(
        numa::superblock_node(static_cast<int>(h->node),
                              static_cast<numa::PlacementPolicy>(config::options().numa_policy))));
    if (sb == nullptr && h->node != 0) sb = carve_superblock(h->node);
    if (sb == nullptr) return nullptr;
  }
  format(sb, cls);
  adopt(h, sb);
  return sb;
}

Superblock* fullest_with_free(Heap* h, std::size_t cls) noexcept {
  for (int gi = static_cast<int>(g.groups) - 1; gi >= 0; --gi) {
    core::ListNode* n = h->groups[cls][gi].front();
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
        core::ListNode* n = h->groups[c][gi].front();
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

} // namespace

std::size_t drain_threshold() noexcept {
  return g.tune.drain_threshold.load_relaxed();
}

Superblock* carve_superblock(unsigned node) noexcept {
  Arena& ar = g.arenas[node];
  YieldingGuard guard(ar.lock); // held across an mprotect when the arena commits more
  if (ar.next == nullptr || ar.next + g.sb_size > ar.limit) return nullptr;
  char* p = ar.next;
  if (p + g.sb_size > ar.committed) {
    std::size_t chunk = kCommitChunk > g.sb_size ? kCommitChunk : g.sb_size;
    if (ar.committed + chunk > ar.limit) chunk = static_cast<std::size_t>(ar.limit - ar.committed);
    if (!pal::commit(ar.committed, chunk)) return nullptr;
    ar.committed += chunk;
    ar.committed_bytes.store_relaxed(static_cast<std::uint64_t>(ar.committed - ar.begin));
  }
  ar.next = p + g.sb_size;
  Superblock* sb = new (p) Superblock();
  sb->node = node;
  return sb;
}

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
    home = static_cast<unsigned>(numa::current_pu()) % g.pus;
    // More threads than PUs: 2 x PUs heaps, a thread's parity picking its half.
    if (g.live_threads.load_relaxed() > g.pus && g.heap_count >= 2 * g.pus)
      home += g.pus * (seq & 1u);
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

Heap* acquire_heap(ThreadCache* tc) noexcept {
  Heap* home_h = home_heap(tc);
  if (tc != nullptr) tc->home = home_h; // the free fast path's compare (C2)
  auto home = static_cast<unsigned>(home_h - g.heaps);
  if (tl_holds_all) {
    ensure_ready(home_h);
    return home_h;
  }
  unsigned tries = g.pus < g.heap_count ? g.pus : g.heap_count; // home and at most P-1 others
  std::uint64_t passes = 0;
  for (;;) {
    for (unsigned i = 0; i < tries; ++i) {
      Heap* h = &g.heaps[(home + i) % g.heap_count];
      if (h->try_acquire()) {
        if (passes != 0) {
          if (tc != nullptr)
            tc->pass_overs.add_single_writer(passes);
          else
            g.orphan_pass_overs.fetch_add_relaxed(passes);
        }
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
  }
  on_acquire(h);
}

void release_heap(Heap* h) noexcept {
  h->pub_u.store_relaxed(h->u);
  h->pub_a.store_relaxed(h->a);
  h->pub_superblocks.store_relaxed(h->superblocks);
  h->pub_partial_classes.store_relaxed(h->nonfull_class_count);
#ifdef HOARDLAB_CHECKED
  // Every 16th slow-path step: the full walk is O(superblocks). H3 is left to check_invariants:
  // enforce_invariant judges a class by the front of its emptiest fullness group, and a
  // superblock of the same group behind it may be just at least f empty where the front is not.
  if ((++h->checks & 15u) == 0) check_heap(h, false);
#endif
  if (!tl_holds_all) h->release_lock();
  // Empty superblocks whose purge.delay_ms has run out are purged on the way out of a slow step.
  Pool& p = g.pools[h->node];
  if (p.deferred.load_relaxed() > 0) purge_deferred(p, false);
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
    if (sb->node != here) remote += got - before;
    regroup(h, sb);
  }
  if (remote != 0) g.remote_allocations[here].fetch_add_relaxed(remote);
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
  bool z = from_bump && sb->bump_block_is_zero(sb->bump, pal::kPageSize);
  void* p = sb->take_block();
  if (p == nullptr) { // defensive: every block is in the remote list
    heap_allocate(h, cls, 1, &p);
    return p;
  }
  h->u += sb->block_size;
  if (const unsigned here = allocating_node(); sb->node != here)
    g.remote_allocations[here].fetch_add_relaxed(1);
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

namespace {

void count_cross_node(const Superblock* sb, std::size_t n) noexcept {
  if (g.nodes > 1 && static_cast<unsigned>(numa::current_node()) != sb->node)
    g.cross_node_remote_frees[sb->node].fetch_add_relaxed(n);
}

// n blocks were just sent to heap o: past the threshold, the freeing thread drains o itself (a
// heap nobody enters any more, its threads gone or moved, would keep them), if it can enter
// without waiting.
void drain_if_piling_up(Heap* o, std::size_t n) noexcept {
  auto n_signed = static_cast<std::int64_t>(n);
  auto threshold = static_cast<std::int64_t>(drain_threshold());
  if (o->pending_blocks.fetch_add_relaxed(n_signed) + n_signed >= threshold && !tl_holds_all &&
      o->try_acquire()) {
    on_acquire(o);
    release_heap(o);
  }
}

} // namespace

void push_remote(Superblock* sb, void* first, void* last, std::size_t n) noexcept {
  g.pending_bytes.fetch_add_relaxed(static_cast<std::int64_t>(n * sb->block_size));
  count_cross_node(sb, n);
  push_chain(sb, first, last);
  Heap* o = sb->owner.load_acquire(); // [OW2]
  if (o == nullptr) {
    // In the pool: no heap drains it until it is popped. Past the threshold, the freeing
    // thread sweeps the pool, so superblocks emptied there are purged and reused.
    auto n_signed = static_cast<std::int64_t>(n);
    auto threshold = static_cast<std::int64_t>(drain_threshold());
    Pool& p = pool_of(sb);
    if (p.pending_blocks.fetch_add_relaxed(n_signed) + n_signed >= threshold) {
      p.pending_blocks.store_relaxed(0);
      sweep_pool(p); // skipped while another thread sweeps: that sweep or the next drains them
    }
    return;
  }
  drain_if_piling_up(o, n);
}

void send_message(Heap* o, void* first, std::size_t n, std::size_t bytes) noexcept {
  g.pending_bytes.fetch_add_relaxed(static_cast<std::int64_t>(bytes));
  if (g.nodes > 1)
    for (void* p = first; p != nullptr; p = *static_cast<void**>(p))
      count_cross_node(superblock_of(p), 1);
  o->queue.send(first); // [MQ1]
  drain_if_piling_up(o, n);
}

void enforce_invariant(Heap* h) noexcept {
  std::size_t k = g.tune.emptiness_k.load_relaxed();
  double f = g.tune.emptiness_f.load_relaxed();
  while (invariant_violated(h, k, f)) {
    Superblock* sb = emptiest(h);
    if (sb == nullptr || !at_least_f_empty(sb, f)) break;
    give_to_pool(h, sb);
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
      core::IntrusiveList& l = h->groups[c][gi];
      core::ListNode* n = l.front();
      while (n != nullptr) {
        core::ListNode* next = l.next_of(n); // saved: a drain may move n to another list
        drain_remote(h, Superblock::of_link(n));
        n = next;
      }
    }
  }
  while (core::ListNode* n = h->empty.front())
    give_to_pool(h, Superblock::of_link(n));
  enforce_invariant(h);
}

namespace {

// The popper of a pool superblock is its only user: it may drain the remote list without a
// heap (no heap counts its bytes while it is in the pool).
void drain_pooled(Superblock* sb) noexcept {
  if (sb->remote_head.load_relaxed() == nullptr) return;
  void* list = sb->remote_head.exchange_acquire(nullptr); // [RF2]
  std::size_t n = 0;
  void* tail = nullptr;
  for (void* p = list; p != nullptr; p = *static_cast<void**>(p)) {
    tail = p;
    ++n;
  }
  if (n == 0) return;
  if (n > sb->used) n = sb->used;
  *static_cast<void**>(tail) = sb->free_list;
  sb->free_list = list;
  sb->used -= static_cast<std::uint32_t>(n);
  g.pending_bytes.fetch_sub_relaxed(static_cast<std::int64_t>(n * sb->block_size));
  g.pooled_remote_drained.fetch_add_relaxed(n); // remote frees drained with no heap to count them
}

// Pops every superblock of a stack into a chain through link.next (unused while pooled).
core::ListNode* pop_all(SuperblockStack& st) noexcept {
  core::ListNode* chain = nullptr;
  while (Superblock* sb = st.pop()) {
    sb->link.next = chain;
    chain = &sb->link;
  }
  return chain;
}

} // namespace

bool sweep_pool(Pool& p) noexcept {
  // [SW1] one sweeper per pool; the others go on (their blocks are in the lists it drains, or
  // the next sweep's). The relaxed load first keeps the losers off the flag's cache line.
  if (p.sweeping.load_relaxed() || p.sweeping.exchange_acquire(true)) return false;
  // Partial superblocks whose blocks have all come back by remote frees become empty ones.
  for (std::size_t c = 0; c < g.classes.count(); ++c) {
    if (p.partial[c].empty()) continue;
    core::ListNode* chain = pop_all(p.partial[c]);
    while (chain != nullptr) {
      Superblock* sb = Superblock::of_link(chain);
      chain = chain->next;
      sb->link.next = nullptr;
      drain_pooled(sb);
      if (sb->used == 0)
        push_empty(p, sb);
      else
        p.partial[c].push(sb);
    }
  }
  p.sweeping.store_release(false);
  return true;
}

std::size_t purge_deferred(Pool& p, bool force) noexcept {
  if (p.deferred.load_relaxed() <= 0) return 0;
  // The purge thread takes due purges while it runs, unless it missed this pool's notification.
  if (!force && purge_thread::active() && !purge_thread::on_thread() &&
      !p.purge_inline.load_relaxed())
    return 0;
  std::uint64_t delay = g.tune.purge_delay_ms.load_relaxed();
  std::uint64_t oldest = p.oldest_deferred_ms.load_relaxed();
  std::uint64_t now = pal::now_ms();
  if (!force && (oldest == 0 || now < oldest + delay)) return 0;
  if (p.purging.load_relaxed() || p.purging.exchange_acquire(true)) return 0;
  // Take every empty superblock out and purge, oldest stamps first in effect, those whose delay
  // has run out while more than the retention bound stay unpurged. Pops meanwhile find the
  // stack empty for a moment and carve fresh memory; a pass runs at most once per delay.
  core::ListNode* chain = pop_all(p.empty);
  std::uint64_t retain = g.tune.retain_superblocks.load_relaxed();
  std::uint64_t next_oldest = 0;
  std::int64_t waiting = 0;
  std::size_t released = 0;
  while (chain != nullptr) {
    Superblock* sb = Superblock::of_link(chain);
    chain = chain->next;
    sb->link.next = nullptr;
    if (!sb->purged && sb->empty_since_ms != 0) {
      bool over = static_cast<std::uint64_t>(p.unpurged_empty.load_relaxed()) > retain;
      if (over && (force || now >= sb->empty_since_ms + delay)) {
        released += purge_blocks(sb);
        sb->empty_since_ms = 0;
        p.unpurged_empty.fetch_sub_relaxed(1);
      } else if (over) {
        ++waiting;
        if (next_oldest == 0 || sb->empty_since_ms < next_oldest) next_oldest = sb->empty_since_ms;
      } else {
        sb->empty_since_ms = 0; // within the retention bound now: kept unpurged
      }
    }
    p.empty.push(sb);
  }
  p.deferred.store_relaxed(waiting);
  p.oldest_deferred_ms.store_relaxed(next_oldest);
  if (waiting == 0) p.purge_inline.store_relaxed(false);
  p.purging.store_release(false);
  return released;
}

// No purge pass may be in flight across fork: a pass holds a pool's empty superblocks in a
// private chain, which the child would lose. The forking thread takes every pool's pass flag.
void purge_fork_prepare() noexcept {
  for (unsigned n = 0; n < g.nodes; ++n) {
    while (g.pools[n].purging.exchange_acquire(true))
      pal::yield();
    while (g.pools[n].sweeping.exchange_acquire(true)) // [SW1]: a sweep's chain, likewise
      pal::yield();
  }
}
void purge_fork_release() noexcept {
  for (unsigned n = 0; n < g.nodes; ++n) {
    g.pools[n].sweeping.store_release(false);
    g.pools[n].purging.store_release(false);
  }
}

std::size_t purge_pools() noexcept {
  std::size_t released = 0;
  for (unsigned node = 0; node < g.nodes; ++node) {
    Pool& p = g.pools[node];
    sweep_pool(p);
    // Take every empty superblock out, purge it, put it back. Pops meanwhile find the stack
    // empty for a moment and carve fresh memory; trimming is rare.
    core::ListNode* chain = pop_all(p.empty);
    while (chain != nullptr) {
      Superblock* sb = Superblock::of_link(chain);
      chain = chain->next;
      sb->link.next = nullptr;
      if (!sb->purged) {
        released += purge_blocks(sb);
        p.unpurged_empty.fetch_sub_relaxed(1);
      }
      p.empty.push(sb);
    }
  }
  return released;
}

int check_heap(Heap* h, bool emptiness) noexcept {
  int bad = 0;
  auto report = [&](const char* what) {
    ++bad;
    pal::Message()
        .text("hoardlab: invariant violated in heap ")
        .num(h->index)
        .text(": ")
        .text(what)
        .emit();
  };
  std::size_t u = 0;
  std::size_t count = 0;
  bool releasable = false;
  double f = g.tune.emptiness_f.load_relaxed();
  std::uint32_t nonfull = 0; // of the class being visited
  bool some_f_empty = false; // among the class's non-full superblocks
  auto visit = [&](core::IntrusiveList& l, std::uint32_t cls, std::uint16_t group) {
    for (core::ListNode* n = l.front(); n != nullptr; n = l.next_of(n)) {
      Superblock* sb = Superblock::of_link(n);
      ++count;
      if (sb->owner.load_relaxed() != h) report("H1: a listed superblock has another owner");
      if (group != kEmptyGroup && sb->cls != cls)
        report("H1: superblock in the list of another class");
      if (sb->group != group || group_for(sb) != group)
        report("H1: superblock in the wrong fullness group");
      if (sb->used > sb->capacity) report("S1: used exceeds capacity");
      u += static_cast<std::size_t>(sb->used) * sb->block_size;
      if (group == kEmptyGroup) releasable = true;
      if (is_nonfull_group(group)) {
        ++nonfull;
        if (at_least_f_empty(sb, f)) some_f_empty = true;
      }
    }
  };
  visit(h->empty, 0, kEmptyGroup);
  std::size_t classes = 0;
  for (std::size_t c = 0; c < g.classes.count(); ++c) {
    nonfull = 0;
    some_f_empty = false;
    for (unsigned gi = 0; gi <= g.groups; ++gi)
      visit(h->groups[c][gi], static_cast<std::uint32_t>(c), static_cast<std::uint16_t>(gi));
    const std::uint64_t bit = std::uint64_t{1} << (c % 64);
    if (nonfull != h->nonfull[c]) report("H4: a class's count of non-full superblocks is wrong");
    if (((h->nonfull_classes[c / 64] & bit) != 0) != (nonfull >= 1))
      report("H4: a class's non-full bit is wrong");
    if (((h->spare_classes[c / 64] & bit) != 0) != (nonfull >= 2))
      report("H5: a class's spare bit is wrong");
    if (nonfull >= 1) ++classes;
    if (nonfull >= 2 && some_f_empty) releasable = true;
  }
  if (classes != h->nonfull_class_count) report("H4: C differs from the classes counted");
  if (u != h->u) report("H2: u differs from the sum over its superblocks");
  if (count != h->superblocks || count * g.sb_size != h->a)
    report("H2: a differs from S times its superblocks");
  if (emptiness && invariant_violated(h, g.tune.emptiness_k.load_relaxed(), f) && releasable)
    report("H3: emptiness invariant broken while a superblock is releasable");
  return bad;
}

} // namespace hoardlab::mem
