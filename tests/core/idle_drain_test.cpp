// A heap no thread enters any more still gets its remote frees back: the holders of the other
// heaps drain it on their way out (heap.cpp, drain_an_idle_heap), well before drain_threshold.
#include "hoardlab/hoardlab.h"
#include "mem/internal.h"

#include <gtest/gtest.h>

namespace {

using namespace hoardlab::mem;

TEST(IdleHeap, RemoteFreesBelowTheThresholdToAHeapNobodyEntersAreDrainedByTheOthersHolders) {
  hl_free(hl_malloc(16)); // the allocator starts on first use
  ASSERT_GE(g.heap_count, 2u);
  Heap* idle = &g.heaps[g.heap_count - 1];
  Heap* busy = &g.heaps[0];
  constexpr std::size_t kBlocks = 8; // far below heap.drain_threshold (256)
  ASSERT_LT(kBlocks, drain_threshold());
  const std::size_t cls = g.classes.class_of(64);
  void* head = nullptr;
  acquire_specific(idle);
  const std::size_t got = heap_allocate(idle, cls, kBlocks, &head);
  release_heap(idle);
  ASSERT_EQ(got, kBlocks);
  // Freed by this thread, which holds no heap: remote frees into the idle heap's superblocks.
  Superblock* sb = superblock_of(head);
  for (void* p = head; p != nullptr;) {
    void* next = load_link(p);
    push_remote(superblock_of(p), p, p, 1);
    p = next;
  }
  ASSERT_NE(sb->remote_head.load_relaxed(), nullptr) << "the blocks wait in the idle heap";
  // Other heaps' entries: four rounds of the probes cover the idle heap twice (first seen, then
  // seen unchanged).
  const unsigned rounds = 4 * 64 * g.heap_count;
  unsigned entries = 0;
  for (; entries < rounds && idle->pending_blocks.load_relaxed() != 0; ++entries) {
    acquire_specific(busy);
    release_heap(busy);
  }
  EXPECT_EQ(idle->pending_blocks.load_relaxed(), 0)
      << "after " << entries << " entries of another heap";
  EXPECT_EQ(sb->remote_head.load_relaxed(), nullptr);
}

} // namespace
