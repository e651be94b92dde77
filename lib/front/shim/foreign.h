// Pointers that reach the malloc family without being hoardlab's. Layer: front (shim).
//
// When libhoardlab-malloc.so is loaded late (dlopen with RTLD_DEEPBIND, or linked after libc),
// blocks that glibc allocated reach our free, realloc and malloc_usable_size. They go back to
// glibc: __libc_free and __libc_realloc are exported by libc.so.6 (GLIBC_2.2.5), and the usable
// size is read from glibc's own chunk header once the chunk is recognised as glibc's.
// Anything else (a pointer into the loader's minimal-malloc pages, a stale or made-up pointer)
// is reported once when HOARDLAB_VERBOSE >= 1 and left alone: never written to, never freed.
//
// All of this is the cold path: it runs only after mem::owner_of() said kForeign.
#pragma once

#include <cstddef>

namespace hoardlab::front {

// True when p is the user pointer of a live glibc chunk (see foreign.cpp for the checks).
// Reads only mapped memory; never writes; errno preserved.
bool glibc_owns(const void* p) noexcept;

// free / realloc / malloc_usable_size for a pointer that mem::owner_of() calls kForeign.
void foreign_free(void* p) noexcept;
// nullptr with errno = ENOMEM when p is not glibc's (p is then left alone).
void* foreign_realloc(void* p, std::size_t size) noexcept;
// 0 when p is not glibc's.
std::size_t foreign_usable_size(const void* p) noexcept;

// How many unknown pointers were refused since start (for tests and diagnostics).
std::size_t foreign_refused() noexcept;

} // namespace hoardlab::front
