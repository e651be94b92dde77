// Litmus test of the purge thread's wake-up (lib/mem/purge_thread.cpp, [PW1]/[PW2]): the
// sequence word and pal's futex wait and wake, with a one-slot mailbox in place of the thread's
// queue (the queue is Boost's; what is under test is the word's protocol around it).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

#include "core/atomic.h"
#include "litmus.h"
#include "pal/pal.h"

namespace hoardlab::pal {
namespace {

// [PW1]/[PW2] (message passing, then a futex compare): the sleeper loads the word (acquire),
// looks in the mailbox, and sleeps while the word still holds what it loaded; a producer fills
// the mailbox, then increments the word (acq_rel) and wakes. Forbidden: the sleeper found the
// mailbox empty and then slept through the producer's post (its wait ran to the timeout), or
// woke with the mailbox still empty for this round.
TEST(PurgeWake, ASleeperNeverSleepsThroughAPost) {
  constexpr std::uint64_t kTimeoutMs = 2000; // a lost wake-up costs this much; none is allowed
  core::Atomic<std::uint32_t> word{0};
  std::atomic<long> mailbox{0};
  long round = 0;
  bool bad = false;
  litmus::Budget limit = litmus::budget();
  if (limit.rounds > 20000) limit.rounds = 20000; // a round is a futex call or two
  litmus::Outcome out = litmus::run(
      [&] {
        ++round;
        bad = false;
      },
      [&] {
        mailbox.store(round, std::memory_order_relaxed); // the queue push
        word.fetch_add_acq_rel(1);                       // [PW1]
        wake_all(word);
      },
      [&] {
        for (;;) {
          const std::uint32_t seen = word.load_acquire(); // [PW2]
          if (mailbox.load(std::memory_order_relaxed) == round) return;
          const auto start = std::chrono::steady_clock::now();
          wait_while(word, seen, kTimeoutMs);
          if (std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(kTimeoutMs)) {
            bad = true; // slept through the post
            return;
          }
        }
      },
      [&] { return bad; }, limit);
  EXPECT_EQ(out.violations, 0) << "of " << out.rounds << " rounds";
  EXPECT_GT(out.rounds, 0);
}

} // namespace
} // namespace hoardlab::pal
