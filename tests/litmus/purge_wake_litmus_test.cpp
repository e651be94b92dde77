// Litmus test of the purge thread's wake-up (lib/mem/purge_thread.h, [PW1]/[PW2]): the
// sequence word's two sides as the thread and its producers run them (announce,
// work_then_sleep) over pal's futex wait and wake, with a one-slot mailbox in place of the
// thread's queue (the queue is Boost's; what is under test is the word's protocol around it).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

#include "core/atomic.h"
#include "litmus.h"
#include "mem/purge_thread.h"

namespace hoardlab::mem::purge_thread {
namespace {

// [PW1]/[PW2] (message passing, then a futex compare): the sleeper loads the word (acquire),
// looks in the mailbox, and sleeps while the word still holds what it loaded; a producer fills
// the mailbox, then increments the word (acq_rel) and wakes. Forbidden: the sleeper found the
// mailbox empty and then slept through the producer's post (its wait ran to the timeout).
//
// The sleeper spins for a varied while after finding the mailbox empty (0 to about 1,000
// pauses, by round), so that in some rounds the post lands between its look and its sleep: the
// order mistake of loading the word after the look instead of before it then sleeps through
// the post: with the load moved after the look, 57 and 45 of the first 63 rounds slept through
// it (two runs that went on after a violation), and the test now stops at the first. It had a
// copy of the sleeper's loop of its own once, so that such a mistake made in the thread's loop
// went unseen (and in that copy, the window without the spin was a few instructions wide: not
// caught in 6 s).
TEST(PurgeWake, ASleeperNeverSleepsThroughAPost) {
  constexpr std::uint64_t kTimeoutMs = 2000; // a lost wake-up costs this much; none is allowed
  core::Atomic<std::uint32_t> word{0};
  std::atomic<long> mailbox{0};
  long round = 0;
  bool bad = false;
  bool failed = false; // after a violation the rounds left run empty: each would sleep 2 s
  litmus::Budget limit = litmus::budget();
  if (limit.rounds > 20000) limit.rounds = 20000; // a round is a futex call or two
  litmus::Outcome out = litmus::run(
      [&] {
        ++round;
        bad = false;
      },
      [&] {
        mailbox.store(round, std::memory_order_relaxed); // the queue push
        announce(word);                                  // [PW1]
      },
      [&] {
        while (!failed) {
          bool got = false;
          const auto start = std::chrono::steady_clock::now();
          work_then_sleep(word, [&]() -> std::uint64_t { // [PW2]
            if (mailbox.load(std::memory_order_relaxed) == round) {
              got = true;
              return 0;
            }
            litmus::spin(static_cast<unsigned>((round * 37) & 1023)); // a post may land here
            return kTimeoutMs;
          });
          if (got) return;
          if (std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(kTimeoutMs)) {
            bad = true; // slept through the post
            return;
          }
        }
      },
      [&] {
        failed = failed || bad;
        return bad;
      },
      limit);
  EXPECT_EQ(out.violations, 0) << "of " << out.rounds << " rounds";
  EXPECT_GT(out.rounds, 0);
}

} // namespace
} // namespace hoardlab::mem::purge_thread
