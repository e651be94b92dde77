// The allocator's invariants as executable checks (H1-H5, S1, P1): check_heap for a held
// heap, check_invariants for every heap and pool. Debug builds and tests call them.
#include "core/bits.h"
#include "mem/internal.h"
#include "mem/stats.h"
#include "pal/pal.h"

namespace hoardlab::mem {

int check_heap(Heap* h, bool emptiness) noexcept {
  int bad = 0;
  auto report = [&](const char* what) {
    ++bad;
    pal::Message()
        .text("hoardlab: invariant violated in heap ")
        .num(h->index)
        .text(": ")
        .text(what)
        .emit();
  };
  std::size_t u = 0;
  std::size_t count = 0;
  bool releasable = false;
  double f = g.tune.emptiness_f.load_relaxed();
  std::uint32_t nonfull = 0; // of the class being visited
  bool some_f_empty = false; // among the class's non-full superblocks
  auto visit = [&](core::IntrusiveList& l, std::uint32_t cls, std::uint16_t group) {
    for (core::ListNode* n = l.front(); n != nullptr; n = l.next_of(n)) {
      Superblock* sb = Superblock::of_link(n);
      ++count;
      if (sb->owner.load_relaxed() != h) report("H1: a listed superblock has another owner");
      if (group != kEmptyGroup && sb->cls != cls)
        report("H1: superblock in the list of another class");
      if (sb->group != group || group_for(sb) != group)
        report("H1: superblock in the wrong fullness group");
      if (sb->used > sb->capacity) report("S1: used exceeds capacity");
      u += static_cast<std::size_t>(sb->used) * sb->block_size;
      if (group == kEmptyGroup) releasable = true;
      if (is_nonfull_group(group)) {
        ++nonfull;
        if (at_least_f_empty(sb, f)) some_f_empty = true;
      }
    }
  };
  visit(h->empty, 0, kEmptyGroup);
  std::size_t classes = 0;
  for (std::size_t c = 0; c < g.classes.count(); ++c) {
    nonfull = 0;
    some_f_empty = false;
    for (unsigned gi = 0; gi <= g.groups; ++gi)
      visit(row_of(h, c)[gi], static_cast<std::uint32_t>(c), static_cast<std::uint16_t>(gi));
    const std::uint64_t bit = std::uint64_t{1} << (c % 64);
    if (nonfull != h->nonfull[c]) report("H4: a class's count of non-full superblocks is wrong");
    if (((h->nonfull_classes[c / 64] & bit) != 0) != (nonfull >= 1))
      report("H4: a class's non-full bit is wrong");
    if (((h->spare_classes[c / 64] & bit) != 0) != (nonfull >= 2))
      report("H5: a class's spare bit is wrong");
    if (nonfull >= 1) ++classes;
    if (nonfull >= 2 && some_f_empty) releasable = true;
  }
  if (classes != h->nonfull_class_count) report("H4: C differs from the classes counted");
  if (u != h->u) report("H2: u differs from the sum over its superblocks");
  if (count != h->superblocks || count * g.sb_size != h->a)
    report("H2: a differs from S times its superblocks");
  if (emptiness && invariant_violated(h, g.tune.emptiness_k.load_relaxed(), f) && releasable)
    report("H3: emptiness invariant broken while a superblock is releasable");
  return bad;
}

// Cold: tests and debugging only (config/loader.cpp's apply_file_text says why).
[[gnu::cold]] int check_invariants() noexcept {
  if (g.state.load_acquire() != kStateReady) return 0;
  int bad = 0;
  for (unsigned i = 0; i < g.heap_count; ++i) {
    Heap* h = &g.heaps[i];
    acquire_specific(h);
    bad += check_heap(h, true); // acquire_specific has just drained and enforced
    release_heap(h);
  }
  for (unsigned n = 0; n < g.nodes; ++n) {
    Pool& p = g.pools[n];
    if (p.empty_count.load_relaxed() < 0 || p.superblocks.load_relaxed() < 0) {
      ++bad;
      pal::Message()
          .text("hoardlab: invariant violated in pool ")
          .num(n)
          .text(": P1 negative count")
          .emit();
    }
  }
  return bad;
}

} // namespace hoardlab::mem
