// The hl_* C API (lib/include/hoardlab/hoardlab.h) over mem, with the C library's semantics:
// overflow-checked sizes, NULL + ENOMEM on failure, EINVAL for bad alignments, malloc(0)
// returning a unique block, free preserving errno.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "hoardlab/hoardlab.h"
#include "mem/allocator.h"
#include "mem/fast_path.h"
#include "mem/stats.h"

namespace {

using hoardlab::mem::Owner;

// Requests above PTRDIFF_MAX fail, as in glibc: pointer differences inside them would overflow.
constexpr std::size_t kMaxRequest = static_cast<std::size_t>(PTRDIFF_MAX);

void* fail_enomem() noexcept {
  errno = ENOMEM;
  return nullptr;
}

// Out of line, so that the inlined cache hits in front of them need no stack frame.
[[gnu::noinline]] void* malloc_miss(std::size_t size) noexcept {
  if (size > kMaxRequest) return fail_enomem();
  void* p = hoardlab::mem::allocate_after_miss(size); // hl_malloc's hit missed
  return p != nullptr ? p : fail_enomem();
}

[[gnu::noinline]] void free_miss(void* ptr) noexcept {
  if (hoardlab::mem::buffer_remote_hit(ptr)) [[likely]] // another heap's block: buffered
    return;
  if (ptr == nullptr) return;
  hoardlab::mem::deallocate(ptr); // preserves errno: only its slow paths save it
}

bool is_pow2(std::size_t x) noexcept {
  return x != 0 && (x & (x - 1)) == 0;
}

} // namespace

