// Arena binding and superblock placement (see numa/placement.h for the policies and why).
#include "numa/placement.h"

#include "core/atomic.h"
#include "numa/topology.h"
#include "pal/numa_syscalls.h"

namespace hoardlab::numa {
namespace {

// Per-node records. Arenas are placed rarely (one per arena reservation), so plain relaxed
// atomic adds are cheap here; they are counters read as a snapshot, ordering nothing else.
struct NodeRecord {
  core::Atomic<std::uint64_t> arenas{0};
  core::Atomic<std::uint64_t> bytes_placed{0};
  core::Atomic<std::uint64_t> bytes_bound{0};
  core::Atomic<std::uint64_t> bytes_intended{0};
  core::Atomic<std::uint64_t> superblocks_interleaved{0};
  core::Atomic<std::uint64_t> arenas_unbound{0};
  core::Atomic<int> last_error{0};
  core::Atomic<std::uint64_t> large_mappings{0};
  core::Atomic<std::uint64_t> large_bytes_bound{0};
  core::Atomic<std::uint64_t> large_bytes_intended{0};
};

constinit NodeRecord records_[kMaxNodes] = {};
constinit core::Atomic<std::uint64_t> interleave_cursor_{0};
constinit core::Atomic<std::uint64_t> large_cursor_{0};

} // namespace

ArenaPlacement place_arena(void* base, std::size_t bytes, int node,
                           PlacementPolicy policy) noexcept {
  const Topology& t = boot_topology();
  if (node < 0 || node >= t.nodes) node = 0;
  ArenaPlacement result;
  result.node = node;
  NodeRecord& r = records_[node];
  r.arenas.fetch_add_relaxed(1);
  r.bytes_placed.fetch_add_relaxed(bytes);
  if (policy == PlacementPolicy::kNone) {
    r.arenas_unbound.fetch_add_relaxed(1);
    return result;
  }
  const int os_node = t.node_os_index[node];
  if (t.synthetic || os_node < 0) {
    r.bytes_intended.fetch_add_relaxed(bytes);
    r.arenas_unbound.fetch_add_relaxed(1);
    return result;
  }
  const int rc = pal::bind_range(base, bytes, pal::MemPolicy::kPreferred, os_node);
  if (rc == 0) {
    r.bytes_bound.fetch_add_relaxed(bytes);
    result.bound = true;
  } else {
    r.bytes_intended.fetch_add_relaxed(bytes);
    r.arenas_unbound.fetch_add_relaxed(1);
    r.last_error.store_relaxed(-rc);
    result.error = -rc;
  }
  return result;
}

int superblock_node(int home, PlacementPolicy policy) noexcept {
  const Topology& t = boot_topology();
  if (policy != PlacementPolicy::kInterleave) return home >= 0 && home < t.nodes ? home : 0;
  const int node = t.nodes <= 1 ? 0
                                : static_cast<int>(interleave_cursor_.fetch_add_relaxed(1) %
                                                   static_cast<std::uint64_t>(t.nodes));
  records_[node].superblocks_interleaved.fetch_add_relaxed(1);
  return node;
}

int large_node(int home, PlacementPolicy policy) noexcept {
  const Topology& t = boot_topology();
  if (t.nodes <= 1) return 0;
  if (policy != PlacementPolicy::kInterleave) return home >= 0 && home < t.nodes ? home : 0;
  return static_cast<int>(large_cursor_.fetch_add_relaxed(1) % static_cast<std::uint64_t>(t.nodes));
}

bool place_large(void* base, std::size_t bytes, int node, PlacementPolicy policy) noexcept {
  const Topology& t = boot_topology();
  if (t.nodes <= 1 || policy == PlacementPolicy::kNone) return false;
  if (node < 0 || node >= t.nodes) node = 0;
  NodeRecord& r = records_[node];
  r.large_mappings.fetch_add_relaxed(1);
  const int os_node = t.node_os_index[node];
  if (t.synthetic || os_node < 0) {
    r.large_bytes_intended.fetch_add_relaxed(bytes);
    return false;
  }
  const int rc = pal::bind_range(base, bytes, pal::MemPolicy::kPreferred, os_node);
  if (rc != 0) {
    r.large_bytes_intended.fetch_add_relaxed(bytes);
    r.last_error.store_relaxed(-rc);
    return false;
  }
  r.large_bytes_bound.fetch_add_relaxed(bytes);
  return true;
}

NodePlacement node_placement(int node) noexcept {
  NodePlacement out;
  const Topology& t = boot_topology();
  if (node < 0 || node >= t.nodes) return out;
  const NodeRecord& r = records_[node];
  out.arenas = r.arenas.load_relaxed();
  out.bytes_placed = r.bytes_placed.load_relaxed();
  out.bytes_bound = r.bytes_bound.load_relaxed();
  out.bytes_intended = r.bytes_intended.load_relaxed();
  out.superblocks_interleaved = r.superblocks_interleaved.load_relaxed();
  out.os_node = t.synthetic ? -1 : t.node_os_index[node];
  out.bound = out.arenas > 0 && r.arenas_unbound.load_relaxed() == 0;
  out.last_error = r.last_error.load_relaxed();
  out.large_mappings = r.large_mappings.load_relaxed();
  out.large_bytes_bound = r.large_bytes_bound.load_relaxed();
  out.large_bytes_intended = r.large_bytes_intended.load_relaxed();
  return out;
}

void reset_placement_records() noexcept {
  for (NodeRecord& r : records_) {
    r.arenas.store_relaxed(0);
    r.bytes_placed.store_relaxed(0);
    r.bytes_bound.store_relaxed(0);
    r.bytes_intended.store_relaxed(0);
    r.superblocks_interleaved.store_relaxed(0);
    r.arenas_unbound.store_relaxed(0);
    r.last_error.store_relaxed(0);
    r.large_mappings.store_relaxed(0);
    r.large_bytes_bound.store_relaxed(0);
    r.large_bytes_intended.store_relaxed(0);
  }
  interleave_cursor_.store_relaxed(0);
  large_cursor_.store_relaxed(0);
}

} // namespace hoardlab::numa
