// Which PU the calling thread counts as running on: real CPUs, virtual PUs of synthetic
// topologies, and the test hook that forces one (simulated migration).
#include "numa/topology.h"

#include "core/atomic.h"

#include <sched.h>

namespace hoardlab::numa {
namespace {

// One int of initial-exec TLS (DESIGN: "TLS: kept to a pointer and a flag"; this is the numa
// layer's one addition). Encoding, so a single zero-initialised word needs no init check:
//   0        nothing assigned yet
//   v > 0    virtual PU v - 1 (synthetic topologies), assigned on first use
//   v < 0    PU -v - 1 forced by force_cpu_for_this_thread
// A forced PU wins over the virtual one; un-forcing (-1) makes the next call assign afresh.
constinit thread_local int pu_slot_ __attribute__((tls_model("initial-exec"))) = 0;

// Sequence number of threads that asked for a virtual PU. Relaxed: only uniqueness matters.
constinit core::Atomic<std::uint64_t> next_thread_index_{0};

int clamp_pu(const Topology& t, int pu) noexcept {
  if (pu < 0) return 0;
  return pu < t.pus ? pu : pu % t.pus;
}

} // namespace

int virtual_cpu(const Topology& t, int real_cpu, std::uint64_t thread_index) noexcept {
  if (!t.synthetic) return clamp_pu(t, real_cpu);
  // Nodes that have PUs (every synthetic node does; the check keeps a hand-made record safe).
  int with_pus = 0;
  for (int n = 0; n < t.nodes; ++n)
    with_pus += t.node_pus[n] > 0 ? 1 : 0;
  if (with_pus == 0) return 0;
  // Deal threads to nodes first, then to PUs within the node: thread k goes to the
  // (k mod nodes)-th node, and to that node's (k / nodes mod node_pus)-th PU.
  int pick = static_cast<int>(thread_index % static_cast<std::uint64_t>(with_pus));
  int node = 0;
  for (; node < t.nodes; ++node)
    if (t.node_pus[node] > 0 && pick-- == 0) break;
  const std::uint64_t round = thread_index / static_cast<std::uint64_t>(with_pus);
  int nth = static_cast<int>(round % t.node_pus[node]);
  for (int pu = 0; pu < t.pus; ++pu)
    if (t.pu_node[pu] == node && nth-- == 0) return pu;
  return 0;
}

int virtual_cpu(int real_cpu, std::uint64_t thread_index) noexcept {
  return virtual_cpu(boot_topology(), real_cpu, thread_index);
}

int current_pu() noexcept {
  const Topology& t = boot_topology();
  const int slot = pu_slot_;
  if (slot < 0) return clamp_pu(t, -slot - 1);
  if (t.synthetic) {
    if (slot > 0) return slot - 1;
    const int pu = virtual_cpu(t, 0, next_thread_index_.fetch_add_relaxed(1));
    pu_slot_ = pu + 1;
    return pu;
  }
  // sched_getcpu is a vDSO call (rdpid/rdtscp on x86-64): no system call, no allocation.
  return clamp_pu(t, sched_getcpu());
}

int current_node() noexcept {
  return boot_topology().pu_node[current_pu()];
}

void force_cpu_for_this_thread(int pu) noexcept {
  if (pu < 0) {
    pu_slot_ = 0;
    return;
  }
  pu_slot_ = -(clamp_pu(boot_topology(), pu) + 1);
}

} // namespace hoardlab::numa
