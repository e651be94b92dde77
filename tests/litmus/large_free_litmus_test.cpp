// Litmus test of the large-object free claim (lib/mem/large.cpp, [LF1]): two threads free the
// same large object at once, through the C API's whole free path (the pagemap test, then the
// release). The object is larger than a thread may keep (large.thread_cache_bytes / 4), so every
// release goes to its shard, where a run released twice would sit twice and be handed out twice.
#include <gtest/gtest.h>

#include "hoardlab/hoardlab.h"
#include "litmus.h"

namespace hoardlab::mem {
namespace {

// 512 KiB: above a thread cache's run limit (256 KiB by default) and above the size the shards
// carve from their chunks, so the run is mapped alone and comes back to the shard as it left.
constexpr std::size_t kObjectBytes = std::size_t{512} << 10;

// [LF1] (a read-modify-write on one word from both sides): each side tests the object's start
// bit and clears it; only the side whose clear found it set may release the run. Forbidden: the
// run released twice, seen as two allocations of its size that return the same address.
TEST(LargeFree, TwoThreadsFreeingOneObjectReleaseItsRunOnce) {
  void* p = nullptr;
  bool handed_out_twice = false;
  litmus::Budget limit = litmus::budget();
  if (limit.rounds > 100000) limit.rounds = 100000; // a round is four large calls
  litmus::Outcome out = litmus::run(
      [&] {
        p = hl_malloc(kObjectBytes);
        ASSERT_NE(p, nullptr);
      },
      [&] { hl_free(p); }, [&] { hl_free(p); },
      [&] {
        void* q1 = hl_malloc(kObjectBytes);
        void* q2 = hl_malloc(kObjectBytes);
        handed_out_twice = q1 == q2;
        hl_free(q1);
        if (!handed_out_twice) hl_free(q2);
        return handed_out_twice;
      },
      limit);
  EXPECT_EQ(out.violations, 0) << "runs handed out twice, of " << out.rounds << " rounds";
  EXPECT_GT(out.rounds, 0);
}

} // namespace
} // namespace hoardlab::mem
