#include "strategies/fit_list.h"

namespace hoardlab::strategies {

using tags::Block;

namespace {
// The free block that ends at the epilogue (a zero-sized header): memory an sbrk heap would not
// have yet, which next and worst fit take only when no other block fits.
bool is_wilderness(const Block* b) noexcept {
  return b->next()->size() == 0;
}
} // namespace

void AddressOrderedIndex::insert(Block* b, Block* hint) noexcept {
  Block* prev = hint;
  if (prev == nullptr) {
    // The price of address order: find the last free block below b.
    for (Block* cur = head_; cur != nullptr && cur->address() < b->address(); cur = cur->next_free)
      prev = cur;
  }
  b->prev_free = prev;
  b->next_free = prev != nullptr ? prev->next_free : head_;
  if (b->next_free != nullptr) b->next_free->prev_free = b;
  if (prev != nullptr) {
    prev->next_free = b;
  } else {
    head_ = b;
  }
  ++count_;
}

void AddressOrderedIndex::remove(Block* b) noexcept {
  if (b->prev_free != nullptr) {
    b->prev_free->next_free = b->next_free;
  } else {
    head_ = b->next_free;
  }
  if (b->next_free != nullptr) b->next_free->prev_free = b->prev_free;
  // Next fit resumes after the block it took, as Knuth's roving pointer does.
  if (rover_ == b) rover_ = b->next_free;
  --count_;
}

void AddressOrderedIndex::replace(Block* old, Block* b) noexcept {
  // b is adjacent to old with no free block between them, so it inherits old's position.
  b->prev_free = old->prev_free;
  b->next_free = old->next_free;
  if (b->prev_free != nullptr) {
    b->prev_free->next_free = b;
  } else {
    head_ = b;
  }
  if (b->next_free != nullptr) b->next_free->prev_free = b;
  if (rover_ == old) rover_ = b;
}

Block* AddressOrderedIndex::find(std::size_t need) noexcept {
  switch (fit_) {
  case Fit::first:
    for (Block* b = head_; b != nullptr; b = b->next_free)
      if (b->size() >= need) return b;
    return nullptr;
  case Fit::best: {
    Block* best = nullptr;
    for (Block* b = head_; b != nullptr; b = b->next_free) {
      if (b->size() >= need && (best == nullptr || b->size() < best->size())) {
        best = b;
        if (b->size() == need) break;
      }
    }
    return best;
  }
  case Fit::worst: {
    // The wilderness (the block that ends at the epilogue) is passed over as next fit passes it:
    // it stands for memory an sbrk heap has not got yet, and taken as the largest block it
    // would serve every request from fresh memory while the region lasts (a high-water mark of
    // the whole region on every trace), which is not the policy but the fixed region.
    Block* worst = nullptr;
    Block* wilderness = nullptr;
    for (Block* b = head_; b != nullptr; b = b->next_free) {
      if (is_wilderness(b)) {
        wilderness = b;
      } else if (worst == nullptr || b->size() > worst->size()) {
        worst = b;
      }
    }
    if (worst != nullptr && worst->size() >= need) return worst;
    return wilderness != nullptr && wilderness->size() >= need ? wilderness : nullptr;
  }
  case Fit::next: {
    if (head_ == nullptr) return nullptr;
    // The block that ends at the epilogue is the wilderness: memory an sbrk heap would not have
    // yet. The roving search passes over it and takes it only when nothing else fits, the way
    // next fit on an sbrk heap extends the heap only after wrapping around without a fit
    // (the "wilderness preservation" heuristic Wilson et al. 1995 credit to Korn and Vo). Without
    // this the rover, once on the tail, stays there and never reuses a freed block while the region
    // lasts.
    Block* start = rover_ != nullptr ? rover_ : head_;
    Block* b = start;
    Block* wilderness = nullptr;
    do {
      if (b->size() >= need) {
        if (!is_wilderness(b)) {
          rover_ = b;
          return b;
        }
        wilderness = b;
      }
      b = b->next_free != nullptr ? b->next_free : head_;
    } while (b != start);
    if (wilderness != nullptr) rover_ = wilderness;
    return wilderness;
  }
  }
  return nullptr;
}

std::string_view AddressOrderedIndex::check() const noexcept {
  std::size_t n = 0;
  bool rover_seen = rover_ == nullptr;
  const Block* prev = nullptr;
  for (const Block* b = head_; b != nullptr; b = b->next_free) {
    if (b->prev_free != prev) return "list: a prev_free link is wrong";
    if (prev != nullptr && prev->address() >= b->address())
      return "list: the free list is not in address order";
    rover_seen = rover_seen || b == rover_;
    prev = b;
    if (++n > count_) return "list: more blocks on the list than counted";
  }
  if (n != count_) return "list: fewer blocks on the list than counted";
  if (!rover_seen) return "list: the next-fit rover is not on the list";
  return "";
}

std::string_view AddressOrderedIndex::name() const noexcept {
  switch (fit_) {
  case Fit::first:
    return "first-fit";
  case Fit::next:
    return "next-fit";
  case Fit::best:
    return "best-fit";
  case Fit::worst:
    return "worst-fit";
  }
  return "fit";
}

template class CoalescingHeap<AddressOrderedIndex>;

} // namespace hoardlab::strategies
