// What the C entry points and operator new/delete share. Layer: front (shim).
#pragma once

#include "front/shim/foreign.h"
#include "mem/allocator.h"
#include "mem/fast_path.h"

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

// Out of line so that the inlined cache hit in front of it needs no stack frame: a miss is
// then a tail jump.
[[gnu::noinline]] inline void* allocate_miss(std::size_t size) noexcept {
  if (size > kMaxObjectSize) [[unlikely]]
    return fail_enomem();
  void* p = mem::allocate_after_miss(size); // allocate_or_fail's hit missed
  if (p == nullptr) [[unlikely]]
    return fail_enomem();
  return p;
}

// malloc's semantics: a cache hit inline, everything else (size 0, large, ENOMEM) in the miss.
inline void* allocate_or_fail(std::size_t size) noexcept {
  if (void* p = mem::allocate_hit(size)) [[likely]]
    return p;
  return allocate_miss(size);
}

// The frees that neither the bins nor the remote buffer take: NULL, large blocks, the bootstrap
// arena, foreign pointers, a full bin, a thread without a cache.
[[gnu::noinline]] inline void free_unbuffered(void* p) noexcept {
  if (p == nullptr || mem::free_if_large(p)) return;
  if (mem::owner_of(p) == mem::Owner::kForeign) [[unlikely]]
    return foreign_free(p);
  mem::deallocate(p);
}

// Every free that is not a cache hit. A block another heap owns, the commonest miss, is appended
// to the remote buffer here; the rest is a tail jump, so this needs no stack frame either. Out of
// line for the same reason as allocate_miss.
[[gnu::noinline]] inline void free_miss(void* p) noexcept {
  if (mem::buffer_remote_hit(p)) [[likely]]
    return;
  free_unbuffered(p);
}

// free() and every operator delete: a size or alignment passed to delete is not trusted
// (a delete through a base class passes the wrong size), so all of them land here. The block's
// class comes from its superblock header.
inline void free_any(void* p) noexcept {
  if (mem::deallocate_hit(p)) [[likely]]
    return;
  free_miss(p);
}

} // namespace hoardlab::front
