#include "strategies/fragmentation.h"

#include <bit>

namespace hoardlab::strategies {

void FreeBlockStats::add(std::size_t block_bytes) noexcept {
  if (block_bytes == 0) return;
  total_free += block_bytes;
  if (block_bytes > largest_free) largest_free = block_bytes;
  ++free_blocks;
  ++histogram[static_cast<std::size_t>(std::bit_width(block_bytes) - 1)];
}

void FreeBlockStats::add_at(std::size_t offset, std::size_t block_bytes,
                            std::size_t high_water) noexcept {
  std::size_t below = offset >= high_water                ? 0
                      : block_bytes > high_water - offset ? high_water - offset
                                                          : block_bytes;
  add(below);
  untouched += block_bytes - below;
}

double external_fragmentation(const FreeBlockStats& s) noexcept {
  if (s.total_free == 0) return 0.0;
  return 1.0 - static_cast<double>(s.largest_free) / static_cast<double>(s.total_free);
}

double utilisation_at_peak(std::size_t peak_live_requested, std::size_t high_water) noexcept {
  if (high_water == 0) return 1.0;
  return static_cast<double>(peak_live_requested) / static_cast<double>(high_water);
}

void UsageTracker::on_allocate(std::size_t requested, std::size_t granted) noexcept {
  live_requested_ += requested;
  live_granted_ += granted;
  if (live_requested_ > peak_requested_) {
    peak_requested_ = live_requested_;
    waste_at_peak_ = live_granted_ - live_requested_;
  }
}

void UsageTracker::on_free(std::size_t requested, std::size_t granted) noexcept {
  live_requested_ -= requested;
  live_granted_ -= granted;
}

} // namespace hoardlab::strategies
