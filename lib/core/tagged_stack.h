// A lock-free intrusive LIFO (Treiber stack) whose head is one 64-bit word: a 32-bit index that
// names the top node and a 32-bit ABA tag. Layer: core. Used by the global superblock pool, where
// the nodes are the S-aligned superblock headers of the reserved small-object range.
#pragma once

#include <cstdint>

#include "core/atomic.h"

namespace hoardlab::core {

/// Nodes are named by index, not address: node i (1 <= i <= kMaxNodes) lives at
/// base + (i - 1) * 2^shift, and index 0 names none. A node's link (Next) holds the index of the
/// node below it. An index and a tag fill one 64-bit word, so a plain 64-bit CAS suffices: no
/// 16-byte CAS, no libatomic.
///
/// Protocol:   use_slots once, before any push or pop; then push and pop by any thread. Nodes are
///             never unmapped while the stack may still hold or have held them (a pop may read
///             a node it then fails to take).
/// Invariants: head_ = tag << 32 | index(top), index(top) == 0 iff the stack is empty;
///             every node lies at a slot of the range, so its index is <= kMaxNodes < 2^32;
///             each node is in this stack at most once; pushes - pops == size;
///             tag == (successful pushes + successful pops) mod 2^32.
/// Ordering:   [TS1] push's CAS is release, publishing node->*Next and the node's contents;
///             [TS2] pop's load and both outcomes of its CAS are acquire and pair with [TS1].
///             [TS3] the link is read and written relaxed: its visibility rides on [TS1]/[TS2].
///             [TS4] pop's successful CAS is also release (acq_rel), so a thread that pops the
///             last node publishes what it wrote before that pop to any pop that then finds the
///             stack empty: that pop's [TS2] acquire reads the head it wrote, or a later one,
///             and every write of head_ is an RMW, which continues its release sequence
///             (message passing; reset() aside, which runs with no other thread about). A pass that
///             marks itself in flight and then empties the stack relies on it: a popper that finds
///             the stack empty sees the mark. empty() is a relaxed hint and carries no such
///             guarantee.
/// ABA:        every successful push and pop adds 1 to the tag, so a pop that read (top A, tag
///             t) and link B fails its CAS if any push or pop succeeded in between, unless their
///             number is a non-zero multiple of 2^32. Fooling it takes 2^32 moves of this stack
///             while one popper sits between its read and its CAS: about 6 hours at 200,000
///             pool moves/s (2^32 / 2e5 = 21,475 s), against 0.3 s for the 16-bit tag that the
///             low bits of a 64 KiB-aligned address gave, and 4,096 moves (one 20 ms preemption)
///             for their 12 bits at S = 4 KiB.
/// The slots nodes live in, shared by every stack over them (one record, not one per stack: the
/// pools hold thousands of stacks, all over the same range).
struct StackSlots {
  // Index 0 names no node, so 2^32 - 1 slots at most.
  static constexpr std::uint64_t kMaxNodes = 0xffff'ffffu;

  // Node i at base + (i - 1) * 2^shift, for (bytes >> shift) slots. Returns false, and keeps the
  // previous range, when the range has more than kMaxNodes slots (the indices could not name
  // them all).
  bool set(std::uintptr_t range_base, std::uint64_t range_bytes, unsigned range_shift) noexcept {
    if (range_shift >= 64 || (range_bytes >> range_shift) > kMaxNodes) return false;
    base = range_base;
    bytes = range_bytes;
    shift = range_shift;
    return true;
  }

  // Whether [p, p + n) lies within the range, so that its slots have indices.
  bool covers(std::uintptr_t p, std::uint64_t n) const noexcept {
    return p >= base && p - base <= bytes && n <= bytes - (p - base);
  }
  // The index of the slot at p (in the range), and the address of the slot an index names.
  std::uint32_t index_of(std::uintptr_t p) const noexcept {
    return static_cast<std::uint32_t>(((p - base) >> shift) + 1);
  }
  std::uintptr_t address_of(std::uint32_t index) const noexcept {
    return base + (std::uintptr_t{index - 1} << shift);
  }

  std::uintptr_t base = 0;
  std::uint64_t bytes = 0;
  unsigned shift = 0;
};

template <typename Node, Atomic<std::uint32_t> Node::*Next>
class TaggedStack {
public:
  static constexpr std::uint64_t kMaxNodes = StackSlots::kMaxNodes;

  constexpr TaggedStack() noexcept = default;

  // The slots the nodes live in; set once, before any push or pop, and outliving the stack.
  void use_slots(const StackSlots* slots) noexcept { slots_ = slots; }

  void push(Node* n) noexcept {
    const std::uint32_t index = index_of(n);
    std::uint64_t old = head_.load_relaxed();
    for (;;) {
      (n->*Next).store_relaxed(index_part(old));                       // [TS3]
      if (head_.cas_weak_release(old, word(index, tag_part(old) + 1))) // [TS1]
        return;
    }
  }

  // One pop in two halves, the read of the head and the CAS, so that a test can place other
  // operations where a preempted popper sits. pop() is exactly a loop over them.
  struct PopAttempt {
    std::uint64_t seen = 0;    // the head the attempt read
    std::uint64_t desired = 0; // what its CAS installs: the top's link, the tag plus one
    Node* top = nullptr;       // nullptr: the stack was empty
  };

  PopAttempt start_pop() const noexcept {
    return attempt_from(head_.load_acquire()); // [TS2]
  }

  // The attempt's CAS. On failure `a` starts over from the head the CAS found.
  bool finish_pop(PopAttempt& a) noexcept {
    if (head_.cas_weak_acq_rel(a.seen, a.desired)) // [TS2] [TS4]
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

  bool empty() const noexcept { return index_part(head_.load_relaxed()) == 0; }
  // Forgets every node (fork child, tests).
  void reset() noexcept { head_.store_relaxed(0); }

private:
  static std::uint32_t index_part(std::uint64_t w) noexcept {
    return static_cast<std::uint32_t>(w);
  }
  static std::uint32_t tag_part(std::uint64_t w) noexcept {
    return static_cast<std::uint32_t>(w >> 32);
  }
  // The tag wraps modulo 2^32 by unsigned arithmetic (see ABA).
  static std::uint64_t word(std::uint32_t index, std::uint32_t tag) noexcept {
    return std::uint64_t{tag} << 32 | index;
  }

  std::uint32_t index_of(const Node* n) const noexcept {
    return slots_->index_of(reinterpret_cast<std::uintptr_t>(n));
  }
  Node* node_at(std::uint32_t index) const noexcept {
    return index == 0 ? nullptr : reinterpret_cast<Node*>(slots_->address_of(index));
  }

  PopAttempt attempt_from(std::uint64_t seen) const noexcept {
    PopAttempt a;
    a.seen = seen;
    a.top = node_at(index_part(seen));
    if (a.top != nullptr) {
      // [TS3] may be stale (another thread may have taken the top since): the CAS decides.
      std::uint32_t next = (a.top->*Next).load_relaxed();
      a.desired = word(next, tag_part(seen) + 1);
    }
    return a;
  }

  Atomic<std::uint64_t> head_{0};
  const StackSlots* slots_ = nullptr;
};

} // namespace hoardlab::core
