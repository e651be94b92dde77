// The blowup test (Hoard §2.2, §4): a phased producer-consumer workload, where producers
// allocate and consumers free, is the pattern that makes pure private heaps grow without bound.
// Sampled during the run, held memory must stay within
//   A <= sum_i max(u_i + (K + C_i)*S, u_i/(1-f) + C_i*S) + pool + T*C + pending,
// where C_i counts the classes with a partly used superblock in heap i (H3's per-class
// allowance; the superblock a heap takes when all of a class's are full is among them) and u_i
// counts blocks in thread caches and remote lists too (they are the T*C and pending terms); and
// the memory carved for superblocks must not grow from phase to phase.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "config/options.h"
#include "hoardlab/hoardlab.h"
#include "mem/stats.h"
#include "test_util.h"

namespace {

using hoardlab::test::Rng;

struct Violation {
  const char* what = "";
  std::uint64_t held = 0;
  std::uint64_t bound = 0;
};

TEST(Blowup, HeldMemoryStaysWithinHoardsBoundUnderPhasedProducerConsumer) {
  constexpr int kPairs = 3;
  constexpr int kPhases = 12;
  constexpr int kPerPhase = 30000;
  std::atomic<bool> stop{false};
  std::atomic<long> samples{0};
  std::mutex m;
  std::vector<Violation> violations;
  const auto& o = hoardlab::config::options();

  std::thread sampler([&] {
    while (!stop.load()) {
      hoardlab::mem::BoundSample b = hoardlab::mem::sample_bound();
      // Per heap (one consistent reading): a_i within the heap part of the bound.
      if (b.held > b.bound) {
        std::lock_guard<std::mutex> g(m);
        violations.push_back({"heaps", b.held, b.bound});
      }
      samples.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });

  // At quiescent points (no thread allocating) the whole allocator is read consistently:
  // A = heaps + pool <= sum_i max(u_i + (K + C_i)*S, u_i/(1-f) + C_i*S) + pool + T*C + pending.
  auto check_whole = [&](const char* when) {
    hoardlab::mem::BoundSample b = hoardlab::mem::sample_bound();
    hoardlab::mem::TotalStats t{};
    hoardlab::mem::stats_total(&t);
    std::uint64_t threads = 2 * kPairs + 2;
    std::uint64_t held = b.held + t.pool_bytes;
    std::uint64_t whole = b.bound + t.pool_bytes + threads * o.cache_bytes + t.pending_bytes;
    if (held > whole) {
      std::lock_guard<std::mutex> g(m);
      violations.push_back({when, held, whole});
    }
  };
  // Held memory falls when empty superblocks are released to their arenas and rises again when
  // the next phase carves them, as the purge delay falls; carved memory (os_bytes_mapped: held,
  // pooled or released, no large objects here) is what would grow without reuse.
  std::vector<std::uint64_t> carved_after_phase;
  for (int phase = 0; phase < kPhases; ++phase) {
    // Each phase: producers fill a batch, consumers (other threads) free all of it.
    std::vector<std::vector<void*>> batches(kPairs);
    std::vector<std::thread> producers;
    for (int i = 0; i < kPairs; ++i)
      producers.emplace_back([&, i] {
        Rng r(static_cast<std::uint64_t>(phase * 100 + i));
        batches[i].reserve(kPerPhase);
        for (int k = 0; k < kPerPhase; ++k) {
          // Sizes change with the phase, so superblocks must move between classes.
          std::size_t n = 16 + ((phase % 3) * 200) + r.below(64);
          void* p = hl_malloc(n);
          static_cast<char*>(p)[0] = 1;
          batches[i].push_back(p);
        }
      });
    for (auto& t : producers)
      t.join();
    check_whole("after producers");
    std::vector<std::thread> consumers;
    for (int i = 0; i < kPairs; ++i)
      consumers.emplace_back([&, i] {
        for (void* p : batches[(i + 1) % kPairs])
          hl_free(p);
      });
    for (auto& t : consumers)
      t.join();
    check_whole("after consumers");
    hl_stats s{};
    hl_stats_get(&s);
    carved_after_phase.push_back(s.os_bytes_mapped);
  }
  stop.store(true);
  sampler.join();

  EXPECT_GT(samples.load(), 0);
  for (const Violation& v : violations)
    ADD_FAILURE() << v.what << ": held " << v.held << " > bound " << v.bound;
  EXPECT_EQ(hl_check_invariants(), 0);
  // No growth from phase to phase: what consumers freed is reused by the next producers.
  std::uint64_t first =
      carved_after_phase[2] > carved_after_phase[0] ? carved_after_phase[2] : carved_after_phase[0];
  EXPECT_LE(carved_after_phase.back(), 2 * first + (8u << 20))
      << "first " << carved_after_phase[0] << " last " << carved_after_phase.back();
}

} // namespace
