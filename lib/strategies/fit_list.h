// Sequential fits over one address-ordered free list: first fit, next fit, best fit, worst fit.
// Layer: strategies.
//
// Wilson et al. 1995 ("sequential fits") and Knuth vol. 1 §2.5: the free blocks are kept on one
// doubly linked list in address order, and the policy only decides which fitting block to take:
//   first fit  the lowest-addressed block that fits;
//   next fit   the first block that fits after where the previous search stopped (Knuth's
//              "roving pointer"), wrapping around; the block at the end of the heap (the
//              wilderness) only when no other block fits;
//   best fit   the smallest block that fits (the first of them in address order; an exact fit
//              ends the search);
//   worst fit  the largest free block (the first of them in address order), so that what is
//              left of it stays large enough to be useful: the rationale Wilson et al. give for
//              it, and the policy they report fragmenting worst of the sequential fits (it
//              breaks up the large blocks a later large request needs). The wilderness only
//              when no other block fits, as for next fit. Kept as that reference point; it
//              searches the whole list every time.
// Address order is what Wilson et al. and Johnstone and Wilson 1998 found gives first fit its
// low fragmentation; its price is that a free block with no free neighbour walks the list to
// find its place (O(free blocks)). The benchmark in bench/strategies shows that cost.
#pragma once

#include <cstddef>
#include <string_view>

#include "strategies/boundary_tags.h"
#include "strategies/coalescing_heap.h"

namespace hoardlab::strategies {

enum class Fit { first, next, best, worst };

// Invariants: head_ .. via next_free visits every indexed block once, in strictly increasing
// address order; b->next_free->prev_free == b; count_ is the number visited; rover_ is nullptr
// or an indexed block.
class AddressOrderedIndex {
public:
  explicit AddressOrderedIndex(Fit fit = Fit::first) noexcept : fit_(fit) {}

  void insert(tags::Block* b, tags::Block* hint) noexcept;
  void remove(tags::Block* b) noexcept;
  void replace(tags::Block* old, tags::Block* b) noexcept;
  void resized(tags::Block*, std::size_t) noexcept {}
  tags::Block* find(std::size_t need) noexcept;

  std::size_t size() const noexcept { return count_; }
  template <class F>
  void for_each(F&& f) const {
    for (const tags::Block* b = head_; b != nullptr; b = b->next_free)
      f(b);
  }
  std::string_view check() const noexcept;
  std::string_view name() const noexcept;
  Fit fit() const noexcept { return fit_; }

private:
  Fit fit_;
  tags::Block* head_ = nullptr;
  tags::Block* rover_ = nullptr;
  std::size_t count_ = 0;
};

extern template class CoalescingHeap<AddressOrderedIndex>;

// FitAllocator fit(region, Fit::best): one implementation, four policies.
using FitAllocator = CoalescingHeap<AddressOrderedIndex>;
static_assert(Strategy<FitAllocator>);

} // namespace hoardlab::strategies
