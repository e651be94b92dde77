// A test-and-test-and-set lock for short slow-path sections (arena carving, the large-object
// cache). Layer: core. No OS calls: the waiter spins; callers that may wait long use try_lock
// and yield through the PAL themselves.
#pragma once

#include "core/atomic.h"

namespace hoardlab::core {

/// Protocol:   lock/unlock by any thread; try_lock never blocks.
/// Invariants: held_ is true exactly while one thread is between a successful lock and unlock.
/// Ordering:   [SL1] the acquiring exchange pairs with [SL2] the releasing store, so each
///             critical section happens-after the previous one.
/// ABA:        none; a single flag.
class SpinLock {
public:
  constexpr SpinLock() noexcept = default;
  bool try_lock() noexcept {
    return !held_.load_relaxed() && !held_.exchange_acquire(true); // [SL1]
  }
  void lock() noexcept {
    while (!try_lock()) {
      while (held_.load_relaxed()) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      }
    }
  }
  void unlock() noexcept {
    held_.store_release(false);
  } // [SL2]
  bool is_locked() const noexcept {
    return held_.load_relaxed();
  }
  // After fork the child has one thread: a lock held by a thread that no longer exists is reset.
  void reset_in_child() noexcept {
    held_.store_relaxed(false);
  }

private:
  Atomic<bool> held_{false};
};

class SpinGuard {
public:
  explicit SpinGuard(SpinLock& l) noexcept : l_(l) { l_.lock(); }
  ~SpinGuard() { l_.unlock(); }
  SpinGuard(const SpinGuard&) = delete;
  SpinGuard& operator=(const SpinGuard&) = delete;

private:
  SpinLock& l_;
};

} // namespace hoardlab::core
