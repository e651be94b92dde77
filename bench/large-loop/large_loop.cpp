// large-loop: large objects in a sliding window, the load of programs that keep buffers, images
// or matrices of many sizes. Each thread keeps --window live blocks of log-uniform sizes in
// [--min-size, --max-size]; each step frees one block at random and allocates its replacement,
// and every --realloc-every-th step instead reallocates a live block to a fresh size (up or
// down). Blocks are patterned (one word per page, so their pages are touched as a program's
// would be) and checked before they are freed or moved. With --min-size == --max-size and
// --window 1 it is a malloc/free loop of one size (the size sweep across large.threshold).
// ops = mallocs + reallocs.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench/common/bench_common.h"

using namespace hoardlab::bench;

int main(int argc, char** argv) {
  Flags flags("large-loop", "A window of large blocks, one replaced or reallocated per step, "
                            "contents checked.");
  Common c;
  c.iterations = 4000; // steps per thread
  c.min_size = 16 << 10;
  c.max_size = 32 << 20;
  uint64_t window = 16;
  uint64_t realloc_every = 4;
  add_common(flags, c, kUseIterations | kUseSizes);
  flags.add_u64("window", &window, "live blocks per thread", 1, 1 << 16);
  flags.add_u64("realloc-every", &realloc_every,
                "every n-th step reallocates a live block instead (0: never)");
  flags.set_quick([&] {
    c.iterations = 200;
    c.max_size = 1 << 20;
  });
  flags.parse(argc, argv);
  finish_common(flags, c, kUseIterations | kUseSizes);

  std::vector<uint64_t> ops(c.threads, 0);
  double elapsed = run_threads(c.threads, [&](uint64_t t) {
    Rng rng(c.seed, t);
    std::vector<Block> live(window, Block{nullptr, 0, 0});
    auto size = [&] {
      return c.min_size == c.max_size ? c.min_size : rng.log_uniform(c.min_size, c.max_size);
    };
    uint64_t calls = 0;
    for (uint64_t step = 0; step < c.iterations; ++step) {
      Block& b = live[rng.uniform(0, window - 1)];
      const uint64_t n = size();
      const uint64_t tag = make_tag(t, step);
      if (b.p != nullptr && realloc_every != 0 && step % realloc_every == realloc_every - 1) {
        pattern_verify("large-loop", b.p, b.size, b.tag);
        // A shrink keeps the first n bytes: their end must hold pattern bytes for the check.
        if (n < b.size) pattern_fill(b.p, n, b.tag);
        void* q = std::realloc(b.p, n);
        if (q == nullptr)
          check_failed("large-loop", "realloc(" + std::to_string(b.size) + " -> " +
                                         std::to_string(n) + " bytes) returned NULL (" +
                                         std::strerror(errno) + ")");
        // What the block kept must have moved with it.
        pattern_verify("large-loop", q, n < b.size ? n : b.size, b.tag);
        b.p = q;
      } else {
        if (b.p != nullptr) {
          pattern_verify("large-loop", b.p, b.size, b.tag);
          std::free(b.p);
        }
        b.p = checked_malloc("large-loop", n);
      }
      b.size = n;
      b.tag = tag;
      pattern_fill(b.p, n, tag);
      ++calls;
    }
    for (Block& b : live)
      if (b.p != nullptr) {
        pattern_verify("large-loop", b.p, b.size, b.tag);
        std::free(b.p);
      }
    ops[t] = calls;
  });

  Result r;
  r.elapsed_s = elapsed;
  for (uint64_t n : ops)
    r.ops += n;
  print_result(flags, c, r);
  return 0;
}
