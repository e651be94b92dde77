// NUMA memory policy through raw system calls: mbind, get_mempolicy, set_mempolicy. Layer: pal.
// libnuma is not used: it allocates (numa_alloc_* and its bitmasks go through malloc) and would
// pull a shared library into the allocator; the three calls below are all the allocator needs.
#pragma once

#include <cstddef>

namespace hoardlab::pal {

// The kernel's MPOL_* modes (linux/mempolicy.h), spelled out so no libnuma header is needed.
enum class MemPolicy : int {
  kDefault = 0,
  kPreferred = 1, // allocate on the node, fall back to others when it is full
  kBind = 2,      // only the node; an exhausted node means OOM, never another node
  kInterleave = 3,
  kLocal = 4,
};

// Highest node number the calls below accept (the nodemask is one 64-bit word... times this).
inline constexpr int kMaxOsNodes = 1024;

// Sets the policy of the pages [addr, addr+bytes) to `mode` over the single OS node `os_node`
// (ignored for kDefault / kLocal). addr must be page-aligned. Returns 0 or -errno (EINVAL for a
// node the kernel does not have, EPERM where a seccomp filter forbids mbind, ENOSYS without
// NUMA support). Pages already touched keep their place (no MPOL_MF_MOVE): arenas are bound
// right after mmap, before their first touch.
int bind_range(void* addr, std::size_t bytes, MemPolicy mode, int os_node) noexcept;

// The OS node holding the page at addr (get_mempolicy with MPOL_F_NODE | MPOL_F_ADDR); the
// kernel faults the page in if it is not present yet. Returns the node, or -errno.
int page_node(const void* addr) noexcept;

// The policy recorded for the mapping holding addr (get_mempolicy with MPOL_F_ADDR): its mode,
// and the lowest node of its nodemask in *first_node (-1 when the mask is empty). 0 or -errno.
int range_policy(const void* addr, MemPolicy* mode, int* first_node) noexcept;

// The calling thread's policy (set_mempolicy), for tests and experiments that pin a thread's
// fresh pages. 0 or -errno.
int set_thread_policy(MemPolicy mode, int os_node) noexcept;

} // namespace hoardlab::pal
