// footprint: what a small program holds. Each thread keeps --live bytes in blocks of --classes
// sizes (log-spaced from --min-size to --max-size, multiples of 16), the same bytes in each
// size; each step frees a random live block and allocates its replacement of the same size, so
// the live set stays put while the blocks move. The figure is peak RSS against the live bytes:
// an allocator's fixed costs (per size class, per heap, per thread, at start-up) show in a
// program whose live set is a few MiB, where a large program hides them.
// start_rss_kib is VmRSS when main starts (the program and its libraries, and whatever the
// allocator touched while they loaded); ops = mallocs.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/common/bench_common.h"

using namespace hoardlab::bench;

int main(int argc, char** argv) {
  const uint64_t start_rss = current_rss_kib();
  Flags flags("footprint", "A live set of a few sizes, replaced block by block: peak RSS of a "
                           "small program.");
  Common c;
  c.threads = 1;
  c.iterations = 400000; // steps per thread
  c.min_size = 16;
  c.max_size = 1024;
  uint64_t classes = 8;
  uint64_t live_bytes = 2 << 20;
  add_common(flags, c, kUseIterations | kUseSizes);
  flags.add_u64("classes", &classes, "distinct block sizes", 1, 64);
  flags.add_u64("live", &live_bytes, "bytes each thread keeps live", 1024, 1ULL << 32);
  flags.set_quick([&] { c.iterations = 20000; });
  flags.parse(argc, argv);
  finish_common(flags, c, kUseIterations | kUseSizes);

  // Log-spaced sizes, rounded up to malloc's 16-byte granule so that each is its own size.
  std::vector<uint64_t> sizes;
  for (uint64_t k = 0; k < classes; ++k) {
    double f = classes == 1 ? 0.0 : static_cast<double>(k) / static_cast<double>(classes - 1);
    double s = static_cast<double>(c.min_size) *
               std::pow(static_cast<double>(c.max_size) / static_cast<double>(c.min_size), f);
    uint64_t n = (static_cast<uint64_t>(s) + 15) / 16 * 16;
    if (sizes.empty() || n > sizes.back()) sizes.push_back(n);
  }
  // Slots [first[k], first[k + 1]) hold blocks of sizes[k]: live_bytes / classes bytes each.
  std::vector<uint64_t> first{0};
  for (uint64_t s : sizes)
    first.push_back(first.back() + std::max<uint64_t>(1, live_bytes / sizes.size() / s));
  const uint64_t slots = first.back();
  auto size_of_slot = [&](uint64_t slot) {
    uint64_t k = 0;
    while (slot >= first[k + 1])
      ++k;
    return sizes[k];
  };

  std::vector<uint64_t> ops(c.threads, 0);
  std::vector<uint64_t> live_peak(c.threads, 0);
  double elapsed = run_threads(c.threads, [&](uint64_t t) {
    Rng rng(c.seed, t);
    // 12 bytes per block (pointer and generation), not a 24-byte Block: the bookkeeping is part
    // of the measured process and must stay small beside the live set.
    std::vector<void*> p(slots);
    std::vector<uint32_t> gen(slots, 0);
    std::vector<uint64_t> slot_size(slots);
    LiveBytes live;
    for (uint64_t i = 0; i < slots; ++i) {
      slot_size[i] = size_of_slot(i);
      p[i] = checked_malloc("footprint", slot_size[i]);
      pattern_fill(p[i], slot_size[i], make_tag(t, i << 32));
      live.add(slot_size[i]);
    }
    for (uint64_t step = 0; step < c.iterations; ++step) {
      const uint64_t i = rng.uniform(0, slots - 1);
      pattern_verify("footprint", p[i], slot_size[i], make_tag(t, (i << 32) | gen[i]));
      std::free(p[i]);
      p[i] = checked_malloc("footprint", slot_size[i]);
      ++gen[i];
      pattern_fill(p[i], slot_size[i], make_tag(t, (i << 32) | gen[i]));
    }
    for (uint64_t i = 0; i < slots; ++i) {
      pattern_verify("footprint", p[i], slot_size[i], make_tag(t, (i << 32) | gen[i]));
      std::free(p[i]);
    }
    ops[t] = slots + c.iterations;
    live_peak[t] = live.peak;
  });

  Result r;
  r.elapsed_s = elapsed;
  uint64_t peak = 0;
  for (uint64_t t = 0; t < c.threads; ++t) {
    r.ops += ops[t];
    peak += live_peak[t];
  }
  r.extra_json = live_peak_json(peak) + ",\"start_rss_kib\":" + std::to_string(start_rss) +
                 ",\"classes\":" + std::to_string(sizes.size());
  print_result(flags, c, r);
  return 0;
}
