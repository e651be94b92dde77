// The remote-free handshakes on the owner's side and the freeing thread's: a superblock's
// remote list (push, notify, drain), the owner heap's pending stack, and the heap-queue
// messages. The freeing thread's batching is in remote_buffer.cpp.
#include "core/bits.h"
#include "mem/internal.h"
#include "numa/placement.h"
#include "numa/topology.h"
#include "pal/pal.h"

namespace hoardlab::mem {

/// The remote-free handshake: how a block freed by a thread that does not hold its superblock's
/// owner heap gets back to that superblock, and how the owner learns there is something to take.
///
/// Protocol:   any thread pushes a pre-linked chain onto sb->remote_head (push_chain). The push
///             that finds the list empty notifies (notify): it claims sb->in_pending and puts sb
///             on its owner heap's pending stack. The holder of that heap takes the stack whole
///             (drain_pending), releases each claim and takes each superblock's list. A pooled
///             superblock (owner == nullptr) is not announced: the thread that pops it takes its
///             list after it has made itself the owner (take_remote in adopt's callers). A holder
///             gives a superblock away (give_to_pool) only after claiming in_pending itself, so a
///             superblock never leaves a heap while it is on that heap's pending stack or while a
///             notification to that heap is in flight.
/// Invariants: (N1) remote_head != nullptr  implies one of: the owner is nullptr (the next popper
///                  takes the list); sb is on its owner's pending stack with in_pending set, or a
///                  notifier has claimed in_pending and will push it there or look again [PN3];
///                  the owner heap's holder is about to take the list (adopt, give).
///             (N2) in_pending == true  implies sb is on at most one pending stack, its owner's,
///                  or about to be pushed there, or the claim is a giver's or a notifier's that is
///                  being released; never set while sb sits in a pool.
///             (N3) a superblock on h's pending stack has owner == h (N2 and the giver's claim).
/// Ordering:   [RF1] the push's CAS is acq_rel: release publishes the chain's links to the taker;
///             acquire makes a pusher that found the list emptied by a take ([RF2], [AD1]) see
///             the owner the taker stored before it ([OW1]).
///             [RF2] the owner's take is an exchange, acq_rel, pairing with [RF1].
///             [AD1] store buffering: adopt stores owner [OW1], then takes the list; a pusher
///             CASes the list [RF1], then loads owner [OW2]. Both sides touch the list with a
///             read-modify-write, so the two RMWs are ordered: either the take comes later and
///             gets the block, or the pusher's CAS reads the take's value and, by acquire, sees
///             the new owner and notifies it. A relaxed "looks empty" load before the take would
///             reopen the race, so take_remote has none.
///             [PN1] the notifier's claim is an exchange, acq_rel.
///             [PN2] store buffering: the holder releases a claim, then looks at the list; a
///             pusher CASes the list, then tries to claim. The release is an RMW (exchange,
///             acq_rel): if the pusher's claim came first, the release reads it and sees its
///             push; otherwise the pusher's claim reads false and it notifies.
///             [PN3] a notifier that claimed in_pending and then found the superblock pooled
///             gives the claim back with an exchange (acq_rel) and looks at owner and list again:
///             a push that found its claim set relied on it, and the exchange makes that push and
///             the owner its taker stored visible.
///             [GV1] the giver claims in_pending with a CAS (acq_rel) before it drains and
///             stores owner = nullptr: a notifier's claim and the giver's are ordered, so no
///             notifier pushes sb onto the stack of a heap that gave it away (N2, N3). [GV2] it
///             gives the claim back with an exchange, like every write of the flag; a push whose
///             notifier found the giver's claim reaches the pool's next popper through [AD1]
///             (the popper's take is an RMW, so it reads the push, or the push reads the take).
///             [HN1] the push onto the pending stack is a CAS, release; [HN2] the holder's
///             exchange is acquire.
/// ABA:        remote_head and pending_head are emptied whole by exchange, never popped singly.
///             pending_next is written only by the notifier holding the claim (N2), before its
///             [HN1] push, and read by the holder before its [PN2] release.

// ---- the handshake's steps, each used by the allocator and by tests/litmus ----

void* take_list(Superblock* sb) noexcept {
  return sb->remote_head.exchange_acq_rel(nullptr); // [RF2] [AD1]
}

bool release_pending_claim(Superblock* sb) noexcept {
  sb->in_pending.exchange_acq_rel(false);           // [PN2]
  return sb->remote_head.load_relaxed() != nullptr; // after [PN2]: sees a push that relied on it
}

bool claim_for_give(Superblock* sb) noexcept {
  bool unclaimed = false;
  return sb->in_pending.cas_strong_acq_rel(unclaimed, true); // [GV1]
}

void release_give_claim(Superblock* sb) noexcept {
  sb->in_pending.exchange_acq_rel(false); // [GV2]
}

namespace {

// Returns a taken list of sb's blocks to sb's free list (the caller owns sb by holding h).
std::size_t return_list(Heap* h, Superblock* sb, void* list) noexcept {
  if (list == nullptr) return 0;
  std::size_t n = 1;
  void* tail = list;
  for (void* next; (next = sb->next_local(tail)) != nullptr; ++n)
    tail = next;
  if (n > sb->used) {
    // More blocks came back than were handed out: a double free. The count cannot be trusted;
    // keep the superblock consistent by clamping and report.
    pal::Message().text("hoardlab: double free detected in superblock ").hex(core::addr(sb)).emit();
    n = sb->used;
  }
  store_link(tail, sb->free_list);
  sb->free_list = list;
  sb->used -= static_cast<std::uint32_t>(n);
  std::size_t bytes = n * sb->block_size;
  h->u -= bytes;
  h->pending_bytes.fetch_sub_relaxed(static_cast<std::int64_t>(bytes));
  h->remote_drained.add_single_writer(n);
  regroup(h, sb);
  return n;
}

} // namespace

void notify(Superblock* sb) noexcept {
  for (;;) {
    if (sb->owner.load_acquire() == nullptr) return; // [OW2] pooled: the popper takes the list
    if (sb->in_pending.exchange_acq_rel(true))       // [PN1] announced, or its claimer looks again
      return;
    // The owner is stable while the claim is held, unless it is nullptr (N2: a giver claims
    // first); a pooled superblock may be adopted meanwhile, but only by a taker of its list.
    if (Heap* o = sb->owner.load_acquire()) { // [OW2]
      Superblock* old = o->pending_head.load_relaxed();
      do {
        sb->pending_next.store_relaxed(old);
      } while (!o->pending_head.cas_weak_release(old, sb)); // [HN1]
      return;
    }
    sb->in_pending.exchange_acq_rel(false); // [PN3]
    if (sb->remote_head.load_acquire() == nullptr) return;
  }
}

std::size_t drain_remote(Heap* h, Superblock* sb) noexcept {
  // The relaxed look is safe here, not in a hand-off: h has owned sb since before the pushes it
  // may miss, so each of those found the list non-empty or notified h (N1).
  if (sb->remote_head.load_relaxed() == nullptr) return 0;
  return return_list(h, sb, take_list(sb));
}

std::size_t take_remote(Heap* h, Superblock* sb) noexcept {
  return return_list(h, sb, take_list(sb));
}

void drain_pending(Heap* h) noexcept {
  if (h->pending_head.load_relaxed() == nullptr) return;
  Superblock* s = h->pending_head.exchange_acquire(nullptr); // [HN2]
  h->pending_blocks.store_relaxed(0);
  while (s != nullptr) {
    // The link first: once the claim is given back, a notifier may push s again.
    Superblock* next = s->pending_next.load_relaxed();
    if (release_pending_claim(s)) { // a later push notifies again
      if (s->owner.load_relaxed() == h)
        take_remote(h, s);
      else
        notify(s); // not expected (N3); the superblock's own owner is told
    }
    s = next;
  }
}

void push_chain(Superblock* sb, void* first, void* last) noexcept {
  void* old = sb->remote_head.load_relaxed();
  do {
    store_link(last, old);
  } while (!sb->remote_head.cas_weak_acq_rel(old, first)); // [RF1]
  if (old == nullptr) notify(sb);
}

// Only the forking thread lives on in the child, holding every heap. A thread that was between
// its claim of in_pending [PN1] and its push [HN1] (or its [PN3] release) when fork copied the
// process left the claim set with no stack entry, and every later push to that superblock would
// find the claim and rely on it: its blocks would stay in the list for good. So the claims are
// rebuilt from the superblocks themselves: each heap's superblocks (its lists are whole, since
// the child holds every heap) go on its pending stack, claimed, when their list has blocks, and
// are unclaimed otherwise; each pooled superblock is unclaimed (N2). A superblock another thread
// had popped from a pool and not yet adopted is lost with that thread's caches. Cost: a read of
// each header held by a heap or a pool, once per fork.
namespace {

void rebuild_claim(Superblock* sb, Heap* owner) noexcept {
  const bool announce = owner != nullptr && sb->remote_head.load_relaxed() != nullptr;
  if (sb->in_pending.load_relaxed() != announce) sb->in_pending.exchange_relaxed(announce);
  if (announce) {
    sb->pending_next.store_relaxed(owner->pending_head.load_relaxed());
    owner->pending_head.store_relaxed(sb);
  }
}

void rebuild_claims(core::IntrusiveList& list, Heap* owner) noexcept {
  for (core::ListNode* n = list.front(); n != nullptr; n = list.next_of(n))
    rebuild_claim(Superblock::of_link(n), owner);
}

// The child is alone: a stack is walked by popping it whole and pushing it back in order.
void unclaim_pooled(SuperblockStack& stack) noexcept {
  core::ListNode* chain = nullptr;
  while (Superblock* sb = stack.pop()) {
    rebuild_claim(sb, nullptr);
    sb->link.next = chain;
    chain = &sb->link;
  }
  while (chain != nullptr) {
    Superblock* sb = Superblock::of_link(chain);
    chain = chain->next;
    sb->link.next = nullptr;
    stack.push(sb);
  }
}

} // namespace

void remote_fork_child() noexcept {
  for (unsigned i = 0; i < g.heap_count; ++i) {
    Heap* h = &g.heaps[i];
    h->pending_head.store_relaxed(nullptr);
    if (!h->ready) continue;
    rebuild_claims(h->empty, h);
    for (std::size_t c = 0; c < g.classes.count(); ++c)
      for (unsigned gi = 0; gi <= g.groups; ++gi)
        rebuild_claims(row_of(h, c)[gi], h);
  }
  for (unsigned n = 0; n < g.nodes; ++n) {
    unclaim_pooled(g.pools[n].empty);
    for (std::size_t c = 0; c < g.classes.count(); ++c)
      unclaim_pooled(g.pools[n].partial[c]);
  }
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
  void* chain = h->queue.take_all(); // [MQ2]
  std::size_t back = 0;
  std::size_t back_bytes = 0;
  Superblock* run = nullptr; // the superblock of the blocks just put back, regrouped once
  for (void* p = chain; p != nullptr;) {
    void* next = next_block(p);
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
  h->pending_blocks.store_relaxed(0);
  h->pending_bytes.fetch_sub_relaxed(static_cast<std::int64_t>(back_bytes));
  h->remote_drained.add_single_writer(back);
  return back;
}

std::size_t drain_threshold() noexcept {
  return g.tune.drain_threshold.load_relaxed();
}

namespace {

void count_cross_node(const Superblock* sb, std::size_t n) noexcept {
  if (g.nodes <= 1) return;
  const auto here = static_cast<unsigned>(numa::current_node());
  if (here == sb->node) return;
  g.traffic[here < g.nodes ? here : 0].freed_into[sb->node].fetch_add_relaxed(n);
}

// n blocks were just sent to heap o: past the threshold, the freeing thread drains o itself (a
// heap nobody enters any more, its threads gone or moved, would keep them), if it can enter
// without waiting, and only if no thread entered o since the last crossing looked (idle_seen,
// shared with drain_an_idle_heap: "entries as the last looker saw it"). A crossing that finds o
// entered meanwhile starts the count again. Every entry drains o (on_acquire), so a heap whose
// threads enter it at least once per 2 x threshold blocks sent to it is never drained by a
// freeing thread; an idle one is drained at its second crossing, so at most about 2 x threshold
// blocks wait for it. Draining on the owner's behalf (xmalloc at 2 threads: 1 push in 80; a C++
// server: 1 in 46) moved the owner's heap, its lists and superblock headers to the freeing core
// and locked the owner out of its own heap meanwhile (pass-overs), for blocks the owner takes
// back itself at its next entry (paper_notes/peers-research.md, "Remote frees").
void drain_if_piling_up(Heap* o, std::size_t n) noexcept {
  auto n_signed = static_cast<std::int64_t>(n);
  auto threshold = static_cast<std::int64_t>(drain_threshold());
  if (o->pending_blocks.fetch_add_relaxed(n_signed) + n_signed < threshold || tl_holds_all) return;
  const std::uint32_t seen = o->entries.load_relaxed();
  if (o->idle_seen.load_relaxed() != seen) {
    // Racing benignly with other lookers and with the owner's reset of the count: a lost write
    // costs one crossing more or less.
    o->idle_seen.store_relaxed(seen);
    o->pending_blocks.store_relaxed(0);
    return;
  }
  if (o->try_acquire()) {
    on_acquire(o);
    release_heap(o);
  }
}

// Counts bytes pushed to sb as pending, before the push (so the sum never reads below what
// the lists hold once they settle): in the shard of the heap that owns sb now, or its pool's.
void count_pending(Superblock* sb, std::size_t bytes) noexcept {
  Heap* o = sb->owner.load_relaxed(); // picks a shard only: any owner, or none, would do
  (o != nullptr ? o->pending_bytes : pool_of(sb).pending_bytes)
      .fetch_add_relaxed(static_cast<std::int64_t>(bytes));
}

} // namespace

std::int64_t PendingBytes::load_relaxed() const noexcept {
  std::int64_t sum = 0;
  for (unsigned i = 0; i < g.heap_count; ++i)
    sum += g.heaps[i].pending_bytes.load_relaxed();
  for (unsigned n = 0; n < g.nodes; ++n)
    sum += g.pools[n].pending_bytes.load_relaxed();
  return sum;
}

void push_remote(Superblock* sb, void* first, void* last, std::size_t n) noexcept {
  count_pending(sb, n * sb->block_size);
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

void send_message(Heap* o, void* first, void* last, std::size_t n, std::size_t bytes) noexcept {
  o->pending_bytes.fetch_add_relaxed(static_cast<std::int64_t>(bytes));
  if (g.nodes > 1)
    for (void* p = first; p != nullptr; p = next_block(p))
      count_cross_node(superblock_of(p), 1);
  o->queue.send(first, last); // [MQ1]
  drain_if_piling_up(o, n);
}

// The popper of a pool superblock is its only user: it may drain the remote list without a
// heap (no heap counts its bytes while it is in the pool).
void drain_pooled(Superblock* sb) noexcept {
  if (sb->remote_head.load_relaxed() == nullptr) return;
  void* list = sb->remote_head.exchange_acq_rel(nullptr); // [RF2]
  std::size_t n = 0;
  void* tail = nullptr;
  for (void* p = list; p != nullptr; p = sb->next_local(p)) {
    tail = p;
    ++n;
  }
  if (n == 0) return;
  if (n > sb->used) n = sb->used;
  store_link(tail, sb->free_list);
  sb->free_list = list;
  sb->used -= static_cast<std::uint32_t>(n);
  pool_of(sb).pending_bytes.fetch_sub_relaxed(static_cast<std::int64_t>(n * sb->block_size));
  count_pooled_in_use(-static_cast<std::int64_t>(n * sb->block_size));
  g.pooled_remote_drained.fetch_add_relaxed(n); // remote frees drained with no heap to count them
}

} // namespace hoardlab::mem
