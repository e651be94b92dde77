#include "strategies/segregated_fit.h"

#include <bit>

namespace hoardlab::strategies {

using tags::Block;

std::size_t SegregatedIndex::class_of(std::size_t s) noexcept {
  // s >= 32: the top bit gives the doubling (from 2^5), the next two bits the quarter.
  auto top = static_cast<std::size_t>(std::bit_width(s) - 1);
  return (top - 5) * kClassesPerDoubling + ((s >> (top - 2)) & (kClassesPerDoubling - 1));
}

std::size_t SegregatedIndex::lower_bound(std::size_t c) noexcept {
  std::size_t top = c / kClassesPerDoubling + 5;
  return (kClassesPerDoubling + c % kClassesPerDoubling) << (top - 2);
}

void SegregatedIndex::insert(Block* b, Block*) noexcept {
  // LIFO within a class: the block freed last is reused first, while it is still in cache.
  std::size_t c = class_of(b->size());
  b->prev_free = nullptr;
  b->next_free = heads_[c];
  if (heads_[c] != nullptr) heads_[c]->prev_free = b;
  heads_[c] = b;
  nonempty_[c / 64] |= std::uint64_t{1} << (c % 64);
  ++count_;
}

void SegregatedIndex::unlink(Block* b, std::size_t c) noexcept {
  if (b->prev_free != nullptr) {
    b->prev_free->next_free = b->next_free;
  } else {
    heads_[c] = b->next_free;
  }
  if (b->next_free != nullptr) b->next_free->prev_free = b->prev_free;
  if (heads_[c] == nullptr) nonempty_[c / 64] &= ~(std::uint64_t{1} << (c % 64));
  --count_;
}

void SegregatedIndex::resized(Block* b, std::size_t old_size) noexcept {
  std::size_t old_class = class_of(old_size);
  if (old_class == class_of(b->size())) return;
  unlink(b, old_class);
  insert(b, nullptr);
}

Block* SegregatedIndex::find(std::size_t need) noexcept {
  std::size_t c = class_of(need);
  // The request's own class may hold blocks smaller than need: first fit within it.
  for (Block* b = heads_[c]; b != nullptr; b = b->next_free)
    if (b->size() >= need) return b;
  // Every block of a larger class fits; take the first block of the nearest non-empty one.
  for (std::size_t w = (c + 1) / 64; w < nonempty_.size(); ++w) {
    std::uint64_t bits = nonempty_[w];
    if (w == (c + 1) / 64) bits &= ~std::uint64_t{0} << ((c + 1) % 64);
    if (bits != 0) return heads_[w * 64 + static_cast<std::size_t>(std::countr_zero(bits))];
  }
  return nullptr;
}

std::string_view SegregatedIndex::check() const noexcept {
  std::size_t n = 0;
  for (std::size_t c = 0; c < kClasses; ++c) {
    bool bit = (nonempty_[c / 64] >> (c % 64)) & 1u;
    if (bit != (heads_[c] != nullptr)) return "segregated: a non-empty bit disagrees with its list";
    const Block* prev = nullptr;
    for (const Block* b = heads_[c]; b != nullptr; b = b->next_free) {
      if (b->prev_free != prev) return "segregated: a prev_free link is wrong";
      if (class_of(b->size()) != c) return "segregated: a block is filed under the wrong class";
      prev = b;
      if (++n > count_) return "segregated: more blocks on the lists than counted";
    }
  }
  if (n != count_) return "segregated: fewer blocks on the lists than counted";
  return "";
}

template class CoalescingHeap<SegregatedIndex>;

} // namespace hoardlab::strategies
