// The 8 replaceable operator new and the 12 operator delete forms. Layer: front (shim).
//
// new: a failed allocation calls std::get_new_handler() and retries, until a handler is
// missing (throw std::bad_alloc) or throws. The nothrow forms behave as if they called the
// throwing form and caught bad_alloc: on a failure they call the C++ runtime's own nothrow form,
// which does that with our throwing form (cxx_runtime.h: the shim links no C++ runtime, so it
// has no catch of its own). Sized and aligned deletes ignore their size: a delete
// through a base class without a virtual destructor passes the wrong one, and mem finds the
// block's class from its superblock header anyway.
#include "front/shim/cxx_runtime.h"
#include "front/shim/shim_common.h"

#include <new>

namespace {

namespace front = hoardlab::front;
namespace mem = hoardlab::mem;

void* allocate_once(std::size_t size, std::size_t alignment) noexcept {
  if (size > front::kMaxObjectSize) return nullptr;
  if (alignment <= __STDCPP_DEFAULT_NEW_ALIGNMENT__) return mem::allocate(size);
  // The standard makes a non-power-of-two alignment undefined; refusing it is the safe reading.
  if ((alignment & (alignment - 1)) != 0) return nullptr;
  return mem::allocate_aligned(alignment, size);
}

[[gnu::cold, gnu::noinline]] void* new_slow(std::size_t size, std::size_t alignment) {
  for (;;) {
    if (void* p = allocate_once(size, alignment)) return p;
    std::new_handler handler = front::cxx_new_handler();
    if (handler == nullptr) front::cxx_throw_bad_alloc();
    handler();
  }
}

inline void* new_fast(std::size_t size) {
  if (void* p = mem::allocate_hit(size)) [[likely]]
    return p;
  return new_slow(size, 0);
}

inline void* new_aligned(std::size_t size, std::align_val_t alignment) {
  const auto a = static_cast<std::size_t>(alignment);
  if (void* p = allocate_once(size, a)) [[likely]]
    return p;
  return new_slow(size, a);
}

// alignment 0: the unaligned forms.
inline void* new_nothrow(std::size_t size, std::size_t alignment, bool array,
                         const std::nothrow_t& tag) noexcept {
  if (alignment == 0)
    if (void* p = mem::allocate_hit(size)) [[likely]]
      return p;
  if (void* p = allocate_once(size, alignment)) [[likely]]
    return p;
  return front::cxx_nothrow_new(size, alignment, array, tag);
}

} // namespace

// clang-format off
HOARDLAB_SHIM_EXPORT void* operator new(std::size_t n) { return new_fast(n); }
HOARDLAB_SHIM_EXPORT void* operator new[](std::size_t n) { return new_fast(n); }
HOARDLAB_SHIM_EXPORT void* operator new(std::size_t n, const std::nothrow_t& t) noexcept { return new_nothrow(n, 0, false, t); }
HOARDLAB_SHIM_EXPORT void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return new_nothrow(n, 0, true, t); }
HOARDLAB_SHIM_EXPORT void* operator new(std::size_t n, std::align_val_t a) { return new_aligned(n, a); }
HOARDLAB_SHIM_EXPORT void* operator new[](std::size_t n, std::align_val_t a) { return new_aligned(n, a); }
HOARDLAB_SHIM_EXPORT void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t& t) noexcept { return new_nothrow(n, static_cast<std::size_t>(a), false, t); }
HOARDLAB_SHIM_EXPORT void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t& t) noexcept { return new_nothrow(n, static_cast<std::size_t>(a), true, t); }

HOARDLAB_SHIM_EXPORT void operator delete(void* p) noexcept { front::free_any(p); }
HOARDLAB_SHIM_EXPORT void operator delete[](void* p) noexcept { front::free_any(p); }
HOARDLAB_SHIM_EXPORT void operator delete(void* p, const std::nothrow_t&) noexcept { front::free_any(p); }
HOARDLAB_SHIM_EXPORT void operator delete[](void* p, const std::nothrow_t&) noexcept { front::free_any(p); }
HOARDLAB_SHIM_EXPORT void operator delete(void* p, std::size_t) noexcept { front::free_any(p); }
HOARDLAB_SHIM_EXPORT void operator delete[](void* p, std::size_t) noexcept { front::free_any(p); }
HOARDLAB_SHIM_EXPORT void operator delete(void* p, std::align_val_t) noexcept { front::free_any(p); }
HOARDLAB_SHIM_EXPORT void operator delete[](void* p, std::align_val_t) noexcept { front::free_any(p); }
HOARDLAB_SHIM_EXPORT void operator delete(void* p, std::size_t, std::align_val_t) noexcept { front::free_any(p); }
HOARDLAB_SHIM_EXPORT void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { front::free_any(p); }
HOARDLAB_SHIM_EXPORT void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { front::free_any(p); }
HOARDLAB_SHIM_EXPORT void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { front::free_any(p); }
// clang-format on
