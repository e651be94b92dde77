// The remote-free handshakes on the owner's side and the freeing thread's: a superblock's
// remote list (push, notify, drain), the owner heap's pending stack, and the heap-queue
// messages. The freeing thread's batching is in remote_buffer.cpp.
#include "core/bits.h"
#include "mem/internal.h"
#include "numa/placement.h"
#include "numa/topology.h"
#include "pal/pal.h"

namespace hoardlab::mem {

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

namespace {

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

} // namespace

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

namespace {

// Pushes a pre-linked chain of blocks of sb (first..last) onto sb's remote list ([RF1]) and
// tells the owner when the list was empty; the caller has done the accounting.
void push_chain(Superblock* sb, void* first, void* last) noexcept {
  void* old = sb->remote_head.load_relaxed();
  do {
    *static_cast<void**>(last) = old;
  } while (!sb->remote_head.cas_weak_release(old, first)); // [RF1]
  if (old == nullptr) notify_owner(sb);
}

} // namespace

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

std::size_t drain_threshold() noexcept {
  return g.tune.drain_threshold.load_relaxed();
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

} // namespace hoardlab::mem
