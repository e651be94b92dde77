// Claims made in a process's name: a word that names the process whose thread holds a lock or
// runs a one-time step. A fork child has only the forking thread, and inherits such a word as its
// parent left it; from the name it tells a claim whose thread is not in this process (lost to the
// fork) from one of its own threads' claims, and takes the lost one over instead of waiting for a
// thread that will never come. This matters for the steps that can run before the allocator has
// registered its fork handlers (which otherwise keep every lock out of a fork): the options
// lock, the boot topology's build and the allocator's init. A vfork child (or any clone sharing
// the memory) would read its parent's live claims as lost; it may call nothing but exec and
// _exit (POSIX), and posix_spawn's child calls no allocator, so none reaches these words.
// Layer: pal (uses core).
#pragma once

#include <sched.h>
#include <unistd.h>

#include "core/atomic.h"

namespace hoardlab::pal {

// A claim keeps the process id above its low two bits, which read 01; the users keep their own
// states in the other patterns (0 for free or not begun, 2 for done). Process ids stay below
// 2^22 (Linux's PID_MAX_LIMIT), so the word does not overflow.
inline constexpr int kClaimBits = 1;
constexpr int claim_of(int pid) noexcept {
  return (pid << 2) | kClaimBits;
}
constexpr bool is_claim(int word) noexcept {
  return (word & 3) == kClaimBits;
}
// This process's claim word. getpid(2) is a system call (glibc caches no pid since 2.25); the
// users are slow paths taken a handful of times per process.
inline int own_claim() noexcept {
  return claim_of(static_cast<int>(::getpid()));
}
// True when `word` is a claim of another process than the one whose claim is `self`: it was
// inherited through fork, and the thread that made it is not here.
constexpr bool claim_is_lost(int word, int self) noexcept {
  return is_claim(word) && word != self;
}

// One attempt to claim `word` for this process (its claim `self`): from `free_state`, or from a
// claim lost to fork, each by an acq_rel CAS (one winner; a failure loads acquire). kBusy leaves
// what the word holds in `seen`: another thread's claim of this process, or a user's own state.
enum class ClaimResult { kClaimed, kTakenOver, kBusy };
inline ClaimResult try_claim(core::Atomic<int>& word, int free_state, int self,
                             int& seen) noexcept {
  seen = free_state;
  if (word.cas_strong_acq_rel(seen, self)) return ClaimResult::kClaimed;
  if (claim_is_lost(seen, self) && word.cas_strong_acq_rel(seen, self))
    return ClaimResult::kTakenOver;
  return ClaimResult::kBusy;
}

/// A spin lock whose word names the holding process (the options lock).
///
/// Protocol:   lock() takes the lock by CAS from free to this process's claim. A word that names
///             another process was inherited through fork while a thread of that process held
///             the lock; no thread here will release it, so lock() takes it over by CAS from
///             that word (one winner among this process's threads) and returns true: the caller
///             then repairs what the lost holder may have left half written. unlock() stores
///             free. reset_in_child() frees the lock in a fork child whose fork handler held it
///             across the fork.
/// Invariants: (PL1) holder_ == own_claim() in a process => one of its threads (or its forking
///             thread's fork handlers) is between lock and unlock.
///             (PL2) after a takeover, the lost holder's writes are a prefix, in program order,
///             of what it would have written: a store made before the fork is in the child; one
///             to a page that fork had write-protected faults, and waits for the fork to finish
///             (the parent's memory map is locked while fork copies it), so every later store of
///             that thread misses the child too. Callers that write more than one word under
///             the lock order them (release) so that the prefix tells them what to redo.
/// Ordering:   [PL1] the acquiring CAS and the takeover CAS pair with [PL2], the releasing store
///             of the previous holder in this process, so critical sections are ordered; a
///             takeover's predecessor is in another process, and the child sees its writes as
///             the fork left them (PL2).
/// ABA:        a claim reads as this process's own only in the process that made it, since a
///             fork child never has its parent's id. (A descendant given the id of an ancestor
///             that has since exited would wait forever: pid reuse within one fork lineage, while
///             the lock is held, is not guarded against.)
class ProcessLock {
public:
  constexpr ProcessLock() noexcept = default;
  // Returns true when the lock was taken over from a holder lost to a fork.
  [[nodiscard]] bool lock() noexcept {
    const int self = own_claim();
    for (unsigned spins = 0;; ++spins) {
      int seen = kFree;
      const ClaimResult r = try_claim(holder_, kFree, self, seen); // [PL1]
      if (r != ClaimResult::kBusy) return r == ClaimResult::kTakenOver;
      // A holder of this process: spin briefly, then let it run (a load may be in write(2)).
      if (spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      } else {
        ::sched_yield();
      }
    }
  }
  void unlock() noexcept {
    holder_.store_release(kFree); // [PL2]
  }
  void reset_in_child() noexcept {
    holder_.store_relaxed(kFree);
  }
  bool is_locked() const noexcept {
    return holder_.load_relaxed() != kFree;
  }

private:
  static constexpr int kFree = 0;
  core::Atomic<int> holder_{kFree};
};

} // namespace hoardlab::pal
