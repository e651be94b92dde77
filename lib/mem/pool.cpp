// The per-node superblock pool (Hoard's global heap) and the arenas superblocks are carved
// from: pushes and pops, the sweep and purge passes over a pool's stacks.
#include <new>
#include <span>

#include "config/options.h"
#include "core/bits.h"
#include "mem/fork_held_guard.h"
#include "mem/internal.h"
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

// The caller holds sb alone (it is empty and off every stack, or not yet pushed). Returns the
// bytes given back: 0 when the OS refused, and then sb stays unpurged and nothing about its
// contents changes (Z1: a refused madvise leaves the old bytes, so calloc must clear them).
std::size_t purge_blocks(Superblock* sb) noexcept {
  if (!pal::purge(sb->base() + pal::kPageSize, g.sb_size - pal::kPageSize)) return 0;
  sb->purged = true;
  sb->zero_state = kZeroAbovePage; // Z1: the block pages read as zero again
  sb->bump = nullptr;              // format then knows no block was handed out since
  g.purged_bytes.fetch_add_relaxed(g.sb_size - pal::kPageSize);
  return g.sb_size - pal::kPageSize;
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

Pool& pool_of(const Superblock* sb) noexcept {
  return g.pools[sb->node];
}

// once the delay has passed (purge_deferred): a superblock emptied and reused again within the
// Puts an empty superblock (owner already nullptr) on its pool's empty stack. Beyond the
// retention bound its block pages go back to the OS, at once when purge.delay_ms is 0, else
// once the delay has passed (purge_deferred): a superblock emptied and reused again within the
// delay costs no madvise and no page faults. The header page stays, since a concurrent pop may
// read it (the pool's ABA argument).
void push_empty(Pool& p, Superblock* sb) noexcept {
  bool defer = false;
  std::uint64_t stamp = 0; // sb is not ours to read once pushed: a pop may reuse it at once
  if (!sb->purged) {
    if (static_cast<std::uint64_t>(p.unpurged_empty.load_relaxed()) >=
        g.tune.retain_superblocks.load_relaxed()) {
      if (g.tune.purge_delay_ms.load_relaxed() == 0) {
        if (purge_blocks(sb) == 0) p.unpurged_empty.fetch_add_relaxed(1); // refused: kept as is
      } else {
        defer = true;
        stamp = pal::now_ms();
        sb->empty_since_ms = stamp;
        p.unpurged_empty.fetch_add_relaxed(1);
      }
    } else {
      p.unpurged_empty.fetch_add_relaxed(1);
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
    if (!sb->purged) p.unpurged_empty.fetch_sub_relaxed(1);
    sb->purged = false;
    sb->empty_since_ms = 0;
  }
  return sb;
}

namespace {

// An arena's next step (pool.h): a quarter of what it holds, so that at most a fifth of the
// small-object address space is reserved ahead of use (what RLIMIT_AS charges for and nothing
// carves yet) while the number of steps, and of mbind calls, grows with the logarithm of use.
std::size_t next_step(const Arena& ar) noexcept {
  std::size_t step = core::round_down(ar.reserved / 4, g.sb_size);
  std::size_t first = kArenaFirstStep > g.sb_size ? kArenaFirstStep : g.sb_size;
  if (step < first) step = first;
  return step < kArenaMaxStep ? step : kArenaMaxStep;
}

// Carves one superblock from node's arena, reserving its next step first when `grow` and the
// step being carved is used up; nullptr when it has no room left.
Superblock* carve_from(unsigned node, bool grow) noexcept {
  Arena& ar = g.arenas[node];
  ForkHeldGuard guard(ar.lock); // held across an mprotect when the arena commits more
  if (ar.next == nullptr || ar.next + g.sb_size > ar.limit) {
    if (!grow) return nullptr;
    std::size_t got = 0;
    char* step = reserve_small(next_step(ar), &got);
    if (step == nullptr) return nullptr;
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
    ar.committed += chunk;
    ar.committed_bytes.fetch_add_relaxed(chunk);
  }
  ar.next = p + g.sb_size;
  Superblock* sb = new (p) Superblock();
  sb->node = node;
  return sb;
}

} // namespace

Superblock* carve_superblock(unsigned node) noexcept {
  if (Superblock* sb = carve_from(node, true)) return sb;
  // The address space refused the node a step: what other nodes' arenas still hold, nearest
  // first, serves it rather than failing the allocation (their memory is remote, but a
  // failed malloc is worse). A node is never stuck with its share of a split fixed in advance.
  int order[numa::kMaxNodes];
  int n = numa::nearest_nodes(static_cast<int>(node), std::span<int>(order, g.nodes));
  for (int i = 0; i < n; ++i) {
    if (order[i] < 0 || static_cast<unsigned>(order[i]) >= g.nodes ||
        static_cast<unsigned>(order[i]) == node)
      continue;
    if (Superblock* sb = carve_from(static_cast<unsigned>(order[i]), false)) return sb;
  }
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
      if (!sb->purged && sb->empty_since_ms != 0) {
        bool over = static_cast<std::uint64_t>(p.unpurged_empty.load_relaxed()) > retain;
        std::size_t bytes = 0;
        if (over && (force || now >= sb->empty_since_ms + delay) &&
            (bytes = purge_blocks(sb)) != 0) {
          released += bytes;
          sb->empty_since_ms = 0;
          p.unpurged_empty.fetch_sub_relaxed(1);
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
    // Take every empty superblock out, purge it, put it back [PS1]. One pass at a time: the
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
        if (!sb->purged) {
          std::size_t bytes = purge_blocks(sb);
          released += bytes;
          if (bytes != 0) p.unpurged_empty.fetch_sub_relaxed(1);
        }
        p.empty.push(sb);
      }
    }
    p.purging.store_release(false);
  }
  return released;
}

} // namespace hoardlab::mem
