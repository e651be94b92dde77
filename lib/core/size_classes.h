// Segregated-fit size classes generated from two options: classes per doubling and the
// large-object threshold. Layer: core (pure computation, no allocation).
//
// Classes are multiples of 16 (malloc's alignment). Below 16*d they are exact (every multiple
// of 16); in each doubling [2^k, 2^(k+1)) above they are spaced 2^k/d apart, so a request n
// served by class c wastes (c - n) / n < 1/d of it: 25% with the default d = 4. The last class
// is the threshold itself, so every size up to it is served.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hoardlab::core {

class SizeClasses {
public:
  static constexpr std::size_t kGranule = 16;
  static constexpr std::size_t kMaxClasses = 128;
  static constexpr std::size_t kMaxThreshold = std::size_t{2} << 20;
  static constexpr std::size_t kLookupEntries = kMaxThreshold / kGranule + 1;

  constexpr SizeClasses() noexcept = default;

  // Returns false (and leaves the table empty) when the arguments are out of range:
  // per_doubling in [1, 8], threshold a multiple of 16 in [256, kMaxThreshold].
  bool build(unsigned per_doubling, std::size_t threshold) noexcept;

  std::size_t count() const noexcept { return count_; }
  std::size_t threshold() const noexcept { return threshold_; }
  std::size_t size_of(std::size_t cls) const noexcept { return size_[cls]; }
  // n <= threshold(); n == 0 maps to the smallest class.
  std::size_t class_of(std::size_t n) const noexcept {
    return lookup_[(n + kGranule - 1) / kGranule];
  }
  // class_of(n) for 1 <= n <= threshold(), given n - 1: the fast path's bound test computed it, and
  // the table's +1 folds into the load's displacement (one instruction less than class_of).
  std::size_t class_of_nonzero(std::size_t n_minus_1) const noexcept {
    return lookup_[(n_minus_1 / kGranule) + 1];
  }
  // Smallest class >= n whose size is a multiple of align (a power of two); count() if none.
  std::size_t class_of_aligned(std::size_t n, std::size_t align) const noexcept;

  // Where the first block of a superblock of blocks of `block_size` bytes starts, after a header
  // of `header_bytes`: the header rounded up to the largest power of two dividing the block size
  // (at most `sb_size`, the superblock's own alignment). Every block of the superblock is then
  // aligned to that power of two, so a request aligned to A is served by any class whose size is
  // a multiple of A. This costs no block compared with the tightest offset h' =
  // round_up(header_bytes, kGranule): with o = round_up(header_bytes, A), S - o is a multiple
  // of A and S - h' lies below the next one (h' > o - A), while q blocks of b = m*A bytes span a
  // multiple of A; so q*b <= S - h' exactly when q*b <= S - o. Checked for every class, S and
  // spacing by SizeClasses.AlignedFirstBlockCostsNoBlockForEveryClassAndSuperblockSize.
  static std::size_t first_block_offset(std::size_t block_size, std::size_t header_bytes,
                                        std::size_t sb_size) noexcept;

private:
  std::size_t count_ = 0;
  std::size_t threshold_ = 0;
  std::uint32_t size_[kMaxClasses] = {};
  std::uint8_t lookup_[kLookupEntries] = {};
};

} // namespace hoardlab::core
