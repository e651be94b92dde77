/* hoardlab: the prefixed C API. It never replaces malloc; libhoardlab-malloc.so does that.
 *
 * Semantics follow the C library's counterparts: failure returns NULL with errno = ENOMEM;
 * every size computation is overflow-checked; hl_malloc(0) returns a unique block;
 * hl_free(NULL) does nothing and hl_free preserves errno. */
#ifndef HOARDLAB_HOARDLAB_H
#define HOARDLAB_HOARDLAB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define HOARDLAB_API __attribute__((visibility("default")))
#else
#define HOARDLAB_API
#endif

HOARDLAB_API void* hl_malloc(size_t size);
HOARDLAB_API void hl_free(void* ptr);
HOARDLAB_API void* hl_calloc(size_t count, size_t size);
HOARDLAB_API void* hl_realloc(void* ptr, size_t size);
HOARDLAB_API void* hl_reallocarray(void* ptr, size_t count, size_t size);
/* C11 aligned_alloc: alignment must be a power of two (else NULL, EINVAL). */
HOARDLAB_API void* hl_aligned_alloc(size_t alignment, size_t size);
/* POSIX: returns 0, EINVAL (alignment not a power of two multiple of sizeof(void*)) or ENOMEM. */
HOARDLAB_API int hl_posix_memalign(void** out, size_t alignment, size_t size);
HOARDLAB_API size_t hl_usable_size(const void* ptr);
/* Frees with a size hint; the size is checked, never trusted. */
HOARDLAB_API void hl_free_sized(void* ptr, size_t size);
/* Returns 1 when ptr is a live or cached block of this allocator, else 0. */
HOARDLAB_API int hl_owns(const void* ptr);

/* Flushes the calling thread's cache and returns empty memory to the OS (madvise). */
HOARDLAB_API void hl_collect(void);

/* ---- statistics (summed on demand; no shared atomic counter on the fast path) ---- */
typedef struct hl_stats {
  uint64_t allocations; /* small + large */
  uint64_t frees;
  uint64_t cache_hits;           /* thread-cache hits among allocations */
  uint64_t remote_frees_sent;    /* blocks freed by a thread whose heap does not own them */
  uint64_t remote_frees_drained; /* of those, back in their superblocks */
  uint64_t superblocks_to_pool;
  uint64_t superblocks_from_pool;
  uint64_t heap_pass_overs; /* busy heaps passed over by try-acquire */
  /* U: what the program holds, allocated and not freed: small blocks at their class size, large
     objects at their usable size. Blocks freed into thread caches or remote lists are not in it
     (bytes_in_caches, bytes_in_remote_lists). Exact for the calling thread's cache; another
     live thread's cache counts as that thread last published it (at its last refill or flush of
     each class), off by at most its cache.bytes (README, "Statistics"). */
  uint64_t bytes_in_use;
  uint64_t bytes_held; /* A: sum over heaps of a_i plus pool plus large objects */
  /* An upper bound on the largest bytes_in_use ever: the sum of each heap's high-water mark of
     u_i (hl_heap_stats), the pool's and the large objects' (each exact, kept where its count
     changes, not sampled). It exceeds the true peak by what the thread caches and remote lists
     held at that moment and by parts that peaked at different times; with one thread and no
     pool traffic it is the peak to within that thread's cache. */
  uint64_t peak_bytes_in_use;
  uint64_t os_bytes_mapped;
  uint64_t os_bytes_purged;
  uint64_t large_allocations;
  uint32_t heaps;
  uint32_t nodes;
  /* lock-free sends that carried remote frees: chains pushed onto superblock lists and
     heap-queue messages (under owner-lock only frees into superblocks that sit in the pool,
     which no heap owns); remote_frees_sent / this ~ blocks per send */
  uint64_t remote_batches_sent;
  uint64_t large_cached_bytes; /* freed large objects kept for reuse (large.cache_bytes) */
  /* bytes given back to the OS by the purge thread (purge.background): superblock pages
     purged and idle large runs unmapped; 0 without the thread */
  uint64_t background_purged_bytes;
  /* Where bytes_held is, beside bytes_in_use (added at the end: the fields above keep their
     offsets). bytes_held = bytes_in_use + bytes_in_caches + bytes_in_remote_lists +
     bytes_free_in_heaps + (large objects' mappings beyond their usable bytes, their cache
     included), each read at a slightly different moment while other threads run. */
  uint64_t bytes_in_caches;       /* freed into thread caches: bins and remote-free buffers */
  uint64_t bytes_in_remote_lists; /* freed by another thread, not yet back in its superblock */
  /* heaps' and pools' superblock bytes not handed out: free blocks, headers, tails */
  uint64_t bytes_free_in_heaps;
  uint64_t large_bytes_in_use; /* the large objects' part of bytes_in_use */
  /* what the OS holds for hoardlab: os_bytes_mapped minus the superblocks purged and not reused
     since; an upper estimate of resident memory (committed pages never touched count too) */
  uint64_t os_bytes_resident;
} hl_stats;

