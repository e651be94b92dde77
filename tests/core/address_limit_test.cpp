// The allocator under RLIMIT_AS, set before or after its first call: each case runs in a fresh
// process (a death test re-executes this program), which limits its own address space to what it
// has mapped when the case starts plus a room, then allocates.
//
// Label rlimit: the sanitizer runtimes reserve terabytes of shadow and cannot run under such a
// limit, so the sanitizer presets skip these (CMakePresets.json).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>

#include "hoardlab/hoardlab.h"
#include "mem/internal.h"

namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;

// The process's virtual size (statm's first field), which RLIMIT_AS bounds.
std::size_t mapped_bytes() {
  char buf[128] = {};
  const int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  return n > 0 ? std::strtoull(buf, nullptr, 10) * static_cast<std::size_t>(getpagesize()) : 0;
}

// Limits the address space to what is mapped now plus `room`.
bool limit_to_room(std::size_t room) {
  const rlimit rl{mapped_bytes() + room, mapped_bytes() + room};
  return setrlimit(RLIMIT_AS, &rl) == 0;
}

[[noreturn]] void finish(bool ok, const char* what) {
  if (!ok) std::fprintf(stderr, "failed: %s\n", what);
  std::fflush(stderr);
  _exit(ok ? 0 : 1); // the allocator's exit work is not what these cases check
}

void expect_in_child(void (*body)()) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(body(), ::testing::ExitedWithCode(0), "");
}

// A list threaded through the blocks, so that the bookkeeping allocates nothing.
struct Node {
  Node* next;
};

// Allocates blocks of `size` until one fails; returns their bytes.
std::size_t fill_with_small_blocks(std::size_t size) {
  Node* head = nullptr;
  std::size_t bytes = 0;
  while (void* p = hl_malloc(size)) {
    auto* n = static_cast<Node*>(p);
    n->next = head;
    head = n;
    bytes += size;
  }
  while (head != nullptr) {
    Node* next = head->next;
    hl_free(head);
    head = next;
  }
  return bytes;
}

// What share of the address space 1000-byte blocks can fill: payload over class size, times
// the class's blocks over the superblock (header and tail), from the allocator's own tables.
double small_block_efficiency(std::size_t size) {
  using hoardlab::mem::g;
  const std::size_t cls = g.classes.class_of(size);
  return static_cast<double>(size) * g.class_capacity[cls] / static_cast<double>(g.sb_size);
}

void* nothing(void* arg) {
  return arg;
}

// Small blocks fill the room to within a margin: the limit may stop them only where the
// address space is used, not at a split between small and large objects fixed in advance.
// Bound: efficiency * room minus 6 MiB, for the allocator's own mappings (heap array and
// thread-cache chunk, under 1 MiB; the first step of every other node's arena, 4 MiB, which
// only the fallback across nodes carves; under one superblock the last halving cannot
// reserve). With 256 MiB of room and 1000-byte blocks that is about 0.94 of the room, where an
// allocator splitting the room in two reaches 0.5 (0.25 per arena on two nodes).
void small_blocks_fill_the_room() {
  constexpr std::size_t kRoom = 256 * kMiB;
  constexpr std::size_t kBlock = 1000;
  if (!limit_to_room(kRoom)) finish(false, "setrlimit");
  const std::size_t bytes = fill_with_small_blocks(kBlock);
  const double bound = small_block_efficiency(kBlock) * kRoom - 6.0 * kMiB;
  if (static_cast<double>(bytes) < bound) {
    std::fprintf(stderr, "small blocks: %zu MiB of %zu MiB of room (bound %.0f MiB)\n",
                 bytes / kMiB, kRoom / kMiB, bound / kMiB);
    finish(false, "small blocks stopped far below the limit");
  }
  // The blocks were freed: the same kind of allocation works again.
  finish(hl_malloc(kBlock) != nullptr, "a small block after freeing them all");
}

} // namespace

// The heap array (here 256 heaps, 13 MiB) does not fit: the allocator runs on fewer heaps,
// never on zero (a heap count of 0 was a division by zero: SIGFPE).
TEST(AddressLimit, AHeapArrayThatCannotBeMappedLeavesOneHeapAndSmallBlocksWork) {
  expect_in_child([] {
    setenv("HOARDLAB_HEAP_COUNT", "256", 1);
    if (!limit_to_room(kMiB)) finish(false, "setrlimit");
    void* p = hl_malloc(100);
    if (p == nullptr) finish(false, "malloc(100) under a 1 MiB room");
    void* q = hl_malloc(3000);
    hl_free(p);
    hl_free(q);
    finish(q != nullptr && hl_check_invariants() == 0, "a second class, or the invariants");
  });
}

// Too little room for the usual first step of small-object address space (4 MiB a node): the
// allocator reserves less rather than failing small allocations.
TEST(AddressLimit, SmallBlocksWorkWhenTheRoomIsLessThanTheUsualReservation) {
  expect_in_child([] {
    if (!limit_to_room(384 * 1024)) finish(false, "setrlimit");
    void* p = hl_malloc(100);
    finish(p != nullptr, "malloc(100) with 384 KiB of room");
  });
}

