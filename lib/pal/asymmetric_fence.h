// Asymmetric fences: a store-buffering handshake (each side stores its flag, then loads the
// other's) whose one side runs on every call of a hot path and the other rarely. The hot side
// pays a compiler barrier; the rare side makes the kernel run a full barrier on every CPU that
// runs a thread of the process (membarrier(2), MEMBARRIER_CMD_PRIVATE_EXPEDITED), which orders
// the hot side's store before its load wherever that thread was. Linux's membarrier(2) page
// states the guarantee, and userspace RCU's membarrier flavour and folly's asymmetric barriers
// use it the same way. Where the kernel lacks the command or refuses it (older than 4.14, a
// seccomp filter), both sides fall back to a full fence: correct, and no faster than the
// read-modify-write the handshake replaced. Layer: pal.
//
/// Protocol:   init_asymmetric_fences() runs once, in the allocator's init, before any thread
///             can reach a handshake (every caller is past init's acquire of kStateReady); the
///             choice it stores never changes afterwards, so a light and a heavy fence always
///             pair as one kind. Hot side: store its flag; light_fence(); load the other's.
///             Rare side: store its flag; heavy_fence(); load the other's. heavy_fence() false
///             (the command failed after a registration that worked; not expected) means no
///             ordering was had: the rare side must then act as if it saw the hot side's flag.
/// Invariants: (AF1) after both sides ran, at least one of them read the other's store.
/// Ordering:   [AF1] hot side: compiler barrier, with the kernel's barrier on its CPU (or its
///             context switch) between any two of its accesses the rare side's call overlaps;
///             [AF2] rare side: membarrier, a full barrier on its own CPU before and after. In
///             the fallback, [AF1] and [AF2] are seq_cst fences (the C++ model's fence-fence
///             store buffering rule).
/// ABA:        none (no reuse of values).
#pragma once

#include "core/atomic.h"

namespace hoardlab::pal {

namespace detail {
// true: light fences are compiler barriers and heavy fences membarrier (set once by init).
extern constinit core::Atomic<bool> g_expedited_membarrier;
} // namespace detail

// Registers the process for expedited membarrier; false when the kernel refuses (the fallback).
// Idempotent; a fork child inherits the registration.
bool init_asymmetric_fences() noexcept;

// [AF1] The hot side's fence, between its store and its load.
inline void light_fence() noexcept {
  if (detail::g_expedited_membarrier.load_relaxed())
    core::compiler_fence();
  else
    core::fence_seq_cst();
}

// [AF2] The rare side's fence, between its store and its load (a system call, about a
// microsecond). Preserves errno.
bool heavy_fence() noexcept;

} // namespace hoardlab::pal
