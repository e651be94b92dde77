// A heap of boundary-tagged blocks with immediate coalescing, parameterised by the index that
// keeps its free blocks. Layer: strategies.
//
// This is the Heap-Layers idea (Berger, Zorn and McKinley, PLDI 2001) at its smallest: the block
// format, splitting and coalescing are written once here; what differs between first fit, next
// fit, best fit and segregated fit is only how free blocks are found, so that is the Index:
//   AddressOrderedIndex (fit_list.h)     one address-ordered list, first / next / best / worst fit;
//   SegregatedIndex (segregated_fit.h)   one list per size class.
//
// An Index provides, for tags::Block* b and sizes n:
//   insert(b, hint)   b is free and not indexed; hint is a free block known to precede b in
//                     address order with no free block between them, or nullptr;
//   remove(b)         b is indexed and about to be allocated or merged (its size is unchanged);
//   replace(old, b)   old leaves the index and b, adjacent to it and now holding its memory,
//                     takes its place;
//   resized(b, n)     b stays indexed but its size changed from n;
//   find(n)           an indexed block of at least n bytes chosen by the policy, or nullptr;
//   size(), for_each(f), check() (empty when its own invariants hold), name().
//
// Invariants (check_invariants walks them):
//   T1 blocks tile [heap_, epilogue_): each header checks, sizes are granule multiples >= 48;
//   T2 a block's prev-allocated bit equals its predecessor's allocated bit;
//   T3 no two free blocks are adjacent (coalescing is immediate);
//   T4 every free block's footer equals its size, and the index holds exactly the free blocks.
// Errors: free() reports not_in_region and not_a_block for pointers that do not lead to a
// checking header, and double_free while the freed block's header survives (see
// boundary_tags.h); a block freed twice after its memory was handed out again at the same
// address is a legitimate free of the new block, which no header-based allocator can tell.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <utility>

#include "core/bits.h"
#include "strategies/boundary_tags.h"
#include "strategies/strategy.h"

namespace hoardlab::strategies {

template <class Index>
class CoalescingHeap {
public:
  // The index's constructor arguments follow the region (a fit policy, for instance).
  template <class... IndexArgs>
  explicit CoalescingHeap(std::span<std::byte> region, IndexArgs&&... index_args) noexcept;

  void* allocate(std::size_t size, std::size_t align = kDefaultAlign) noexcept;
  Status free(void* p) noexcept;
  // The block's payload bytes, or 0 for a pointer free() would refuse.
  std::size_t usable_size(void* p) const noexcept;

  FreeBlockStats free_stats() const noexcept;
  std::size_t high_water() const noexcept { return high_water_; }
  Status last_error() const noexcept { return last_error_; }
  std::string_view name() const noexcept { return index_.name(); }
  std::size_t free_block_count() const noexcept { return index_.size(); }
  // Bytes of the heap area, from the first header to the epilogue.
  std::size_t capacity() const noexcept {
    return heap_ == nullptr ? 0 : epilogue_->address() - heap_->address();
  }
  // Empty when T1-T4 hold, otherwise the first broken invariant.
  std::string_view check_invariants() const noexcept;

private:
  Status validate(void* p, tags::Block*& out) const noexcept;
  // Allocates from free block x (indexed or not), splitting off a tail remainder.
  void* place(tags::Block* x, std::size_t gross, bool indexed, tags::Block* hint) noexcept;

