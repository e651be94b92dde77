// Bump (arena) allocation: a pointer moves forward through the region; nothing is freed one by
// one, everything after a mark is freed at once. Layer: strategies.
//
// The cheapest allocator there is (an add and a compare) and the right one for memory whose
// lifetimes nest: a compiler pass, a request in a server, a frame in a game (Wilson et al. 1995,
// on stack-like lifetimes and obstacks; Hanson's arenas, SP&E 1990). Its weakness is equally plain:
// one long-lived block pins everything allocated before it.
//
// Invariants: 0 <= top_ <= size_; every block handed out lies in [base_, base_ + top_);
//             high_water_ = max over time of top_.
// Errors: free(p) frees nothing; it reports not_in_region for a pointer outside the region and
// not_a_block for one at or above the current top (memory already given back by release() or
// reset(), so a free after a release is caught). A free of a live block returns ok.
#pragma once

#include <cstddef>
#include <span>

#include "strategies/strategy.h"

namespace hoardlab::strategies {

class BumpArena {
public:
  // A position to roll back to; taken by mark(), given to release().
  struct Mark {
    std::size_t top = 0;
  };

  explicit BumpArena(std::span<std::byte> region) noexcept;

  void* allocate(std::size_t size, std::size_t align = kDefaultAlign) noexcept;
  Status free(void* p) noexcept;
  std::size_t usable_size(void*) const noexcept { return 0; }

  Mark mark() const noexcept { return Mark{top_}; }
  // Frees every block allocated since m. A mark above the current top (one taken before an
  // earlier release to a lower mark) is refused with not_a_block.
  Status release(Mark m) noexcept;
  void reset() noexcept { top_ = 0; }

  std::size_t used() const noexcept { return top_; }
  std::size_t capacity() const noexcept { return size_; }
  // The tail above the top is the only free block (below the high-water mark, after a release).
  FreeBlockStats free_stats() const noexcept;
  std::size_t high_water() const noexcept { return high_water_; }
  Status last_error() const noexcept { return last_error_; }
  static constexpr std::string_view name() noexcept { return "bump"; }

private:
  std::byte* base_;
  std::size_t size_;
  std::size_t top_ = 0;
  std::size_t high_water_ = 0;
  Status last_error_ = Status::ok;
};

static_assert(Strategy<BumpArena>);

} // namespace hoardlab::strategies
