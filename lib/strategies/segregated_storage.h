// Segregated storage: one slab per page, pages handed to size classes on demand; freed objects
// return to their own page. Layer: strategies.
//
// Wilson et al. 1995 ("simple segregated storage"): each size class owns whole pages cut into
// equal objects, with no headers, no splitting and no coalescing; a page once given to a class
// stays with it. That is the whole policy when reuse_empty_pages is false, and its weakness
// shows when a program's phases move from one size to another: the pages of the old sizes sit
// empty while new pages are carved for the new ones. With reuse_empty_pages true, a page whose
// last object is freed goes back to a pool that serves any class, as Bonwick's slab allocator
// returns empty slabs (USENIX Summer 1994), which is also what a Hoard superblock does.
//
// Built from the Slab of slab.h (one per page) and the page bookkeeping here, in the spirit of
// Heap-Layers: a page's free slots and its double-free detection are the Slab's.
//
// Invariants: S1 every carved page is in exactly one place: its class's partial list (it has a
//             free slot), nowhere (full), or the empty pool (reuse on, no live object);
//             S2 page_info_[i].cls is the class of page i's slab while the page is carved and
//             not pooled.
// Errors: not_in_region; not_a_block for an address in a page never carved, a pooled page, or
//         not at a slot start; double_free exactly, through the page's slab bitmap.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "core/intrusive_list.h"
#include "strategies/slab.h"
#include "strategies/strategy.h"

namespace hoardlab::strategies {

class SegregatedStorage {
public:
  static constexpr std::size_t kPageSize = 64 * 1024;
  static constexpr std::size_t kMaxSize = 16 * 1024;
  // Classes: multiples of 16 up to 128, then four per doubling up to kMaxSize.
  static constexpr std::size_t kClasses = 8 + 4 * 7;

  SegregatedStorage(std::span<std::byte> region, bool reuse_empty_pages = false) noexcept;
  SegregatedStorage(const SegregatedStorage&) = delete;
  SegregatedStorage& operator=(const SegregatedStorage&) = delete;

  // Sizes up to kMaxSize, alignments up to 16.
  void* allocate(std::size_t size, std::size_t align = kDefaultAlign) noexcept;
  Status free(void* p) noexcept;
  std::size_t usable_size(void* p) const noexcept;

  static std::size_t class_of(std::size_t size) noexcept;
  static std::size_t class_size(std::size_t c) noexcept;

  std::size_t pages() const noexcept { return pages_; }
  std::size_t pages_carved() const noexcept { return carved_; }
  std::size_t pages_pooled() const noexcept { return pool_.size(); }
  FreeBlockStats free_stats() const noexcept;
  std::size_t high_water() const noexcept { return carved_ * kPageSize; }
  Status last_error() const noexcept { return last_error_; }
  std::string_view name() const noexcept { return reuse_ ? "slab-classes" : "simple-segregated"; }
  // Empty when S1-S2 hold, otherwise the first broken invariant.
  std::string_view check_invariants() const noexcept;

private:
  struct PageInfo {
    core::ListNode node; // first: a list node converts back to its page
    Slab slab;
    std::uint32_t cls;
    std::uint32_t pooled;
  };
  static PageInfo* page_of(core::ListNode* n) noexcept { return reinterpret_cast<PageInfo*>(n); }
  std::size_t index_of(const void* p) const noexcept {
    return static_cast<std::size_t>(static_cast<const std::byte*>(p) - pages_base_) / kPageSize;
  }
  std::byte* page_bytes(std::size_t i) const noexcept { return pages_base_ + i * kPageSize; }

  std::byte* region_begin_;
  std::byte* region_end_;
  PageInfo* info_ = nullptr; // one per page, at the front of the region
  std::byte* pages_base_ = nullptr;
  std::size_t pages_ = 0;
  std::size_t carved_ = 0;
  bool reuse_;
  Status last_error_ = Status::ok;
  std::array<core::IntrusiveList, kClasses> partial_;
  core::IntrusiveList pool_;
};

static_assert(Strategy<SegregatedStorage>);

} // namespace hoardlab::strategies
