// rptest (after rpmalloc's benchmark, as described in mimalloc-bench): each thread keeps a
// retained working set of blocks of random sizes; a step replaces a random member (frees it,
// allocates a new one), and every --cross-every steps the replaced block is sent to the next
// thread to free instead, through a Boost.Lockfree SPSC queue allocated before the timed
// region. It stresses a working set that persists across the whole run, random sizes over a
// wide range, and a steady trickle of cross-thread frees. ops = blocks allocated.
#include <boost/lockfree/spsc_queue.hpp>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "bench/common/bench_common.h"

using namespace hoardlab::bench;

using Queue = boost::lockfree::spsc_queue<void*>;

int main(int argc, char** argv) {
  Flags flags("rptest", "Retained working sets of random sizes, random replacement, a share "
                        "of blocks freed by another thread.");
  Common c;
  c.iterations = 3000000;
  c.min_size = 16;
  c.max_size = 8192;
  uint64_t working_set = 4000;
  uint64_t cross_every = 8;
  uint64_t queue_size = 1 << 14;
  add_common(flags, c, kUseIterations | kUseSizes);
  flags.add_u64("working-set", &working_set, "blocks each thread retains", 1, 1ULL << 26);
  flags.add_u64("cross-every", &cross_every,
                "one replaced block in this many goes to another thread (0: none)", 0, 1ULL << 32);
  flags.add_u64("queue", &queue_size, "capacity of each hand-over queue", 2, 1ULL << 26);
  flags.set_quick([&] {
    c.iterations = 20000;
    working_set = 500;
  });
  flags.parse(argc, argv);
  finish_common(flags, c, kUseIterations | kUseSizes);
  if (c.min_size < kSelfDescribingMin)
    flags.usage_error("--min-size must be at least 16 (blocks carry their size and tag)");

  std::vector<std::unique_ptr<Queue>> inbox;
  for (uint64_t t = 0; t < c.threads; ++t)
    inbox.push_back(std::make_unique<Queue>(queue_size));
  std::unique_ptr<std::atomic<bool>[]> done(new std::atomic<bool>[c.threads]);
  for (uint64_t t = 0; t < c.threads; ++t)
    done[t].store(false);
  const bool cross = cross_every != 0 && c.threads > 1;

  double elapsed = run_threads(c.threads, [&](uint64_t t) {
    Rng rng(c.seed, t);
    std::vector<void*> set(working_set);
    uint64_t seq = 0;
    for (void*& p : set)
      p = self_describing_alloc("rptest", rng.log_uniform(c.min_size, c.max_size),
                                make_tag(t, seq++));
    Queue& out = *inbox[(t + 1) % c.threads];
    Queue& in = *inbox[t];
    for (uint64_t i = 0; i < c.iterations; ++i) {
      void*& slot = set[rng.uniform(0, working_set - 1)];
      const bool handed_over = cross && i % cross_every == 0 && out.push(slot);
      if (!handed_over) self_describing_free("rptest", slot);
      slot = self_describing_alloc("rptest", rng.log_uniform(c.min_size, c.max_size),
                                   make_tag(t, seq++));
      if ((i & 15) == 0) in.consume_all([](void* p) { self_describing_free("rptest", p); });
    }
    for (void* p : set)
      self_describing_free("rptest", p);
    // Drain until the thread that feeds this inbox has finished.
    const uint64_t from = (t + c.threads - 1) % c.threads;
    done[t].store(true, std::memory_order_release);
    while (!done[from].load(std::memory_order_acquire) || in.read_available() != 0) {
      if (in.consume_all([](void* p) { self_describing_free("rptest", p); }) == 0)
        std::this_thread::yield();
    }
  });

  Result r;
  r.elapsed_s = elapsed;
  r.ops = c.threads * (c.iterations + working_set);
  print_result(flags, c, r);
  return 0;
}
