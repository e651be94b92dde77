// Pool passes (the sweep, the deferred purge, trim's purge) pop a whole pool stack into a private
// chain while they work through it. A heap that needs a superblock meanwhile must wait for the
// chain to come back rather than carve fresh space: carved space is never given back, so every
// such carve under constant live memory is growth for good (pool.h, [PS1]).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>

#include "hoardlab/hoardlab.h"
#include "mem/heap.h"
#include "mem/internal.h"
#include "test_util.h"

namespace {

namespace mem = hoardlab::mem;
using hoardlab::test::Deadline;

// Superblocks carved from fresh space so far on every node (Arena::carved_bytes only grows).
// Read while no other thread carves (before the threads start, after they are joined).
std::uint64_t carved_superblocks() {
  std::uint64_t n = 0;
  for (unsigned node = 0; node < mem::g.nodes; ++node)
    n += mem::g.arenas[node].carved_bytes.load_relaxed() / mem::g.sb_size;
  return n;
}

// One heap, entered directly, fills kHeld superblocks of one class, frees every block and gives
// every superblock back to the pool (heap_collect), over and over; another thread runs pool passes
// back to back. Nothing else in the process allocates from the heaps.
//
// Bound: a carve happens only when the pools hold no superblock and no pass holds any, so every
// superblock carved by then is in the cycling heap, which never holds more than kHeld at once:
// the carved count grows by at most kHeld over the whole run. Before [PS1] each refill that met a
// pass in flight carved up to kHeld more, and the count grew with the number of rounds.
TEST(PoolPasses, AHeapRefillingWhilePassesHoldThePoolCarvesNoMoreThanItHoldsAtOnce) {
  ASSERT_TRUE(mem::ensure_init());
  constexpr std::uint64_t kHeld = 8;
  const std::size_t cls = mem::g.classes.class_of(4096); // few blocks a superblock: short rounds
  const std::size_t per_round = kHeld * mem::g.class_capacity[cls];
  mem::Heap* h = &mem::g.heaps[0];
  mem::Pool& pool = mem::g.pools[h->node];
  const std::uint64_t before = carved_superblocks();

  std::atomic<bool> stop{false};
  std::atomic<long> passes{0};
  std::thread passer([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      mem::purge_pools();              // sweep, then every empty superblock purged and put back
      mem::purge_deferred(pool, true); // the deferred purge, forced
      mem::sweep_pool(pool);
      passes.fetch_add(1, std::memory_order_relaxed);
    }
  });

  long rounds = 0;
  long short_refills = 0;
  Deadline d(3.0);
  while (!d.passed() || rounds < 200) {
    mem::acquire_specific(h);
    void* chain = nullptr;
    const std::size_t got = mem::heap_allocate(h, cls, per_round, &chain);
    if (got != per_round) ++short_refills;
    while (chain != nullptr) {
      void* next = *static_cast<void**>(chain);
      mem::heap_free_local(h, mem::superblock_of(chain), chain);
      chain = next;
    }
    mem::heap_collect(h); // every empty superblock back to the pool
    mem::release_heap(h);
    ++rounds;
  }
  stop.store(true, std::memory_order_relaxed);
  passer.join();

  const std::uint64_t grown = carved_superblocks() - before;
  EXPECT_EQ(short_refills, 0) << "memory ran out";
  EXPECT_GT(passes.load(), 0);
  EXPECT_LE(grown, kHeld) << rounds << " rounds of " << kHeld << " superblocks against "
                          << passes.load() << " rounds of passes carved " << grown
                          << " superblocks";
  EXPECT_EQ(hl_check_invariants(), 0);
}

} // namespace
