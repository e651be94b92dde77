// Helpers for the strategy tests: an owned region and a shadow map that checks every block a
// strategy hands out (inside the region, aligned, disjoint from every other live block) and the
// bytes written into it.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>

#include "strategies/strategy.h"

namespace hoardlab::strategies::testing {

// A heap buffer with a deliberate misalignment (offset bytes past a 16-byte boundary), so the
// strategies are tested on regions that do not start where they would like.
class Region {
public:
  explicit Region(std::size_t size, std::size_t offset = 0)
      : storage_(new std::byte[size + offset + 16]), size_(size), offset_(offset) {}
  std::span<std::byte> span() { return {storage_.get() + offset_, size_}; }
  std::byte* begin() { return storage_.get() + offset_; }
  std::byte* end() { return begin() + size_; }

private:
  std::unique_ptr<std::byte[]> storage_;
  std::size_t size_;
  std::size_t offset_;
};

inline std::byte pattern_byte(std::uint64_t tag, std::size_t i) {
  return static_cast<std::byte>((tag * 0x9e3779b97f4a7c15u + i) >> 7);
}

// Every live block, by address.
class ShadowMap {
public:
  struct Live {
    std::size_t size;
    std::uint64_t tag;
  };

  ShadowMap(std::byte* begin, std::byte* end) : begin_(begin), end_(end) {}

  // Checks the new block against the region and its neighbours, then fills it.
  void add(void* p, std::size_t size, std::size_t align, std::uint64_t tag) {
    auto a = reinterpret_cast<std::uintptr_t>(p);
    ASSERT_EQ(a % align, 0u) << "block " << p << " is not aligned to " << align;
    ASSERT_GE(p, static_cast<void*>(begin_)) << "block starts before the region";
    ASSERT_LE(static_cast<std::byte*>(p) + size, end_) << "block ends after the region";
    auto next = live_.lower_bound(a);
    if (next != live_.end()) {
      ASSERT_LE(a + (size == 0 ? 1 : size), next->first) << "block overlaps the one after it";
    }
    if (next != live_.begin()) {
      auto prev = std::prev(next);
      ASSERT_LE(prev->first + (prev->second.size == 0 ? 1 : prev->second.size), a)
          << "block overlaps the one before it";
    }
    live_.emplace(a, Live{size, tag});
    auto* bytes = static_cast<std::byte*>(p);
    for (std::size_t i = 0; i < size; ++i)
      bytes[i] = pattern_byte(tag, i);
  }

  // Checks the block's bytes survived, then forgets it.
  void remove(void* p) {
    auto it = live_.find(reinterpret_cast<std::uintptr_t>(p));
    ASSERT_NE(it, live_.end());
    auto* bytes = static_cast<std::byte*>(p);
    for (std::size_t i = 0; i < it->second.size; ++i) {
      ASSERT_EQ(bytes[i], pattern_byte(it->second.tag, i))
          << "byte " << i << " of a live block was overwritten";
    }
    live_.erase(it);
  }

  std::size_t size() const { return live_.size(); }
  bool empty() const { return live_.empty(); }
  const std::map<std::uintptr_t, Live>& blocks() const { return live_; }

private:
  std::byte* begin_;
  std::byte* end_;
  std::map<std::uintptr_t, Live> live_;
};

template <class A>
std::string_view invariants_of(const A& a) {
  if constexpr (requires { a.check_invariants(); }) {
    return a.check_invariants();
  } else {
    return "";
  }
}

} // namespace hoardlab::strategies::testing
