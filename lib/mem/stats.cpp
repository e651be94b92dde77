// Statistics (stats.h), summed on demand from per-thread and per-heap counters.
#include "mem/stats.h"

#include "core/bits.h"
#include "mem/internal.h"
#include "mem/large.h"
#include "mem/purge_thread.h"
#include "numa/placement.h"

namespace hoardlab::mem {

namespace {

std::uint64_t non_negative(std::int64_t v) noexcept {
  return v > 0 ? static_cast<std::uint64_t>(v) : 0;
}

} // namespace

void count_pooled_in_use(std::int64_t delta) noexcept {
  const std::int64_t now = g.pooled_in_use.fetch_add_relaxed(delta) + delta;
  if (delta > 0) raise_shared_peak(g.pooled_peak, non_negative(now));
}

// The figures and how exact each is (README, "Statistics"):
// - handed out = sum_i u_i + pooled_in_use: every block a heap handed out and got not back,
//   wherever its superblock is now. Each u_i as its heap published it at the end of its last
//   slow step.
// - cached_bytes: the thread caches' bins and remote buffers, as each thread published them at
//   its last slow step of each class; the calling thread's are republished first, so they are
//   exact for it. Exited threads flushed theirs.
// - pending_bytes: blocks freed into remote lists and heap queues, not yet back.
// - in use = handed out - cached - pending + large objects: what the program holds.
// - peak = sum_i peak(u_i) + peak(pooled_in_use) + sum_r peak(large_r), r a thread's record or
//   the orphans (LargeInUse, state.h): each part is exact or above (raised where its count
//   grows), and the peak of a sum is at most the sum of the peaks,
//   so this bounds the largest handed out + large from above, hence the largest in use too; it
//   exceeds the latter by what caches and remote lists held at that moment and by parts whose peaks
//   fell apart in time.
// Cold: on request (lib/config/loader.cpp's apply_file_text says why).
[[gnu::cold]] void stats_total(TotalStats* out) noexcept {
  *out = TotalStats{};
  if (g.state.load_acquire() != kStateReady) return;
  if (ThreadCache* mine = tl_cache; mine != &kSentinel) publish_all_cached(mine);
  TotalStats& t = *out;
  std::uint64_t large_peak = 0;
  for (ThreadCache* tc = g.all_caches.load_acquire(); tc != nullptr;
       tc = tc->next_all.load_relaxed()) {
    std::uint64_t hits = tc->hits.load_relaxed();
    t.cache_hits += hits;
    t.allocations += hits + tc->slow_allocations.load_relaxed();
    t.large_allocations += tc->large_allocations.load_relaxed();
    const std::uint64_t own = tc->large_own.load_relaxed();
    const std::uint64_t remote = tc->large_remote.load_relaxed();
    t.large_in_use_bytes += own > remote ? own - remote : 0; // read apart: clamped (LU1)
    large_peak += tc->large_peak.load_relaxed();
    t.frees += tc->cached_frees.load_relaxed() + tc->slow_frees.load_relaxed();
    t.remote_frees_sent += tc->remote_sent.load_relaxed();
    t.remote_batches_sent += tc->remote_batches.load_relaxed();
    t.heap_pass_overs += tc->pass_overs.load_relaxed();
    t.cached_bytes += tc->cached_bytes.load_relaxed();
  }
  t.allocations += g.orphan_allocations.load_relaxed();
  t.large_allocations += g.orphan_large_allocations.load_relaxed();
  t.frees += g.orphan_frees.load_relaxed();
  t.remote_frees_sent += g.orphan_remote_sent.load_relaxed();
  t.remote_batches_sent += g.orphan_remote_batches.load_relaxed();
  t.heap_pass_overs += g.orphan_pass_overs.load_relaxed();
  std::uint64_t u = 0;
  std::uint64_t a = 0;
  std::uint64_t peak = 0;
  for (unsigned i = 0; i < g.heap_count; ++i) {
    Heap& h = g.heaps[i];
    t.remote_frees_drained += h.remote_drained.load_relaxed();
    t.superblocks_to_pool += h.to_pool.load_relaxed();
    t.superblocks_from_pool += h.from_pool.load_relaxed();
    u += h.pub_u.load_relaxed();
    a += h.pub_a.load_relaxed();
    peak += h.pub_peak_u.load_relaxed();
  }
  t.remote_frees_drained += g.pooled_remote_drained.load_relaxed();
  std::uint64_t pool_sb = 0;
  std::uint64_t mapped = 0;
  std::uint64_t released = 0;
  for (unsigned n = 0; n < g.nodes; ++n) {
    pool_sb += non_negative(g.pools[n].superblocks.load_relaxed());
    mapped += g.arenas[n].committed_bytes.load_relaxed();
    released += g.arenas[n].released_bytes.load_relaxed();
  }
  large::Stats ls = large::stats();
  t.large_cached_bytes = ls.cached_bytes;
  purge_thread::Stats ps = purge_thread::stats();
  t.background_purged_bytes = ps.superblock_bytes + ps.large_bytes;
  t.pending_bytes = non_negative(g.pending_bytes.load_relaxed());
  // The counters are read one after another while other threads work: a difference is clamped
  // at zero rather than let a momentary skew wrap around.
  const std::uint64_t handed_out = u + non_negative(g.pooled_in_use.load_relaxed());
  const std::uint64_t not_program = t.cached_bytes + t.pending_bytes;
  t.large_in_use_bytes += g.large_orphan.bytes.load_relaxed();
  large_peak += g.large_orphan.peak.load_relaxed();
  t.bytes_in_use = (handed_out > not_program ? handed_out - not_program : 0) + t.large_in_use_bytes;
  // The pools hold unpurged superblocks only: one purged is released to its arena (Arena A1),
  // held by no one, so it is in neither pool_bytes nor bytes_held. It stays in os_bytes_mapped
  // (its range is committed, reading as zero) and was counted once in os_bytes_purged.
  t.pool_bytes = pool_sb * g.sb_size;
  t.heap_free_bytes = a + t.pool_bytes > handed_out ? a + t.pool_bytes - handed_out : 0;
  t.bytes_held = a + t.pool_bytes + ls.mapped_bytes;
  t.os_bytes_mapped = mapped + ls.mapped_bytes;
  t.os_bytes_resident = (mapped > released ? mapped - released : 0) + ls.mapped_bytes;
  t.os_bytes_purged = g.purged_bytes.load_relaxed();
  // The allocating threads' peaks add up past the true peak when they peaked apart (and a
  // thread's record that changed hands counts apart from the one a new thread took); every large
  // byte in use is mapped, so the mappings' own high-water mark bounds it too.
  if (large_peak > ls.mapped_peak_bytes) large_peak = ls.mapped_peak_bytes;
  t.peak_bytes_in_use = peak + g.pooled_peak.load_relaxed() + large_peak;
  t.heaps = g.heap_count;
  t.nodes = g.nodes;
  t.superblock_size = g.sb_size;
}

bool stats_heap(std::uint32_t index, HeapStats* out) noexcept {
  if (g.state.load_acquire() != kStateReady || index >= g.heap_count) return false;
  Heap& h = g.heaps[index];
  *out = HeapStats{h.allocations.load_relaxed(),
                   h.frees.load_relaxed(),
                   h.remote_drained.load_relaxed(),
                   h.pub_u.load_relaxed(),
                   h.pub_a.load_relaxed(),
                   h.pub_superblocks.load_relaxed(),
                   h.node,
                   static_cast<std::uint32_t>(h.pub_partial_classes.load_relaxed()),
                   h.pub_peak_u.load_relaxed()};
  return true;
}

bool stats_node(std::uint32_t index, NodeStats* out) noexcept {
  ensure_init();
  if (index >= g.nodes) return false;
  NodeStats s{};
  std::int64_t pool = g.pools[index].superblocks.load_relaxed();
  s.superblocks_held = pool > 0 ? static_cast<std::uint64_t>(pool) : 0;
  for (unsigned i = 0; i < g.heap_count; ++i) {
    if (g.heaps[i].node != index) continue;
    s.superblocks_held += g.heaps[i].pub_superblocks.load_relaxed();
    s.local_allocations += g.heaps[i].allocations.load_relaxed();
  }
  s.remote_allocations = g.traffic[index].remote_allocations.load_relaxed();
  for (unsigned n = 0; n < g.nodes; ++n)
    s.cross_node_remote_frees += g.traffic[n].freed_into[index].load_relaxed();
  numa::NodePlacement np = numa::node_placement(static_cast<int>(index));
  s.bytes_placed = g.arenas[index].committed_bytes.load_relaxed() + large::node_mapped_bytes(index);
  s.os_node = np.os_node;
  s.bound = np.bound ? 1 : 0;
  *out = s;
  return true;
}

const char* topology_source() noexcept {
  ensure_init();
  switch (g.topology->source) {
  case numa::Source::kFallback:
    return "fallback";
  case numa::Source::kSysfs:
    return "sysfs";
  case numa::Source::kSynthetic:
    return "synthetic";
  case numa::Source::kHwloc:
    return "hwloc";
  case numa::Source::kHwlocXml:
    return "hwloc-xml";
  }
  return "fallback";
}

BoundSample sample_bound() noexcept {
  BoundSample s{};
  if (g.state.load_acquire() != kStateReady) return s;
  double f = g.tune.emptiness_f.load_relaxed();
  std::size_t k = g.tune.emptiness_k.load_relaxed();
  for (unsigned i = 0; i < g.heap_count; ++i) {
    Heap* h = &g.heaps[i];
    acquire_specific(h);
    s.held += h->a;
    if (h->a != 0) ++s.heaps_used;
    s.bound += heap_bound(h, k, f);
    release_heap(h);
  }
  return s;
}

} // namespace hoardlab::mem
