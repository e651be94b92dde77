// Litmus test of the pool passes' handshake with poppers (lib/mem/pool.h [PS1], core::TaggedStack
// [TS1]/[TS2]): the allocator's own pass (purge_pools) and pop against node 0's pool.
#include <gtest/gtest.h>

#include "hoardlab/hoardlab.h"
#include "litmus.h"
#include "mem/internal.h"
#include "pal/pal.h"

namespace hoardlab::mem {
namespace {

// [PS1] (message passing through the stack head): a pass counts itself in, then pops the pool's
// empty stack into a private chain, works and pushes each superblock back, then counts itself
// out; a popper that finds the stack empty waits while a pass is in flight, then pops again, as
// get_superblock does before it would carve. Forbidden: the popper finds the stack empty after
// the pass is over, while the pool's only superblock is back in it (it would carve fresh space,
// which never shrinks: the arena grew under constant live memory).
TEST(PoolPass, APopperThatFindsThePoolEmptySeesThePassInFlightOrItsPushes) {
  hl_free(hl_malloc(16)); // init
  Pool& p = g.pools[0];
  Superblock* own = carve_superblock(0);
  ASSERT_NE(own, nullptr);
  p.superblocks.fetch_add_relaxed(1); // as give_to_pool counts a superblock entering the pool
  push_empty(p, own);

  Superblock* got = nullptr;
  litmus::Outcome out = litmus::run([&] { got = nullptr; }, [&] { purge_pools(); },
                                    [&] {
                                      got = pop_empty(p);
                                      while (got == nullptr && pool_pass_in_flight()) {
                                        pal::yield();
                                        got = pop_empty(p);
                                      }
                                      if (got == nullptr) got = pop_empty(p);
                                    },
                                    [&] {
                                      if (got == nullptr) return true;
                                      p.superblocks.fetch_add_relaxed(1);
                                      push_empty(p, got); // back for the next round
                                      return false;
                                    });
  EXPECT_EQ(out.violations, 0) << "of " << out.rounds << " rounds";
  EXPECT_GT(out.rounds, 0);
}

} // namespace
} // namespace hoardlab::mem
