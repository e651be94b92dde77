// realloc-grow: buffers that grow by realloc, as strings, vectors and I/O buffers do in C
// programs. Each thread grows a block from --min-size to --max-size by a factor of --growth per
// step (1.5 by default, with a little jitter so sizes do not repeat exactly), checking after
// each step that the old contents moved with the block, then shrinks it once to half and frees
// it. Small steps test in-place growth inside a size class, large ones the allocator's
// large-object path (mremap in glibc). ops = realloc calls.
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench/common/bench_common.h"

using namespace hoardlab::bench;

int main(int argc, char** argv) {
  Flags flags("realloc-grow", "Buffers grown by realloc from --min-size to --max-size, contents "
                              "checked after every step.");
  Common c;
  c.iterations = 1500; // buffers per thread
  c.min_size = 16;
  c.max_size = 1 << 20;
  double growth = 1.5;
  add_common(flags, c, kUseIterations | kUseSizes);
  flags.add_double("growth", &growth, "size factor per realloc step", 1.01, 16.0);
  flags.set_quick([&] {
    c.iterations = 500;
    c.max_size = 1 << 16;
  });
  flags.parse(argc, argv);
  finish_common(flags, c, kUseIterations | kUseSizes);

  std::vector<uint64_t> ops(c.threads, 0);
  double elapsed = run_threads(c.threads, [&](uint64_t t) {
    Rng rng(c.seed, t);
    uint64_t calls = 0;
    for (uint64_t it = 0; it < c.iterations; ++it) {
      const uint64_t tag = make_tag(t, it);
      size_t n = c.min_size;
      void* p = checked_malloc("realloc-grow", n);
      pattern_fill(p, n, tag);
      for (;;) {
        size_t next =
            static_cast<size_t>(std::ceil(static_cast<double>(n) * growth)) + rng.uniform(0, 15);
        if (n >= c.max_size) break;
        if (next > c.max_size) next = c.max_size;
        void* q = std::realloc(p, next);
        ++calls;
        if (q == nullptr)
          check_failed("realloc-grow", "realloc(" + std::to_string(n) + " -> " +
                                           std::to_string(next) + " bytes) returned NULL (" +
                                           std::strerror(errno) + ")");
        // The old bytes must have moved with the block.
        pattern_verify("realloc-grow", q, n, tag);
        pattern_fill(q, next, tag);
        p = q;
        n = next;
      }
      size_t half = n / 2 > 0 ? n / 2 : 1;
      pattern_fill(p, half, tag); // the new end must hold pattern bytes before the shrink
      void* q = std::realloc(p, half);
      ++calls;
      if (q == nullptr)
        check_failed("realloc-grow",
                     "realloc(" + std::to_string(n) + " -> " + std::to_string(half) +
                         " bytes, shrinking) returned NULL (" + std::strerror(errno) + ")");
      pattern_verify("realloc-grow", q, half, tag);
      std::free(q);
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
