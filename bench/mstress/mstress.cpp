// mstress (after mimalloc-bench's mstress): server-like allocation with objects that migrate
// between threads and some that live long. Threads share a table of slots; a step allocates a
// block (size a power of two times a small factor, mostly small, now and then large) and
// exchanges it into a random slot, freeing whatever was there: usually a block allocated by
// another thread. Each thread also keeps a private set of short-lived blocks that it frees in
// bursts. The threads are stopped and new ones started every round, and thread i does
// (1 + i % 3) / 2 times the base work, so the load is uneven as in real servers.
// ops = blocks allocated (and, by the end, freed).
#include <atomic>
#include <cstdlib>
#include <vector>

#include "bench/common/bench_common.h"

using namespace hoardlab::bench;

int main(int argc, char** argv) {
  Flags flags("mstress", "Mixed sizes, blocks that migrate between threads through a shared "
                         "table, long- and short-lived, uneven threads restarted each round.");
  Common c;
  c.iterations = 50; // rounds
  c.min_size = 16;
  c.max_size = 1 << 17;
  uint64_t steps = 40000;
  uint64_t table = 20000;
  uint64_t local = 200;
  add_common(flags, c, kUseIterations | kUseSizes);
  flags.add_u64("steps", &steps, "allocations per thread per round (base, before unevenness)", 1,
                1ULL << 40);
  flags.add_u64("table", &table, "shared slots (long-lived, migrating blocks)", 1, 1ULL << 26);
  flags.add_u64("local", &local, "short-lived blocks a thread holds before freeing them all", 1,
                1ULL << 20);
  flags.set_quick([&] {
    c.iterations = 2;
    steps = 3000;
    table = 1000;
  });
  flags.parse(argc, argv);
  finish_common(flags, c, kUseIterations | kUseSizes);
  if (c.min_size < kSelfDescribingMin)
    flags.usage_error("--min-size must be at least 16 (blocks carry their size and tag)");

  std::vector<std::atomic<void*>> slots(table);
  for (auto& s : slots)
    s.store(nullptr);
  std::atomic<uint64_t> allocated{0};
  double elapsed = 0;
  for (uint64_t round = 0; round < c.iterations; ++round) {
    elapsed += run_threads(c.threads, [&](uint64_t t) {
      Rng rng(c.seed, (round << 20) + t);
      std::vector<void*> mine;
      mine.reserve(local);
      const uint64_t my_steps = steps * (1 + t % 3) / 2 + 1;
      auto size = [&] {
        // 7 in 8 small (up to 256 bytes), the rest spread up to --max-size; a power of two
        // times 1, 1.25, 1.5 or 1.75, as size classes see it.
        uint64_t hi = rng.uniform(0, 7) != 0 ? std::min<uint64_t>(256, c.max_size) : c.max_size;
        uint64_t n = rng.log_uniform(c.min_size, std::max(c.min_size, hi));
        uint64_t pow = 1;
        while (pow * 2 <= n)
          pow *= 2;
        n = pow + (pow / 4) * rng.uniform(0, 3);
        return std::min(std::max(n, c.min_size), c.max_size);
      };
      for (uint64_t i = 0; i < my_steps; ++i) {
        void* p = self_describing_alloc("mstress", size(), make_tag(t, (round << 40) + i));
        if (rng.uniform(0, 3) == 0) {
          void* old = slots[rng.uniform(0, table - 1)].exchange(p, std::memory_order_acq_rel);
          if (old != nullptr) self_describing_free("mstress", old);
        } else {
          mine.push_back(p);
          if (mine.size() == local) {
            for (void* q : mine)
              self_describing_free("mstress", q);
            mine.clear();
          }
        }
      }
      for (void* q : mine)
        self_describing_free("mstress", q);
      allocated.fetch_add(my_steps, std::memory_order_relaxed);
    });
  }
  for (auto& s : slots)
    if (void* p = s.load()) self_describing_free("mstress", p);

  Result r;
  r.elapsed_s = elapsed;
  r.ops = allocated.load();
  print_result(flags, c, r);
  return 0;
}