extern "C" {

HOARDLAB_API void* hl_malloc(size_t size) {
  if (void* p = hoardlab::mem::allocate_hit(size)) [[likely]]
    return p;
  return malloc_miss(size);
}

HOARDLAB_API void hl_free(void* ptr) {
  if (hoardlab::mem::deallocate_hit(ptr)) [[likely]]
    return;
  free_miss(ptr);
}

HOARDLAB_API void* hl_calloc(size_t count, size_t size) {
  size_t bytes = 0;
  if (__builtin_mul_overflow(count, size, &bytes) || bytes > kMaxRequest) return fail_enomem();
  void* p = hoardlab::mem::allocate_zeroed(bytes);
  return p != nullptr ? p : fail_enomem();
}

HOARDLAB_API void* hl_realloc(void* ptr, size_t size) {
  if (ptr == nullptr) return hl_malloc(size);
  if (size > kMaxRequest) return fail_enomem();
  if (hoardlab::mem::owner_of(ptr) == Owner::kForeign) {
    // Not ours: nothing can be copied safely, since its size is unknown.
    errno = EINVAL;
    return nullptr;
  }
  void* p = hoardlab::mem::reallocate(ptr, size);
  return p != nullptr ? p : fail_enomem();
}

HOARDLAB_API void* hl_reallocarray(void* ptr, size_t count, size_t size) {
  size_t bytes = 0;
  if (__builtin_mul_overflow(count, size, &bytes)) return fail_enomem();
  return hl_realloc(ptr, bytes);
}

HOARDLAB_API void* hl_aligned_alloc(size_t alignment, size_t size) {
  if (!is_pow2(alignment)) {
    errno = EINVAL;
    return nullptr;
  }
  if (size > kMaxRequest || alignment > kMaxRequest) return fail_enomem();
  void* p = hoardlab::mem::allocate_aligned(alignment, size);
  return p != nullptr ? p : fail_enomem();
}

HOARDLAB_API int hl_posix_memalign(void** out, size_t alignment, size_t size) {
  if (out == nullptr || !is_pow2(alignment) || alignment % sizeof(void*) != 0) return EINVAL;
  if (size > kMaxRequest || alignment > kMaxRequest) return ENOMEM;
  int saved = errno;
  void* p = hoardlab::mem::allocate_aligned(alignment, size);
  errno = saved;
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

HOARDLAB_API size_t hl_usable_size(const void* ptr) {
  if (ptr == nullptr || hoardlab::mem::owner_of(ptr) == Owner::kForeign) return 0;
  return hoardlab::mem::usable_size(ptr);
}

HOARDLAB_API void hl_free_sized(void* ptr, size_t size) {
  if (ptr == nullptr) return;
  hoardlab::mem::deallocate_sized(ptr, size); // preserves errno: only its slow paths save it
}

HOARDLAB_API int hl_owns(const void* ptr) {
  return ptr != nullptr && hoardlab::mem::owner_of(ptr) != Owner::kForeign ? 1 : 0;
}

HOARDLAB_API void hl_collect(void) {
  int saved = errno;
  hoardlab::mem::trim(0);
  errno = saved;
}

HOARDLAB_API void hl_stats_get(hl_stats* out) {
  if (out == nullptr) return;
  hoardlab::mem::TotalStats t{};
  hoardlab::mem::stats_total(&t);
  *out = hl_stats{};
  out->allocations = t.allocations;
  out->frees = t.frees;
  out->cache_hits = t.cache_hits;
  out->remote_frees_sent = t.remote_frees_sent;
  out->remote_frees_drained = t.remote_frees_drained;
  out->superblocks_to_pool = t.superblocks_to_pool;
  out->superblocks_from_pool = t.superblocks_from_pool;
  out->heap_pass_overs = t.heap_pass_overs;
  out->bytes_in_use = t.bytes_in_use;
  out->bytes_held = t.bytes_held;
  out->peak_bytes_in_use = t.peak_bytes_in_use;
  out->os_bytes_mapped = t.os_bytes_mapped;
  out->os_bytes_purged = t.os_bytes_purged;
  out->large_allocations = t.large_allocations;
  out->heaps = t.heaps;
  out->nodes = t.nodes;
  out->large_cached_bytes = t.large_cached_bytes;
  out->remote_batches_sent = t.remote_batches_sent;
  out->background_purged_bytes = t.background_purged_bytes;
  out->bytes_in_caches = t.cached_bytes;
  out->bytes_in_remote_lists = t.pending_bytes;
  out->bytes_free_in_heaps = t.heap_free_bytes;
  out->large_bytes_in_use = t.large_in_use_bytes;
  out->os_bytes_resident = t.os_bytes_resident;
}

// partial_classes took the padding after node: programs built against the header without it
// pass records of the same size, and read the fields they know at the same offsets. Later fields
// come after it.
static_assert(sizeof(hl_heap_stats) == 64 && offsetof(hl_heap_stats, partial_classes) == 52);
static_assert(offsetof(hl_stats, bytes_in_caches) == 144, "hl_stats grows at its end only");

HOARDLAB_API int hl_stats_heap(uint32_t index, hl_heap_stats* out) {
  hoardlab::mem::HeapStats h{};
  if (out == nullptr || !hoardlab::mem::stats_heap(index, &h)) return -1;
  *out = hl_heap_stats{.allocations = h.allocations,
                       .frees = h.frees,
                       .remote_frees_drained = h.remote_frees_drained,
                       .bytes_in_use = h.bytes_in_use,
                       .bytes_held = h.bytes_held,
                       .superblocks = h.superblocks,
                       .node = h.node,
                       .partial_classes = h.partial_classes,
                       .peak_bytes_in_use = h.peak_bytes_in_use};
  return 0;
}

HOARDLAB_API int hl_stats_node(uint32_t index, hl_node_stats* out) {
  hoardlab::mem::NodeStats n{};
  if (out == nullptr || !hoardlab::mem::stats_node(index, &n)) return -1;
  *out = hl_node_stats{n.superblocks_held,
                       n.bytes_placed,
                       n.local_allocations,
                       n.remote_allocations,
                       n.cross_node_remote_frees,
                       n.os_node,
                       n.bound};
  return 0;
}

HOARDLAB_API const char* hl_topology_source(void) {
  return hoardlab::mem::topology_source();
}

HOARDLAB_API int hl_check_invariants(void) {
  int saved = errno;
  int bad = hoardlab::mem::check_invariants();
  errno = saved;
  return bad;
}

} // extern "C"
