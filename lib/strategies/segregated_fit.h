// Segregated fit: one free list per size class, with splitting and immediate coalescing. Layer:
// strategies.
//
// Wilson et al. 1995 ("segregated fits"): an array of free lists, each holding the free
// blocks of one size range; a request searches its own class (first fit within it) and, if
// that has nothing large enough, takes any block of the next non-empty larger class, splitting
// off the rest; freed blocks are merged with their neighbours and filed under the class of the
// merged size. It approximates best fit at the cost of a list pop, which is why dlmalloc and its
// descendants use it.
//
// Classes: four per power of two from 32 bytes up (a 25% spread), so class c holds sizes in
// [lower(c), lower(c + 1)); a bitmap of non-empty classes finds the next larger one in a few
// instructions.
//
// Invariants: every indexed block is on the list of class_of(its size), once; bit c of
// nonempty_ is set iff list c is non-empty; count_ is the number of indexed blocks.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "strategies/boundary_tags.h"
#include "strategies/coalescing_heap.h"

namespace hoardlab::strategies {

class SegregatedIndex {
public:
  static constexpr std::size_t kClassesPerDoubling = 4;
  static constexpr std::size_t kClasses = 64 * kClassesPerDoubling;

  // The class of a block of s bytes (s >= 32).
  static std::size_t class_of(std::size_t s) noexcept;
  // The smallest size class c holds.
  static std::size_t lower_bound(std::size_t c) noexcept;

  void insert(tags::Block* b, tags::Block* hint) noexcept;
  void remove(tags::Block* b) noexcept { unlink(b, class_of(b->size())); }
  void replace(tags::Block* old, tags::Block* b) noexcept {
    remove(old);
    insert(b, nullptr);
  }
  void resized(tags::Block* b, std::size_t old_size) noexcept;
  tags::Block* find(std::size_t need) noexcept;

  std::size_t size() const noexcept { return count_; }
  template <class F>
  void for_each(F&& f) const {
    for (const tags::Block* head : heads_)
      for (const tags::Block* b = head; b != nullptr; b = b->next_free)
        f(b);
  }
  std::string_view check() const noexcept;
  static constexpr std::string_view name() noexcept { return "segregated-fit"; }

private:
  void unlink(tags::Block* b, std::size_t c) noexcept;

  std::array<tags::Block*, kClasses> heads_{};
  std::array<std::uint64_t, kClasses / 64> nonempty_{};
  std::size_t count_ = 0;
};

extern template class CoalescingHeap<SegregatedIndex>;

using SegregatedFit = CoalescingHeap<SegregatedIndex>;
static_assert(Strategy<SegregatedFit>);

} // namespace hoardlab::strategies
