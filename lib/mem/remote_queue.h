// A heap's message queue of remote frees, for remote.policy=heap-queue (snmalloc's message
// passing: frees are batched per destination heap and sent as one message). Layer: mem.
//
// A message is a chain of freed blocks linked through their first word (nullptr-terminated),
// possibly of several superblocks of the destination heap; the chain's first block carries the
// link to the next message in its second word. Every block is at least kGranule = 16 bytes, so
// both words exist, and both belong to the allocator while the block is free.
#pragma once

#include <cstddef>

#include "core/atomic.h"
#include "core/size_classes.h"

namespace hoardlab::mem {

/// Protocol:   send: any thread, with a chain it alone holds (blocks it freed and has not
///             published anywhere else). take_all: only the thread that holds the destination
///             heap; it then walks the messages and returns each block to its superblock.
/// Invariants: (Q1) a block is in at most one message, and a message in at most one queue;
///             (Q2) every block of a message was of a superblock whose owner was this heap when
///             the sender read it ([OW2]); it may have changed owner since (the drain forwards
///             such blocks to their superblock's own remote list, see heap.cpp).
///             (Q3) the blocks of messages in the queue are counted in their superblocks' `used`
///             (so none of those superblocks looks empty while a message names it).
/// Ordering:   [MQ1] send's CAS is release: it publishes the chain's links and the message link
///             written before it; [MQ2] take_all's exchange is acquire and pairs with [MQ1], so
///             the drain reads complete chains.
/// ABA:        none: the queue is never popped one message at a time (take_all empties it whole
///             by exchange), and a send's CAS succeeds only when the head still equals the value
///             its message link was just set to, which is all a push needs, whatever happened to
///             the head in between. Order: last sent, first drained; frees do not care.
class RemoteQueue {
public:
  static_assert(core::SizeClasses::kGranule >= 2 * sizeof(void*),
                "a message's first block holds the chain link and the message link");

  // Sends the chain first..(nullptr-terminated) as one message.
  void send(void* first) noexcept {
    void* old = head_.load_relaxed();
    do {
      set_next_message(first, old);
    } while (!head_.cas_weak_release(old, first)); // [MQ1]
  }

  // True when no message is waiting; a hint (relaxed), for skipping the exchange.
  bool looks_empty() const noexcept { return head_.load_relaxed() == nullptr; }

  // Every waiting message, newest first; walk them with next_message.
  void* take_all() noexcept {
    return head_.exchange_acquire(nullptr); // [MQ2]
  }

  static void* next_message(void* message) noexcept { return static_cast<void**>(message)[1]; }

private:
  static void set_next_message(void* message, void* next) noexcept {
    static_cast<void**>(message)[1] = next;
  }

  core::Atomic<void*> head_{nullptr};
};

} // namespace hoardlab::mem
