// Memory placement on the real machine: an arena bound to its node really lives there
// (checked with get_mempolicy(MPOL_F_ADDR)), policy none binds nothing, and the per-node records
// say what was bound. Runs without HOARDLAB_TOPOLOGY, so the boot view is this machine's.
#include "numa/placement.h"
#include "numa/topology.h"
#include "pal/numa_syscalls.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

namespace hoardlab::numa {
namespace {

constexpr std::size_t kArena = 4u << 20;

class Arena {
public:
  Arena() {
    base_ = mmap(nullptr, kArena, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  }
  ~Arena() {
    if (base_ != MAP_FAILED) munmap(base_, kArena);
  }
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  char* get() const { return static_cast<char*>(base_); }
  bool ok() const { return base_ != MAP_FAILED; }

private:
  void* base_;
};

// Skips (with the reason) where the kernel has no NUMA policy calls or a seccomp filter blocks
// them: the binding itself cannot be shown there.
#define SKIP_WITHOUT_MEMPOLICY()                                                                   \
  do {                                                                                             \
    const int probe = pal::page_node(&probe_target_);                                              \
    if (probe == -ENOSYS || probe == -EPERM)                                                       \
      GTEST_SKIP() << "get_mempolicy unavailable here (" << std::strerror(-probe) << ")";          \
  } while (0)
int probe_target_ = 1;

TEST(Placement, LocalPolicyBindsTheArenaAndItsPagesLiveOnTheNode) {
  SKIP_WITHOUT_MEMPOLICY();
  const Topology& t = boot_topology();
  ASSERT_FALSE(t.synthetic) << "this test needs the real topology; unset HOARDLAB_TOPOLOGY";
  reset_placement_records();
  Arena arena;
  ASSERT_TRUE(arena.ok());
  const ArenaPlacement placed = place_arena(arena.get(), kArena, 0, PlacementPolicy::kLocal);
  if (placed.error == EPERM)
    GTEST_SKIP() << "mbind is refused here (seccomp); binding cannot be shown on this machine";
  ASSERT_TRUE(placed.bound) << "mbind failed: " << std::strerror(placed.error);
  EXPECT_EQ(placed.node, 0);

  pal::MemPolicy mode{};
  int first = -2;
  ASSERT_EQ(pal::range_policy(arena.get(), &mode, &first), 0);
  EXPECT_EQ(mode, pal::MemPolicy::kPreferred);
  EXPECT_EQ(first, t.node_os_index[0]);

  // Touch every page, then ask the kernel where a few of them are.
  for (std::size_t off = 0; off < kArena; off += 4096)
    arena.get()[off] = 1;
  for (std::size_t off : {std::size_t{0}, kArena / 2, kArena - 4096})
    EXPECT_EQ(pal::page_node(arena.get() + off), t.node_os_index[0]) << "offset " << off;

  const NodePlacement rec = node_placement(0);
  EXPECT_EQ(rec.arenas, 1u);
  EXPECT_EQ(rec.bytes_bound, kArena);
  EXPECT_EQ(rec.bytes_intended, 0u);
  EXPECT_TRUE(rec.bound);
  EXPECT_EQ(rec.os_node, t.node_os_index[0]);
}

// mem reserves its small-object range PROT_NONE and commits superblocks later with mprotect:
// the binding must be made on the reservation and survive the commit.
TEST(Placement, BindingAReservedRangeHoldsForPagesCommittedLater) {
  SKIP_WITHOUT_MEMPOLICY();
  const Topology& t = boot_topology();
  ASSERT_FALSE(t.synthetic) << "this test needs the real topology; unset HOARDLAB_TOPOLOGY";
  void* base = mmap(nullptr, kArena, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(base, MAP_FAILED);
  char* p = static_cast<char*>(base);
  const ArenaPlacement placed = place_arena(p, kArena, 0, PlacementPolicy::kLocal);
  if (placed.error == EPERM) {
    munmap(base, kArena);
    GTEST_SKIP() << "mbind is refused here (seccomp)";
  }
  ASSERT_TRUE(placed.bound) << std::strerror(placed.error);
  const std::size_t committed = kArena / 4;
  ASSERT_EQ(mprotect(p + committed, committed, PROT_READ | PROT_WRITE), 0);
  p[committed] = 1;
  pal::MemPolicy mode{};
  int first = -2;
  ASSERT_EQ(pal::range_policy(p + committed, &mode, &first), 0);
  EXPECT_EQ(mode, pal::MemPolicy::kPreferred);
  EXPECT_EQ(first, t.node_os_index[0]);
  EXPECT_EQ(pal::page_node(p + committed), t.node_os_index[0]);
  ASSERT_EQ(pal::range_policy(p + kArena - 4096, &mode, nullptr), 0);
  EXPECT_EQ(mode, pal::MemPolicy::kPreferred) << "the still-reserved rest keeps the binding";
  munmap(base, kArena);
}

TEST(Placement, PolicyNoneLeavesTheDefaultPolicyAndRecordsNoBinding) {
  SKIP_WITHOUT_MEMPOLICY();
  reset_placement_records();
  Arena arena;
  ASSERT_TRUE(arena.ok());
  const ArenaPlacement placed = place_arena(arena.get(), kArena, 0, PlacementPolicy::kNone);
  EXPECT_FALSE(placed.bound);
  pal::MemPolicy mode{};
  ASSERT_EQ(pal::range_policy(arena.get(), &mode, nullptr), 0);
  EXPECT_EQ(mode, pal::MemPolicy::kDefault);
  const NodePlacement rec = node_placement(0);
  EXPECT_EQ(rec.bytes_placed, kArena);
  EXPECT_EQ(rec.bytes_bound, 0u);
  EXPECT_FALSE(rec.bound);
}

TEST(Placement, ANodeTheKernelLacksIsAnErrorNotACrash) {
  SKIP_WITHOUT_MEMPOLICY();
  Arena arena;
  ASSERT_TRUE(arena.ok());
  errno = 12345;
  // Node 1023 exists on no machine this runs on; the kernel says EINVAL.
  EXPECT_EQ(pal::bind_range(arena.get(), kArena, pal::MemPolicy::kPreferred, 1023), -EINVAL);
  EXPECT_EQ(pal::bind_range(arena.get(), kArena, pal::MemPolicy::kBind, -1), -EINVAL);
  EXPECT_EQ(pal::bind_range(arena.get(), kArena, pal::MemPolicy::kBind, 5000), -EINVAL);
  EXPECT_EQ(errno, 12345) << "the wrappers run inside malloc and must preserve errno";
}

TEST(Placement, ThreadPolicyPlacesFreshPagesOnTheNode) {
  SKIP_WITHOUT_MEMPOLICY();
  const Topology& t = boot_topology();
  ASSERT_EQ(pal::set_thread_policy(pal::MemPolicy::kBind, t.node_os_index[0]), 0);
  Arena arena;
  ASSERT_TRUE(arena.ok());
  arena.get()[0] = 1;
  EXPECT_EQ(pal::page_node(arena.get()), t.node_os_index[0]);
  EXPECT_EQ(pal::set_thread_policy(pal::MemPolicy::kDefault, -1), 0);
}

TEST(Placement, InterleaveOnOneNodeAlwaysPicksThatNode) {
  const Topology& t = boot_topology();
  if (t.nodes != 1)
    GTEST_SKIP() << "this machine has " << t.nodes << " nodes; the one-node case needs one";
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(superblock_node(0, PlacementPolicy::kInterleave), 0);
  EXPECT_EQ(superblock_node(7, PlacementPolicy::kLocal), 0) << "an out-of-range home folds to 0";
}

} // namespace
} // namespace hoardlab::numa
