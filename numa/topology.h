// The machine as the allocator sees it: a plain, fixed-size record, usable inside malloc.
// Layer: numa. Filled at boot from sysfs (raw syscalls, static buffers) or from a synthetic
// description, and refined outside malloc by the hwloc loader (numa/hwloc/).
//
// Indexing. A PU index is the OS CPU number for real topologies (what sched_getcpu returns),
// so `pu_node[sched_getcpu()]` needs no translation; for synthetic topologies PUs are virtual,
// numbered 0..pus-1 in the description's order. A node index is logical (0..nodes-1, in
// increasing OS node number); node_os_index maps it to the kernel's node id for mbind.
//
// Distances follow the ACPI SLIT convention (10 = local). Synthetic topologies use
// kDistanceLocal / kDistanceSamePackage / kDistanceOtherPackage below.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <type_traits>

namespace hoardlab::numa {

inline constexpr int kMaxNodes = 64;
inline constexpr int kMaxPus = 1024;
inline constexpr int kMaxCacheLevels = 4;

// Distances of synthetic topologies: what a two-socket machine with sub-NUMA clustering
// reports (about 10 / 11-21 / 21-32); round numbers keep the order, which is all the allocator
// uses (nearest_nodes()).
inline constexpr std::uint8_t kDistanceLocal = 10;
inline constexpr std::uint8_t kDistanceSamePackage = 20;
inline constexpr std::uint8_t kDistanceOtherPackage = 30;

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

  // ---- added by the numa layer (fields above are the original contract) ----
  // PUs that exist: a possible-but-absent CPU number (a hole in cpu/possible) is not online
  // and maps to node 0 so that a stray index is still safe.
  std::uint16_t online_pus = 1;
  // Bit p set: PU p is a hole (possible, not online). Those bits are the ones a producer knows of
  // (sysfs, hwloc); clear means online, so a producer that has no holes leaves it zero.
  std::uint64_t pu_offline[kMaxPus / 64] = {};
  std::uint16_t pu_core[kMaxPus] = {};            // logical PU -> core index (0..cores-1)
  std::uint16_t pu_package[kMaxPus] = {};         // logical PU -> package index
  std::uint16_t node_pus[kMaxNodes] = {};         // PUs per node
  std::uint16_t node_package[kMaxNodes] = {};     // node -> package it belongs to
  std::uint64_t node_memory[kMaxNodes] = {};      // bytes; 0 when unknown (sysfs boot)
  std::uint32_t cache_size[kMaxCacheLevels] = {}; // L1d..L4 bytes per instance; 0 = none/unknown
  std::uint16_t cache_line = 64;
  // nearest[n][0..nodes-1]: nodes by increasing distance from n, n itself first; ties broken
  // by the smallest (m - n) mod nodes, so equal neighbours are shared out evenly.
  std::uint8_t nearest[kMaxNodes][kMaxNodes] = {};
};

// Makes t a default Topology where it lies. `t = Topology{}` builds the 15 KiB default on the
// stack first and copies it: four pages of the stack of whichever thread calls malloc first, and
// resident from then on.
inline void reset_topology(Topology& t) noexcept {
  static_assert(std::is_trivially_destructible_v<Topology>);
  new (&t) Topology();
}

// Whether PU p is online (not a hole in the possible CPU numbers).
inline bool pu_online(const Topology& t, int p) noexcept {
  return (t.pu_offline[p / 64] >> (p % 64) & 1u) == 0;
}
inline void mark_pu_offline(Topology& t, int p) noexcept {
  t.pu_offline[p / 64] |= std::uint64_t{1} << (p % 64);
}

// Where the text form of a Source is needed (stats, CLI): "fallback", "sysfs", "synthetic",
// "hwloc", "hwloc-xml".
const char* source_name(Source s) noexcept;

// ---- boot view: numa/boot, callable inside malloc (no allocation, no locks that allocate) ----

// The topology the allocator is built on, computed once on first use and never changed after:
// the one published by the hwloc loader if it was published before this first call (see
// publish_topology), else HOARDLAB_TOPOLOGY's synthetic description, else sysfs, else the
// one-node fallback. Thread-safe; concurrent first callers wait for the one that computes it
// (a fork child whose parent forked mid-build computes it again).
const Topology& boot_topology() noexcept;

// The fullest view available now: the published hwloc view if there is one, else the boot
// view. For stats and the CLI; the allocator's structure (heaps, pools) follows boot_topology().
const Topology& topology() noexcept;

// Called by the hwloc loader, outside malloc. Copies t into a static slot once (later calls
// return false). If boot_topology() has not been computed yet, the allocator will use t.
bool publish_topology(const Topology& t) noexcept;

// Called by the hwloc loader when HOARDLAB_TOPOLOGY names an XML file it could not read (it
// reports why), so that numa/boot does not report the same file a second time.
void note_topology_load_failed() noexcept;

// Fills t from a synthetic description: space-separated `type:count` levels, top down.
// Types: machine, pack|package|socket, die, group, numa|node|numanode, l1..l5 (also l1d,
// l2d, l1i, l2u... and `lNcache`), core, pu|thread. Parenthesised attributes ("(memory=...)")
// are skipped. numa may sit at any level above pu; none means one node. On error returns
// false and writes a one-line reason naming the offending token into err (NUL-terminated).
bool parse_synthetic(const char* text, Topology& t, char* err, std::size_t err_size) noexcept;

// Fills t from /sys/devices/system/{cpu,node} with raw open/read into static buffers. Returns
// false (t is then the one-node fallback over the possible CPUs) when node information is
// unreadable.
bool read_sysfs(Topology& t) noexcept;

// Makes t a one-node topology of `pus` PUs (Source::kFallback).
void make_fallback(Topology& t, int pus) noexcept;

// Derives the per-node counts, the nearest[][] order and fills missing distances; every
// producer of a Topology ends with it.
void finish_topology(Topology& t) noexcept;

// Nodes by increasing distance from `node` (itself first): "take from the own node's pool
// first, then the nearest". Returns how many were written (min(nodes, out.size())).
int nearest_nodes(const Topology& t, int node, std::span<int> out) noexcept;
int nearest_nodes(int node, std::span<int> out) noexcept; // on boot_topology()

// ---- which PU a thread is on ----

// The PU the calling thread counts as running on: the PU forced by force_cpu_for_this_thread,
// else for synthetic topologies its virtual PU (assigned once per thread, see virtual_cpu),
// else sched_getcpu() (0 if that fails). Always < boot_topology().pus. Uses one initial-exec
// thread_local int.
int current_pu() noexcept;

// The node of current_pu() in the boot topology.
int current_node() noexcept;

// Test hook simulating migration: the calling thread counts as running on `pu` from now on
// (clamped into range); -1 goes back to the normal mapping.
void force_cpu_for_this_thread(int pu) noexcept;

// The virtual PU of the thread with sequence number `thread_index` (0, 1, 2, ... in order of
// first use) on topology t. Real topologies: real_cpu itself. Synthetic ones: threads are dealt
// round-robin over nodes first and over each node's PUs second, so two threads already use two
// nodes and every node is used once there are as many threads as nodes.
int virtual_cpu(const Topology& t, int real_cpu, std::uint64_t thread_index) noexcept;
int virtual_cpu(int real_cpu, std::uint64_t thread_index) noexcept; // on boot_topology()

} // namespace hoardlab::numa