HOARDLAB_API void hl_stats_get(hl_stats* out);

/* One processor heap: Hoard's u_i (bytes in live blocks), a_i (bytes in its superblocks) and
 * C_i, its size classes with a partly used superblock. The emptiness invariant gives a
 * superblock back only while u_i < a_i - (K + C_i)S and u_i < (1-f)a_i, and never a class's only
 * partly used one, so a heap may keep one per class beyond Hoard's K superblocks of slack. The
 * figures are those the heap published at the end of its last slow-path step. */
typedef struct hl_heap_stats {
  uint64_t allocations;
  uint64_t frees;
  uint64_t remote_frees_drained;
  uint64_t bytes_in_use; /* u_i */
  uint64_t bytes_held;   /* a_i */
  uint64_t superblocks;
  uint32_t node;
  uint32_t partial_classes; /* C_i: classes with a partly used superblock */
  /* the largest u_i ever, raised wherever u_i grows (exact: never sampled) */
  uint64_t peak_bytes_in_use;
} hl_heap_stats;
/* Returns 0, or -1 when index >= hl_stats.heaps. */
HOARDLAB_API int hl_stats_heap(uint32_t index, hl_heap_stats* out);

/* One NUMA node (logical; synthetic topologies included). */
typedef struct hl_node_stats {
  uint64_t superblocks_held;  /* by this node's heaps and pool */
  uint64_t bytes_placed;      /* superblock and large-object bytes placed on this node */
  uint64_t local_allocations; /* served with memory of the allocating thread's node */
  uint64_t remote_allocations;
  uint64_t cross_node_remote_frees;
  int32_t os_node; /* -1 when the node is synthetic (binding only intended) */
  uint32_t bound;  /* 1 when its arenas are really bound (mbind succeeded) */
} hl_node_stats;
HOARDLAB_API int hl_stats_node(uint32_t index, hl_node_stats* out);

/* Where the topology came from: "fallback", "sysfs", "synthetic", "hwloc", "hwloc-xml". */
HOARDLAB_API const char* hl_topology_source(void);
/* Prints the readable summary to the stream (stderr when NULL). */
HOARDLAB_API void hl_stats_print(FILE* stream);

/* ---- options (see `hoardlab options`) ----
 * Names are "section.key" as in the config file, e.g. "heap.emptiness_f".
 * hl_option_get writes the current value as text; returns 0, or -1 for an unknown name.
 * hl_option_set returns 0, -1 for an unknown name, -2 for a bad value, -3 when the option
 * applies only at init and the allocator is already running; a refusal also writes one line on
 * stderr saying why. Both may be called from any thread at any time, also while another thread's
 * first allocation starts the allocator: a value is applied whole or not at all, and an init-only
 * option set before the first allocation is kept (the environment and the file win over it). */
HOARDLAB_API int hl_option_get(const char* name, char* buf, size_t buf_size);
HOARDLAB_API int hl_option_set(const char* name, const char* value);

/* Checks every invariant (Hoard's emptiness bound per heap, list membership, counts);
 * returns 0 when all hold, else the number of violations (each reported on stderr). */
HOARDLAB_API int hl_check_invariants(void);

#ifdef __cplusplus
}
#endif
#endif /* HOARDLAB_HOARDLAB_H */
