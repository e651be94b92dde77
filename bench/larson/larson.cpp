// larson (Larson & Krishnan, "Memory allocation for long-running server applications",
// ISMM 1998): a server simulation. Each of T lanes owns an array of slots holding live blocks;
// a step frees a random slot's block and puts a new block of random size in its place. After
// a fixed number of steps the lane's thread hands the array to a fresh thread and exits, so
// blocks are freed by threads other than the ones that allocated them, and thread-exit paths
// run all the time. It stresses cross-thread frees, a long-lived working set and the cost of
// thread creation and exit in the allocator. Runs for --seconds; ops = replacement steps.
#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "bench/common/bench_common.h"

using namespace hoardlab::bench;

namespace {
struct Slot {
  void* p;
  uint32_t size;
  uint64_t tag;
};
struct Lane {
  std::vector<Slot> slots;
  uint64_t seq = 0;
  uint64_t steps = 0;
  uint64_t generations = 0;
  LiveBytes live;
};
} // namespace

int main(int argc, char** argv) {
  Flags flags("larson", "Larson & Krishnan's server simulation: random replacement of live "
                        "blocks, the arrays handed to fresh threads every round.");
  Common c;
  c.seconds = 1.5;
  c.min_size = 8;
  c.max_size = 1000;
  uint64_t slots = 1000;
  uint64_t rounds = 10000;
  add_common(flags, c, kUseSeconds | kUseSizes);
  flags.add_u64("slots", &slots, "live blocks per lane (Larson's 'chunks')", 1, 1ULL << 26);
  flags.add_u64("rounds", &rounds, "replacement steps before a lane moves to a new thread", 1,
                1ULL << 40);
  flags.set_quick([&] {
    c.seconds = 0.1;
    slots = 200;
    rounds = 2000;
  });
  flags.parse(argc, argv);
  finish_common(flags, c, kUseSeconds | kUseSizes);

  std::vector<Lane> lanes(c.threads);
  for (uint64_t t = 0; t < c.threads; ++t) {
    Rng rng(c.seed, 1000 + t);
    Lane& lane = lanes[t];
    lane.slots.resize(slots);
    for (Slot& s : lane.slots) {
      s.size = static_cast<uint32_t>(rng.uniform(c.min_size, c.max_size));
      s.tag = make_tag(t, lane.seq++);
      s.p = checked_malloc("larson", s.size);
      pattern_fill(s.p, s.size, s.tag);
      lane.live.add(s.size);
    }
  }

  std::atomic<bool> stop{false};
  const double seconds = c.seconds;
  std::thread timer;
  double elapsed = run_threads(c.threads, [&](uint64_t t) {
    if (t == 0)
      timer = std::thread([&] {
        Stopwatch w;
        while (w.seconds() < seconds)
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        stop.store(true, std::memory_order_release);
      });
    Lane& lane = lanes[t];
    // Each generation runs on its own thread; this one only starts and joins them.
    while (!stop.load(std::memory_order_acquire)) {
      std::thread worker([&, t] {
        Rng rng(c.seed, (t << 32) + lane.generations);
        for (uint64_t i = 0; i < rounds; ++i) {
          Slot& s = lane.slots[rng.uniform(0, lane.slots.size() - 1)];
          pattern_verify("larson", s.p, s.size, s.tag);
          std::free(s.p);
          lane.live.sub(s.size);
          s.size = static_cast<uint32_t>(rng.uniform(c.min_size, c.max_size));
          s.tag = make_tag(t, lane.seq++);
          s.p = checked_malloc("larson", s.size);
          lane.live.add(s.size);
          pattern_fill(s.p, s.size, s.tag);
          if ((i & 255) == 255 && stop.load(std::memory_order_relaxed)) {
            lane.steps += i + 1;
            return;
          }
        }
        lane.steps += rounds;
      });
      worker.join();
      ++lane.generations;
    }
  });
  timer.join();

  Result r;
  r.elapsed_s = elapsed;
  uint64_t generations = 0, live_peak = 0;
  for (Lane& lane : lanes) {
    r.ops += lane.steps;
    live_peak += lane.live.peak;
    generations += lane.generations;
    for (Slot& s : lane.slots) {
      pattern_verify("larson", s.p, s.size, s.tag);
      std::free(s.p);
    }
  }
  r.extra_json =
      "\"threads_created\":" + std::to_string(generations) + "," + live_peak_json(live_peak);
  print_result(flags, c, r);
  return 0;
}
