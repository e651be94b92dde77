// Component tests of the lock-free and intrusive structures: the list, the pool's tagged
// stack, the per-superblock remote-free list.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
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

// Nodes aligned like superblocks, so the stack can keep its tag in the low bits.
struct alignas(4096) Node {
  hoardlab::core::Atomic<std::uintptr_t> next{0};
  int id = 0;
};
using Stack = hoardlab::core::TaggedStack<Node, &Node::next>;

TEST(TaggedStack, PopsInLastInFirstOutOrder) {
  Stack s;
  s.set_alignment(4096);
  auto* nodes = new Node[3];
  for (int i = 0; i < 3; ++i) {
    nodes[i].id = i;
    s.push(&nodes[i]);
  }
  EXPECT_EQ(s.pop()->id, 2);
  EXPECT_EQ(s.pop()->id, 1);
  EXPECT_EQ(s.pop()->id, 0);
  EXPECT_EQ(s.pop(), nullptr);
  EXPECT_TRUE(s.empty());
  delete[] nodes;
}

TEST(TaggedStack, ConcurrentPushPopNeverLosesOrDuplicatesANode) {
  Stack s;
  s.set_alignment(4096);
  constexpr int kNodes = 64;
  constexpr int kThreads = 4;
  auto* nodes = new Node[kNodes];
  for (int i = 0; i < kNodes; ++i) {
    nodes[i].id = i;
    s.push(&nodes[i]);
  }
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
  delete[] nodes;
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
  hoardlab::mem::g.pending_bytes.fetch_sub_relaxed(kThreads * kPerThread * 64);
  std::free(mem);
}

} // namespace
