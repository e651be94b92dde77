// The machine as the allocator sees it: a plain, fixed-size record, usable inside malloc.
// Layer: numa. Filled at boot from sysfs (raw syscalls, static buffers) or from a synthetic
// description, and refined outside malloc by the hwloc loader (numa/hwloc/).
#pragma once

#include <cstdint>

namespace hoardlab::numa {

inline constexpr int kMaxNodes = 64;
inline constexpr int kMaxPus = 1024;

enum class Source : std::uint8_t {
  kFallback,  // nothing readable: one node holding every CPU
  kSysfs,     // /sys/devices/system/{cpu,node}, read inside malloc
  kSynthetic, // HOARDLAB_TOPOLOGY="pack:2 numa:2 core:2 pu:1"
  kHwloc,     // hwloc's view of the real machine (loaded outside malloc)
  kHwlocXml,  // hwloc XML file named by HOARDLAB_TOPOLOGY
};

struct Topology {
  Source source = Source::kFallback;
  std::uint16_t nodes = 1; // logical NUMA nodes (synthetic ones included)
  std::uint16_t pus = 1;   // logical PUs (virtual ones included for synthetic topologies)
  std::uint16_t cores = 1;
  std::uint16_t packages = 1;
  bool synthetic = false;              // nodes/PUs are logical: memory binding cannot be honoured
  std::uint16_t pu_node[kMaxPus] = {}; // logical PU -> logical node
  std::int16_t node_os_index[kMaxNodes] = {};       // logical node -> OS node id, -1 if synthetic
  std::uint8_t distance[kMaxNodes][kMaxNodes] = {}; // SLIT style: 10 = local
};

} // namespace hoardlab::numa
