// The per-node superblock pool (Hoard's global heap) and the arenas superblocks are carved
// from: pushes and pops, the sweep and purge passes over a pool's stacks.
#include <new>
#include <span>

#include "config/options.h"
#include "core/bits.h"
#include "mem/fork_held_guard.h"
#include "mem/internal.h"
#include "mem/large_cache.h"
#include "mem/purge_thread.h"
#include "numa/placement.h"
#include "numa/topology.h"
#include "pal/pal.h"

namespace hoardlab::mem {

namespace {

// Arenas are committed in chunks: fewer mprotect calls, and adjacent read-write ranges merge
// into one mapping, so the number of mappings stays small however many superblocks exist.
constexpr std::size_t kCommitChunk = std::size_t{4} << 20;
// An arena's steps of address space (next_step): the first is reserved at init.
constexpr std::size_t kArenaMaxStep = std::size_t{1} << 30;

// Room for one more entry in ar's released list (under ar.lock): the list grows by doubling, up
// to one entry per superblock the arena can hold.
bool released_room(Arena& ar) noexcept {
  if (ar.released_count < ar.released_capacity) return true;
  const std::size_t most = ar.reserved >> g.sb_shift;
  std::size_t want =
      ar.released_capacity == 0 ? pal::kPageSize / sizeof(std::uint32_t) : 2 * ar.released_capacity;
  if (want > most) want = most;
  if (want <= ar.released_capacity) return false;
  const std::size_t old_bytes = ar.released_capacity * sizeof(std::uint32_t);
  const std::size_t bytes = core::round_up(want * sizeof(std::uint32_t), pal::kPageSize);
  void* q = ar.released == nullptr ? pal::map(bytes) : pal::remap(ar.released, old_bytes, bytes);
  if (q == nullptr) return false;
  ar.released = static_cast<std::uint32_t*>(q);
  ar.released_capacity = bytes / sizeof(std::uint32_t);
  return true;
}

// (H1) Released superblocks stay released under khugepaged. A chunk advised for huge pages (or
// any chunk, when the kernel's mode is "always") is where khugepaged may collapse a 2 MiB range
// into one huge page: with the kernel's default max_ptes_none (511) it does so when a single
// 4 KiB page of the range is present, filling the rest with zeros. Purging one superblock of such
// a range, while a neighbour stays in use, splits the huge page, and khugepaged's next pass would
// put it back, resident in full: the purge undone, and resident memory that grows by 2 MiB per
// range after the program freed it (core_release.s4KiB failed so, up to 7.8 MiB over its bound
// after a trim with khugepaged scanning every 100 ms; release_test's collapse test forces the
// same with MADV_COLLAPSE). So the release of a superblock that may lie on a huge page (on_huge,
// set at carve for the 2 MiB-aligned part of a chunk that may be on huge pages) takes its 2 MiB
// range off huge pages (MADV_NOHUGEPAGE) before the purge. The range stays on 4 KiB pages from then
// on: reused, its superblocks fault page by page, and a released superblock carved again is never
// on_huge. A superblock of 2 MiB or more purges whole huge pages, which leaves nothing to
// collapse. Cost: one madvise per release in such a range, skipped for the range last taken
// off (the releases of one pass come in runs of neighbours), and the kernel's mapping of the
// arena splits where such ranges meet ones still on huge pages: at most one more mapping per
// 4 MiB of arena, and none where the ranges taken off are adjacent (they merge). When the kernel
// refuses (no THP, or vm.max_map_count reached), the purge goes ahead alone.
// Under ar.lock (release_superblock).
void take_off_huge_pages(Arena& ar, Superblock* sb) noexcept {
  if (!sb->on_huge || g.sb_size >= pal::kHugePageSize) return;
  char* range = reinterpret_cast<char*>(core::round_down(core::addr(sb), pal::kHugePageSize));
  if (range == ar.no_huge_last) return;
  if (pal::advise_no_huge(range, pal::kHugePageSize)) ar.no_huge_last = range;
}

// Purges the whole of sb, header page included, and puts it on its arena's released list (A1).
// The caller holds sb alone: empty, owned by no heap, on no pool stack, still counted where the
// caller found it. False, with sb untouched, when it must stay in the pool unpurged: it may still
// be on a heap's pending stack (linked through its header), the list cannot grow, or madvise
// failed (the memory would not read as zero, Z1).
bool release_superblock(Superblock* sb) noexcept {
  // [RL1] pairs with drain_pending's [PN2] exchange: once in_pending reads false, that drain has
  // read pending_next, and no notifier claims it again: used == 0, so no block of sb is live to
  // free (a pooled superblock is never claimed otherwise, remote.cpp N2).
  if (sb->in_pending.load_acquire()) return false;
  Arena& ar = g.arenas[sb->node];
  // Held across the madvise, so a slot found free is still free after it: the lock guards only
  // carving and this list, and a purge happens at most once per superblock emptied.
  ForkHeldGuard guard(ar.lock);
  // From the header on: a guard page before it (kHeaderOffset) was never touched.
  if (!released_room(ar)) return false;
  take_off_huge_pages(ar, sb); // (H1)
  if (!pal::purge(sb, g.sb_size - kHeaderOffset)) return false;
  ar.released[ar.released_count++] = g.pool_slots.index_of(core::addr(sb)); // the pools' index
  ar.released_bytes.store_relaxed(ar.released_count << g.sb_shift);
  g.purged_bytes.fetch_add_relaxed(g.sb_size);
  return true;
}

// The same for a superblock a pass took off p's empty stack: it leaves the pool's counts.
// Returns the bytes given back (0: the caller pushes it back).
std::size_t release_from_pool(Pool& p, Superblock* sb) noexcept {
  if (!release_superblock(sb)) return 0;
  p.empty_count.fetch_sub_relaxed(1);
  p.superblocks.fetch_sub_relaxed(1);
  return g.sb_size;
}

// A pass over a pool's stacks, counted in Pool::passes [PS1] for as long as it lives.
class PassGuard {
public:
  explicit PassGuard(Pool& p) noexcept : p_(p) {
    p_.passes.fetch_add_acq_rel(Pool::kPassStarted + 1); // [PS1] started, in flight
  }
  ~PassGuard() { p_.passes.fetch_add_acq_rel(~std::uint64_t{0}); } // [PS1] minus 1: over
  PassGuard(const PassGuard&) = delete;
  PassGuard& operator=(const PassGuard&) = delete;

private:
  Pool& p_;
};

// Pops every superblock of a stack into a chain through link.next (unused while pooled). The
// caller holds a PassGuard: poppers wait for the chain's superblocks to come back [PS1].
core::ListNode* pop_all(SuperblockStack& st) noexcept {
  core::ListNode* chain = nullptr;
  while (Superblock* sb = st.pop()) {
    sb->link.next = chain;
    chain = &sb->link;
  }
  return chain;
}

} // namespace

std::uint64_t pool_passes() noexcept {
  std::uint64_t sum = 0; // in-flight counts add up in the low half, never carrying
  for (unsigned n = 0; n < g.nodes; ++n)
    sum += g.pools[n].passes.load_acquire(); // [PS1]
  return sum;
}

bool no_pass_hid_superblocks(std::uint64_t before) noexcept {
  return Pool::passes_in_flight(before) == 0 && pool_passes() == before; // [PS1]
}

unsigned other_nodes_nearest_first(unsigned node, unsigned (&order)[numa::kMaxNodes]) noexcept {
  if (g.nodes <= 1) return 0;
  int near[numa::kMaxNodes];
  const int n = numa::nearest_nodes(static_cast<int>(node), std::span<int>(near, g.nodes));
  unsigned kept = 0;
  for (int i = 0; i < n; ++i)
    if (near[i] >= 0 && static_cast<unsigned>(near[i]) < g.nodes &&
        static_cast<unsigned>(near[i]) != node)
      order[kept++] = static_cast<unsigned>(near[i]);
  return kept;
}

Pool& pool_of(const Superblock* sb) noexcept {
  return g.pools[sb->node];
}

// once the delay has passed (purge_deferred): a superblock emptied and reused again within the
// Puts an empty superblock (owner already nullptr) on its pool's empty stack. Beyond the
// retention bound it is released to its arena instead (purged whole), at once or, with
// purge.delay_ms, once the delay has passed (purge_deferred): a superblock emptied and reused
// again within the delay costs no madvise and no page faults.
void push_empty(Pool& p, Superblock* sb) noexcept {
  bool defer = false;
  std::uint64_t stamp = 0; // sb is not ours to read once pushed: a pop may reuse it at once
  if (static_cast<std::uint64_t>(p.empty_count.load_relaxed()) >=
      g.tune.retain_superblocks.load_relaxed()) {
    if (g.tune.purge_delay_ms.load_relaxed() == 0) {
      if (release_superblock(sb)) {
        p.superblocks.fetch_sub_relaxed(1); // the caller counted it in the pool
        return;
      }
    } else {
      defer = true;
      stamp = pal::now_ms();
      sb->empty_since_ms = stamp;
    }
  }
  p.empty_count.fetch_add_relaxed(1);
  p.empty.push(sb);
  if (defer) {
    p.deferred.fetch_add_relaxed(1);
    std::uint64_t old = 0; // only the first deferred one sets the oldest stamp
    // The first one since the last pass tells the purge thread, if it runs; when it does not
    // take the notification (queue full), the slow paths purge this pool inline.
    if (p.oldest_deferred_ms.cas_strong_acq_rel(old, stamp) && purge_thread::active() &&
        !purge_thread::post_pool_due(static_cast<unsigned>(&p - g.pools)))
      p.purge_inline.store_relaxed(true);
  }
}

Superblock* pop_empty(Pool& p) noexcept {
  Superblock* sb = p.empty.pop();
  if (sb != nullptr) {
    p.superblocks.fetch_sub_relaxed(1);
    p.empty_count.fetch_sub_relaxed(1);
    sb->empty_since_ms = 0;
  }
  return sb;
}

namespace {

// A superblock from node's released list, its header made fresh (A1); nullptr when none.
Superblock* take_released(unsigned node) noexcept {
  Arena& ar = g.arenas[node];
  if (ar.released_bytes.load_relaxed() == 0) return nullptr; // a hint: the lock decides
  ForkHeldGuard guard(ar.lock);
  if (ar.released_count == 0) return nullptr;
  --ar.released_count;
  ar.released_bytes.store_relaxed(ar.released_count << g.sb_shift);
  auto* sb = reinterpret_cast<Superblock*>(g.pool_slots.address_of(ar.released[ar.released_count]));
  sb->reinit(node);
  return sb;
}

#ifdef HOARDLAB_HARDENED
static_assert(kHeaderOffset == pal::kPageSize, "the guard before a header is one page");

// Guards made so far (every arena; carve_from holds only its own arena's lock).
constinit core::Atomic<std::uint64_t> g_guards{0};

// Makes the first page of a freshly carved superblock (start) a guard: a linear overflow from the
// previous superblock's last block faults there, before this superblock's header. Each guard
// splits its arena's read-write mapping, two more mappings per superblock, and the kernel refuses
// any mapping past vm.max_map_count (65,530 by default: about 32,000 guarded superblocks, 2 GiB at
// S = 64 KiB), after which the program's own mmap calls fail too. So guards stop at a quarter of
// that count, half of it left to the program (1 GiB of superblocks at the default count and S),
// or at the first refusal; from then on a superblock's first page stays read-write and unused
// (its header is still past it, out of reach of an overflow shorter than a page), said once on
// stderr. Never taken back: a released superblock keeps its guard (a purge leaves protections).
void guard_superblock(char* start) noexcept {
  static constinit core::Atomic<std::uint64_t> budget{0}; // 0: not read yet
  std::uint64_t most = budget.load_relaxed();
  if (most == 0) {
    most = pal::max_map_count() / 4;
    budget.store_relaxed(most);
  }
  if (g_guards.load_relaxed() < most && g_guards.fetch_add_relaxed(1) < most) {
    if (pal::make_guard(start, kHeaderOffset)) return;
    g_guards.store_relaxed(most); // refused: no more tries
  }
  static constinit core::Atomic<bool> said{false};
  if (said.exchange_relaxed(true)) return;
  pal::Message()
      .text("hoardlab: hardened: no more guard pages before superblock headers after ")
      .num(most)
      .text(" (a quarter of vm.max_map_count); superblocks carved from now on have none (said "
            "once)")
      .emit();
}
#endif

// An arena's next step (pool.h): a quarter of what it holds, so that at most a fifth of the
// small-object address space is reserved ahead of use (what RLIMIT_AS charges for and nothing
// carves yet) while the number of steps, and of mbind calls, grows with the logarithm of use.
// A multiple of 2 MiB as well as of S: the steps extend the first in place, so their commit
// chunks then start on 2 MiB boundaries and can be huge pages whole (heap.huge_pages_after); with
// steps of a quarter rounded to S, half of each chunk past the fourth step was out of alignment.
std::size_t next_step(const Arena& ar) noexcept {
  const std::size_t unit = g.sb_size > pal::kHugePageSize ? g.sb_size : pal::kHugePageSize;
  std::size_t step = core::round_down(ar.reserved / 4, unit);
  std::size_t first = kArenaFirstStep > g.sb_size ? kArenaFirstStep : g.sb_size;
  if (step < first) step = first;
  return step < kArenaMaxStep ? step : kArenaMaxStep;
}

#ifndef HOARDLAB_HARDENED // (no chunk is advised there: its guard pages split every 2 MiB)
// (H1) Records which part of the chunk just committed at ar.committed may be on huge pages: its
// 2 MiB-aligned part when `huge`, none otherwise. Under ar.lock (carve_from).
void note_huge_part(Arena& ar, bool huge, std::size_t chunk) noexcept {
  ar.huge_lo = ar.huge_hi = nullptr;
  if (!huge) return;
  std::uintptr_t lo = 0, hi = 0;
  pal::huge_part(ar.committed, chunk, &lo, &hi); // what advise_huge advised
  if (lo >= hi) return;
  ar.huge_lo = reinterpret_cast<char*>(lo);
  ar.huge_hi = reinterpret_cast<char*>(hi);
}
#endif

// Carves one superblock from node's arena, reserving its next step first when `grow` and the
// step being carved is used up; nullptr when it has no room left.
Superblock* carve_from(unsigned node, bool grow) noexcept {
  Arena& ar = g.arenas[node];
  ForkHeldGuard guard(ar.lock); // held across an mprotect when the arena commits more
  if (ar.next == nullptr || ar.next + g.sb_size > ar.limit) {
    if (!grow) return nullptr;
    std::size_t got = 0;
    char* step = reserve_small(next_step(ar), &got);
    // Freed large runs kept for reuse hold address space: under a limit (RLIMIT_AS) they go
    // back before the small objects are refused. Lock order: an arena's lock, then a shard's.
    if (step == nullptr) {
      large_cache::give_back_address_space();
      step = reserve_small(next_step(ar), &got);
    }
    if (step == nullptr) {
      report_address_space_refusal("a superblock", g.sb_size);
      return nullptr;
    }
    numa::place_arena(step, got, static_cast<int>(node),
                      static_cast<numa::PlacementPolicy>(config::options().numa_policy));
    ar.reserved += got;
    if (step != ar.limit || ar.next == nullptr) ar.next = ar.committed = step;
    ar.limit = step + got; // in place: the step extends the one being carved
  }
  char* p = ar.next;
  if (p + g.sb_size > ar.committed) {
    std::size_t chunk = kCommitChunk > g.sb_size ? kCommitChunk : g.sb_size;
    if (ar.committed + chunk > ar.limit) chunk = static_cast<std::size_t>(ar.limit - ar.committed);
    if (!pal::commit(ar.committed, chunk)) return nullptr;
#ifndef HOARDLAB_HARDENED // (its guard pages split every 2 MiB: no huge page could form)
    // The chunk that takes the arena past heap.huge_pages_after, and every later one, on
    // transparent huge pages (options.def): one fault per 2 MiB instead of 512. Purging a
    // superblock inside one later splits it (MADV_DONTNEED). With chunks of 4 MiB, a threshold
    // that is a multiple of 4 MiB advises the chunks committed from it on; 1 byte, every chunk.
    const std::uint64_t after = g.tune.huge_pages_after.load_relaxed();
    const bool advised = after != 0 && ar.committed_bytes.load_relaxed() + chunk > after;
    if (advised) pal::advise_huge(ar.committed, chunk);
    note_huge_part(ar, advised || g.huge_always, chunk);
#endif
    // Before any superblock of the chunk is carved (R4, [SR1]); on failure the chunk is
    // committed again, harmlessly, by the next try.
    if (!extend_readable(ar.committed, ar.committed + chunk)) return nullptr;
    ar.committed += chunk;
    ar.committed_bytes.fetch_add_relaxed(chunk);
  }
  ar.next = p + g.sb_size;
  ar.carved_bytes.add_single_writer(g.sb_size); // under the lock
#ifdef HOARDLAB_HARDENED
  guard_superblock(p);
#endif
  Superblock* sb = new (p + kHeaderOffset) Superblock();
  sb->node = node;
  sb->on_huge = p >= ar.huge_lo && p + g.sb_size <= ar.huge_hi; // (H1)
  return sb;
}

} // namespace

Superblock* carve_superblock(unsigned node) noexcept {
  // Released superblocks first, this node's, then the nearest other nodes' (as get_superblock
  // takes their pools' before carving): memory already carved once, so the arenas grow only
  // with the peak of all nodes together, however it moves between them.
  if (Superblock* sb = take_released(node)) return sb;
  unsigned order[numa::kMaxNodes];
  const unsigned n = other_nodes_nearest_first(node, order);
  for (unsigned i = 0; i < n; ++i)
    if (Superblock* sb = take_released(order[i])) return sb;
  if (Superblock* sb = carve_from(node, true)) return sb;
  // The address space refused the node a step: what other nodes' arenas still hold, nearest
  // first, serves it rather than failing the allocation (their memory is remote, but a
  // failed malloc is worse). A node is never stuck with its share of a split fixed in advance.
  for (unsigned i = 0; i < n; ++i)
    if (Superblock* sb = carve_from(order[i], false)) return sb;
  return nullptr;
}

bool sweep_pool(Pool& p) noexcept {
  // [SW1] one sweeper per pool; the others go on (their blocks are in the lists it drains, or
  // the next sweep's). The relaxed load first keeps the losers off the flag's cache line.
  if (p.sweeping.load_relaxed() || p.sweeping.exchange_acquire(true)) return false;
  // Partial superblocks whose blocks have all come back by remote frees become empty ones.
  for (std::size_t c = 0; c < g.classes.count(); ++c) {
    PassGuard pass(p); // one class at a time: the other classes' stacks stay in place
    if (p.partial[c].empty()) continue;
    core::ListNode* chain = pop_all(p.partial[c]);
    while (chain != nullptr) {
      Superblock* sb = Superblock::of_link(chain);
      chain = chain->next;
      sb->link.next = nullptr;
      drain_pooled(sb);
      if (sb->used == 0)
        push_empty(p, sb);
      else
        p.partial[c].push(sb);
    }
  }
  p.sweeping.store_release(false);
  return true;
}

std::size_t purge_deferred(Pool& p, bool force) noexcept {
  if (p.deferred.load_relaxed() <= 0) return 0;
  // The purge thread takes due purges while it runs, unless it missed this pool's notification.
  if (!force && purge_thread::active() && !purge_thread::on_thread() &&
      !p.purge_inline.load_relaxed())
    return 0;
  std::uint64_t delay = g.tune.purge_delay_ms.load_relaxed();
  std::uint64_t oldest = p.oldest_deferred_ms.load_relaxed();
  std::uint64_t now = pal::now_ms();
  if (!force && (oldest == 0 || now < oldest + delay)) return 0;
  if (p.purging.load_relaxed() || p.purging.exchange_acquire(true)) return 0;
  // Take every empty superblock out and purge, oldest stamps first in effect, those whose delay
  // has run out while more than the retention bound stay unpurged. Each goes back as soon as it
  // is done; a popper that finds the stack empty meanwhile waits for them [PS1].
  std::size_t released = 0;
  std::int64_t waiting = 0;
  {
    PassGuard pass(p); // ends before the flag is given back: fork sees no pass in flight [PS1]
    core::ListNode* chain = pop_all(p.empty);
    std::uint64_t retain = g.tune.retain_superblocks.load_relaxed();
    std::uint64_t next_oldest = 0;
    while (chain != nullptr) {
      Superblock* sb = Superblock::of_link(chain);
      chain = chain->next;
      sb->link.next = nullptr;
      if (sb->empty_since_ms != 0) {
        bool over = static_cast<std::uint64_t>(p.empty_count.load_relaxed()) > retain;
        if (over && (force || now >= sb->empty_since_ms + delay)) {
          sb->empty_since_ms = 0; // not released: kept unpurged, left to trim (purge_pools)
          if (std::size_t bytes = release_from_pool(p, sb)) {
            released += bytes;
            continue;
          }
        } else if (over) {
          ++waiting;
          if (next_oldest == 0 || sb->empty_since_ms < next_oldest)
            next_oldest = sb->empty_since_ms;
        } else {
          sb->empty_since_ms = 0; // within the retention bound now: kept unpurged
        }
      }
      p.empty.push(sb);
    }
    p.deferred.store_relaxed(waiting);
    p.oldest_deferred_ms.store_relaxed(next_oldest);
  }
  if (waiting == 0) p.purge_inline.store_relaxed(false);
  p.purging.store_release(false);
  return released;
}

// No purge pass may be in flight across fork: a pass holds a pool's empty superblocks in a
// private chain, which the child would lose. The forking thread takes every pool's pass flag.
void purge_fork_prepare() noexcept {
  for (unsigned n = 0; n < g.nodes; ++n) {
    while (g.pools[n].purging.exchange_acquire(true))
      pal::yield();
    while (g.pools[n].sweeping.exchange_acquire(true)) // [SW1]: a sweep's chain, likewise
      pal::yield();
  }
}
void purge_fork_release() noexcept {
  for (unsigned n = 0; n < g.nodes; ++n) {
    g.pools[n].sweeping.store_release(false);
    g.pools[n].purging.store_release(false);
  }
}

std::size_t purge_pools() noexcept {
  std::size_t released = 0;
  for (unsigned node = 0; node < g.nodes; ++node) {
    Pool& p = g.pools[node];
    // The forking thread holds every pool's pass flag (fork_prepare): a trim from a prepare
    // handler that runs after ours skips the pools rather than wait for itself.
    if (tl_holds_all) continue;
    sweep_pool(p);
    // Take every empty superblock out and release it to the arena; those that cannot be go
    // back at once [PS1]. One pass at a time: the
    // deferred purge's flag, which fork_prepare also takes, so no chain is in flight across fork.
    while (p.purging.load_relaxed() || p.purging.exchange_acquire(true))
      pal::yield();
    {
      PassGuard pass(p); // ends before the flag is given back [PS1]
      core::ListNode* chain = pop_all(p.empty);
      while (chain != nullptr) {
        Superblock* sb = Superblock::of_link(chain);
        chain = chain->next;
        sb->link.next = nullptr;
        if (std::size_t bytes = release_from_pool(p, sb))
          released += bytes;
        else
          p.empty.push(sb); // refused (still claimed, no room in the list, or madvise failed)
      }
    }
    p.purging.store_release(false);
  }
  return released;
}

} // namespace hoardlab::mem
