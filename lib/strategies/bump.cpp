#include "strategies/bump.h"

#include "core/bits.h"

namespace hoardlab::strategies {

BumpArena::BumpArena(std::span<std::byte> region) noexcept
    : base_(region.data()), size_(region.size()) {}

void* BumpArena::allocate(std::size_t size, std::size_t align) noexcept {
  if (!core::is_pow2(align)) {
    last_error_ = Status::bad_alignment;
    return nullptr;
  }
  if (size == 0) size = 1; // every allocation gets a distinct address, as malloc(0) does
  // Align the address, not the offset: the caller's region need not be aligned to anything.
  std::uintptr_t start = core::addr(base_);
  std::uintptr_t here = start + top_;
  if (core::round_up_overflows(here, align)) {
    last_error_ = Status::out_of_memory;
    return nullptr;
  }
  std::size_t offset = core::round_up(here, align) - start;
  if (offset > size_ || size > size_ - offset) {
    last_error_ = size > size_ ? Status::too_large : Status::out_of_memory;
    return nullptr;
  }
  top_ = offset + size;
  if (top_ > high_water_) high_water_ = top_;
  return base_ + offset;
}

Status BumpArena::free(void* p) noexcept {
  if (p == nullptr) return Status::ok;
  if (!in_range(p, base_, base_ + size_)) return Status::not_in_region;
  if (static_cast<std::size_t>(static_cast<std::byte*>(p) - base_) >= top_)
    return Status::not_a_block;
  return Status::ok;
}

Status BumpArena::release(Mark m) noexcept {
  if (m.top > top_) return Status::not_a_block;
  top_ = m.top;
  return Status::ok;
}

FreeBlockStats BumpArena::free_stats() const noexcept {
  FreeBlockStats s;
  s.add_at(top_, size_ - top_, high_water_);
  return s;
}

} // namespace hoardlab::strategies
