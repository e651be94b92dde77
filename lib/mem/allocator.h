// The allocator's entry points, for lib/front (the hl_* API and the malloc shim).
// Layer: mem. Everything here is callable from inside malloc: no allocation through the system
// malloc, no hwloc, errno untouched unless stated.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hoardlab::mem {

// Who a pointer belongs to. kOurs: a block of a superblock or a large object (or, hardened, a
// pointer the large layer knows); kBootstrap: a block served from the static bootstrap arena
// during init; kForeign: anything else (glibc's blocks when the shim was loaded late, or garbage).
enum class Owner { kOurs, kBootstrap, kForeign };
Owner owner_of(const void* p) noexcept;

// nullptr on failure (the caller sets errno). size 0 is served as the smallest class.
void* allocate(std::size_t size) noexcept;
// allocate() for a caller whose own inlined allocate_hit(size) just missed: the same result,
// without trying the thread's bin a second time (8 of a large malloc/free pair's instructions).
void* allocate_after_miss(std::size_t size) noexcept;
// Zeroed memory; skips the memset when the block is known to be fresh from the OS.
// The caller has already checked count*size for overflow.
void* allocate_zeroed(std::size_t size) noexcept;
// alignment: a power of two; the result is a block start (usable with deallocate/usable_size).
void* allocate_aligned(std::size_t alignment, std::size_t size) noexcept;
// p must be kOurs or kBootstrap.
void deallocate(void* p) noexcept;
// Frees p and returns true when it is the start of a live large object (one pagemap read, the
// claim, large.h); false, touching nothing, for anything else, which the caller hands to
// owner_of. The free path asks this first for every pointer outside the small range: there a
// large object is by far the commonest case, and owner_of would read the pagemap again.
bool free_if_large(void* p) noexcept;
// Like deallocate; size_hint is checked against the block, never trusted.
void deallocate_sized(void* p, std::size_t size_hint) noexcept;
// p must be kOurs or kBootstrap; nullptr on failure (p then still valid).
void* reallocate(void* p, std::size_t size) noexcept;
std::size_t usable_size(const void* p) noexcept;

// Thread and process life cycle (registered through lib/pal by mem itself; exposed for the shim).
void thread_exit() noexcept;  // flush the calling thread's cache; later frees bypass it
void fork_prepare() noexcept; // take every heap and the pools (the forking thread may still
                              // allocate)
void fork_parent() noexcept;
void fork_child() noexcept; // reset locks; leak caches of threads that no longer exist

// malloc_trim: flush caches, purge empty superblocks; returns true when memory was released.
bool trim(std::size_t pad) noexcept;

// Copies the run-time-settable options from the options table into the fields the allocator
// reads (atomics: no data race with threads allocating meanwhile). Called at init and by
// hl_option_set after each accepted change; each call copies under the options lock, so calls
// are serialized and the last one holds the last value set.
void publish_options() noexcept;

// The L1 data cache line in bytes, which remote.keep = whole-lines keeps blocks in multiples
// of; kDefaultCacheLine where the C library does not say.
inline constexpr std::uint32_t kDefaultCacheLine = 64;
std::uint32_t cache_line_bytes() noexcept;

} // namespace hoardlab::mem
