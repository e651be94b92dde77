// shbench (after MicroQuill's SmartHeap benchmarks sh6bench/sh8bench, as described in
// mimalloc-bench): each thread allocates batches of blocks of mixed sizes (mostly small) and
// frees them in changing orders: part of each batch last-allocated-first-freed, part
// first-allocated-first-freed, and part kept until the next batch, so free lists are pushed and
// popped in orders other than LIFO. With --cross 1 (the sh8bench variant) each thread frees the
// kept part of its neighbour's batch instead of its own, adding cross-thread frees.
// ops = blocks allocated and freed.
#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "bench/common/bench_common.h"

using namespace hoardlab::bench;

namespace {
// A batch's kept blocks, parked for the neighbour (sh8bench variant). `full` hands the slot
// over: the owner fills it and sets full (release); the neighbour frees the blocks and clears it.
struct Parking {
  std::vector<Block> blocks;
  std::atomic<bool> full{false};
};
} // namespace

int main(int argc, char** argv) {
  Flags flags("shbench", "SmartHeap-style batches of mixed sizes freed in LIFO, FIFO and "
                         "deferred orders.");
  Common c;
  c.iterations = 12000;
  c.min_size = 1;
  c.max_size = 1000;
  uint64_t batch = 300;
  uint64_t cross = 0;
  add_common(flags, c, kUseIterations | kUseSizes);
  flags.add_u64("batch", &batch, "blocks per batch", 3, 1ULL << 24);
  flags.add_u64("cross", &cross, "1: kept blocks are freed by the next thread (sh8bench)", 0, 1);
  flags.set_quick([&] { c.iterations = 100; });
  flags.parse(argc, argv);
  finish_common(flags, c, kUseIterations | kUseSizes);

  std::vector<Parking> parking(c.threads);
  std::vector<LiveBytes> live(c.threads);
  const bool pass_on = cross == 1 && c.threads > 1;
  double elapsed = run_threads(c.threads, [&](uint64_t t) {
    Rng rng(c.seed, t);
    std::vector<Block> cur(batch), kept;
    kept.reserve(batch);
    uint64_t seq = 0;
    Parking& mine = parking[t];
    Parking& next = parking[(t + 1) % c.threads];
    mine.blocks.reserve(batch);
    // The blocks this thread parked count as its own until it sees the neighbour took them.
    uint64_t parked_bytes = 0;
    LiveBytes& held = live[t];
    for (uint64_t it = 0; it < c.iterations; ++it) {
      for (Block& b : cur) {
        // Mostly small: sizes are log-uniform, as in the SmartHeap mixes.
        b.size = rng.log_uniform(c.min_size, c.max_size);
        b.tag = make_tag(t, seq++);
        b.p = checked_malloc("shbench", b.size);
        pattern_fill(b.p, b.size, b.tag);
        held.add(b.size);
      }
      // Previously kept blocks go now (this thread's, or the neighbour's in the cross variant).
      for (Block& b : kept) {
        pattern_verify("shbench", b.p, b.size, b.tag);
        std::free(b.p);
        held.sub(b.size);
      }
      kept.clear();
      if (pass_on && next.full.load(std::memory_order_acquire)) {
        for (Block& b : next.blocks) {
          pattern_verify("shbench", b.p, b.size, b.tag);
          std::free(b.p);
        }
        next.blocks.clear();
        next.full.store(false, std::memory_order_release);
      }
      const uint64_t third = batch / 3;
      for (uint64_t i = third; i-- > 0;) { // the first third, newest first (LIFO)
        pattern_verify("shbench", cur[i].p, cur[i].size, cur[i].tag);
        std::free(cur[i].p);
        held.sub(cur[i].size);
      }
      for (uint64_t i = 2 * third; i < batch; ++i) { // the last third, oldest first (FIFO)
        pattern_verify("shbench", cur[i].p, cur[i].size, cur[i].tag);
        std::free(cur[i].p);
        held.sub(cur[i].size);
      }
      // The middle third lives until the next batch, or goes to the neighbour.
      if (pass_on && !mine.full.load(std::memory_order_acquire)) {
        held.sub(parked_bytes); // the neighbour freed the last parked batch
        parked_bytes = 0;
        mine.blocks.assign(cur.begin() + third, cur.begin() + 2 * third);
        for (const Block& b : mine.blocks)
          parked_bytes += b.size;
        mine.full.store(true, std::memory_order_release);
      } else {
        kept.assign(cur.begin() + third, cur.begin() + 2 * third);
      }
    }
    for (Block& b : kept) {
      pattern_verify("shbench", b.p, b.size, b.tag);
      std::free(b.p);
    }
  });
  for (Parking& p : parking)
    for (Block& b : p.blocks) {
      pattern_verify("shbench", b.p, b.size, b.tag);
      std::free(b.p);
    }

  Result r;
  r.elapsed_s = elapsed;
  r.ops = c.threads * c.iterations * batch;
  uint64_t live_peak = 0;
  for (const LiveBytes& l : live)
    live_peak += l.peak;
  r.extra_json = live_peak_json(live_peak);
  print_result(flags, c, r);
  return 0;
}
