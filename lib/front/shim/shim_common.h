// What the C entry points and operator new/delete share. Layer: front (shim).
#pragma once

#include "front/shim/foreign.h"
#include "mem/allocator.h"

#include <cerrno>
#include <cstddef>
#include <cstdint>

// Exported names carry default visibility; lib/ is built with -fvisibility=hidden and the
// version script (exports.map) is the second gate.
#define HOARDLAB_SHIM_EXPORT __attribute__((visibility("default")))

namespace hoardlab::front {

// No object may be larger than PTRDIFF_MAX: differences of pointers into it must fit.
inline constexpr std::size_t kMaxObjectSize = PTRDIFF_MAX;

[[gnu::cold, gnu::noinline]] inline void* fail_enomem() noexcept {
  errno = ENOMEM;
  return nullptr;
}

inline void* allocate_or_fail(std::size_t size) noexcept {
  if (size > kMaxObjectSize) [[unlikely]]
    return fail_enomem();
  void* p = mem::allocate(size);
  if (p == nullptr) [[unlikely]]
    return fail_enomem();
  return p;
}

// free() and every operator delete: a size or alignment passed to delete is not trusted
// (a delete through a base class passes the wrong size), so all of them land here.
inline void free_any(void* p) noexcept {
  if (p == nullptr) return;
  if (mem::owner_of(p) == mem::Owner::kForeign) [[unlikely]]
    return foreign_free(p);
  mem::deallocate(p);
}

} // namespace hoardlab::front
