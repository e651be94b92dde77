// The contract every pointer-returning strategy of this folder meets. Layer: strategies.
//
// The strategies are the classic allocators of Wilson et al.'s survey ("Dynamic Storage
// Allocation: A Survey and Critical Review", IWMM 1995), each written as a small allocator over
// one region the caller provides (a std::span<std::byte>). None of them asks the operating
// system for memory, and none is thread-safe: they are single-threaded by design, so that the
// policy is all there is to read. A program that shares one between threads guards it itself,
// the way Heap-Layers stacks a LockedHeap on top of a heap (Berger, Zorn and McKinley,
// "Composing High-Performance Memory Allocators", PLDI 2001).
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "strategies/fragmentation.h"
#include "strategies/status.h"

namespace hoardlab::strategies {

// The alignment a request gets when it asks for none, as malloc gives.
inline constexpr std::size_t kDefaultAlign = alignof(std::max_align_t);

// allocate(size, align) returns nullptr and records the reason in last_error() when it cannot
// serve; free(p) returns what it found (free(nullptr) is ok, as in C). usable_size(p) is the
// bytes the block really offers, or 0 where the strategy keeps no size (the bump arena).
// free_stats() and high_water() feed the fragmentation metrics: high_water is how far into its
// heap area the strategy has ever handed out memory, in bytes from the area's start, and
// free_stats() counts free blocks below that mark (the rest is FreeBlockStats::untouched).
template <class A>
concept Strategy = requires(A& a, const A& ca, std::size_t n, void* p) {
  { a.allocate(n, n) } -> std::same_as<void*>;
  { a.free(p) } -> std::same_as<Status>;
  { ca.usable_size(p) } -> std::same_as<std::size_t>;
  { ca.free_stats() } -> std::same_as<FreeBlockStats>;
  { ca.high_water() } -> std::same_as<std::size_t>;
  { ca.last_error() } -> std::same_as<Status>;
  { ca.name() } -> std::convertible_to<std::string_view>;
};

// Where a pointer lies relative to a byte range; the first check of every free().
inline bool in_range(const void* p, const std::byte* begin, const std::byte* end) noexcept {
  auto a = reinterpret_cast<std::uintptr_t>(p);
  return a >= reinterpret_cast<std::uintptr_t>(begin) && a < reinterpret_cast<std::uintptr_t>(end);
}

} // namespace hoardlab::strategies
