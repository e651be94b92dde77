// The atomics wrapper: the only place std::memory_order appears (STYLE.md, "Lock-free code").
// Layer: core. Every call names its ordering, so a reader sees the protocol at the call site.
#pragma once

#include <atomic>

namespace hoardlab::core {

template <typename T>
class Atomic {
public:
  constexpr Atomic() noexcept : value_{} {}
  constexpr explicit Atomic(T v) noexcept : value_{v} {}
  Atomic(const Atomic&) = delete;
  Atomic& operator=(const Atomic&) = delete;

  T load_relaxed() const noexcept { return value_.load(std::memory_order_relaxed); }
  T load_acquire() const noexcept { return value_.load(std::memory_order_acquire); }
  void store_relaxed(T v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void store_release(T v) noexcept { value_.store(v, std::memory_order_release); }

  T exchange_acquire(T v) noexcept { return value_.exchange(v, std::memory_order_acquire); }
  T exchange_acq_rel(T v) noexcept { return value_.exchange(v, std::memory_order_acq_rel); }
  T exchange_relaxed(T v) noexcept { return value_.exchange(v, std::memory_order_relaxed); }

  // On failure `expected` receives the current value (ordering on failure: relaxed or acquire).
  bool cas_weak_release(T& expected, T desired) noexcept {
    return value_.compare_exchange_weak(expected, desired, std::memory_order_release,
                                        std::memory_order_relaxed);
  }
  bool cas_weak_acquire(T& expected, T desired) noexcept {
    return value_.compare_exchange_weak(expected, desired, std::memory_order_acquire,
                                        std::memory_order_acquire);
  }
  bool cas_weak_acq_rel(T& expected, T desired) noexcept {
    return value_.compare_exchange_weak(expected, desired, std::memory_order_acq_rel,
                                        std::memory_order_acquire);
  }
  bool cas_strong_acq_rel(T& expected, T desired) noexcept {
    return value_.compare_exchange_strong(expected, desired, std::memory_order_acq_rel,
                                          std::memory_order_acquire);
  }

  // Read-modify-write counters for slow paths only (the fast path uses none).
  T fetch_add_relaxed(T v) noexcept { return value_.fetch_add(v, std::memory_order_relaxed); }
  T fetch_sub_relaxed(T v) noexcept { return value_.fetch_sub(v, std::memory_order_relaxed); }
  T fetch_add_acq_rel(T v) noexcept { return value_.fetch_add(v, std::memory_order_acq_rel); }
  // Bit sets and clears of a word other threads change too: one locked instruction where a CAS
  // loop would retry (x86: lock or; lock btr when the caller tests the one bit it clears).
  T fetch_or_acq_rel(T v) noexcept { return value_.fetch_or(v, std::memory_order_acq_rel); }
  T fetch_and_acq_rel(T v) noexcept { return value_.fetch_and(v, std::memory_order_acq_rel); }

  // A counter bumped by its one writer and read by any thread: a plain load and store, no RMW.
  void add_single_writer(T v) noexcept { store_relaxed(load_relaxed() + v); }

private:
  std::atomic<T> value_;
};

// Orders every load and store before it ahead of every store after it (x86: a compiler barrier
// only; AArch64: dmb ish). For a writer whose plain stores must reach memory in program order.
inline void fence_release() noexcept {
  std::atomic_thread_fence(std::memory_order_release);
}

// A full fence (x86: mfence): a store before it is visible to every thread before any load after
// it reads memory. The two sides of a store-buffering handshake each need one (or an RMW).
inline void fence_seq_cst() noexcept {
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

// Keeps the compiler from moving loads and stores across it; the CPU still may. Alone it orders
// nothing between threads: pal/asymmetric_fence.h pairs it with a fence the kernel runs on every
// CPU of the process.
inline void compiler_fence() noexcept {
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

} // namespace hoardlab::core
