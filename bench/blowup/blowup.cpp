// blowup (Hoard, ASPLOS 2000 §2 and §3.1): the phased producer–consumer pattern that Hoard's
// bound A(t) = O(U(t) + P) is about. In each round every thread allocates --round-bytes of
// blocks; after a barrier each thread frees the blocks its neighbour allocated; after another
// barrier the next round starts. The live data never exceeds one round's bytes, so an
// allocator whose freed memory stays with the freeing thread (pure private heaps) needs new
// memory every round and its footprint grows with the rounds, while an allocator that returns
// blocks to their owner (or bounds what a thread may hoard) stays flat.
// Reports live_peak_bytes beside peak_rss_kib, so blowup = peak RSS / live peak; rss_before_kib
// is the resident size before the first round (program image and libraries).
// ops = blocks allocated.
#include <barrier>
#include <cinttypes>
#include <cstdlib>
#include <vector>

#include "bench/common/bench_common.h"

using namespace hoardlab::bench;

namespace {} // namespace

int main(int argc, char** argv) {
  Flags flags("blowup", "Phased producer-consumer: each round, threads allocate and their "
                        "neighbours free; peak RSS against peak live bytes.");
  Common c;
  c.iterations = 200; // rounds
  c.min_size = 16;
  c.max_size = 512;
  uint64_t round_bytes = 8ULL << 20;
  add_common(flags, c, kUseIterations | kUseSizes);
  flags.add_u64("round-bytes", &round_bytes, "bytes all threads together allocate per round", 1,
                1ULL << 40);
  flags.set_quick([&] {
    c.iterations = 5;
    round_bytes = 1ULL << 20;
  });
  flags.parse(argc, argv);
  finish_common(flags, c, kUseIterations | kUseSizes);

  const uint64_t rss_before = current_rss_kib();
  const uint64_t per_thread_bytes = std::max<uint64_t>(1, round_bytes / c.threads);
  // Each thread's blocks of the current round; the neighbour frees them after the barrier.
  // Reserved before the run: the bookkeeping must not add to the footprint being measured.
  const uint64_t max_blocks = per_thread_bytes / c.min_size + 1;
  std::vector<std::vector<Block>> produced(c.threads);
  for (auto& v : produced)
    v.reserve(max_blocks);
  std::vector<uint64_t> live(c.threads, 0);
  uint64_t live_peak = 0;
  std::vector<uint64_t> count(c.threads, 0);
  // The completion step runs once per phase, with every thread stopped: the sum of the
  // threads' live bytes there is exact.
  std::barrier sync(static_cast<std::ptrdiff_t>(c.threads), [&]() noexcept {
    uint64_t sum = 0;
    for (uint64_t v : live)
      sum += v;
    if (sum > live_peak) live_peak = sum;
  });

  double elapsed = run_threads(c.threads, [&](uint64_t t) {
    Rng rng(c.seed, t);
    uint64_t seq = 0;
    for (uint64_t round = 0; round < c.iterations; ++round) {
      std::vector<Block>& mine = produced[t];
      uint64_t bytes = 0;
      while (bytes < per_thread_bytes && mine.size() < max_blocks) {
        Block b{nullptr, rng.uniform(c.min_size, c.max_size), make_tag(t, seq++)};
        b.p = checked_malloc("blowup", b.size);
        pattern_fill(b.p, b.size, b.tag);
        bytes += b.size;
        mine.push_back(b);
      }
      live[t] = bytes;
      count[t] += mine.size();
      sync.arrive_and_wait();
      std::vector<Block>& theirs = produced[(t + 1) % c.threads];
      for (Block& b : theirs) {
        pattern_verify("blowup", b.p, b.size, b.tag);
        std::free(b.p);
      }
      theirs.clear();
      live[(t + 1) % c.threads] = 0;
      sync.arrive_and_wait();
    }
  });

  Result r;
  r.elapsed_s = elapsed;
  for (uint64_t n : count)
    r.ops += n;
  char extra[160];
  std::snprintf(extra, sizeof extra, "\"live_peak_bytes\":%" PRIu64 ",\"rss_before_kib\":%" PRIu64,
                live_peak, rss_before);
  r.extra_json = extra;
  print_result(flags, c, r);
  return 0;
}
