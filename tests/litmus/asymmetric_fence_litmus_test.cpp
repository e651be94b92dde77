// Litmus tests of the asymmetric fences (lib/pal/asymmetric_fence.h, [AF1]/[AF2]) and of the
// handshake built on them between a thread's large-run cache and a drainer
// (lib/mem/large_thread_cache.cpp, [TC3]/[TC4]).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>

#include "core/atomic.h"
#include "hoardlab/hoardlab.h"
#include "litmus.h"
#include "mem/large_thread_cache.h"
#include "pal/asymmetric_fence.h"

namespace hoardlab {
namespace {

// [AF1]/[AF2] (store buffering): the hot side stores x, runs a light fence and loads y; the rare
// side stores y, runs a heavy fence and loads x. Forbidden: both loads read 0. With compiler
// barriers on both sides instead, this machine's store buffers show it (handshakes.md gives the
// count), so the test can see the mistake of a light fence on the rare side.
TEST(AsymmetricFence, OneSideAlwaysSeesTheOthersStore) {
  const bool expedited = pal::init_asymmetric_fences();
  std::printf("asymmetric fences: %s\n", expedited ? "membarrier (light side: a compiler barrier)"
                                                   : "fallback (a seq_cst fence on each side)");
  core::Atomic<std::uint32_t> x{0};
  core::Atomic<std::uint32_t> y{0};
  std::uint32_t seen_y = 0;
  std::uint32_t seen_x = 0;
  litmus::Budget limit = litmus::budget();
  if (limit.rounds > 100000) limit.rounds = 100000; // a round is a system call on the rare side
  litmus::Outcome out = litmus::run(
      [&] {
        x.store_relaxed(0);
        y.store_relaxed(0);
      },
      [&] {
        x.store_relaxed(1);
        pal::light_fence(); // [AF1]
        seen_y = y.load_relaxed();
      },
      [&] {
        y.store_relaxed(1);
        ASSERT_TRUE(pal::heavy_fence()); // [AF2]
        seen_x = x.load_relaxed();
      },
      [&] { return seen_y == 0 && seen_x == 0; }, limit);
  EXPECT_EQ(out.violations, 0) << "rounds where neither side saw the other, of " << out.rounds;
  EXPECT_GT(out.rounds, 0);
}

// One size the thread keeps for itself (large.thread_cache_bytes / 4 and below), so that its
// frees stay in its run cache.
constexpr std::size_t kRunObject = 64 << 10;

// Two mallocs of kRunObject at once that return one address: a run both in the thread's cache
// and in the shards.
bool kept_twice() {
  void* q1 = hl_malloc(kRunObject);
  void* q2 = hl_malloc(kRunObject);
  const bool twice = q1 == q2;
  hl_free(q1);
  if (!twice) hl_free(q2);
  return twice;
}

// [TC3]/[TC4] (store buffering over the asymmetric fences, then message passing): the owner
// mallocs and frees one size in a loop, each a take from its run cache and a put back, while
// another thread drains every cache (a decay sweep's or a trim's drain_all). Forbidden: the run
// both kept by the owner and given to the shards, seen as two mallocs of its size at once
// returning one address. The owner runs 64 pairs a round and the other side 8 drains, so that
// a drain (a system call, then the look at each cache) meets the owner inside a take or a put in
// some rounds: with the owner's test of the drainer's flag removed (a mutant), this fails
// (handshakes.md).
TEST(LargeRunCache, AnOwnersTakesAndPutsAndADrainNeverBothHoldTheRun) {
  hl_free(hl_malloc(kRunObject)); // the run, kept by this thread
  bool failed = false;
  litmus::Budget limit = litmus::budget();
  if (limit.rounds > 50000) limit.rounds = 50000;
  auto owner = [&] {
    for (int i = 0; i < 64; ++i) {
      void* p = hl_malloc(kRunObject);
      if (p == nullptr) {
        failed = true;
        return;
      }
      static_cast<char*>(p)[0] = 1;
      hl_free(p);
    }
  };
  auto drainer = [] {
    for (int i = 0; i < 8; ++i)
      mem::large_thread_cache::drain_all();
  };
  litmus::Outcome out = litmus::run([] {}, owner, drainer, kept_twice, limit);
  EXPECT_FALSE(failed) << "a malloc failed";
  EXPECT_EQ(out.violations, 0) << "runs held twice, of " << out.rounds << " rounds";
  EXPECT_GT(out.rounds, 0);
}

} // namespace
} // namespace hoardlab
