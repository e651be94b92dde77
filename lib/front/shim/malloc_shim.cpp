// The C library's allocation functions, served by hoardlab. Layer: front (shim).
//
// Every function here is exported (exports.map) and replaces glibc's through ELF symbol
// interposition: LD_PRELOAD=libhoardlab-malloc.so, or linking the library ahead of libc.
// Semantics are glibc 2.36's where C and POSIX leave room:
//  - failure is NULL with errno = ENOMEM; every size computation is overflow-checked and
//    sizes above PTRDIFF_MAX fail (no object may be larger, so pointer differences work);
//  - malloc(0) returns a unique block; realloc(p, 0) frees p and returns NULL (glibc's
//    REALLOC_ZERO_BYTES_FREES);
//  - free preserves errno (mem promises not to touch it; the foreign path saves it);
//  - memalign and aligned_alloc round an alignment that is not a power of two up to the next
//    one, as glibc 2.36 does (2.38 made aligned_alloc strict); posix_memalign is strict.
// Pointers that are not hoardlab's go to foreign.cpp.
#include "front/shim/foreign.h"
#include "front/shim/shim_common.h"

#include "hoardlab/hoardlab.h"
#include "mem/allocator.h"

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <malloc.h>
#include <unistd.h>

using hoardlab::front::fail_enomem;
using hoardlab::front::free_any;
using hoardlab::front::kMaxObjectSize;
using hoardlab::mem::Owner;
namespace mem = hoardlab::mem;

