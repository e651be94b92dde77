// What a small program pays the allocator in resident memory: no heap costs more than its header
// until a thread enters it (paper_notes/peers-research.md, "Footprint").
#include "hoardlab/hoardlab.h"
#include "mem/internal.h"
#include "pal/pal.h"

#include <sys/mman.h>

#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

namespace {

using namespace hoardlab::mem;

// Pages of [p, p + n) that are resident.
std::size_t resident_pages(const void* p, std::size_t n) {
  const std::uintptr_t page = hoardlab::pal::kPageSize;
  const std::uintptr_t first = reinterpret_cast<std::uintptr_t>(p) / page * page;
  const std::uintptr_t end = (reinterpret_cast<std::uintptr_t>(p) + n + page - 1) / page * page;
  std::vector<unsigned char> in((end - first) / page);
  if (mincore(reinterpret_cast<void*>(first), end - first, in.data()) != 0) return SIZE_MAX;
  std::size_t count = 0;
  for (unsigned char b : in)
    count += b & 1;
  return count;
}

TEST(HeapFootprint, AHeapCostsItsHeaderUntilEnteredAndTheListsOfItsClassesInUseAfter) {
  // Idle heaps are those of a fresh process: ctest runs each test alone, but a run of the whole
  // binary has entered every heap in the tests before this one.
  if (g.state.load_acquire() == kStateReady)
    GTEST_SKIP() << "the allocator was in use before this test: run it in a process of its own";
  hl_free(hl_malloc(16)); // the allocator starts on first use
  ASSERT_GE(g.heap_count, 2u) << "one heap in static storage: nothing to measure";
  // The record's lines (lock, private, pending, queue and statistics lines) come before its
  // lists and span at most two pages wherever it starts; an entered heap adds its classes' rows
  // of g.groups + 1 lists, one page more where they straddle. The whole record is 13 pages: with
  // the lists between its head and its tail, or rows of kMaxGroups + 1 lists, an entered heap
  // held five or six (36 classes, four groups).
  const std::size_t page = hoardlab::pal::kPageSize;
  const Heap* first = &g.heaps[0];
  const auto lines = static_cast<std::size_t>(reinterpret_cast<const char*>(&first->groups) -
                                              reinterpret_cast<const char*>(first));
  ASSERT_LE(lines, page) << "the record's lines outgrew a page";
  const std::size_t rows =
      g.classes.count() * (g.groups + 1) * sizeof(hoardlab::core::IntrusiveList);
  const std::size_t entered_most = 2 + (rows + page - 1) / page;
  unsigned idle = 0;
  for (unsigned i = 0; i < g.heap_count; ++i) {
    const Heap* h = &g.heaps[i];
    const std::size_t pages = resident_pages(h, sizeof(Heap));
    if (h->ready) {
      EXPECT_LE(pages, entered_most) << "heap " << i << " (entered), rows of " << rows << " bytes";
    } else {
      ++idle;
      EXPECT_LE(pages, 2u) << "heap " << i << " (never entered) of " << sizeof(Heap) << " bytes";
    }
  }
  EXPECT_GE(idle, 1u) << "one malloc entered every heap";
}

} // namespace
