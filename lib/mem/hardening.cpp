// The hardened build's keys and reports (free_link.h, internal.h's small_block_is_live): what a
// corrupted free list or a misused small pointer prints, and whether the process goes on.
#include <cstdlib>

#include "core/bits.h"
#include "mem/internal.h"
#include "pal/pal.h"

namespace hoardlab::mem {

constinit LinkKeys g_link_keys;

void init_link_keys() noexcept {
#ifdef HOARDLAB_LINKS_ENCODED
  // Never re-keyed: every free block's words were written with these keys. A key with zero
  // low bits is as good as any; the mark key must not be 0, or a freshly zeroed block (word 0 ==
  // word 1 == 0) would read as free.
  g_link_keys.link = pal::random_u64();
  do
    g_link_keys.mark = pal::random_u64();
  while (g_link_keys.mark == 0);
#endif
}

namespace {

// "superblock 0x..., class c (n-byte blocks)" for p's superblock, when p is in the small range
// (its header is then mapped: a block was handed out from it, or it reads as zero).
pal::Message& describe_superblock(pal::Message& m, const void* p) noexcept {
  if (!in_small_range(p)) return m.text(", outside the small-object range");
  const Superblock* sb = superblock_of(p);
  m.text(", superblock ").hex(core::addr(sb));
  if (sb->cls == kNoClass || sb->block_size == 0) return m.text(" (not formatted)");
  return m.text(", size class ").num(sb->cls).text(" (").num(sb->block_size).text("-byte blocks)");
}

} // namespace

void report_corrupt_link(const void* at, const char* what) noexcept {
  pal::Message m;
  m.text("hoardlab: corrupted free list: free block ").hex(core::addr(at));
  describe_superblock(m, at).text(": ").text(what).text("; aborting");
  m.emit();
  std::abort();
}

void report_bad_link(const void* at, const void* next, const char* expected) noexcept {
  pal::Message m;
  m.text("hoardlab: corrupted free list: free block ").hex(core::addr(at));
  describe_superblock(m, at).text(" links to ").hex(core::addr(next)).text(", not ");
  m.text(expected).text("; aborting");
  m.emit();
  std::abort();
}

void report_short_bin(std::size_t cls, std::size_t found, std::size_t expected) noexcept {
  pal::Message m;
  m.text("hoardlab: corrupted free list: a thread cache's list of ")
      .num(g.classes.size_of(cls))
      .text("-byte blocks ends after ")
      .num(found)
      .text(" blocks, not ")
      .num(expected)
      .text(" (a block freed twice after a write into it?); aborting");
  m.emit();
  std::abort();
}

bool report_pointer_misuse(const char* kind, const void* p, const char* where) noexcept {
  const bool go_on = g.tune.report_misuse.load_relaxed();
  pal::Message m;
  m.text("hoardlab: ").text(kind).text(" of ").hex(core::addr(p)).text(", ").text(where);
  m.text(go_on ? "; left alone (hardened.on_error=report)" : "; aborting");
  m.emit();
  if (!go_on) std::abort();
  return false;
}

bool report_misuse(const Superblock* sb, const void* p, MisuseOp op) noexcept {
  const char* kind = nullptr;
  if (const char* misplaced = misplaced_block(sb, p)) {
    kind = op == MisuseOp::kFree ? misplaced : "realloc of an invalid pointer";
  } else if (p >= static_cast<const void*>(sb->bump)) {
    kind = op == MisuseOp::kFree ? "invalid free (a block never handed out)"
                                 : "realloc of a block never handed out";
  } else if (is_marked_free(p)) {
    kind = op == MisuseOp::kFree ? "double free" : "realloc of a freed block";
  } else {
    kind = op == MisuseOp::kFree ? "overflow past the end of a block (canary overwritten)"
                                 : "realloc of a block whose canary was overwritten";
  }
  const bool go_on = g.tune.report_misuse.load_relaxed();
  pal::Message m;
  m.text("hoardlab: ").text(kind).text(" of ").hex(core::addr(p));
  describe_superblock(m, p);
  m.text(go_on ? "; left alone (hardened.on_error=report)" : "; aborting");
  m.emit();
  if (!go_on) std::abort();
  return false;
}

} // namespace hoardlab::mem
