// The hardened build's check of a thread cache's bin against its count (C1, thread_cache.h): a
// list that ends before the count says is reported, not followed. The fuzz target reached such a
// list after a one-byte write into a freed block's link and a double free (the write breaks the
// check word that tells a free block, so the second free can take it for a live one, and a block
// in two lists may have its link rewritten by the other), and the flush that walked it read
// address 0: the child died by SIGSEGV instead of the allocator's abort (seeds 3 and 5 of the
// target, within 150 s each). Here the list is cut by hand. Built against the hardened static
// library, with its layout (HOARDLAB_HARDENED).
#include <gtest/gtest.h>

#include "hoardlab/hoardlab.h"
#include "mem/internal.h"
#include "mem/state.h"
#include "mem/thread_cache.h"

namespace {

using namespace hoardlab::mem;

// Eight blocks of one class freed into this thread's bin (newest first), then the third one's
// link cut to the end of the list: the list holds 3 of the bin's blocks.
void cut_bin_and_flush() {
  void* b[8];
  for (void*& p : b)
    p = hl_malloc(64);
  for (void* p : b)
    hl_free(p);
  ThreadCache* tc = tl_cache;
  const std::size_t cls = g.classes.class_of(64);
  ASSERT_EQ(tc->bin(cls).head, b[7]) << "the blocks did not go to the bin";
  store_link(b[5], nullptr);
  flush(tc, cls, tc->bin(cls).count());
}

TEST(HardenedBinDeathTest, AListShorterThanItsCountIsReportedNotFollowed) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(cut_bin_and_flush(),
               "hoardlab: corrupted free list: a thread cache's list of 64-byte blocks ends "
               "after 3 blocks, not [0-9]+ .*; aborting");
}

} // namespace
