// Remote frees are never stranded: a block pushed onto a superblock's remote list while the owner
// heap's holder drains its pending stack is either drained or announced (remote.cpp, N1), whatever
// the interleaving, and a fork child does not inherit a claim nobody will act on. End to end,
// with the allocator's own heap and remote-free functions.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "hoardlab/hoardlab.h"
#include "mem/free_link.h"
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

// A fork that lands while a remote free is between its claim of in_pending [PN1] and its push of
// the superblock onto the owner's pending stack [HN1] leaves the child a set claim, the block in
// the list and no stack entry: the pushing thread is not in the child to finish. Every later free
// to that superblock would find the claim and rely on it, and the blocks would stay in the list
// for good. The child rebuilds the claims from the superblocks (remote_fork_child, from the fork
// handlers), so that its first entry into the heap drains the block. The window is a few
// instructions wide, so the state it leaves is made by hand before the fork, as the pusher would
// have left it.
TEST(RemoteNotify, AForkChildDrainsABlockWhoseNotifierWasBetweenItsClaimAndItsPush) {
  hl_free(hl_malloc(1)); // init, and the fork handlers
  Heap* h = &g.heaps[0];
  const std::size_t cls = g.classes.class_of(48);
  acquire_specific(h);
  void* chain = nullptr;
  ASSERT_EQ(heap_allocate(h, cls, 2, &chain), 2u);
  void* const keep = chain;
  void* const freed = *static_cast<void**>(chain);
  Superblock* sb = superblock_of(freed);
  ASSERT_EQ(superblock_of(keep), sb);
  heap_collect(h); // no list and no claim left over from before
  release_heap(h);
  ASSERT_EQ(sb->remote_head.load_acquire(), nullptr);
  ASSERT_FALSE(sb->in_pending.load_acquire());

  // The pusher's CAS found the list empty, so it must notify; it has claimed, not yet pushed.
  store_link(freed, nullptr);
  sb->remote_head.store_release(freed);  // [RF1]
  sb->in_pending.exchange_acq_rel(true); // [PN1]

  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    acquire_specific(h); // drain_pending
    const bool drained = sb->remote_head.load_acquire() == nullptr;
    const bool unclaimed = !sb->in_pending.load_acquire();
    release_heap(h);
    _exit(drained && unclaimed ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the child's first entry into the heap left the block in the superblock's list, or the "
         "claim set (status "
      << status << ")";

  // The parent undoes by hand the state it made: the claim first, then the list.
  sb->in_pending.exchange_acq_rel(false);
  acquire_specific(h);
  heap_collect(h);
  EXPECT_EQ(sb->remote_head.load_acquire(), nullptr);
  release_heap(h);
  hl_free(keep);
}

} // namespace
} // namespace hoardlab::mem
