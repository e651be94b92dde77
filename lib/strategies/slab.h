// Slab allocation: the region is cut into equal slots of one object size; free slots are kept
// on a LIFO list threaded through the slots themselves. Layer: strategies.
//
// After Bonwick, "The Slab Allocator: An Object-Caching Kernel Memory Allocator" (USENIX Summer
// 1994): one cache per object size, no headers, no splitting, no coalescing, so allocation
// and free are a list pop and push and a slot never suffers external fragmentation for its own
// size. Slots never handed out yet are taken by bumping a cursor, so construction is O(1) and
// the high-water mark shows how many slots the workload really needed.
//
// Invariants: every slot index i < carved_ is either live (bit i of the bitmap set) or on the
//             free list (bit clear), never both; slots i >= carved_ were never handed out;
//             live_ == popcount(bitmap).
// Errors: a bitmap of one bit per slot (carved from the front of the region) makes every
// invalid and double free detectable: not_in_region, not_a_block (not a slot start, or a slot
// never handed out), double_free (the slot's bit is clear).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "strategies/strategy.h"

namespace hoardlab::strategies {

class Slab {
public:
  // Slots are object_size rounded up to a multiple of object_align (and to hold a pointer);
  // object_align must be a power of two. A region too small for one slot gives capacity() 0.
  Slab(std::span<std::byte> region, std::size_t object_size,
       std::size_t object_align = kDefaultAlign) noexcept;

  // Serves any size up to object_size() whose alignment divides the slot alignment.
  void* allocate(std::size_t size, std::size_t align = kDefaultAlign) noexcept;
  Status free(void* p) noexcept;
  std::size_t usable_size(void*) const noexcept { return stride_; }

  std::size_t object_size() const noexcept { return stride_; }
  std::size_t capacity() const noexcept { return slots_; }
  std::size_t live() const noexcept { return live_; }
  // Free memory as runs of adjacent free slots: a slab's free slots all serve its one size, so
  // this is the fragmentation that would stop a slab from giving whole pages back, not
  // fragmentation that refuses a request. Slots never carved count as untouched unless
  // clip_to_high_water is false (a slab inside a larger allocator, whose mark is the page's end).
  FreeBlockStats free_stats(bool clip_to_high_water = true) const noexcept;
  std::size_t high_water() const noexcept { return carved_ * stride_; }
  Status last_error() const noexcept { return last_error_; }
  static constexpr std::string_view name() noexcept { return "slab"; }

private:
  struct FreeSlot {
    FreeSlot* next;
  };
  bool is_live(std::size_t i) const noexcept { return (bitmap_[i / 64] >> (i % 64)) & 1u; }

  std::uint64_t* bitmap_ = nullptr;
  std::byte* slots_base_ = nullptr;
  std::size_t stride_ = 0;
  std::size_t align_ = 0;
  std::size_t slots_ = 0;
  std::size_t carved_ = 0;
  std::size_t live_ = 0;
  FreeSlot* free_list_ = nullptr;
  Status last_error_ = Status::ok;
};

static_assert(Strategy<Slab>);

} // namespace hoardlab::strategies
