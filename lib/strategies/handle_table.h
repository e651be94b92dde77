// Generation-counted handles: the program holds (index, generation) pairs instead of pointers,
// and a table maps a live handle to its block. Layer: strategies.
//
// A handle outlives nothing by accident: freeing bumps the slot's generation, so every copy of
// the old handle stops resolving (get() returns nullptr, free() reports stale_handle) even after
// the slot is reused, and the table never follows a stale handle to memory. Because only the
// table holds the pointer, a block can also be moved (resize() does, and a compacting backing
// store could) without the program noticing. The pattern is the "generational index" of game
// engines and entity systems; the idea of an indirection table for relocatable blocks goes back
// to the master pointers of the classic Mac OS Memory Manager.
//
// The table's slots live in a caller-provided region; the blocks come from any Strategy given as
// the backing store (a Slab for one object size, a SegregatedFit for many).
//
// Invariants: a slot is live iff ptr != nullptr; a handle (i, g) resolves iff i < capacity_,
//             slot i is live and its generation == g; free slots with generation < kRetired
//             are on the free list once; generation 0 is never issued, so Handle{} is null.
// ABA: a slot whose generation reaches the maximum (2^32 - 1 by default) is retired (never
//      reused), so no old handle can ever match again; retirement costs one slot per 2^32 - 2
//      reuses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <span>

#include "strategies/strategy.h"

namespace hoardlab::strategies {

struct Handle {
  std::uint32_t index = 0;
  std::uint32_t generation = 0; // 0: the null handle
  bool is_null() const noexcept { return generation == 0; }
  friend bool operator==(const Handle&, const Handle&) = default;
};

template <Strategy Backing>
class HandleTable {
public:
  struct Slot {
    void* ptr;
    std::size_t size;
    std::uint32_t generation;
    std::uint32_t next_free;
  };
  static constexpr std::uint32_t kNone = 0xffffffffu;
  static constexpr std::uint32_t kRetired = 0xffffffffu;

  // max_generation below the default retires slots sooner (tests use it to reach retirement).
  HandleTable(std::span<std::byte> table_region, Backing& backing,
              std::uint32_t max_generation = kRetired) noexcept
      : backing_(backing), max_generation_(max_generation < 2 ? 2 : max_generation) {
    auto begin = reinterpret_cast<std::uintptr_t>(table_region.data());
    std::uintptr_t aligned = (begin + alignof(Slot) - 1) & ~(std::uintptr_t{alignof(Slot)} - 1);
    std::size_t skip = aligned - begin;
    if (skip >= table_region.size()) return;
    std::size_t n = (table_region.size() - skip) / sizeof(Slot);
    if (n >= kNone) n = kNone - 1;
    slots_ = reinterpret_cast<Slot*>(aligned);
    capacity_ = static_cast<std::uint32_t>(n);
  }

  // A null handle when the table is full or the backing store refuses (see last_error()).
  Handle allocate(std::size_t size, std::size_t align = kDefaultAlign) noexcept {
    std::uint32_t i;
    if (free_head_ != kNone) {
      i = free_head_;
    } else if (carved_ < capacity_) {
      i = carved_;
    } else {
      last_error_ = Status::out_of_memory;
      return Handle{};
    }
    void* p = backing_.allocate(size, align);
    if (p == nullptr) {
      last_error_ = backing_.last_error();
      return Handle{};
    }
    if (i == free_head_) {
      free_head_ = slots_[i].next_free;
    } else {
      new (&slots_[i]) Slot{nullptr, 0, 1, kNone};
      ++carved_;
    }
    slots_[i].ptr = p;
    slots_[i].size = size;
    slots_[i].next_free = kNone;
    ++live_;
    return Handle{i, slots_[i].generation};
  }

  // The block, or nullptr for a null, stale or forged handle.
  void* get(Handle h) const noexcept {
    const Slot* s = lookup(h);
    return s == nullptr ? nullptr : s->ptr;
  }

  Status free(Handle h) noexcept {
    if (h.is_null()) return Status::null_pointer;
    Slot* s = lookup(h);
    if (s == nullptr) return Status::stale_handle;
    if (Status st = backing_.free(s->ptr); st != Status::ok) return st;
    s->ptr = nullptr;
    --live_;
    if (++s->generation >= max_generation_) {
      s->generation = kRetired; // see ABA above: never reissued
      ++retired_;
    } else {
      s->next_free = free_head_;
      free_head_ = static_cast<std::uint32_t>(s - slots_);
    }
    return Status::ok;
  }

  // Moves the block to a new one of new_size bytes (copying the smaller of the two sizes); the
  // handle stays valid. On failure the old block is kept and the reason returned.
  Status resize(Handle h, std::size_t new_size, std::size_t align = kDefaultAlign) noexcept {
    if (h.is_null()) return Status::null_pointer;
    Slot* s = lookup(h);
    if (s == nullptr) return Status::stale_handle;
    void* p = backing_.allocate(new_size, align);
    if (p == nullptr) return backing_.last_error();
    std::memcpy(p, s->ptr, s->size < new_size ? s->size : new_size);
    backing_.free(s->ptr);
    s->ptr = p;
    s->size = new_size;
    return Status::ok;
  }

  std::size_t size_of(Handle h) const noexcept {
    const Slot* s = lookup(h);
    return s == nullptr ? 0 : s->size;
  }
  std::uint32_t capacity() const noexcept { return capacity_; }
  std::size_t live() const noexcept { return live_; }
  std::size_t retired() const noexcept { return retired_; }
  Status last_error() const noexcept { return last_error_; }

private:
  Slot* lookup(Handle h) const noexcept {
    if (h.is_null() || h.index >= carved_) return nullptr;
    Slot* s = &slots_[h.index];
    if (s->ptr == nullptr || s->generation != h.generation) return nullptr;
    return s;
  }

  Backing& backing_;
  std::uint32_t max_generation_;
  Slot* slots_ = nullptr;
  std::uint32_t capacity_ = 0;
  std::uint32_t carved_ = 0; // slots [0, carved_) have been initialised
  std::uint32_t free_head_ = kNone;
  std::size_t live_ = 0;
  std::size_t retired_ = 0;
  Status last_error_ = Status::ok;
};

} // namespace hoardlab::strategies
