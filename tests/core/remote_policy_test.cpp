// Remote frees under each remote.policy (superblock-list, heap-queue, owner-lock), switched at run
// time with hl_option_set: every cross-thread free reaches its superblock, remote.batch sets how
// many blocks travel per send, a thread never reuses a block that another heap owns and that
// shares a line with another block (Hoard §5, passive false sharing), and remote.keep decides
// which blocks of other heaps a freeing thread may reuse. Run with heap.mapping=per-thread, so that
// two live threads always have different heaps.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <map>
#include <set>
#include <thread>
#include <unistd.h>
#include <vector>

#include "hoardlab/hoardlab.h"
#include "mem/allocator.h"
#include "mem/fast_path.h"
#include "mem/internal.h"
#include "mem/stats.h"
#include "test_util.h"

namespace {

using hoardlab::test::check_pattern;
using hoardlab::test::fill_pattern;
using hoardlab::test::Rng;

const char* const kPolicies[] = {"superblock-list", "heap-queue", "owner-lock"};

hl_stats stats() {
  hl_stats s{};
  hl_stats_get(&s);
  return s;
}

std::uint64_t pending_bytes() {
  hoardlab::mem::TotalStats t{};
  hoardlab::mem::stats_total(&t);
  return t.pending_bytes;
}

// Since `before`, at least `blocks` remote frees were sent, every one reached its superblock, and
// nothing is left pending.
void expect_all_sent_and_drained(const hl_stats& before, std::uint64_t blocks) {
  const hl_stats after = stats();
  EXPECT_GE(after.remote_frees_sent - before.remote_frees_sent, blocks);
  EXPECT_EQ(after.remote_frees_drained - before.remote_frees_drained,
            after.remote_frees_sent - before.remote_frees_sent)
      << "a remote free did not reach its superblock";
  EXPECT_EQ(pending_bytes(), 0u);
}

// Sets an option for the scope of a test and restores its default after.
class OptionScope {
public:
  OptionScope(const char* name, const char* value, const char* restore)
      : name_(name), restore_(restore) {
    EXPECT_EQ(hl_option_set(name, value), 0) << name << " = " << value;
  }
  ~OptionScope() { hl_option_set(name_, restore_); }
  OptionScope(const OptionScope&) = delete;
  OptionScope& operator=(const OptionScope&) = delete;

private:
  const char* name_;
  const char* restore_;
};

struct Block {
  void* p;
  std::size_t n;
  std::uint8_t tag;
};

// The calling thread allocates `count` patterned blocks of mixed sizes; another thread checks and
// frees them while this one still lives (so its heap is not handed over); then every heap is
// entered (hl_collect), which drains what was sent. Returns the pattern errors.
long allocate_here_free_there(int count, std::uint64_t seed) {
  Rng r(seed);
  std::vector<Block> blocks(static_cast<std::size_t>(count));
  for (auto& b : blocks) {
    b.n = 16 + r.below(2000);
    b.p = hl_malloc(b.n);
    b.tag = static_cast<std::uint8_t>(r.next());
    fill_pattern(b.p, b.n, b.tag);
  }
  std::atomic<long> bad{0};
  std::thread([&] {
    for (const Block& b : blocks) {
      if (!check_pattern(b.p, b.n, b.tag)) bad.fetch_add(1);
      hl_free(b.p);
    }
  }).join();
  hl_collect();
  return bad.load();
}

TEST(RemotePolicy, EveryPolicyDeliversEveryCrossThreadFreeToItsSuperblock) {
  for (const char* policy : kPolicies) {
    SCOPED_TRACE(policy);
    OptionScope scope("remote.policy", policy, "superblock-list");
    hl_collect();
    const hl_stats before = stats();
    constexpr int kBlocks = 20000;
    EXPECT_EQ(allocate_here_free_there(kBlocks, 0x5eed0001u), 0) << "a live block was written";
    const hl_stats after = stats();
    const std::uint64_t sent = after.remote_frees_sent - before.remote_frees_sent;
    const std::uint64_t drained = after.remote_frees_drained - before.remote_frees_drained;
    // Every free of the other thread was of another heap's block; hl_collect's flush of this
    // thread's cache may add blocks of superblocks its heap has given to the pool meanwhile.
    EXPECT_GE(sent, static_cast<std::uint64_t>(kBlocks));
    EXPECT_EQ(drained, sent) << "a remote free did not reach its superblock";
    EXPECT_EQ(pending_bytes(), 0u);
    EXPECT_EQ(after.frees - before.frees, after.allocations - before.allocations);
    EXPECT_EQ(hl_check_invariants(), 0);
  }
}

// Hoard without a cache frees into the owner's heap when it is free; those frees are still
// frees of another heap's blocks, and are counted so (they used to read 0: only lock-free sends
// were counted, and the owner heap is usually free).
TEST(RemotePolicy, CrossThreadFreesAreCountedWithoutAThreadCache) {
  OptionScope no_cache("cache.bytes", "0", "256KiB");
  for (const char* policy : kPolicies) {
    SCOPED_TRACE(policy);
    OptionScope scope("remote.policy", policy, "superblock-list");
    hl_collect();
    const hl_stats before = stats();
    constexpr int kBlocks = 3000;
    EXPECT_EQ(allocate_here_free_there(kBlocks, 0x5eed0002u), 0);
    expect_all_sent_and_drained(before, kBlocks);
  }
}

// Blocks per send (remote_frees_sent / remote_batches_sent) for 4096 cross-thread frees of 64 B.
double blocks_per_send(const char* batch) {
  OptionScope scope("remote.batch", batch, "64");
  OptionScope keep("remote.keep", "none", "whole-lines"); // every block is sent
  hl_collect();
  const hl_stats before = stats();
  std::vector<void*> blocks(4096);
  for (auto& b : blocks)
    b = hl_malloc(64);
  std::thread([&] {
    for (void* b : blocks)
      hl_free(b);
  }).join();
  hl_collect();
  const hl_stats after = stats();
  const std::uint64_t sends = after.remote_batches_sent - before.remote_batches_sent;
  const std::uint64_t sent = after.remote_frees_sent - before.remote_frees_sent;
  EXPECT_EQ(sent, blocks.size());
  return sends == 0 ? 0.0 : static_cast<double>(sent) / static_cast<double>(sends);
}

TEST(RemotePolicy, RemoteBatchSetsHowManyBlocksEachSendCarries) {
  for (const char* policy : {"superblock-list", "heap-queue"}) {
    SCOPED_TRACE(policy);
    OptionScope scope("remote.policy", policy, "superblock-list");
    EXPECT_DOUBLE_EQ(blocks_per_send("1"), 1.0) << "remote.batch=1 sends each free alone";
    const double per_send = blocks_per_send("64");
    // A send carries one superblock's blocks (superblock-list) or one heap's (heap-queue): a
    // batch of 64 that straddles superblocks splits; 64 B blocks fill about 1000 per superblock.
    EXPECT_GE(per_send, 40.0);
    EXPECT_LE(per_send, 64.0);
  }
  OptionScope scope("remote.policy", "owner-lock", "superblock-list");
  EXPECT_EQ(blocks_per_send("64"), 0.0) << "owner-lock frees under the lock, never sends";
}

// cache-scratch's property: a thread that frees a block another heap owns does not get it back
// from its next allocation (it would then write next to the other heap's blocks).
TEST(RemotePolicy, ABlockOfAnotherHeapIsNotReusedByTheThreadThatFreesIt) {
  for (const char* policy : kPolicies) {
    SCOPED_TRACE(policy);
    OptionScope scope("remote.policy", policy, "superblock-list");
    constexpr int kGiven = 16;
    std::vector<void*> given(kGiven);
    for (auto& p : given) // side by side, as cache-scratch's main thread does
      p = hl_malloc(8);
    const std::set<void*> given_set(given.begin(), given.end());
    long reused = 0;
    std::thread([&] {
      // The first given block is freed before this thread has done anything else (as in
      // cache-scratch); then the thread's bin of the class is warmed, so that it has room for a
      // freed block, and the others follow.
      hl_free(given[0]);
      void* first = hl_malloc(8);
      if (given_set.count(first) != 0) ++reused;
      std::vector<void*> own{first};
      for (int i = 0; i < 100; ++i)
        own.push_back(hl_malloc(8));
      for (void* p : own)
        hl_free(p);
      for (std::size_t i = 1; i < given.size(); ++i) {
        void* p = given[i];
        hl_free(p);
        void* q = hl_malloc(8);
        if (given_set.count(q) != 0) ++reused;
        *static_cast<volatile char*>(q) = 1;
        hl_free(q);
      }
    }).join();
    EXPECT_EQ(reused, 0) << "a freed block of another heap came back to the freeing thread";
    hl_collect();
    EXPECT_EQ(pending_bytes(), 0u);
  }
}

// The same for threads whose first act is the free (cache-scratch's workers), several at once.
// Under heap.mapping=cpu a thread that shares the allocating thread's heap (same CPU) may take
// the block: it is its own heap's (paper_notes/hoard.md, "Remote frees").
TEST(RemotePolicy, NewThreadsFreeingBlocksGivenToThemDoNotGetThemBack) {
  for (const char* policy : kPolicies) {
    SCOPED_TRACE(policy);
    OptionScope scope("remote.policy", policy, "superblock-list");
    constexpr int kThreads = 4;
    std::vector<void*> given(kThreads);
    for (auto& p : given)
      p = hl_malloc(8);
    std::atomic<int> reused{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t)
      ts.emplace_back([&given, &reused, t] {
        hl_free(given[static_cast<std::size_t>(t)]);
        void* q = hl_malloc(8);
        if (std::find(given.begin(), given.end(), q) != given.end()) reused.fetch_add(1);
        hl_free(q);
      });
    for (auto& th : ts)
      th.join();
    EXPECT_EQ(reused.load(), 0) << "a new thread got back a block it had just freed for another";
  }
}

// heap-queue: a message's block whose superblock is no longer owned by the heap that drains the
// message is forwarded to the superblock's own list, and its owner gets it back. Modelled by
// sending a block to a heap that does not own its superblock (as if the superblock had changed
// owner while the message was in flight).
TEST(RemoteQueue, ABlockWhoseSuperblockChangedOwnerInFlightReachesItsSuperblock) {
  using namespace hoardlab::mem;
  void* p = hl_malloc(64);
  ASSERT_NE(p, nullptr);
  Superblock* sb = superblock_of(p);
  Heap* owner = sb->owner.load_acquire();
  ASSERT_NE(owner, nullptr);
  ASSERT_GE(g.heap_count, 2u);
  Heap* other = &g.heaps[(owner->index + 1) % g.heap_count];
  const std::uint32_t used = [&] {
    acquire_specific(owner);
    std::uint32_t u = sb->used;
    release_heap(owner);
    return u;
  }();
  const hl_stats before = stats();
  *static_cast<void**>(p) = nullptr;
  send_message(other, p, p, 1, sb->block_size);
  EXPECT_GT(pending_bytes(), 0u);
  acquire_specific(other); // drains other's queue: p is not its block, so it is forwarded
  release_heap(other);
  acquire_specific(owner); // drains owner's pending superblocks: p is back in sb
  EXPECT_EQ(sb->used, used - 1);
  release_heap(owner);
  EXPECT_EQ(pending_bytes(), 0u);
  EXPECT_EQ(stats().remote_frees_drained - before.remote_frees_drained, 1u);
  EXPECT_EQ(hl_check_invariants(), 0);
}

// Switching remote.policy while threads free each other's blocks: whatever was sent under one
// policy (buffered blocks, queue messages, superblock lists) is delivered under the next.
TEST(RemotePolicy, SwitchingPolicyWhileThreadsFreeEachOthersBlocksLosesNothing) {
  hl_collect();
  const hl_stats before = stats();
  constexpr int kThreads = 3;
  std::atomic<bool> stop{false};
  std::atomic<long> bad{0};
  std::vector<std::atomic<void*>> slots(256);
  for (auto& s : slots)
    s.store(nullptr);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([t, &stop, &bad, &slots] {
      Rng r(0x5eed0100u + static_cast<std::uint64_t>(t));
      while (!stop.load()) {
        // A block carries its size in its first word, so that whoever takes it can check it.
        const std::size_t n = 16 + r.below(500);
        auto* p = static_cast<std::uint8_t*>(hl_malloc(n));
        *reinterpret_cast<std::size_t*>(p) = n;
        fill_pattern(p + 8, n - 8, static_cast<std::uint8_t>(n));
        void* prev = slots[r.below(slots.size())].exchange(p);
        if (prev != nullptr) {
          const std::size_t pn = *static_cast<std::size_t*>(prev);
          if (pn < 16 || pn > 515 ||
              !check_pattern(static_cast<std::uint8_t*>(prev) + 8, pn - 8,
                             static_cast<std::uint8_t>(pn)))
            bad.fetch_add(1);
          hl_free(prev);
        }
      }
    });
  hoardlab::test::Deadline d(1.5);
  for (int i = 0; !d.passed() || i < 30; ++i) {
    EXPECT_EQ(hl_option_set("remote.policy", kPolicies[i % 3]), 0);
    EXPECT_EQ(hl_option_set("remote.batch", i % 2 == 0 ? "8" : "64"), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop.store(true);
  for (auto& th : ts)
    th.join();
  for (auto& s : slots)
    if (void* p = s.exchange(nullptr)) hl_free(p);
  EXPECT_EQ(hl_option_set("remote.policy", "superblock-list"), 0);
  EXPECT_EQ(hl_option_set("remote.batch", "64"), 0);
  hl_collect();
  const hl_stats after = stats();
  EXPECT_EQ(bad.load(), 0) << "a live block was written";
  EXPECT_GT(after.remote_frees_sent - before.remote_frees_sent, 0u);
  EXPECT_EQ(after.remote_frees_drained - before.remote_frees_drained,
            after.remote_frees_sent - before.remote_frees_sent);
  EXPECT_EQ(pending_bytes(), 0u);
  EXPECT_EQ(after.frees - before.frees, after.allocations - before.allocations);
  EXPECT_EQ(hl_check_invariants(), 0);
}

// ---- the remote buffer (C2), filled by free's first out-of-line step (buffer_remote_hit) ----

namespace mem = hoardlab::mem;

// Blocks of another heap wait in the freeing thread's remote buffer, counted as frees, until
// remote.batch of them are there; the free that fills it sends them all. Each of those frees
// leaves errno as it was.
TEST(RemoteBuffer, AnotherHeapsBlocksWaitInTheBufferUntilTheBatchIsFull) {
  OptionScope batch("remote.batch", "16", "64");
  OptionScope keep("remote.keep", "none", "whole-lines"); // 64-byte blocks could be kept
  hl_collect();
  std::vector<void*> blocks(16);
  for (auto& b : blocks)
    b = hl_malloc(64);
  std::thread([&] {
    hl_free(hl_malloc(64)); // the thread has its cache from here on
    mem::ThreadCache* tc = mem::tl_cache;
    const hl_stats before = stats();
    for (std::size_t i = 0; i + 1 < blocks.size(); ++i) {
      errno = 1234;
      hl_free(blocks[i]);
      EXPECT_EQ(errno, 1234);
      EXPECT_EQ(tc->remote_head, blocks[i]);
      EXPECT_EQ(tc->remote_count, i + 1);
    }
    const hl_stats held = stats();
    EXPECT_EQ(held.remote_frees_sent, before.remote_frees_sent) << "sent before the batch was full";
    EXPECT_EQ(held.frees - before.frees, blocks.size() - 1) << "a buffered free was not counted";
    errno = 1234;
    hl_free(blocks.back());
    EXPECT_EQ(errno, 1234) << "the send changed errno";
    EXPECT_EQ(tc->remote_head, nullptr);
    EXPECT_EQ(tc->remote_count, 0u);
    EXPECT_EQ(tc->remote_bytes, 0u);
    EXPECT_EQ(stats().remote_frees_sent - before.remote_frees_sent, blocks.size());
  }).join();
  hl_collect();
  EXPECT_EQ(pending_bytes(), 0u);
}

// buffer_remote_hit takes only a small block of another heap, on a thread with a cache, with the
// cache on; everything else is left to deallocate, whose checks it would skip.
TEST(RemoteBuffer, TheFirstMissBuffersOnlyAnotherHeapsSmallBlocks) {
#ifdef HOARDLAB_CHECKED
  GTEST_SKIP() << "the checked build validates every small pointer out of line first";
#endif
  OptionScope keep("remote.keep", "none", "whole-lines"); // a 64-byte block could be kept
  void* other = hl_malloc(64);                            // of this thread's heap
  void* large = hl_malloc(std::size_t{1} << 20);
  std::thread([&] {
    EXPECT_FALSE(mem::buffer_remote_hit(other)) << "buffered by a thread without a cache";
    void* own = hl_malloc(64);
    mem::ThreadCache* tc = mem::tl_cache;
    EXPECT_FALSE(mem::buffer_remote_hit(nullptr));
    EXPECT_FALSE(mem::buffer_remote_hit(large));
    EXPECT_FALSE(mem::buffer_remote_hit(own)) << "the thread's own block belongs in its bins";
    {
      OptionScope off("cache.bytes", "0", "256KiB");
      EXPECT_FALSE(mem::buffer_remote_hit(other)) << "buffered with the cache off";
    }
    EXPECT_EQ(tc->remote_count, 0u);
    EXPECT_TRUE(mem::buffer_remote_hit(other));
    EXPECT_EQ(tc->remote_head, other);
    EXPECT_EQ(tc->remote_count, 1u);
    hl_free(own);
  }).join(); // the thread's exit sends `other` to its owner
  hl_free(large);
  hl_collect();
  EXPECT_EQ(pending_bytes(), 0u);
}

// After its cache is flushed at exit a thread buffers nothing: glibc frees after the key
// destructors, and such a free must reach the owner at once.
TEST(RemoteBuffer, AnExitingThreadSendsAnotherHeapsBlockAtOnce) {
  void* other = hl_malloc(64);
  std::thread([&] {
    hl_free(hl_malloc(64));
    mem::thread_exit();
    const hl_stats before = stats();
    errno = 1234;
    hl_free(other);
    EXPECT_EQ(errno, 1234);
    EXPECT_EQ(stats().remote_frees_sent - before.remote_frees_sent, 1u);
  }).join();
  hl_collect();
  EXPECT_EQ(pending_bytes(), 0u);
}

// Another thread frees the 64 blocks of `order`, in order: the 64th fills its remote buffer
// (remote.batch = 64) and sends it. Returns the pushes the send made.
std::uint64_t pushes_to_send(const std::vector<void*>& order) {
  OptionScope keep("remote.keep", "none", "whole-lines"); // every block is sent
  std::uint64_t pushes = 0;
  std::thread([&] {
    hl_free(hl_malloc(8)); // the thread has its cache from here on
    const hl_stats before = stats();
    for (void* p : order)
      hl_free(p);
    const hl_stats after = stats();
    EXPECT_EQ(after.remote_frees_sent - before.remote_frees_sent, 64u);
    pushes = after.remote_batches_sent - before.remote_batches_sent;
  }).join();
  return pushes;
}

// A buffer spanning many superblocks, interleaved, is sent as one push per superblock: the
// grouping table gives each superblock its own run (its home slot, or the next free one).
TEST(RemoteBuffer, ASendMakesOnePushPerSuperblockHoweverTheBlocksInterleave) {
  OptionScope policy("remote.policy", "superblock-list", "superblock-list");
  hl_collect();
  // Four classes, 16 blocks each, freed round-robin: consecutive frees never share a superblock.
  const std::size_t sizes[] = {16, 48, 96, 160};
  std::vector<void*> order;
  std::set<void*> superblocks;
  std::vector<std::vector<void*>> by_size(std::size(sizes));
  for (std::size_t c = 0; c < std::size(sizes); ++c)
    for (int i = 0; i < 16; ++i)
      by_size[c].push_back(hl_malloc(sizes[c]));
  for (int i = 0; i < 16; ++i)
    for (auto& v : by_size) {
      order.push_back(v[static_cast<std::size_t>(i)]);
      superblocks.insert(mem::superblock_of(v[static_cast<std::size_t>(i)]));
    }
  ASSERT_EQ(order.size(), 64u);
  EXPECT_EQ(pushes_to_send(order), superblocks.size());
  hl_collect();
  EXPECT_EQ(pending_bytes(), 0u);
}

// Two superblocks whose home slots in the grouping table coincide (their addresses are a multiple
// of 64 superblocks apart), freed alternately, still make one push each: the second probes for a
// slot of its own instead of evicting the first's run at every block.
TEST(RemoteBuffer, SuperblocksSharingAHomeSlotAreStillSentOnePushEach) {
  OptionScope policy("remote.policy", "superblock-list", "superblock-list");
  hl_collect();
  constexpr std::size_t kSlots = 64;
  const std::size_t sb_bytes = ~mem::g.sb_mask.load_relaxed() + 1;
  // Blocks of one class until two of its superblocks share a home slot, 32 blocks from each.
  std::map<void*, std::vector<void*>> by_sb;
  std::vector<void*> all;
  void* pair[2] = {nullptr, nullptr};
  for (std::size_t i = 0; i < (std::size_t{1} << 22) && pair[0] == nullptr; ++i) {
    void* p = hl_malloc(64);
    ASSERT_NE(p, nullptr);
    all.push_back(p);
    void* sb = mem::superblock_of(p);
    if (by_sb[sb].push_back(p), by_sb[sb].size() != 32) continue;
    for (auto& [other, blocks] : by_sb) {
      const auto a = reinterpret_cast<std::uintptr_t>(other);
      const auto b = reinterpret_cast<std::uintptr_t>(sb);
      const std::size_t d = (a > b ? a - b : b - a) / sb_bytes;
      if (other != sb && blocks.size() >= 32 && d % kSlots == 0) {
        pair[0] = other;
        pair[1] = sb;
        break;
      }
    }
  }
  ASSERT_NE(pair[0], nullptr) << "no two superblocks 64 apart within 4 Mi blocks";
  std::vector<void*> order;
  for (std::size_t i = 0; i < 32; ++i)
    for (void* sb : pair)
      order.push_back(by_sb[sb][i]);
  EXPECT_EQ(pushes_to_send(order), 2u);
  const std::set<void*> sent(order.begin(), order.end());
  for (void* p : all)
    if (sent.count(p) == 0) hl_free(p);
  hl_collect();
  EXPECT_EQ(pending_bytes(), 0u);
}

// remote.keep: the thread that frees a block of another heap keeps it in its bin (and its next
// allocation of the class gets it back) only when the option allows the block's size: never under
// none, when the size is a multiple of the cache line under whole-lines (such a block shares no
// line with another block), always under all. A block not kept waits in the remote buffer.
TEST(RemoteKeep, TheOptionDecidesWhichBlocksOfAnotherHeapTheFreeingThreadReuses) {
  // One whole cache line (64 bytes on x86-64), and a block that is not a multiple of the line,
  // so it shares its first or last line with a neighbour.
  const std::size_t line_size = mem::cache_line_bytes();
  struct Case {
    const char* keep;
    bool line_block_kept;
    bool odd_block_kept;
  };
  for (const Case& c :
       {Case{"none", false, false}, Case{"whole-lines", true, false}, Case{"all", true, true}}) {
    SCOPED_TRACE(c.keep);
    OptionScope keep("remote.keep", c.keep, "whole-lines");
    hl_collect();
    void* line = hl_malloc(line_size);
    void* odd = hl_malloc(line_size + 16);
    ASSERT_EQ(mem::superblock_of(line)->block_size, line_size);
    const std::size_t odd_size = mem::superblock_of(odd)->block_size;
    ASSERT_NE(odd_size % line_size, 0u);
    std::thread([&] {
      // Warm both classes' bins, then take a few blocks out, so that each has room.
      std::vector<void*> held;
      for (std::size_t size : {line_size, odd_size}) {
        std::vector<void*> own;
        for (int i = 0; i < 40; ++i)
          own.push_back(hl_malloc(size));
        for (void* p : own)
          hl_free(p);
        for (int i = 0; i < 4; ++i)
          held.push_back(hl_malloc(size));
      }
      mem::ThreadCache* tc = mem::tl_cache;
      ASSERT_GT(tc->rooms[mem::superblock_of(line)->cls], 0u);
      ASSERT_GT(tc->rooms[mem::superblock_of(odd)->cls], 0u);
      const std::uint32_t buffered = tc->remote_count;
      hl_free(line);
      hl_free(odd);
      const std::uint32_t now_buffered = tc->remote_count - buffered;
      EXPECT_EQ(now_buffered, 2u - c.line_block_kept - c.odd_block_kept);
      void* again_line = hl_malloc(line_size);
      void* again_odd = hl_malloc(odd_size);
      EXPECT_EQ(again_line == line, c.line_block_kept);
      EXPECT_EQ(again_odd == odd, c.odd_block_kept);
      hl_free(again_line);
      hl_free(again_odd);
      for (void* p : held)
        hl_free(p);
    }).join(); // the exit flush sends every block of this heap back, kept ones included
    hl_collect();
    EXPECT_EQ(pending_bytes(), 0u);
    EXPECT_EQ(hl_check_invariants(), 0);
  }
}

// whole-lines keeps multiples of the line the C library reports, not of a fixed 64 bytes.
TEST(RemoteKeep, WholeLinesFollowsTheMachinesCacheLine) {
  const long reported = sysconf(_SC_LEVEL1_DCACHE_LINESIZE);
  const bool usable = reported >= 16 && reported <= 4096 && (reported & (reported - 1)) == 0;
  EXPECT_EQ(mem::cache_line_bytes(),
            usable ? static_cast<std::uint32_t>(reported) : mem::kDefaultCacheLine);
  {
    OptionScope keep("remote.keep", "whole-lines", "whole-lines");
    EXPECT_EQ(mem::g.tune.remote_keep_mask.load_relaxed(), mem::cache_line_bytes() - 1);
  }
  {
    OptionScope keep("remote.keep", "all", "whole-lines");
    EXPECT_EQ(mem::g.tune.remote_keep_mask.load_relaxed(), 0u);
  }
  {
    OptionScope keep("remote.keep", "none", "whole-lines");
    EXPECT_EQ(mem::g.tune.remote_keep_mask.load_relaxed(), ~0u);
  }
}

// A thread that frees more blocks of another heap than its bin has room for keeps what fits and
// sends the rest; at its exit the kept blocks go back too, and every block reaches its superblock.
TEST(RemoteKeep, AThreadKeepsOnlyWhatItsBinHoldsAndEveryBlockGoesHome) {
  OptionScope keep("remote.keep", "whole-lines", "whole-lines");
  hl_collect();
  constexpr int kBlocks = 5000;
  std::vector<void*> given(kBlocks);
  for (auto& p : given)
    p = hl_malloc(128);
  const hl_stats before = stats();
  std::uint32_t cap = 0;
  std::thread([&] {
    std::vector<void*> own;
    for (int i = 0; i < 40; ++i)
      own.push_back(hl_malloc(128));
    for (void* p : own)
      hl_free(p);
    own.clear();
    for (int i = 0; i < 16; ++i) // room for a few blocks
      own.push_back(hl_malloc(128));
    mem::ThreadCache* tc = mem::tl_cache;
    const std::size_t cls = mem::superblock_of(given[0])->cls;
    cap = tc->caps[cls];
    ASSERT_GT(tc->rooms[cls], 0u);
    const hl_stats mid = stats();
    for (void* p : given)
      hl_free(p);
    // Sent (or still buffered): all but what the bin had room for.
    const std::uint64_t away = stats().remote_frees_sent - mid.remote_frees_sent + tc->remote_count;
    EXPECT_GE(away, static_cast<std::uint64_t>(kBlocks) - cap);
    EXPECT_LT(away, static_cast<std::uint64_t>(kBlocks)) << "nothing was kept";
    EXPECT_EQ(tc->caps[cls], cap) << "keeping grew the bin";
    for (void* p : own)
      hl_free(p);
  }).join();
  hl_collect();
  expect_all_sent_and_drained(before, kBlocks);
  EXPECT_EQ(hl_check_invariants(), 0);
}

} // namespace
