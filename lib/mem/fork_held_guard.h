// A guard for the locks fork_prepare takes besides the heaps: the thread registry, each arena's
// carving, the large objects' leaf, cache and carving locks. Layer: mem.
#pragma once

#include <optional>

#include "core/spin_lock.h"
#include "mem/internal.h"
#include "mem/yielding_guard.h"

namespace hoardlab::mem {

/// Protocol:   a thread takes the lock as YieldingGuard does, except the forking thread between
///             fork_prepare and fork_parent/fork_child (tl_holds_all), which holds every such
///             lock already: other libraries' fork handlers run inside that window on that
///             thread (prepare handlers registered before the allocator's init run after its
///             prepare; parent and child handlers registered before it run before its own) and
///             may allocate, so it enters the section without the lock, as it enters the heaps
///             it holds.
/// Invariants: tl_holds_all => the calling thread holds the lock, so no other thread is inside
///             the section.
/// Ordering:   the lock's own ([SL1] acquire on taking, [SL2] release on giving back); the
///             forking thread's sections follow every earlier holder's by its own acquire in
///             fork_prepare and precede every later one's by its release in fork_parent.
/// ABA:        none (a lock).
class ForkHeldGuard {
public:
  explicit ForkHeldGuard(core::SpinLock& l) noexcept {
    if (!tl_holds_all) guard_.emplace(l);
  }
  ForkHeldGuard(const ForkHeldGuard&) = delete;
  ForkHeldGuard& operator=(const ForkHeldGuard&) = delete;

private:
  std::optional<YieldingGuard> guard_;
};

} // namespace hoardlab::mem
