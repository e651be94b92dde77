// Which processor heap a thread enters: PUs numbered densely over the online ones (Hoard's P),
// and the order a thread passes over busy heaps in, its own node's heaps first.
#include "mem/internal.h"
#include "numa/topology.h"

namespace hoardlab::mem {

// A VM may report CPUs 0-255 possible and 4 online: sched_getcpu never returns a hole, so
// heaps for the holes would never be anyone's home, only pass-over targets that stretch every
// busy acquire over P-1 = 255 probes, and a heap per hole would count in the blowup bound's
// P term. So P is the online count, and a hole (which current_pu may still fold into range)
// shares a slot with an online PU.
unsigned map_pus_to_slots(const numa::Topology& t) noexcept {
  const int pus = t.pus == 0 ? 1 : t.pus;
  unsigned slots = 0;
  for (int p = 0; p < pus; ++p)
    if (numa::pu_online(t, p)) g.heap_map.pu_slot[p] = static_cast<std::uint16_t>(slots++);
  if (slots == 0) { // no PU marked online: treat every PU as one
    for (int p = 0; p < pus; ++p)
      g.heap_map.pu_slot[p] = static_cast<std::uint16_t>(p);
    return static_cast<unsigned>(pus);
  }
  for (int p = 0; p < pus; ++p)
    if (!numa::pu_online(t, p)) g.heap_map.pu_slot[p] = static_cast<std::uint16_t>(p % slots);
  return slots;
}

void group_heaps_by_node(const numa::Topology& t, Heap* heaps, unsigned count,
                         unsigned slots) noexcept {
  HeapMap& m = g.heap_map;
  const int pus = t.pus == 0 ? 1 : t.pus;
  // Heap i serves slot i mod P (2 x P heaps: two per slot), so it lives on that slot's PU's node.
  std::uint16_t slot_node[numa::kMaxPus] = {};
  for (int p = pus; p-- > 0;)
    if (numa::pu_online(t, p) || slots == static_cast<unsigned>(pus))
      slot_node[m.pu_slot[p]] = t.pu_node[p];
  const unsigned nodes = g.nodes;
  for (unsigned n = 0; n < nodes; ++n)
    m.node_count[n] = 0;
  for (unsigned i = 0; i < count; ++i) {
    unsigned node = slot_node[i % slots];
    if (node >= nodes) node = 0;
    heaps[i].node = node;
    heaps[i].node_rank = m.node_count[node]++;
  }
  unsigned first = 0;
  for (unsigned n = 0; n < nodes; ++n) {
    m.node_first[n] = static_cast<std::uint16_t>(first);
    first += m.node_count[n];
  }
  for (unsigned i = 0; i < count; ++i)
    m.by_node[m.node_first[heaps[i].node] + heaps[i].node_rank] = static_cast<std::uint16_t>(i);
}

// Candidate k (1 <= k < heap count) after `home`: the other heaps of home's node, from home's
// place in them round, then each other node's, nearest first. A pass-over to another node
// would hand the thread that node's superblocks (remote memory for everything it allocates
// there, and remote frees for every block it frees at home later), so a heap of its own node,
// however far in index, comes first.
Heap* pass_over_candidate(const Heap* home, unsigned k) noexcept {
  const HeapMap& m = g.heap_map;
  const unsigned node = home->node;
  unsigned count = m.node_count[node];
  if (k < count) return &g.heaps[m.by_node[m.node_first[node] + (home->node_rank + k) % count]];
  k -= count;
  for (unsigned j = 1; j < g.nodes; ++j) {
    const unsigned other = g.topology->nearest[node][j];
    count = m.node_count[other];
    if (k < count) return &g.heaps[m.by_node[m.node_first[other] + (home->node_rank + k) % count]];
    k -= count;
  }
  return &g.heaps[(home->index + k) % g.heap_count]; // not reached: k < heap count
}

} // namespace hoardlab::mem
