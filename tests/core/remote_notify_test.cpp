// Remote frees are never stranded: a block pushed onto a superblock's remote list while the owner
// heap's holder drains its pending stack is either drained or announced (remote.cpp, N1), whatever
// the interleaving. End to end, with the allocator's own heap and remote-free functions.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "hoardlab/hoardlab.h"
#include "mem/internal.h"

namespace hoardlab::mem {
namespace {

// Each round: the owner heap h holds two blocks b0, b1 of superblock sb (and 8 more that keep sb
// from emptying). The pusher frees b0 remotely: the list was empty, so sb goes on h's pending
// stack. h's holder drains sb's list by another path (heap_collect) and leaves h with sb still on
// the stack; then, at once, the holder re-enters h (drain_pending gives sb's claim back and looks
// at its list) while the pusher frees b1 (the list is empty again, so it tries to claim). Then
// nobody may have missed the other: b1 must be drained or sb announced. Before the fix, the
// holder's release was a plain store followed by a relaxed look, and a few rounds in ten thousand
// left b1 in the list with the claim clear and no stack entry: every later push to sb found the
// list non-empty and told nobody.
TEST(RemoteNotify, ABlockFreedWhileItsOwnerDrainsIsDrainedOrAnnounced) {
  hl_free(hl_malloc(1)); // init
  Heap* h = &g.heaps[0];
  const std::size_t cls = g.classes.class_of(48);
  acquire_specific(h);
  void* keep = nullptr;
  ASSERT_EQ(heap_allocate(h, cls, 8, &keep), 8u);
  Superblock* sb = superblock_of(keep);
  release_heap(h);

  std::atomic<int> go{0};
  std::atomic<int> done{0};
  void* blocks[2] = {};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::atomic<bool> stop{false};
  std::thread pusher([&] {
    for (int i = 1;; ++i) {
      for (int phase = 0; phase < 2; ++phase) {
        while (go.load(std::memory_order_acquire) != 2 * i - 1 + phase)
          if (stop.load(std::memory_order_acquire)) return;
        push_remote(sb, blocks[phase], blocks[phase], 1);
        done.store(2 * i - 1 + phase, std::memory_order_release);
      }
    }
  });
  long rounds = 0;
  long stranded = 0;
  for (int i = 1; i <= 20000 && std::chrono::steady_clock::now() < deadline; ++i) {
    acquire_specific(h);
    void* chain = nullptr;
    ASSERT_EQ(heap_allocate(h, cls, 2, &chain), 2u);
    blocks[0] = chain;
    blocks[1] = *static_cast<void**>(chain);
    ASSERT_EQ(superblock_of(blocks[0]), sb);
    ASSERT_EQ(superblock_of(blocks[1]), sb);
    go.store(2 * i - 1, std::memory_order_release);
    while (done.load(std::memory_order_acquire) != 2 * i - 1) {
    }
    heap_collect(h); // takes sb's list; sb stays on h's pending stack
    release_heap(h);
    go.store(2 * i, std::memory_order_release);
    acquire_specific(h); // drain_pending, racing the second free
    while (done.load(std::memory_order_acquire) != 2 * i) {
    }
    const bool listed = sb->remote_head.load_acquire() != nullptr;
    const bool announced = sb->in_pending.load_acquire();
    if (listed && !announced) ++stranded;
    ++rounds;
    heap_collect(h); // both blocks back in sb for the next round
    release_heap(h);
  }
  stop.store(true, std::memory_order_release);
  pusher.join();
  EXPECT_EQ(stranded, 0) << "of " << rounds << " rounds";
  EXPECT_GT(rounds, 0);
  acquire_specific(h);
  heap_collect(h);
  release_heap(h);
  for (void* p = keep; p != nullptr;) {
    void* next = *static_cast<void**>(p);
    hl_free(p);
    p = next;
  }
}

} // namespace
} // namespace hoardlab::mem
