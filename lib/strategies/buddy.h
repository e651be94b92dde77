// Binary buddy allocation: blocks of power-of-two sizes, split in halves on demand and merged
// with their buddy on free. Layer: strategies.
//
// Knowlton, "A Fast Storage Allocator" (CACM 1965) and Knuth vol. 1 §2.5 (Algorithm R and S);
// Wilson et al. 1995 ("buddy systems"). A block of order k (2^k bytes) at offset o from the heap
// base has its buddy at o XOR 2^k, so merging needs no search and no boundary tags; the price is
// internal fragmentation, up to half of each block, which the benchmark measures.
//
// Block state lives in a side table at the end of the region, one byte per minimum-sized unit
// (0: not the start of a block; kLiveTag|k: a live block of order k; kFreeTag|k: a free one),
// so a live block has no header: its payload is all 2^k bytes, aligned to min(2^k, page).
//
// Invariants: B1 the blocks tile [base_, base_ + 2^max_order_) and each starts at a multiple of
//             its own size; B2 no two free buddies of the same order (merging is immediate);
//             B3 free list k holds exactly the free blocks of order k, and bit k of nonempty_ is
//             set iff it is non-empty.
// Errors: the side table makes every invalid free detectable (not_in_region, not_a_block for
// an address that starts no live block) and reports double_free while the freed block is still
// free at its own order; once it has merged with its buddy its start is no block start, and a
// second free is reported as not_a_block. Never corrupts either way.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "strategies/strategy.h"

namespace hoardlab::strategies {

class BuddyAllocator {
public:
  static constexpr unsigned kMinOrder = 5; // 32 bytes: room for two free-list links
  static constexpr std::size_t kMaxBaseAlign = 4096;

  // The top block is the largest power of two that fits in the region with its side table.
  explicit BuddyAllocator(std::span<std::byte> region) noexcept;
  // The region size for which the top block is exactly 2^order bytes (base alignment included).
  static std::size_t region_bytes_for(unsigned order) noexcept;

  void* allocate(std::size_t size, std::size_t align = kDefaultAlign) noexcept;
  Status free(void* p) noexcept;
  std::size_t usable_size(void* p) const noexcept;

  unsigned max_order() const noexcept { return max_order_; }
  std::size_t capacity() const noexcept {
    return base_ == nullptr ? 0 : std::size_t{1} << max_order_;
  }
  std::size_t free_blocks_of_order(unsigned k) const noexcept;
  FreeBlockStats free_stats() const noexcept;
  std::size_t high_water() const noexcept { return high_water_; }
  Status last_error() const noexcept { return last_error_; }
  static constexpr std::string_view name() noexcept { return "buddy"; }
  // Empty when B1-B3 hold, otherwise the first broken invariant.
  std::string_view check_invariants() const noexcept;

private:
  static constexpr std::uint8_t kLiveTag = 0x40;
  static constexpr std::uint8_t kFreeTag = 0x80;
  static constexpr std::uint8_t kOrderMask = 0x3f;
  struct FreeNode {
    FreeNode* next;
    FreeNode* prev;
  };

  std::uint8_t& tag_at(std::size_t offset) noexcept { return tags_[offset >> kMinOrder]; }
  std::uint8_t tag_at(std::size_t offset) const noexcept { return tags_[offset >> kMinOrder]; }
  void push(std::size_t offset, unsigned k) noexcept;
  void unlink(std::size_t offset, unsigned k) noexcept;

  std::byte* region_begin_;
  std::byte* region_end_;
  std::byte* base_ = nullptr;
  std::uint8_t* tags_ = nullptr;
  unsigned max_order_ = 0;
  std::size_t high_water_ = 0;
  std::uint64_t nonempty_ = 0;
  std::array<FreeNode*, 64> heads_{};
  std::array<std::size_t, 64> counts_{};
  Status last_error_ = Status::ok;
};

static_assert(Strategy<BuddyAllocator>);

} // namespace hoardlab::strategies
