// hoardlab for C++: a standard allocator and a std::pmr::memory_resource over the hl_* API.
// Header-only; link libhoardlab (or hoardlab_static).
#ifndef HOARDLAB_HOARDLAB_HPP
#define HOARDLAB_HOARDLAB_HPP

#include <cstddef>
#include <limits>
#include <memory_resource>
#include <new>

#include "hoardlab/hoardlab.h"

namespace hoardlab {

// A stateless allocator: every instance allocates from the same process-wide allocator, so all
// compare equal and containers may swap and move their storage freely.
template <typename T>
class allocator {
public:
  using value_type = T;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using propagate_on_container_move_assignment = std::true_type;
  using is_always_equal = std::true_type;

  constexpr allocator() noexcept = default;
  template <typename U>
  constexpr allocator(const allocator<U>&) noexcept {} // NOLINT(google-explicit-constructor)

  [[nodiscard]] T* allocate(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_array_new_length();
    void* p = alignof(T) > alignof(std::max_align_t) ? hl_aligned_alloc(alignof(T), n * sizeof(T))
                                                     : hl_malloc(n * sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t n) noexcept { hl_free_sized(p, n * sizeof(T)); }

  template <typename U>
  friend constexpr bool operator==(const allocator&, const allocator<U>&) noexcept {
    return true;
  }
};

// A memory resource for std::pmr containers. Equal to every other hoardlab resource.
class memory_resource final : public std::pmr::memory_resource {
private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    void* p = alignment > alignof(std::max_align_t) ? hl_aligned_alloc(alignment, bytes)
                                                    : hl_malloc(bytes);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t) override { hl_free_sized(p, bytes); }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return dynamic_cast<const memory_resource*>(&other) != nullptr;
  }
};

// The process-wide instance (a function-local static: constructed on first use, never in
// the allocator's own initialisation).
inline memory_resource* resource() noexcept {
  static memory_resource r;
  return &r;
}

} // namespace hoardlab

#endif // HOARDLAB_HOARDLAB_HPP
