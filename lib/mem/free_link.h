// The link a free block holds to the next one, the only way mem reads or writes it. Layer: mem.
//
// Default build: the link is the plain pointer in the block's first word, and every function
// here compiles to one load or one store.
//
// HOARDLAB_HARDENED (libhoardlab-malloc-hardened.so, hoardlab_hardened): glibc's safe-linking
// (glibc 2.32, PROTECT_PTR) with mimalloc's per-process key (mimalloc src/alloc.c, encoded free
// lists), and a check word:
//   word 0 = next ^ (at >> 12) ^ key.link       (at: the block's own address)
//   word 1 = word 0 ^ key.mark                  (while the block is free; 0 once handed out)
// Both keys come from getrandom at init and never change. A use-after-free write that changes
// either word breaks the pair, and the block is caught when it is popped (load_link), before its
// link is followed; a write of both words needs both keys. Word 1 also tells a free block from a
// live one in O(1), which is the double-free test on the free path (is_marked_free). Every block
// is at least kGranule = 16 bytes, so word 1 exists.
//
// HOARDLAB_ENCODE_LINKS: word 0 encoded as above, no check word and no checks; a build switch
// only for measuring what the encoding alone costs the fast path (paper_notes/hardening.md).
#pragma once

#include <cstdint>

namespace hoardlab::mem {

#if defined(HOARDLAB_HARDENED) || defined(HOARDLAB_ENCODE_LINKS)
#define HOARDLAB_LINKS_ENCODED 1
#endif

// Set once by init (hardening.cpp), before the first block is linked.
struct LinkKeys {
  std::uintptr_t link = 0;
  std::uintptr_t mark = 0;
};
extern constinit LinkKeys g_link_keys;

// Reports a free block whose link or check word was overwritten and aborts (hardening.cpp).
[[noreturn, gnu::cold]] void report_corrupt_link(const void* at, const char* what) noexcept;
// Reports a free block at `at` whose decoded link `next` is not what the list may hold (`expected`)
// and aborts (hardening.cpp).
[[noreturn, gnu::cold]] void report_bad_link(const void* at, const void* next,
                                             const char* expected) noexcept;

inline void store_link(void* at, void* next) noexcept {
  auto* words = static_cast<std::uintptr_t*>(at);
#ifdef HOARDLAB_LINKS_ENCODED
  const std::uintptr_t stored = reinterpret_cast<std::uintptr_t>(next) ^
                                (reinterpret_cast<std::uintptr_t>(at) >> 12) ^ g_link_keys.link;
  words[0] = stored;
#ifdef HOARDLAB_HARDENED
  words[1] = stored ^ g_link_keys.mark;
#endif
#else
  words[0] = reinterpret_cast<std::uintptr_t>(next);
#endif
}

// The next block after the free block at `at`. Hardened: aborts when the check word does not
// match the link (the caller validates where the link points).
inline void* load_link(const void* at) noexcept {
  const auto* words = static_cast<const std::uintptr_t*>(at);
#ifdef HOARDLAB_LINKS_ENCODED
  const std::uintptr_t stored = words[0];
#ifdef HOARDLAB_HARDENED
  if ((stored ^ g_link_keys.mark) != words[1]) [[unlikely]]
    report_corrupt_link(at, "its check word does not match its link (written after free?)");
#endif
  return reinterpret_cast<void*>(stored ^ (reinterpret_cast<std::uintptr_t>(at) >> 12) ^
                                 g_link_keys.link);
#else
  return reinterpret_cast<void*>(words[0]);
#endif
}

// load_link for the thread cache's hit, which reports nothing: false when the check word does not
// match (the caller then takes its slow path, where load_link reports it); else *next is the link.
inline bool try_load_link(const void* at, void** next) noexcept {
#ifdef HOARDLAB_HARDENED
  const auto* words = static_cast<const std::uintptr_t*>(at);
  const std::uintptr_t stored = words[0];
  if ((stored ^ g_link_keys.mark) != words[1]) return false;
  *next = reinterpret_cast<void*>(stored ^ (reinterpret_cast<std::uintptr_t>(at) >> 12) ^
                                  g_link_keys.link);
  return true;
#else
  *next = load_link(at);
  return true;
#endif
}

// A block leaves the allocator: its check word no longer says "free".
inline void mark_in_use([[maybe_unused]] void* p) noexcept {
#ifdef HOARDLAB_HARDENED
  static_cast<std::uintptr_t*>(p)[1] = 0;
#endif
}

// Whether p's check word says it is free (hardened; always false otherwise).
inline bool is_marked_free([[maybe_unused]] const void* p) noexcept {
#ifdef HOARDLAB_HARDENED
  const auto* words = static_cast<const std::uintptr_t*>(p);
  return (words[0] ^ g_link_keys.mark) == words[1];
#else
  return false;
#endif
}

} // namespace hoardlab::mem
