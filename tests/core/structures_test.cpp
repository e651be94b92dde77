// Component tests of the lock-free and intrusive structures: the list, the pool's tagged
// stack, the per-superblock remote-free list.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "core/atomic.h"
#include "core/intrusive_list.h"
#include "core/spin_lock.h"
#include "core/tagged_stack.h"
#include "mem/internal.h"
#include "mem/superblock.h"

namespace {

using hoardlab::core::IntrusiveList;
using hoardlab::core::ListNode;

struct Item {
  ListNode link;
  int value = 0;
};

TEST(IntrusiveList, KeepsOrderAndSizeThroughPushesAndRemovals) {
  IntrusiveList l;
  Item items[4];
  for (int i = 0; i < 4; ++i) {
    items[i].value = i;
    l.push_back(&items[i].link);
  }
  EXPECT_EQ(l.size(), 4u);
  l.remove(&items[1].link);
  EXPECT_FALSE(items[1].link.linked());
  std::vector<int> seen;
  for (ListNode* n = l.front(); n != nullptr; n = l.next_of(n))
    seen.push_back(reinterpret_cast<Item*>(n)->value);
  EXPECT_EQ(seen, (std::vector<int>{0, 2, 3}));
  l.push_front(&items[1].link);
  EXPECT_EQ(l.front(), &items[1].link);
  EXPECT_EQ(l.back(), &items[3].link);
  while (l.pop_front() != nullptr) {
  }
  EXPECT_TRUE(l.empty());
}

// Test nodes lie at slots of 2^shift bytes in one buffer aligned to a slot, as superblocks lie
// in the reserved small-object range.
struct Node {
  hoardlab::core::Atomic<std::uint32_t> next{0};
  hoardlab::core::Atomic<int> owner{0}; // the thread that popped it; 0 while in the stack
  int id = 0;
  int written_by = 0; // plain: a second owner's write is a data race under TSan
};
using Stack = hoardlab::core::TaggedStack<Node, &Node::next>;

class NodeRange {
public:
  NodeRange(int count, unsigned shift)
      : shift_(shift), bytes_(static_cast<std::size_t>(count) << shift),
        mem_(static_cast<char*>(std::aligned_alloc(std::size_t{1} << shift, bytes_))) {
    for (int i = 0; i < count; ++i)
      (new (at(i)) Node())->id = i;
  }
  NodeRange(const NodeRange&) = delete;
  NodeRange& operator=(const NodeRange&) = delete;
  ~NodeRange() { std::free(mem_); }

