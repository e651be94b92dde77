// Fragmentation measurement shared by every strategy. Layer: strategies.
//
// The metrics follow the vocabulary of Wilson, Johnstone, Neely and Boles, "Dynamic Storage
// Allocation: A Survey and Critical Review" (IWMM 1995, on internal and external fragmentation) and
// Johnstone and Wilson, "The Memory Fragmentation Problem: Solved?" (ISMM 1998, on measuring
// fragmentation):
//  - external fragmentation: free memory that cannot serve a large request because it is split
//    into pieces; measured here as 1 - largest_free / total_free (0 with one free block or none);
//  - internal waste: bytes granted beyond the bytes requested (rounding, headers, alignment);
//  - utilisation at peak: the most live bytes requested at any moment, divided by the high-water
//    mark of the region (how far into the region the allocator ever had to go). Johnstone and
//    Wilson's "fragmentation" is 1 - this figure (their measure #4, the maximum heap against the
//    maximum live data).
#pragma once

#include <array>
#include <cstddef>

namespace hoardlab::strategies {

// One bucket per power of two: bucket b counts free blocks whose size s has floor(log2 s) == b.
inline constexpr std::size_t kHistogramBuckets = 64;

// The free memory of a strategy at one moment, as its free structures see it, over the part of
// its heap area below the high-water mark. Memory above the mark was never handed out: it is
// the "wilderness" of an sbrk heap, which Johnstone and Wilson do not count as part of the heap
// at all, and counting it would let one huge untouched tail hide every hole. It is reported
// apart, in untouched. Sizes are gross (a free block's bytes including any header the strategy
// keeps in it), so total_free + untouched + the live blocks' gross sizes is the heap area.
struct FreeBlockStats {
  std::size_t total_free = 0;
  std::size_t largest_free = 0;
  std::size_t free_blocks = 0;
  std::size_t untouched = 0;
  std::array<std::size_t, kHistogramBuckets> histogram{};

  void add(std::size_t block_bytes) noexcept;
  // A free block at byte offset `offset` of the heap area: the part below high_water is a free
  // block, the part above it untouched.
  void add_at(std::size_t offset, std::size_t block_bytes, std::size_t high_water) noexcept;
};

// 1 - largest_free / total_free; 0 when there is no free memory at all.
double external_fragmentation(const FreeBlockStats& s) noexcept;

// peak_live_requested / high_water; 1 when nothing was ever allocated.
double utilisation_at_peak(std::size_t peak_live_requested, std::size_t high_water) noexcept;

// Follows the live bytes of a trace as a strategy serves it: the caller reports each block's
// requested size and the size the strategy granted (usable_size, or the requested size where the
// strategy does not know it). Single-threaded, like the strategies.
class UsageTracker {
public:
  void on_allocate(std::size_t requested, std::size_t granted) noexcept;
  void on_free(std::size_t requested, std::size_t granted) noexcept;

  std::size_t live_requested() const noexcept { return live_requested_; }
  std::size_t live_granted() const noexcept { return live_granted_; }
  // granted - requested over the live blocks now.
  std::size_t internal_waste() const noexcept { return live_granted_ - live_requested_; }
  std::size_t peak_live_requested() const noexcept { return peak_requested_; }
  // The internal waste at the moment live_requested was at its peak.
  std::size_t internal_waste_at_peak() const noexcept { return waste_at_peak_; }

private:
  std::size_t live_requested_ = 0;
  std::size_t live_granted_ = 0;
  std::size_t peak_requested_ = 0;
  std::size_t waste_at_peak_ = 0;
};

} // namespace hoardlab::strategies
