#include "strategies/slab.h"

#include <bit>
#include <cstring>

#include "core/bits.h"

namespace hoardlab::strategies {

Slab::Slab(std::span<std::byte> region, std::size_t object_size,
           std::size_t object_align) noexcept {
  if (!core::is_pow2(object_align) || object_size == 0 || object_size > region.size()) return;
  align_ = object_align < alignof(FreeSlot) ? alignof(FreeSlot) : object_align;
  std::size_t size = object_size < sizeof(FreeSlot) ? sizeof(FreeSlot) : object_size;
  if (core::round_up_overflows(size, align_)) return;
  stride_ = core::round_up(size, align_);

  // The bitmap sits at the front, 8-byte aligned; the slots follow at the slot alignment. Each
  // slot costs stride bytes plus one bit, which gives the count up to the padding; shrink from
  // there until both fit.
  std::uintptr_t begin = core::addr(region.data());
  std::uintptr_t end = begin + region.size();
  std::uintptr_t map_at = core::round_up(begin, alignof(std::uint64_t));
  if (map_at >= end) return;
  std::size_t n = static_cast<std::size_t>(static_cast<unsigned __int128>(end - map_at) * 8 /
                                           (8 * static_cast<unsigned __int128>(stride_) + 1));
  for (; n > 0; --n) {
    std::uintptr_t slots_at = core::round_up(map_at + (n + 63) / 64 * 8, align_);
    if (slots_at < end && (end - slots_at) / stride_ >= n) {
      bitmap_ = reinterpret_cast<std::uint64_t*>(map_at);
      slots_base_ = reinterpret_cast<std::byte*>(slots_at);
      break;
    }
  }
  slots_ = n;
  if (n > 0) std::memset(bitmap_, 0, (n + 63) / 64 * 8);
}

void* Slab::allocate(std::size_t size, std::size_t align) noexcept {
  if (!core::is_pow2(align) || align > align_) {
    last_error_ = Status::bad_alignment;
    return nullptr;
  }
  if (size > stride_) {
    last_error_ = Status::too_large;
    return nullptr;
  }
  std::byte* p;
  if (free_list_ != nullptr) {
    p = reinterpret_cast<std::byte*>(free_list_);
    free_list_ = free_list_->next;
  } else if (carved_ < slots_) {
    p = slots_base_ + carved_ * stride_;
    ++carved_;
  } else {
    last_error_ = Status::out_of_memory;
    return nullptr;
  }
  std::size_t i = static_cast<std::size_t>(p - slots_base_) / stride_;
  bitmap_[i / 64] |= std::uint64_t{1} << (i % 64);
  ++live_;
  return p;
}

Status Slab::free(void* p) noexcept {
  if (p == nullptr) return Status::ok;
  if (!in_range(p, slots_base_, slots_base_ + slots_ * stride_)) return Status::not_in_region;
  std::size_t offset = static_cast<std::size_t>(static_cast<std::byte*>(p) - slots_base_);
  if (offset % stride_ != 0) return Status::not_a_block;
  std::size_t i = offset / stride_;
  if (i >= carved_) return Status::not_a_block;
  if (!is_live(i)) return Status::double_free;
  bitmap_[i / 64] &= ~(std::uint64_t{1} << (i % 64));
  --live_;
  auto* slot = static_cast<FreeSlot*>(p);
  slot->next = free_list_;
  free_list_ = slot;
  return Status::ok;
}

FreeBlockStats Slab::free_stats(bool clip_to_high_water) const noexcept {
  FreeBlockStats s;
  std::size_t run = 0;
  for (std::size_t i = 0; i < carved_; ++i) {
    if (is_live(i)) {
      s.add(run * stride_);
      run = 0;
    } else {
      ++run;
    }
  }
  // The last run reaches into the slots never carved, which lie above the high-water mark.
  s.add_at((carved_ - run) * stride_, (run + slots_ - carved_) * stride_,
           clip_to_high_water ? high_water() : slots_ * stride_);
  return s;
}

} // namespace hoardlab::strategies
