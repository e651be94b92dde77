// Two threads in lockstep rounds, for litmus tests: each round, the main thread sets the state
// up, both sides run at once, and the main thread checks the outcome. Layer: tests.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

namespace hoardlab::litmus {

// How long a litmus test may run: HOARDLAB_LITMUS_ROUNDS rounds (default 200,000), stopping early
// after HOARDLAB_LITMUS_SECONDS (default 5; sanitizer builds run fewer rounds in that time).
struct Budget {
  long rounds = 200000;
  double seconds = 5.0;
};

inline Budget budget() {
  Budget b;
  if (const char* r = std::getenv("HOARDLAB_LITMUS_ROUNDS")) b.rounds = std::atol(r);
  if (const char* s = std::getenv("HOARDLAB_LITMUS_SECONDS")) b.seconds = std::atof(s);
  return b;
}

struct Outcome {
  long rounds = 0;     // rounds run
  long violations = 0; // rounds whose outcome the protocol forbids
};

// Spins for about n pause instructions.
inline void spin(unsigned n) {
  for (unsigned i = 0; i < n; ++i) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
  }
}

// Runs rounds of setup(); {a() on this thread, b() on another, at once}; violated(). The rounds
// are released by a counter the other side spins on; this side then waits a few pauses more,
// varied from round to round (0-63), since the other side sees the release only after the cache
// line travels: over the rounds, some start the two sides within a few cycles of each other,
// which is what a store-buffering race needs to show.
template <class Setup, class A, class B, class Violated>
Outcome run(Setup setup, A a, B b, Violated violated, Budget limit = budget()) {
  std::atomic<long> go{0};
  std::atomic<long> done{0};
  std::thread other([&] {
    for (long i = 1;; ++i) {
      long g;
      while ((g = go.load(std::memory_order_acquire)) != i)
        if (g < 0) return;
      b();
      done.store(i, std::memory_order_release);
    }
  });
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(limit.seconds);
  Outcome out;
  for (long i = 1; i <= limit.rounds; ++i) {
    if ((i & 63) == 0 && std::chrono::steady_clock::now() > deadline) break;
    setup();
    go.store(i, std::memory_order_release);
    spin(static_cast<unsigned>((i * 37) & 63));
    a();
    while (done.load(std::memory_order_acquire) != i) {
    }
    ++out.rounds;
    if (violated()) ++out.violations;
  }
  go.store(-1, std::memory_order_release);
  other.join();
  return out;
}

} // namespace hoardlab::litmus
