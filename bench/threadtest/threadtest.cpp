// threadtest (Hoard, ASPLOS 2000 §5): each of T threads repeatedly allocates its share of N
// objects and then frees them all, with no sharing between threads. It measures how the
// allocator's speed scales when threads allocate independently: a single lock or shared
// counters in the allocator shows up as throughput that falls with T.
#include <cstdlib>
#include <vector>

#include "bench/common/bench_common.h"

using namespace hoardlab::bench;

int main(int argc, char** argv) {
  Flags flags("threadtest", "Hoard's threadtest: threads allocate and free their share of "
                            "N objects, many rounds, no sharing.");
  Common c;
  c.iterations = 1500;
  c.min_size = 8;
  c.max_size = 8;
  uint64_t objects = 40000;
  add_common(flags, c, kUseIterations | kUseSizes);
  flags.add_u64("objects", &objects, "objects per round, divided among the threads", 1, 1ULL << 32);
  flags.set_quick([&] {
    c.iterations = 20;
    objects = 4000;
  });
  flags.parse(argc, argv);
  finish_common(flags, c, kUseIterations | kUseSizes);

  const uint64_t per_thread = objects / c.threads > 0 ? objects / c.threads : 1;
  std::vector<LiveBytes> live(c.threads);
  double elapsed = run_threads(c.threads, [&](uint64_t t) {
    Rng rng(c.seed, t);
    std::vector<void*> blocks(per_thread);
    std::vector<uint32_t> sizes(per_thread);
    uint64_t seq = 0;
    for (uint64_t it = 0; it < c.iterations; ++it) {
      uint64_t first_tag = make_tag(t, seq);
      for (uint64_t i = 0; i < per_thread; ++i) {
        size_t n = rng.uniform(c.min_size, c.max_size);
        void* p = checked_malloc("threadtest", n);
        pattern_fill(p, n, first_tag + i);
        blocks[i] = p;
        sizes[i] = static_cast<uint32_t>(n);
        live[t].add(n);
      }
      for (uint64_t i = 0; i < per_thread; ++i) {
        pattern_verify("threadtest", blocks[i], sizes[i], first_tag + i);
        std::free(blocks[i]);
        live[t].sub(sizes[i]);
      }
      seq += per_thread;
      clobber_memory();
    }
  });
  Result r;
  r.elapsed_s = elapsed;
  r.ops = per_thread * c.threads * c.iterations;
  uint64_t live_peak = 0;
  for (const LiveBytes& l : live)
    live_peak += l.peak;
  r.extra_json = live_peak_json(live_peak);
  print_result(flags, c, r);
  return 0;
}
