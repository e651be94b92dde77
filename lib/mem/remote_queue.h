// A heap's message queue of remote frees, for remote.policy=heap-queue (snmalloc's message
// passing: frees are batched per destination heap and sent as one message). Layer: mem.
//
// A message is a chain of freed blocks linked through their first word (nullptr-terminated by
// its sender), possibly of several superblocks of the destination heap. Sending links the chain's
// last block to the message sent before it, so the queue is one chain of blocks, each linked as
// every free block is (free_link.h): no block carries anything else, and in the hardened build
// each keeps its check word, so a double free of any block of a message in flight, the first
// one included, is caught (a message link in the first block's second word took that word).
#pragma once

#include <cstddef>

#include "core/atomic.h"
#include "mem/free_link.h"

namespace hoardlab::mem {

/// Protocol:   send: any thread, with a chain it alone holds (blocks it freed and has not
///             published anywhere else). take_all: only the thread that holds the destination
///             heap; it then walks the chain and returns each block to its superblock.
/// Invariants: (Q1) a block is in at most one message, and a message in at most one queue;
///             (Q2) every block of a message was of a superblock whose owner was this heap when
///             the sender read it ([OW2]); it may have changed owner since (the drain forwards
///             such blocks to their superblock's own remote list, see heap.cpp).
///             (Q3) the blocks of messages in the queue are counted in their superblocks' `used`
///             (so none of those superblocks looks empty while a message names it).
/// Ordering:   [MQ1] send's CAS is release: it publishes the chain's links and the link from its
///             last block written before it; [MQ2] take_all's exchange is acquire and pairs with
///             [MQ1], so the drain reads complete chains.
/// ABA:        none: the queue is never popped one message at a time (take_all empties it whole
///             by exchange), and a send's CAS succeeds only when the head still equals the value
///             its last block was just linked to, which is all a push needs, whatever happened to
///             the head in between. Order: last sent, first drained; frees do not care.
class RemoteQueue {
public:
  // Sends the chain first..last (last's link is overwritten) as one message.
  void send(void* first, void* last) noexcept {
    void* old = head_.load_relaxed();
    do {
      store_link(last, old);
    } while (!head_.cas_weak_release(old, first)); // [MQ1]
  }

  // True when no message is waiting; a hint (relaxed), for skipping the exchange.
  bool looks_empty() const noexcept { return head_.load_relaxed() == nullptr; }

  // Every waiting message as one chain of blocks, newest message first.
  void* take_all() noexcept {
    return head_.exchange_acquire(nullptr); // [MQ2]
  }

private:
  core::Atomic<void*> head_{nullptr};
};

} // namespace hoardlab::mem
