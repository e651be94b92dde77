#include "strategies/buddy.h"

#include <bit>
#include <cstring>

#include "core/bits.h"

namespace hoardlab::strategies {

namespace {
std::size_t base_align_for(unsigned order) {
  std::size_t top = std::size_t{1} << order;
  return top < BuddyAllocator::kMaxBaseAlign ? top : BuddyAllocator::kMaxBaseAlign;
}
} // namespace

std::size_t BuddyAllocator::region_bytes_for(unsigned order) noexcept {
  std::size_t top = std::size_t{1} << order;
  return base_align_for(order) - 1 + top + (top >> kMinOrder);
}

BuddyAllocator::BuddyAllocator(std::span<std::byte> region) noexcept
    : region_begin_(region.data()), region_end_(region.data() + region.size()) {
  std::uintptr_t begin = core::addr(region_begin_);
  std::uintptr_t end = begin + region.size();
  for (unsigned k = std::bit_width(region.size()) - 1u; k >= kMinOrder && k < 63; --k) {
    std::size_t top = std::size_t{1} << k;
    std::uintptr_t base = core::round_up(begin, base_align_for(k));
    if (base < end && end - base >= top && end - base - top >= (top >> kMinOrder)) {
      base_ = reinterpret_cast<std::byte*>(base);
      tags_ = reinterpret_cast<std::uint8_t*>(base + top);
      max_order_ = k;
      std::memset(tags_, 0, top >> kMinOrder);
      push(0, k);
      return;
    }
  }
}

void BuddyAllocator::push(std::size_t offset, unsigned k) noexcept {
  auto* node = reinterpret_cast<FreeNode*>(base_ + offset);
  node->prev = nullptr;
  node->next = heads_[k];
  if (heads_[k] != nullptr) heads_[k]->prev = node;
  heads_[k] = node;
  nonempty_ |= std::uint64_t{1} << k;
  ++counts_[k];
  tag_at(offset) = static_cast<std::uint8_t>(kFreeTag | k);
}

void BuddyAllocator::unlink(std::size_t offset, unsigned k) noexcept {
  auto* node = reinterpret_cast<FreeNode*>(base_ + offset);
  if (node->prev != nullptr) {
    node->prev->next = node->next;
  } else {
    heads_[k] = node->next;
  }
  if (node->next != nullptr) node->next->prev = node->prev;
  if (heads_[k] == nullptr) nonempty_ &= ~(std::uint64_t{1} << k);
  --counts_[k];
  tag_at(offset) = 0;
}

void* BuddyAllocator::allocate(std::size_t size, std::size_t align) noexcept {
  if (base_ == nullptr) {
    last_error_ = Status::too_large;
    return nullptr;
  }
  // A block is aligned to its own size relative to the base, so to min(2^k, base alignment):
  // an alignment above the base's cannot be promised, a smaller one is met by asking for at
  // least align bytes.
  if (!core::is_pow2(align) || align > base_align_for(max_order_)) {
    last_error_ = Status::bad_alignment;
    return nullptr;
  }
  if (size < align) size = align;
  if (size > capacity()) {
    last_error_ = Status::too_large;
    return nullptr;
  }
  unsigned k = size <= (std::size_t{1} << kMinOrder) ? kMinOrder : core::log2_ceil(size);
  std::uint64_t candidates = nonempty_ & (~std::uint64_t{0} << k);
  if (candidates == 0) {
    last_error_ = Status::out_of_memory;
    return nullptr;
  }
  auto j = static_cast<unsigned>(std::countr_zero(candidates));
  std::size_t offset = static_cast<std::size_t>(reinterpret_cast<std::byte*>(heads_[j]) - base_);
  unlink(offset, j);
  // Split down to order k, keeping the lower half and freeing each upper half (its buddy).
  while (j > k) {
    --j;
    push(offset + (std::size_t{1} << j), j);
  }
  tag_at(offset) = static_cast<std::uint8_t>(kLiveTag | k);
  std::size_t end = offset + (std::size_t{1} << k);
  if (end > high_water_) high_water_ = end;
  return base_ + offset;
}

Status BuddyAllocator::free(void* p) noexcept {
  if (p == nullptr) return Status::ok;
  if (!in_range(p, region_begin_, region_end_)) return Status::not_in_region;
  if (base_ == nullptr || !in_range(p, base_, base_ + capacity())) return Status::not_a_block;
  auto offset = static_cast<std::size_t>(static_cast<std::byte*>(p) - base_);
  if (offset % (std::size_t{1} << kMinOrder) != 0) return Status::not_a_block;
  std::uint8_t tag = tag_at(offset);
  if ((tag & kFreeTag) != 0) return Status::double_free;
  if ((tag & kLiveTag) == 0) return Status::not_a_block;
  unsigned k = tag & kOrderMask;
  if (offset % (std::size_t{1} << k) != 0) return Status::not_a_block; // a damaged table
  tag_at(offset) = 0;
  // Merge with the buddy while it is free at the same order: the XOR of the offset with the
  // block size flips exactly the bit that tells the two halves of their parent apart.
  while (k < max_order_) {
    std::size_t buddy = offset ^ (std::size_t{1} << k);
    if (tag_at(buddy) != (kFreeTag | k)) break;
    unlink(buddy, k);
    offset &= ~(std::size_t{1} << k);
    ++k;
  }
  push(offset, k);
  return Status::ok;
}

std::size_t BuddyAllocator::usable_size(void* p) const noexcept {
  if (base_ == nullptr || p == nullptr || !in_range(p, base_, base_ + capacity())) return 0;
  auto offset = static_cast<std::size_t>(static_cast<std::byte*>(p) - base_);
  if (offset % (std::size_t{1} << kMinOrder) != 0) return 0;
  std::uint8_t tag = tag_at(offset);
  if ((tag & kLiveTag) == 0) return 0;
  return std::size_t{1} << (tag & kOrderMask);
}

std::size_t BuddyAllocator::free_blocks_of_order(unsigned k) const noexcept {
  return k < counts_.size() ? counts_[k] : 0;
}

FreeBlockStats BuddyAllocator::free_stats() const noexcept {
  FreeBlockStats s;
  for (unsigned k = kMinOrder; k <= max_order_ && base_ != nullptr; ++k)
    for (const FreeNode* f = heads_[k]; f != nullptr; f = f->next)
      s.add_at(static_cast<std::size_t>(reinterpret_cast<const std::byte*>(f) - base_),
               std::size_t{1} << k, high_water_);
  return s;
}

std::string_view BuddyAllocator::check_invariants() const noexcept {
  if (base_ == nullptr) return "";
  std::array<std::size_t, 64> seen{};
  std::size_t offset = 0;
  while (offset < capacity()) {
    std::uint8_t tag = tag_at(offset);
    if ((tag & (kLiveTag | kFreeTag)) == 0) return "B1: a gap in the tiling of the heap";
    unsigned k = tag & kOrderMask;
    if (k < kMinOrder || k > max_order_ || offset % (std::size_t{1} << k) != 0)
      return "B1: a block is misaligned for its order";
    // Interior units of a block must not claim to start one.
    for (std::size_t u = offset + (std::size_t{1} << kMinOrder); u < offset + (std::size_t{1} << k);
         u += std::size_t{1} << kMinOrder)
      if (tag_at(u) != 0) return "B1: a block start inside another block";
    if ((tag & kFreeTag) != 0) {
      ++seen[k];
      if (k < max_order_) {
        std::size_t buddy = offset ^ (std::size_t{1} << k);
        if (tag_at(buddy) == (kFreeTag | k)) return "B2: two free buddies left unmerged";
      }
    }
    offset += std::size_t{1} << k;
  }
  for (unsigned k = 0; k < 64; ++k) {
    std::size_t n = 0;
    for (const FreeNode* f = heads_[k]; f != nullptr; f = f->next)
      if (++n > counts_[k]) break;
    if (n != counts_[k] || seen[k] != counts_[k])
      return "B3: a free list does not hold exactly the free blocks of its order";
    if (((nonempty_ >> k) & 1u) != (counts_[k] != 0))
      return "B3: a non-empty bit disagrees with its list";
  }
  return "";
}

} // namespace hoardlab::strategies
