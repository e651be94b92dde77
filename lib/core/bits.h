// Bit tricks used across the allocator. Layer: core.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

namespace hoardlab::core {

constexpr bool is_pow2(std::size_t x) noexcept {
  return x != 0 && (x & (x - 1)) == 0;
}

// floor(log2(x)) for x > 0.
constexpr unsigned log2_floor(std::size_t x) noexcept {
  return static_cast<unsigned>(std::bit_width(x) - 1);
}
// ceil(log2(x)) for x > 0.
constexpr unsigned log2_ceil(std::size_t x) noexcept {
  return x <= 1 ? 0u : static_cast<unsigned>(std::bit_width(x - 1));
}

// align must be a power of two. The caller checks overflow with round_up_overflows first.
constexpr std::size_t round_up(std::size_t x, std::size_t align) noexcept {
  return (x + align - 1) & ~(align - 1);
}
constexpr bool round_up_overflows(std::size_t x, std::size_t align) noexcept {
  return x > SIZE_MAX - (align - 1);
}
constexpr std::size_t round_down(std::size_t x, std::size_t align) noexcept {
  return x & ~(align - 1);
}
// The largest power of two dividing x (x > 0).
constexpr std::size_t pow2_factor(std::size_t x) noexcept {
  return x & (~x + 1);
}

inline std::uintptr_t addr(const void* p) noexcept {
  return reinterpret_cast<std::uintptr_t>(p);
}

} // namespace hoardlab::core
