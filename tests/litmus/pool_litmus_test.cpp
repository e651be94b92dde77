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
// popper (look_past_pool_passes, the function heap.cpp's refill calls) reads the count, looks at
// the stack, and, finding it empty, concludes that the pool was empty only when no pass was in
// flight before the look and none started during it, else tries again. Here the pass is a sweep
// of a partial stack holding the pool's only superblock (one block in use, so the sweep pushes it
// back where it was). Forbidden: the popper concludes that the pool was empty (it would carve
// fresh space, which is never given back).
//
// The popper is the library's own function, so an order mistake in it is a mistake of the
// allocator's refill, which this test then catches (it had a copy of the loop of its own once,
// and a mistake made in heap.cpp's went unseen). The popper also spins for a varied while after a
// look that found nothing (0 to about 1,000 pauses, by round), so that in some rounds the pass
// ends inside that window: the mistake of reading the count after the look instead of before it
// (a pass that began before the look and ended after it goes unseen) then shows in 7,496-19,680
// of 200,000 rounds (three runs), where without the spin it showed in 495-2,035.
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
  unsigned round = 0;
  litmus::Outcome out = litmus::run(
      [&] {
        got = nullptr;
        ++round;
      },
      [&] { sweep_pool(p); },
      [&] {
        got = look_past_pool_passes([&] { return p.partial[cls].pop(); },
                                    [&] { litmus::spin((round * 37) & 1023); });
      },
      [&] {
        if (got == nullptr) return true; // "empty": it would carve
        p.partial[cls].push(got);        // back for the next round
        return false;
      });
  EXPECT_EQ(out.violations, 0) << "of " << out.rounds << " rounds";
  EXPECT_GT(out.rounds, 0);
}

} // namespace
} // namespace hoardlab::mem
