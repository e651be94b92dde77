// general.checked: exact double-free and invalid-free detection, chosen at init, in any build.
//
// With the option on, publish_options keeps every thread cache at zero capacity, so no block
// waits in a cache or a remote buffer: every free of a small block reaches deallocate's slow path
// and comes here. A block of a superblock its heap owns is then free exactly when it is in the
// superblock's free list or in the never-used bump region (or, briefly, in its remote list: only
// frees that found the superblock in a pool go there, and they are drained when the next holder
// enters, see on_acquire). checked_free enters the owner heap, looks for the block there, and
// frees it under the same hold, so two threads freeing one block at once are told apart too.
//
// The look-up walks the superblock's free list: linear in its free blocks (at most S/16). That is
// the mode's price, chosen over a bitmap per superblock because the header has no room for one
// bit per block (S/16 bits) and a side table would have to be allocated on the init path. Frees
// into pooled superblocks take the ordinary path; a double free among them is caught when the
// pool's remote list is drained (more blocks back than handed out), less precisely.
#include <cerrno>

#include "core/bits.h"
#include "mem/internal.h"
#include "pal/pal.h"

namespace hoardlab::mem {
namespace {

bool in_free_list(const Superblock* sb, const void* p) noexcept {
  for (const void* q = sb->free_list; q != nullptr; q = sb->next_local(q))
    if (q == p) return true;
  return false;
}

// Why a free of p, a pointer into sb held by its owner, is wrong; nullptr when it is a live block.
const char* what_is_wrong(const Superblock* sb, const void* p) noexcept {
  if (const char* problem = misplaced_block(sb, p)) return problem;
  if (core::addr(p) >= core::addr(sb->bump)) return "invalid free (a block never allocated)";
  if (in_free_list(sb, p)) return "double free";
  return nullptr;
}

} // namespace

const char* misplaced_block(const Superblock* sb, const void* p) noexcept {
  if (sb->cls == kNoClass || sb->block_size == 0) return "invalid free (no block there)";
  const std::uintptr_t first = core::addr(sb->base()) + sb->first_offset;
  if (core::addr(p) < first) return "invalid free (inside a superblock header)";
  const std::uintptr_t offset = core::addr(p) - first;
  if (offset % sb->block_size != 0) return "invalid free (not the start of a block)";
  if (offset / sb->block_size >= sb->capacity) return "invalid free (past the last block)";
  return nullptr;
}

bool checked_free(Superblock* sb, void* p) noexcept {
  const int saved_errno = errno; // free preserves errno; the report writes to stderr
  for (;;) {
    Heap* o = sb->owner.load_acquire(); // [OW2]
    if (o == nullptr) return false;     // in a pool: the ordinary path frees it
    acquire_specific(o);
    if (sb->owner.load_relaxed() != o) { // handed on before o was entered: look again
      release_heap(o);
      continue;
    }
    const char* problem = what_is_wrong(sb, p);
    if (problem == nullptr) {
      heap_free_local(o, sb, p);
      enforce_invariant(o);
    }
    const std::uint32_t block_size = sb->block_size;
    release_heap(o);
    if (problem != nullptr) {
      pal::Message()
          .text("hoardlab: ")
          .text(problem)
          .text(" of ")
          .hex(core::addr(p))
          .text(", in a superblock of ")
          .num(block_size)
          .text("-byte blocks; the free is ignored (general.checked)")
          .emit();
    } else {
      g.orphan_frees.fetch_add_relaxed(1); // a slow-path counter: no cache counts this free
    }
    errno = saved_errno;
    return true;
  }
}

} // namespace hoardlab::mem
