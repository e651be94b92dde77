// The small-object address space grows in steps (mem/small_range.h): in place while the kernel
// grants the space above the primary range, else as an extra range, whose blocks the fast paths
// do not recognise and the ordinary path must. Each case runs in a fresh process (a death test
// re-executes this program), so that it sees the ranges from the first one on.
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <cstdio>
#include <thread>
#include <vector>

#include "hoardlab/hoardlab.h"
#include "mem/internal.h"

namespace {

using hoardlab::mem::g;
using hoardlab::mem::in_primary_range;
using hoardlab::mem::in_small_range;

[[noreturn]] void finish(bool ok, const char* what) {
  if (!ok) std::fprintf(stderr, "failed: %s\n", what);
  std::fflush(stderr);
  _exit(ok ? 0 : 1);
}

void expect_in_child(void (*body)()) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(body(), ::testing::ExitedWithCode(0), "");
}

constexpr std::size_t kBlock = 1000;
// More than the first step of every arena: the allocation needs at least one more step.
constexpr std::size_t kBlocks = (std::size_t{24} << 20) / kBlock;

std::vector<void*> allocate_blocks() {
  std::vector<void*> ps;
  ps.reserve(kBlocks);
  for (std::size_t i = 0; i < kBlocks; ++i)
    ps.push_back(hl_malloc(kBlock));
  return ps;
}

} // namespace

TEST(SmallRange, GrowsInPlaceWhileTheSpaceAboveIsFree) {
  expect_in_child([] {
    hl_free(hl_malloc(kBlock));
    const std::uintptr_t size_before = g.small_size.load_relaxed();
    if (g.ranges.count.load_relaxed() != 0) finish(true, ""); // the primary did not get its hint
    const std::vector<void*> ps = allocate_blocks();
    bool all_primary = true;
    for (void* p : ps)
      all_primary = all_primary && p != nullptr && in_primary_range(p);
    for (void* p : ps)
      hl_free(p);
    if (g.ranges.count.load_relaxed() != 0) finish(true, ""); // something took the space above
    finish(all_primary && g.small_size.load_relaxed() > size_before,
           "the primary did not grow in place, or a block lies outside it");
  });
}

// The space above the primary taken: the next step opens an extra range. Its blocks are freed,
// sized and reallocated through the ordinary path, by their own thread and by another.
TEST(SmallRange, BlocksOfAnExtraRangeAreOursEverywhere) {
  expect_in_child([] {
    hl_free(hl_malloc(kBlock));
    void* above =
        reinterpret_cast<void*>(g.small_base.load_relaxed() + g.small_size.load_relaxed());
    void* blocker =
        mmap(above, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (blocker != above) finish(false, "could not take the page above the primary range");
    std::vector<void*> ps = allocate_blocks();
    if (g.ranges.count.load_relaxed() == 0) finish(false, "no extra range was opened");
    std::size_t extra = 0;
    for (void* p : ps) {
      if (p == nullptr) finish(false, "a small malloc failed");
      if (!in_small_range(p)) finish(false, "a block is not in the small range");
      if (in_primary_range(p)) continue;
      ++extra;
      if (hl_usable_size(p) < kBlock) finish(false, "usable size of an extra-range block");
    }
    if (extra == 0) finish(false, "no block came from the extra range");
    // Half freed by another thread (remote frees), half here, some through realloc.
    std::thread other([&ps] {
      for (std::size_t i = 0; i < ps.size(); i += 2)
        hl_free(ps[i]);
    });
    other.join();
    for (std::size_t i = 1; i < ps.size(); i += 2) {
      if (i % 7 == 1) {
        ps[i] = hl_realloc(ps[i], 3 * kBlock);
        if (ps[i] == nullptr) finish(false, "realloc of an extra-range block");
      }
      hl_free(ps[i]);
    }
    // Allocating again works, and again reaches into the extra range (the primary holds 4 MiB).
    const std::vector<void*> again = allocate_blocks();
    std::size_t in_extra = 0;
    for (void* p : again)
      in_extra += p != nullptr && !in_primary_range(p) && in_small_range(p);
    for (void* p : again)
      hl_free(p);
    finish(in_extra > 0 && hl_check_invariants() == 0,
           "extra-range blocks were not reused, or the invariants fail");
  });
}

// A pointer just past every range is not ours (the scan must not over-reach).
TEST(SmallRange, APointerOutsideEveryRangeIsNotOurs) {
  expect_in_child([] {
    hl_free(hl_malloc(kBlock));
    const std::uintptr_t end = g.small_base.load_relaxed() + g.small_size.load_relaxed();
    int local = 0;
    finish(!in_small_range(reinterpret_cast<void*>(end)) && !in_small_range(&local) &&
               !in_small_range(nullptr),
           "a pointer outside the ranges tested as ours");
  });
}

// Reserved but never committed (no access): not ours, and a free or realloc of an address there
// is left alone rather than reading a header that would fault. The tail of the step the last
// block came from is such a stretch once a step is larger than the commit chunk.
TEST(SmallRange, AnAddressReservedButNeverCommittedIsLeftAlone) {
  expect_in_child([] {
    std::vector<void*> ps;
    std::uintptr_t end = 0;
    std::uintptr_t readable = 0;
    for (int mib = 0; mib < 128 && readable >= end; ++mib) {
      for (std::size_t i = 0; i < (std::size_t{1} << 20) / kBlock; ++i)
        ps.push_back(hl_malloc(kBlock));
      end = g.small_base.load_relaxed() + g.small_size.load_relaxed();
      readable = g.small_base.load_relaxed() + g.small_readable.load_relaxed();
    }
    if (g.ranges.count.load_relaxed() != 0) finish(true, ""); // the primary did not grow in place
    if (readable >= end) finish(false, "no reserved, uncommitted part after 128 MiB of blocks");
    auto* p = reinterpret_cast<char*>(readable) + 4096 + 64;
    if (in_small_range(p)) finish(false, "an uncommitted address tested as ours");
    hl_free(p);
    if (hl_realloc(p, 100) != nullptr) finish(false, "realloc of an uncommitted address served");
    for (void* q : ps)
      hl_free(q);
    finish(hl_check_invariants() == 0, "the invariants fail");
  });
}