// A program that lowers its limit after its first malloc keeps room for large blocks and
// thread stacks: the allocator's reservation so far is a step, not the most it might need.
TEST(AddressLimit, LoweringTheLimitAfterTheFirstMallocLeavesRoomForLargeBlocksAndThreads) {
  expect_in_child([] {
    const std::size_t before = mapped_bytes();
    hl_free(hl_malloc(100));
    const rlimit rl{before + 256 * kMiB, before + 256 * kMiB};
    if (setrlimit(RLIMIT_AS, &rl) != 0) finish(false, "setrlimit");
    void* big = hl_malloc(64 * kMiB);
    if (big == nullptr) finish(false, "a 64 MiB malloc after lowering the limit");
    hl_free(big);
    pthread_t t;
    if (pthread_create(&t, nullptr, nothing, nullptr) != 0)
      finish(false, "pthread_create after lowering the limit");
    pthread_join(t, nullptr);
    finish(fill_with_small_blocks(1000) > 64 * kMiB, "small blocks after lowering the limit");
  });
}

TEST(AddressLimit, SmallBlocksFillCloseToTheLimitOnOneNode) {
  expect_in_child([] {
    setenv("HOARDLAB_TOPOLOGY", "pack:1 numa:1 core:2 pu:1", 1);
    small_blocks_fill_the_room();
  });
}

// Node 0's heap fills the room; node 1's arena, unused, must not hold back half of it.
TEST(AddressLimit, SmallBlocksFillCloseToTheLimitOnASyntheticTwoNodeMachine) {
  expect_in_child([] {
    setenv("HOARDLAB_TOPOLOGY", "pack:1 numa:2 core:1 pu:1", 1);
    setenv("HOARDLAB_NUMA_POLICY", "local", 1);
    small_blocks_fill_the_room();
  });
}

// Where glibc serves a 4 MiB malloc (it maps 4 MiB and a page), so does hoardlab: its first
// reservations (the small-object range, a large-object chunk) leave that room. They took 4 MiB
// each, whatever the limit, and the 4 MiB block failed.
TEST(AddressLimit, AFourMiBBlockFitsWhereGlibcWouldServeIt) {
  expect_in_child([] {
    if (!limit_to_room(6 * kMiB)) finish(false, "setrlimit");
    void* big = hl_malloc(4 * kMiB);
    if (big == nullptr) finish(false, "malloc(4 MiB) with 6 MiB of room");
    void* small = hl_malloc(100);
    hl_free(big);
    finish(small != nullptr, "malloc(100) beside it");
  });
}

// A refusal the limit explains is said once on stderr, naming what and how much: every
// malloc returned NULL without a word, even at HOARDLAB_VERBOSE=3.
TEST(AddressLimit, ARefusedReservationIsSaidOnceWithTheLimit) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        if (!limit_to_room(kMiB)) finish(false, "setrlimit");
        const bool refused = hl_malloc(4 * kMiB) == nullptr && hl_malloc(4 * kMiB) == nullptr;
        finish(refused, "4 MiB with 1 MiB of room");
      },
      ::testing::ExitedWithCode(0),
      "^hoardlab: cannot reserve 4194304 bytes of address space for a large object: RLIMIT_AS "
      "is [0-9]+ bytes and [0-9]+ are mapped; a request the limit leaves no room for fails with "
      "ENOMEM \\(said once\\)\n$");
}

// Allocates blocks of `size` until one fails (at most 256) into blocks; returns how many.
int fill_with_large_blocks(void** blocks, std::size_t size) {
  int n = 0;
  while (n < 256 && (blocks[n] = hl_malloc(size)) != nullptr)
    ++n;
  return n;
}

// Freed large runs are kept for reuse, and hold address space while kept: when a mapping is
// refused, they (and the shards' uncarved reservations) are given back and the mapping tried
// again. Here 1 MiB objects fill the room and three in four are freed: the runs they leave
// (3 MiB between live neighbours) cannot hold a 4 MiB object, and kept, they left no room to
// map one (malloc returned NULL with three quarters of the room free).
TEST(AddressLimit, ALargeMallocThatFitsNoCachedRunGetsTheCachedRunsAddressSpace) {
  expect_in_child([] {
    hl_free(hl_malloc(100)); // the allocator's own mappings first: the room is for objects
    if (!limit_to_room(32 * kMiB)) finish(false, "setrlimit");
    void* blocks[256] = {};
    const int n = fill_with_large_blocks(blocks, 1 * kMiB);
    if (n < 16) finish(false, "fewer than 16 objects of 1 MiB in 32 MiB of room");
    for (int i = 0; i < n; ++i)
      if (i % 4 != 0) hl_free(blocks[i]);
    void* big = hl_malloc(4 * kMiB);
    if (big == nullptr) finish(false, "a 4 MiB malloc with three quarters of the room freed");
    hl_free(big);
    for (int i = 0; i < n; i += 4)
      hl_free(blocks[i]);
    // Everything freed: 4 MiB objects fill the room again.
    const int big_n = fill_with_large_blocks(blocks, 4 * kMiB);
    for (int i = 0; i < big_n; ++i)
      hl_free(blocks[i]);
    if (big_n < 4) std::fprintf(stderr, "%d objects of 4 MiB after freeing everything\n", big_n);
    finish(big_n >= 4, "fewer than 4 objects of 4 MiB after freeing everything");
  });
}