  Node* at(int i) const { return reinterpret_cast<Node*>(mem_ + (std::size_t{1} << shift_) * i); }
  bool attach(Stack& s) {
    if (!slots_.set(reinterpret_cast<std::uintptr_t>(mem_), bytes_, shift_)) return false;
    s.use_slots(&slots_);
    return true;
  }

private:
  hoardlab::core::StackSlots slots_;
  unsigned shift_;
  std::size_t bytes_;
  char* mem_;
};

TEST(TaggedStack, PopsInLastInFirstOutOrder) {
  NodeRange r(3, 12);
  Stack s;
  ASSERT_TRUE(r.attach(s));
  for (int i = 0; i < 3; ++i)
    s.push(r.at(i));
  EXPECT_EQ(s.pop()->id, 2);
  EXPECT_EQ(s.pop()->id, 1);
  EXPECT_EQ(s.pop()->id, 0);
  EXPECT_EQ(s.pop(), nullptr);
  EXPECT_TRUE(s.empty());
}

TEST(TaggedStack, RefusesARangeWithMoreSlotsThanItsIndexCanName) {
  hoardlab::core::StackSlots s;
  constexpr unsigned kShift = 12;
  EXPECT_FALSE(s.set(0, (Stack::kMaxNodes + 1) << kShift, kShift));
  EXPECT_TRUE(s.set(0, Stack::kMaxNodes << kShift, kShift));
  EXPECT_TRUE(s.set(0, ((Stack::kMaxNodes + 1) << kShift) - 1, kShift)); // a partial slot
}

// The ABA interleaving, replayed in one thread with pop's own two halves. A popper reads top A
// with link B and stalls. Meanwhile A, B and C are popped (B and C now held elsewhere), a spare
// node D is pushed and popped, and A is pushed back alone, `window` operations in all (window
// even, >= 4). Then the popper's CAS runs: it must fail, since the head's tag has moved on. A
// tag that wrapped in the window lets it succeed and install the held B as the top: B would
// then have two owners.
void expect_stalled_pop_fails(unsigned shift, std::uint64_t window) {
  NodeRange r(4, shift);
  Stack s;
  ASSERT_TRUE(r.attach(s));
  Node* a = r.at(0);
  Node* b = r.at(1);
  Node* c = r.at(2);
  Node* d = r.at(3);
  s.push(c);
  s.push(b);
  s.push(a);
  Stack::PopAttempt stalled = s.start_pop();
  ASSERT_EQ(stalled.top, a);
  const auto seen = stalled.seen;

  ASSERT_EQ(s.pop(), a);
  ASSERT_EQ(s.pop(), b);
  ASSERT_EQ(s.pop(), c);
  for (std::uint64_t i = 0; i < (window - 4) / 2; ++i) {
    s.push(d);
    ASSERT_EQ(s.pop(), d);
  }
  s.push(a); // the window's last operation: the head names A again, A's link names no node

  bool took = s.finish_pop(stalled);
  EXPECT_FALSE(took) << "a pop stalled for " << window << " operations took A with link B";
  if (!took) {
    EXPECT_NE(stalled.seen, seen) << "the CAS failed spuriously, not on a changed head";
  }
  EXPECT_EQ(s.pop(), a) << "the stack must hold A alone, not B (held by another thread)";
  EXPECT_EQ(s.pop(), nullptr);
}

TEST(TaggedStack, PopStalledFor2To12OperationsCannotTakeAHeldNodeAtS4KiB) {
  expect_stalled_pop_fails(12, std::uint64_t{1} << 12);
}

TEST(TaggedStack, PopStalledFor2To16OperationsCannotTakeAHeldNodeAtS64KiB) {
  expect_stalled_pop_fails(16, std::uint64_t{1} << 16);
}

TEST(TaggedStack, PopStalledFor2To20OperationsCannotTakeAHeldNodeAtS4KiB) {
  expect_stalled_pop_fails(12, std::uint64_t{1} << 20);
}

// [TS4] litmus (message passing): a thread writes a mark, then pops the last node; a popper
// that then reads the stack empty must see the mark. The mark is a plain int, so under TSan a
// pop whose CAS were acquire only shows as a data race on it.
TEST(TaggedStack, APopThatFindsTheStackEmptySeesWhatTheLastPopperWroteBefore) {
  NodeRange r(1, 6);
  for (int round = 0; round < 50; ++round) {
    Stack s;
    ASSERT_TRUE(r.attach(s));
    s.push(r.at(0));
    int mark = 0;
    std::thread last_popper([&] {
      mark = 1;
      EXPECT_EQ(s.pop(), r.at(0));
    });
    while (s.start_pop().top != nullptr)
      std::this_thread::yield();
    EXPECT_EQ(mark, 1);
    last_popper.join();
  }
}

TEST(TaggedStack, ConcurrentPushPopNeverLosesOrDuplicatesANode) {
  constexpr int kNodes = 64;
  constexpr int kThreads = 4;
  NodeRange r(kNodes, 12);
  Stack s;
  ASSERT_TRUE(r.attach(s));
  for (int i = 0; i < kNodes; ++i)
    s.push(r.at(i));
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        Node* n = s.pop();
        if (n != nullptr) s.push(n);
      }
    });
  for (auto& t : ts)
    t.join();
  std::set<int> ids;
  while (Node* n = s.pop())
    EXPECT_TRUE(ids.insert(n->id).second) << "node " << n->id << " twice";
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kNodes));
}

