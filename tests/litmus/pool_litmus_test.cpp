// Litmus test of the pool passes' handshake with poppers (lib/mem/pool.h [PS1], core::TaggedStack
// [TS1]-[TS4]): the allocator's own pass (sweep_pool) and popper's check against node 0's pool.
#include <gtest/gtest.h>

#include "hoardlab/hoardlab.h"
#include "litmus.h"
#include "mem/internal.h"
#include "pal/pal.h"

namespace hoardlab::mem {
namespace {

// [PS1] (message passing through the stack head): a pass counts itself in, then pops a pool
// stack into a private chain, works and pushes each superblock back, then counts itself out; a
// popper reads the count, looks at the stack, and, finding it empty, carves only when no pass
// was in flight before the look and none started during it (get_superblock), else tries again.
// Here the pass is a sweep of a partial stack holding the pool's only superblock (one block in
// use, so the sweep pushes it back where it was). Forbidden: the popper concludes that the pool
// was empty (it would carve fresh space, which is never given back).
TEST(PoolPass, APopperThatFindsThePoolEmptySeesThePassInFlightOrItsPushes) {
  hl_free(hl_malloc(16)); // init
  Pool& p = g.pools[0];
  const std::size_t cls = g.classes.class_of(64);
  Superblock* own = carve_superblock(0);
  ASSERT_NE(own, nullptr);
  own->cls = static_cast<std::uint32_t>(cls);
  own->used = 1; // partial: a sweep drains its (empty) remote list and pushes it back
  p.superblocks.fetch_add_relaxed(1);
  p.partial[cls].push(own);

  Superblock* got = nullptr;
  litmus::Outcome out = litmus::run([&] { got = nullptr; }, [&] { sweep_pool(p); },
                                    [&] {
                                      for (;;) {
                                        const std::uint64_t before = pool_passes();
                                        if ((got = p.partial[cls].pop()) != nullptr) return;
                                        if (no_pass_hid_superblocks(before))
                                          return; // "empty": it would carve
                                        pal::yield();
                                      }
                                    },
                                    [&] {
                                      if (got == nullptr) return true;
                                      p.partial[cls].push(got); // back for the next round
                                      return false;
                                    });
  EXPECT_EQ(out.violations, 0) << "of " << out.rounds << " rounds";
  EXPECT_GT(out.rounds, 0);
}

} // namespace
} // namespace hoardlab::mem