namespace {

// glibc's MALLOC_ALIGNMENT on x86-64: what malloc already guarantees, so smaller alignment
// requests are plain allocations.
constexpr std::size_t kMallocAlignment = 16;

std::size_t system_page_size() noexcept {
  return static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// glibc 2.36 _mid_memalign's rounding of the alignment: tiny ones are malloc, others up to
// the next power of two; above SIZE_MAX/2 + 1 no power of two exists (EINVAL).
void* memalign_glibc(std::size_t alignment, std::size_t size) noexcept {
  if (alignment <= kMallocAlignment) return hoardlab::front::allocate_or_fail(size);
  if (alignment > SIZE_MAX / 2 + 1) {
    errno = EINVAL;
    return nullptr;
  }
  if ((alignment & (alignment - 1)) != 0)
    alignment = std::size_t{1} << (64 - __builtin_clzl(alignment));
  if (size > kMaxObjectSize) return fail_enomem();
  void* p = mem::allocate_aligned(alignment, size);
  return p != nullptr ? p : fail_enomem();
}

} // namespace

extern "C" {

HOARDLAB_SHIM_EXPORT void* malloc(std::size_t size) {
  return hoardlab::front::allocate_or_fail(size);
}

HOARDLAB_SHIM_EXPORT void free(void* p) {
  free_any(p);
}

HOARDLAB_SHIM_EXPORT void* calloc(std::size_t count, std::size_t size) {
  std::size_t bytes;
  if (__builtin_mul_overflow(count, size, &bytes) || bytes > kMaxObjectSize) [[unlikely]]
    return fail_enomem();
  // No memset here: mem knows whether the block is fresh from the OS (already zero).
  void* p = mem::allocate_zeroed(bytes);
  return p != nullptr ? p : fail_enomem();
}

HOARDLAB_SHIM_EXPORT void* realloc(void* p, std::size_t size) {
  if (p == nullptr) return hoardlab::front::allocate_or_fail(size);
  if (size == 0) {
    free_any(p);
    return nullptr;
  }
  if (size > kMaxObjectSize) return fail_enomem();
  if (mem::owner_of(p) == Owner::kForeign) [[unlikely]]
    return hoardlab::front::foreign_realloc(p, size);
  void* q = mem::reallocate(p, size);
  return q != nullptr ? q : fail_enomem();
}

HOARDLAB_SHIM_EXPORT void* reallocarray(void* p, std::size_t count, std::size_t size) {
  std::size_t bytes;
  if (__builtin_mul_overflow(count, size, &bytes)) return fail_enomem();
  return realloc(p, bytes);
}

HOARDLAB_SHIM_EXPORT int posix_memalign(void** out, std::size_t alignment, std::size_t size) {
  if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return EINVAL;
  if (size > kMaxObjectSize) return ENOMEM;
  void* p =
      alignment <= kMallocAlignment ? mem::allocate(size) : mem::allocate_aligned(alignment, size);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

HOARDLAB_SHIM_EXPORT void* aligned_alloc(std::size_t alignment, std::size_t size) {
  return memalign_glibc(alignment, size);
}

HOARDLAB_SHIM_EXPORT void* memalign(std::size_t alignment, std::size_t size) {
  return memalign_glibc(alignment, size);
}

HOARDLAB_SHIM_EXPORT void* valloc(std::size_t size) {
  return memalign_glibc(system_page_size(), size);
}

// glibc 2.36 rounds the size up to whole pages with an overflow check (ENOMEM) before the
// page-aligned allocation. Its mask, -(pagesize - 1), keeps bit 0, so glibc asks for 1 byte
// when size is 0; a whole page is what a caller of pvalloc expects, and is what we give.
HOARDLAB_SHIM_EXPORT void* pvalloc(std::size_t size) {
  const std::size_t page = system_page_size();
  std::size_t rounded;
  if (__builtin_add_overflow(size, page - 1, &rounded)) return fail_enomem();
  rounded &= ~(page - 1);
  if (rounded == 0) rounded = page;
  return memalign_glibc(page, rounded);
}

HOARDLAB_SHIM_EXPORT std::size_t malloc_usable_size(void* p) {
  if (p == nullptr) return 0;
  if (mem::owner_of(p) == Owner::kForeign) [[unlikely]]
    return hoardlab::front::foreign_usable_size(p);
  return mem::usable_size(p);
}

// C23; exported although glibc 2.36 does not declare them. The size is a hint that mem checks
// against the block, never trusts.
HOARDLAB_SHIM_EXPORT void free_sized(void* p, std::size_t size) {
  if (p == nullptr) return;
  if (mem::owner_of(p) == Owner::kForeign) [[unlikely]]
    return hoardlab::front::foreign_free(p);
  mem::deallocate_sized(p, size);
}

HOARDLAB_SHIM_EXPORT void free_aligned_sized(void* p, std::size_t /*alignment*/, std::size_t size) {
  free_sized(p, size);
}

HOARDLAB_SHIM_EXPORT int malloc_trim(std::size_t pad) {
  return mem::trim(pad) ? 1 : 0;
}

// glibc's fields, filled with hoardlab's figures: arena = bytes held from the OS for small
// objects and large ones alike, uordblks = bytes in live blocks, fordblks = held but free.
HOARDLAB_SHIM_EXPORT struct mallinfo2 mallinfo2() {
  hl_stats s{};
  hl_stats_get(&s);
  struct mallinfo2 info;
  std::memset(&info, 0, sizeof(info));
  info.arena = s.bytes_held;
  info.uordblks = s.bytes_in_use;
  info.fordblks = s.bytes_held > s.bytes_in_use ? s.bytes_held - s.bytes_in_use : 0;
  info.usmblks = s.peak_bytes_in_use;
  info.keepcost = 0;
  return info;
}

// The deprecated int version, clamped rather than wrapped.
HOARDLAB_SHIM_EXPORT struct mallinfo mallinfo() {
  const struct mallinfo2 wide = mallinfo2();
  auto clamp = [](std::size_t v) { return v > INT_MAX ? INT_MAX : static_cast<int>(v); };
  struct mallinfo info;
  std::memset(&info, 0, sizeof(info));
  info.arena = clamp(wide.arena);
  info.uordblks = clamp(wide.uordblks);
  info.fordblks = clamp(wide.fordblks);
  info.usmblks = clamp(wide.usmblks);
  return info;
}

// glibc prints its arenas to stderr; hoardlab prints its statistics summary there.
HOARDLAB_SHIM_EXPORT void malloc_stats() {
  hl_stats_print(nullptr);
}

} // extern "C"
