// xmalloc (Lever & Boreham, "malloc() performance in a multithreaded Linux environment",
// USENIX 2000; as in mimalloc-bench): producer–consumer. Threads form a ring; thread i
// allocates blocks and passes them to thread i+1, which verifies and frees them, so nearly every
// free is a remote free. It stresses the allocator's cross-thread free path and whether memory
// freed far from its owner finds its way back. Blocks travel through Boost.Lockfree
// single-producer/single-consumer queues whose storage is allocated before the timed region,
// so the hand-over itself never calls the allocator under test. ops = blocks allocated and freed.
#include <boost/lockfree/spsc_queue.hpp>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "bench/common/bench_common.h"

using namespace hoardlab::bench;

namespace {
struct Item {
  void* p;
  uint64_t size;
  uint64_t tag;
};
using Queue = boost::lockfree::spsc_queue<Item>;
} // namespace

int main(int argc, char** argv) {
  Flags flags("xmalloc", "Producer-consumer ring: each thread allocates blocks that the next "
                         "thread frees.");
  Common c;
  c.iterations = 6000000;
  c.min_size = 8;
  c.max_size = 512;
  uint64_t queue_size = 4096;
  uint64_t batch = 64;
  add_common(flags, c, kUseIterations | kUseSizes);
  flags.add_u64("queue", &queue_size, "capacity of each hand-over queue (blocks)", 2, 1ULL << 24);
  flags.add_u64("batch", &batch, "blocks allocated before the thread turns to freeing", 1,
                1ULL << 20);
  flags.set_quick([&] { c.iterations = 50000; });
  flags.parse(argc, argv);
  finish_common(flags, c, kUseIterations | kUseSizes);
  // --iterations is the total number of blocks, split among the producers.
  const uint64_t per_thread = std::max<uint64_t>(1, c.iterations / c.threads);

  std::vector<std::unique_ptr<Queue>> queues;
  for (uint64_t t = 0; t < c.threads; ++t)
    queues.push_back(std::make_unique<Queue>(queue_size));
  std::unique_ptr<std::atomic<bool>[]> done(new std::atomic<bool>[c.threads]);
  for (uint64_t t = 0; t < c.threads; ++t)
    done[t].store(false);

  double elapsed = run_threads(c.threads, [&](uint64_t t) {
    Rng rng(c.seed, t);
    Queue& out = *queues[t];
    const uint64_t from = (t + c.threads - 1) % c.threads;
    Queue& in = *queues[from];
    uint64_t produced = 0;
    bool announced = false;
    for (;;) {
      bool progress = false;
      for (uint64_t b = 0; b < batch && produced < per_thread; ++b) {
        Item item{nullptr, rng.uniform(c.min_size, c.max_size), make_tag(t, produced)};
        if (out.write_available() == 0) break;
        item.p = checked_malloc("xmalloc", item.size);
        pattern_fill(item.p, item.size, item.tag);
        out.push(item);
        ++produced;
        progress = true;
      }
      if (produced == per_thread && !announced) {
        done[t].store(true, std::memory_order_release);
        announced = true;
      }
      Item item;
      for (uint64_t b = 0; b < batch && in.pop(item); ++b) {
        pattern_verify("xmalloc", item.p, item.size, item.tag);
        std::free(item.p);
        progress = true;
      }
      // The producer's flag is read before the queue, so "done and empty" means drained.
      if (announced && done[from].load(std::memory_order_acquire) && in.read_available() == 0)
        break;
      if (!progress) std::this_thread::yield();
    }
  });

  Result r;
  r.elapsed_s = elapsed;
  r.ops = per_thread * c.threads;
  print_result(flags, c, r);
  return 0;
}