// Few nodes and threads that each hold up to a few of them, so the same node is popped and
// pushed back over and over, which is what an ABA needs. A pop claims the node's owner word by
// exchange and a push gives it back: any second owner shows in the exchanged value. The seed
// fixes each thread's choices; the interleaving is the scheduler's.
TEST(TaggedStack, ConcurrentPopsNeverGiveANodeTwoOwners) {
  constexpr int kNodes = 6;
  constexpr int kThreads = 3;
  constexpr std::size_t kHold = 3;
  constexpr std::uint32_t kSeed = 20240612;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  NodeRange r(kNodes, 6);
  Stack s;
  ASSERT_TRUE(r.attach(s));
  for (int i = 0; i < kNodes; ++i)
    s.push(r.at(i));
  std::atomic<std::uint64_t> violations{0};
  std::atomic<std::uint64_t> operations{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      const int me = t + 1;
      std::mt19937 rng(kSeed + static_cast<std::uint32_t>(t));
      std::vector<Node*> held;
      std::uint64_t ops = 0;
      std::uint64_t bad = 0;
      auto give_back = [&](std::size_t i) {
        Node* n = held[i];
        held[i] = held.back();
        held.pop_back();
        if (n->written_by != me) ++bad;
        if (n->owner.exchange_acq_rel(0) != me) ++bad;
        s.push(n);
      };
      for (;; ++ops) {
        if ((ops & 255) == 0 && std::chrono::steady_clock::now() >= deadline) break;
        if (held.size() < kHold && (held.empty() || (rng() & 1) != 0)) {
          Node* n = s.pop();
          if (n == nullptr) continue;
          if (n->owner.exchange_acq_rel(me) != 0) ++bad;
          n->written_by = me;
          held.push_back(n);
        } else {
          give_back(rng() % held.size());
        }
      }
      while (!held.empty())
        give_back(held.size() - 1);
      violations.fetch_add(bad);
      operations.fetch_add(ops);
    });
  for (auto& t : ts)
    t.join();
  EXPECT_EQ(violations.load(), 0u) << "seed " << kSeed;
  EXPECT_GT(operations.load(), 0u);
  std::set<int> ids;
  while (Node* n = s.pop()) {
    EXPECT_EQ(n->owner.load_relaxed(), 0) << "node " << n->id << " in the stack and owned";
    EXPECT_TRUE(ids.insert(n->id).second) << "node " << n->id << " twice";
  }
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kNodes)) << "seed " << kSeed;
}

TEST(SpinLock, ExcludesAHolderAndReleases) {
  hoardlab::core::SpinLock l;
  EXPECT_TRUE(l.try_lock());
  EXPECT_FALSE(l.try_lock());
  l.unlock();
  EXPECT_TRUE(l.try_lock());
  l.unlock();
}

TEST(RemoteFreeList, ConcurrentChainPushesAreTakenWholeAndExactlyOnce) {
  using hoardlab::mem::Superblock;
  constexpr std::size_t kS = 64 * 1024;
  void* mem = std::aligned_alloc(kS, kS);
  auto* sb = new (mem) Superblock();
  sb->block_size = 64;
  // Blocks are carved from the superblock's tail; no heap owns it, so pushes notify nobody.
  constexpr int kThreads = 4;
  constexpr int kPerThread = 200;
  char* blocks = static_cast<char*>(mem) + 256;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      // Chains of up to 3 pre-linked blocks, as a thread-cache flush pushes them.
      for (int i = 0; i < kPerThread;) {
        int n = 1 + i % 3;
        if (i + n > kPerThread) n = kPerThread - i;
        char* first = blocks + static_cast<std::size_t>(t * kPerThread + i) * 64;
        for (int k = 0; k + 1 < n; ++k)
          *reinterpret_cast<void**>(first + k * 64) = first + (k + 1) * 64;
        hoardlab::mem::push_remote(sb, first, first + (n - 1) * 64, static_cast<std::size_t>(n));
        i += n;
      }
    });
  for (auto& t : ts)
    t.join();
  void* list = sb->remote_head.exchange_acquire(nullptr);
  std::set<void*> seen;
  for (void* p = list; p != nullptr; p = *static_cast<void**>(p))
    ASSERT_TRUE(seen.insert(p).second);
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(sb->remote_head.load_relaxed(), nullptr);
  // These blocks were never handed out by a heap: take them off the pending-bytes count.
  hoardlab::mem::pool_of(sb).pending_bytes.fetch_sub_relaxed(kThreads * kPerThread * 64);
  std::free(mem);
}

} // namespace
