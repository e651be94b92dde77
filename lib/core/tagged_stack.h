// A lock-free intrusive LIFO (Treiber stack) whose head carries an ABA tag in the low bits that
// the nodes' alignment leaves free. Layer: core. Used by the global superblock pool, where the
// nodes are S-aligned superblock headers and the tag takes the low log2(S) bits.
#pragma once

#include <cstdint>

#include "core/atomic.h"

namespace hoardlab::core {

/// Protocol:   push and pop by any thread. Nodes are never unmapped while the stack may still
///             hold or have held them (a pop may read a node it then fails to take).
/// Invariants: head_ = address(top) | tag, address aligned to align_ (so tag < align_);
///             each node is in this stack at most once; count of pushes - pops == size.
/// Ordering:   [TS1] push's CAS is release, publishing node->*Next and the node's contents;
///             [TS2] pop's load and CAS are acquire and pair with [TS1]. [TS3] the link is read
///             and written relaxed: its visibility rides on [TS1]/[TS2].
/// ABA:        every successful push and pop increments the tag, so a pop that read top = A and
///             next = B fails its CAS if A was popped and pushed back in between, unless exactly a
///             multiple of align_ operations happened in that window (2^12 or more for S >= 4 KiB).
template <typename Node, Atomic<std::uintptr_t> Node::*Next>
class TaggedStack {
public:
  constexpr TaggedStack() noexcept = default;
  // align: a power of two >= 2, the alignment every node has.
  void set_alignment(std::uintptr_t align) noexcept { mask_ = align - 1; }

  void push(Node* n) noexcept {
    std::uintptr_t old = head_.load_relaxed();
    for (;;) {
      (n->*Next).store_relaxed(old & ~mask_); // [TS3]
      std::uintptr_t desired = reinterpret_cast<std::uintptr_t>(n) | (((old & mask_) + 1) & mask_);
      if (head_.cas_weak_release(old, desired)) // [TS1]
        return;
    }
  }

  // One pop in two halves, the read of the head and the CAS, so that a test can place other
  // operations where a preempted popper sits. pop() is exactly a loop over them.
  struct PopAttempt {
    std::uintptr_t seen = 0;    // the head the attempt read
    std::uintptr_t desired = 0; // what its CAS installs: the top's link, the tag plus one
    Node* top = nullptr;        // nullptr: the stack was empty
  };

  PopAttempt start_pop() const noexcept {
    return attempt_from(head_.load_acquire()); // [TS2]
  }

  // The attempt's CAS. On failure `a` starts over from the head the CAS found.
  bool finish_pop(PopAttempt& a) noexcept {
    if (head_.cas_weak_acquire(a.seen, a.desired)) // [TS2]
      return true;
    a = attempt_from(a.seen);
    return false;
  }

  Node* pop() noexcept {
    PopAttempt a = start_pop();
    while (a.top != nullptr && !finish_pop(a)) {
    }
    return a.top;
  }

  bool empty() const noexcept { return (head_.load_relaxed() & ~mask_) == 0; }
  // Forgets every node (fork child, tests).
  void reset() noexcept { head_.store_relaxed(0); }

private:
  PopAttempt attempt_from(std::uintptr_t seen) const noexcept {
    PopAttempt a;
    a.seen = seen;
    a.top = reinterpret_cast<Node*>(seen & ~mask_);
    if (a.top != nullptr) {
      std::uintptr_t next = (a.top->*Next).load_relaxed(); // [TS3] may be stale; the CAS decides
      a.desired = next | (((seen & mask_) + 1) & mask_);
    }
    return a;
  }

  Atomic<std::uintptr_t> head_{0};
  std::uintptr_t mask_ = 0;
};

} // namespace hoardlab::core
