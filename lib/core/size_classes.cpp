#include "core/size_classes.h"

#include "core/bits.h"

namespace hoardlab::core {

bool SizeClasses::build(unsigned per_doubling, std::size_t threshold) noexcept {
  count_ = 0;
  threshold_ = 0;
  if (per_doubling < 1 || per_doubling > 8 || threshold < 256 || threshold > kMaxThreshold ||
      threshold % kGranule != 0)
    return false;
  std::size_t n = 0;
  std::size_t size = kGranule;
  while (size < threshold && n + 1 < kMaxClasses) {
    size_[n++] = static_cast<std::uint32_t>(size);
    // Spacing for the doubling that `size` lies in: 2^k / d, never below the granule.
    std::size_t k_pow = std::size_t{1} << log2_floor(size);
    std::size_t step = k_pow / per_doubling;
    if (step < kGranule) step = kGranule;
    size = round_up(size + step, kGranule);
  }
  size_[n++] = static_cast<std::uint32_t>(threshold);
  count_ = n;
  threshold_ = threshold;
  std::size_t cls = 0;
  for (std::size_t i = 0; i <= threshold / kGranule; ++i) {
    std::size_t bytes = i * kGranule;
    while (size_[cls] < bytes)
      ++cls;
    lookup_[i] = static_cast<std::uint8_t>(cls);
  }
  return true;
}

std::size_t SizeClasses::class_of_aligned(std::size_t n, std::size_t align) const noexcept {
  if (n > threshold_) return count_;
  for (std::size_t c = class_of(n); c < count_; ++c)
    if (size_[c] % align == 0) return c;
  return count_;
}

std::size_t SizeClasses::first_block_offset(std::size_t block_size, std::size_t header_bytes,
                                            std::size_t sb_size) noexcept {
  std::size_t align = pow2_factor(block_size);
  if (align > sb_size) align = sb_size;
  if (align < kGranule) align = kGranule;
  return round_up(header_bytes, align);
}

} // namespace hoardlab::core