  std::byte* region_begin_;
  std::byte* region_end_;
  tags::Block* heap_ = nullptr;     // the first block; nullptr when the region is too small
  tags::Block* epilogue_ = nullptr; // a size-0 live header closing the heap
  std::size_t high_water_ = 0;
  Status last_error_ = Status::ok;
  Index index_;
};

// ---------------------------------------------------------------------------------------------

template <class Index>
template <class... IndexArgs>
CoalescingHeap<Index>::CoalescingHeap(std::span<std::byte> region,
                                      IndexArgs&&... index_args) noexcept
    : region_begin_(region.data()), region_end_(region.data() + region.size()),
      index_(std::forward<IndexArgs>(index_args)...) {
  using namespace tags;
  std::uintptr_t begin = core::round_up(core::addr(region_begin_), kGranule);
  std::uintptr_t end = core::round_down(core::addr(region_end_), kGranule);
  if (end <= begin || end - begin < kMinBlock + kHeader) return;
  heap_ = Block::at(begin);
  epilogue_ = Block::at(end - kHeader);
  heap_->set(end - kHeader - begin, kPrevAllocated);
  heap_->write_footer();
  epilogue_->set(0, kAllocated);
  index_.insert(heap_, nullptr);
}

template <class Index>
void* CoalescingHeap<Index>::allocate(std::size_t size, std::size_t align) noexcept {
  using namespace tags;
  if (!core::is_pow2(align)) {
    last_error_ = Status::bad_alignment;
    return nullptr;
  }
  if (size > capacity() || align > capacity()) {
    last_error_ = Status::too_large;
    return nullptr;
  }
  std::size_t gross =
      size <= kMinBlock - kHeader ? kMinBlock : core::round_up(size + kHeader, kGranule);
  // A stricter alignment asks for enough room to cut a free block of at least kMinBlock in
  // front of the aligned header; simple, and it can refuse a block that would just fit.
  std::size_t need = align <= kGranule ? gross : gross + align + kMinBlock;
  Block* b = index_.find(need);
  if (b == nullptr) {
    last_error_ = Status::out_of_memory;
    return nullptr;
  }
  if (align > kGranule) {
    std::uintptr_t payload = core::round_up(b->address() + kHeader, align);
    if (payload - kHeader != b->address() && payload - kHeader - b->address() < kMinBlock)
      payload = core::round_up(b->address() + kHeader + kMinBlock, align);
    std::size_t lead = payload - kHeader - b->address();
    if (lead > 0) {
      std::size_t old = b->size();
      b->set(lead, b->flags());
      b->write_footer();
      index_.resized(b, old);
      Block* x = Block::at(payload - kHeader);
      x->set(old - lead, 0); // follows the free lead block
      return place(x, gross, false, b);
    }
  }
  return place(b, gross, true, nullptr);
}

template <class Index>
void* CoalescingHeap<Index>::place(tags::Block* x, std::size_t gross, bool indexed,
                                   tags::Block* hint) noexcept {
  using namespace tags;
  std::size_t size = x->size();
  std::size_t prev_flag = x->flags() & kPrevAllocated;
  if (size - gross >= kMinBlock) {
    Block* rest = Block::at(x->address() + gross);
    rest->set(size - gross, kPrevAllocated);
    rest->write_footer();
    if (indexed) {
      index_.replace(x, rest);
    } else {
      index_.insert(rest, hint);
    }
    x->set(gross, kAllocated | prev_flag);
  } else {
    if (indexed) index_.remove(x);
    x->set(size, kAllocated | prev_flag);
    Block* after = x->next();
    after->set_flags(after->flags() | kPrevAllocated);
  }
  std::size_t end = x->address() + x->size() - heap_->address();
  if (end > high_water_) high_water_ = end;
  return x->payload();
}

template <class Index>
Status CoalescingHeap<Index>::validate(void* p, tags::Block*& out) const noexcept {
  using namespace tags;
  if (!in_range(p, region_begin_, region_end_)) return Status::not_in_region;
  std::uintptr_t a = core::addr(p);
  if (heap_ == nullptr || a < heap_->address() + kHeader || a >= epilogue_->address() ||
      (a - heap_->address()) % kGranule != 0)
    return Status::not_a_block;
  Block* b = Block::of_payload(p);
  if (!b->valid()) return Status::not_a_block;
  if (b->size() < kMinBlock || b->size() > epilogue_->address() - b->address())
    return Status::not_a_block;
  if (!b->allocated()) return Status::double_free;
  out = b;
  return Status::ok;
}

template <class Index>
Status CoalescingHeap<Index>::free(void* p) noexcept {
  using namespace tags;
  if (p == nullptr) return Status::ok;
  Block* b = nullptr;
  if (Status s = validate(p, b); s != Status::ok) return s;
  std::size_t size = b->size();
  Block* next = b->next();
  bool next_free = !next->allocated();
  Block* merged;
  if (!b->prev_allocated()) {
    // Merge into the free predecessor, which keeps its place in the index. b's header is
    // rewritten as free so that a second free of p is still reported as a double free.
    Block* prev = b->prev();
    std::size_t old = prev->size();
    std::size_t total = old + size;
    if (next_free) {
      total += next->size();
      index_.remove(next);
    }
    b->set_flags(b->flags() & ~kAllocated);
    prev->set(total, prev->flags());
    prev->write_footer();
    index_.resized(prev, old);
    merged = prev;
  } else if (next_free) {
    // b absorbs its free successor and takes its place in the index.
    b->set(size + next->size(), kPrevAllocated);
    b->write_footer();
    index_.replace(next, b);
    merged = b;
  } else {
    b->set(size, kPrevAllocated);
    b->write_footer();
    index_.insert(b, nullptr);
    merged = b;
  }
  Block* after = merged->next();
  after->set_flags(after->flags() & ~kPrevAllocated);
  return Status::ok;
}

template <class Index>
std::size_t CoalescingHeap<Index>::usable_size(void* p) const noexcept {
  tags::Block* b = nullptr;
  if (p == nullptr || validate(p, b) != Status::ok) return 0;
  return b->size() - tags::kHeader;
}

template <class Index>
FreeBlockStats CoalescingHeap<Index>::free_stats() const noexcept {
  FreeBlockStats s;
  index_.for_each([&](const tags::Block* b) {
    s.add_at(b->address() - heap_->address(), b->size(), high_water_);
  });
  return s;
}

template <class Index>
std::string_view CoalescingHeap<Index>::check_invariants() const noexcept {
  using namespace tags;
  if (heap_ == nullptr) return index_.size() == 0 ? "" : "an empty heap has indexed blocks";
  const Block* b = heap_;
  bool prev_allocated = true;
  std::size_t free_blocks = 0;
  while (b != epilogue_) {
    if (!b->valid()) return "T1: a header's check word is wrong";
    std::size_t s = b->size();
    if (s < kMinBlock || s % kGranule != 0 || s > epilogue_->address() - b->address())
      return "T1: a block's size is out of bounds";
    if (b->prev_allocated() != prev_allocated)
      return "T2: a prev-allocated bit disagrees with the block before it";
    if (!b->allocated()) {
      if (!prev_allocated) return "T3: two adjacent free blocks";
      if (b->footer() != s) return "T4: a free block's footer differs from its size";
      ++free_blocks;
    }
    prev_allocated = b->allocated();
    b = b->next();
  }
  if (!epilogue_->valid() || !epilogue_->allocated() || epilogue_->size() != 0)
    return "T1: the epilogue header is damaged";
  if (epilogue_->prev_allocated() != prev_allocated)
    return "T2: the epilogue's prev-allocated bit disagrees with the last block";
  if (free_blocks != index_.size()) return "T4: the index does not hold exactly the free blocks";
  bool indexed_live = false;
  index_.for_each([&](const Block* f) { indexed_live = indexed_live || f->allocated(); });
  if (indexed_live) return "T4: the index holds a live block";
  return index_.check();
}

} // namespace hoardlab::strategies
