// Where memory goes: the numa.policy option applied to arenas and superblocks. Layer: numa.
// Callable inside malloc (no allocation); mem calls it once per arena it reserves and once per
// fresh superblock it hands a heap.
//
//   local       each node's arenas are bound once, whole, to that node (mbind MPOL_PREFERRED);
//               a heap takes superblocks from its own node (then the nearest, see
//               nearest_nodes).
//   interleave  arenas bound as for local, but fresh superblocks are handed out round-robin
//               over the nodes, so a heap's memory is spread evenly (a baseline that ignores
//               locality, like numactl --interleave but at superblock grain).
//   none        no binding: the kernel's first-touch policy decides; heaps still prefer
//               their node's pool.
//
// Binding a whole arena once, never superblock by superblock: every mbind with a different
// policy splits the mapping's VMA, and enough of them reach vm.max_map_count, after which mmap
// fails. MPOL_PREFERRED rather than MPOL_BIND: a full node then spills to another instead of
// failing the allocation (malloc must not OOM while other nodes have memory). A synthetic node
// has no OS node: its binding is recorded as intended, never faked as done.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hoardlab::numa {

// Same order as config::NumaPolicy (the numa.policy words "local|interleave|none").
enum class PlacementPolicy : std::uint8_t { kLocal = 0, kInterleave = 1, kNone = 2 };

struct ArenaPlacement {
  int node = 0;       // logical node the arena belongs to
  bool bound = false; // mbind succeeded: the kernel will place its pages on the node
  int error = 0;      // errno of a failed mbind (EPERM under a seccomp filter...), else 0
};

// What one node has received, for hl_stats_node. Read with relaxed loads: a snapshot.
struct NodePlacement {
  std::uint64_t arenas = 0;         // arenas placed on the node
  std::uint64_t bytes_placed = 0;   // their bytes (bound, intended or unbound alike)
  std::uint64_t bytes_bound = 0;    // bytes whose mbind succeeded
  std::uint64_t bytes_intended = 0; // bytes meant for the node but not bound (synthetic node,
                                    // or mbind refused)
  std::uint64_t superblocks_interleaved = 0; // fresh superblocks dealt here by interleave
  int os_node = -1;                          // kernel node id, -1 if synthetic
  bool bound = false; // every arena of the node is bound (and there is at least one)
  int last_error = 0; // errno of the last refused mbind
  // Large objects (page runs mapped one by one): fresh mappings placed here, and their bytes
  // bound by mbind or only intended (synthetic node, mbind refused). Cumulative.
  std::uint64_t large_mappings = 0;
  std::uint64_t large_bytes_bound = 0;
  std::uint64_t large_bytes_intended = 0;
};

// Places a freshly reserved, untouched arena [base, base+bytes) of logical node `node` of the
// boot topology: binds it (local, interleave) unless the node is synthetic or policy is none,
// and records the outcome. base and bytes page-aligned.
ArenaPlacement place_arena(void* base, std::size_t bytes, int node,
                           PlacementPolicy policy) noexcept;

// The node whose pool / arena a heap of node `home` should take its next fresh superblock from:
// `home` for local and none; the next node round-robin for interleave.
int superblock_node(int home, PlacementPolicy policy) noexcept;

// The logical node a fresh large object of a thread on node `home` goes to: `home` for local and
// none, the next node round-robin for interleave (its own cursor: large objects and superblocks
// are dealt separately).
int large_node(int home, PlacementPolicy policy) noexcept;

// Places a fresh, untouched large-object mapping [base, base+bytes) on logical node `node`: one
// mbind of the whole mapping (it is its own VMA, so nothing is split) under local and interleave,
// and records the outcome. Nothing is done on a one-node machine (nothing to choose, and a
// syscall per mapping saved), under none, or for a synthetic node (recorded as intended).
// Returns true when the mapping was bound.
bool place_large(void* base, std::size_t bytes, int node, PlacementPolicy policy) noexcept;

NodePlacement node_placement(int node) noexcept;

// Forgets every record (tests only; arenas already bound stay bound).
void reset_placement_records() noexcept;

} // namespace hoardlab::numa
