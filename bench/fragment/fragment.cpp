// fragment (after Johnstone & Wilson, "The memory fragmentation problem: solved?", ISMM 1998,
// and Wilson et al.'s survey, §2.3): long-lived small objects interleaved with short-lived
// large ones. Each thread allocates, in alternation, a burst of small blocks and one large
// block; one small block in --keep-every stays alive (up to --retain per thread, then the oldest
// kept block goes), the others and every large block die at the end of the phase. The survivors
// sit between the holes the large blocks leave, so an allocator that mixes sizes in one region
// cannot give those pages back and its footprint grows past the live data. Reports
// live_peak_bytes (the most bytes live at once over all threads, sampled at phase ends) beside
// peak_rss_kib. ops = blocks allocated.
#include <atomic>
#include <cinttypes>
#include <cstdlib>
#include <vector>

#include "bench/common/bench_common.h"

using namespace hoardlab::bench;

namespace {
void release(Block& b) {
  pattern_verify("fragment", b.p, b.size, b.tag);
  std::free(b.p);
}
} // namespace

int main(int argc, char** argv) {
  Flags flags("fragment", "Long-lived small blocks interleaved with short-lived large ones; "
                          "peak RSS against peak live bytes.");
  Common c;
  c.iterations = 1000; // phases per thread
  c.min_size = 16;
  c.max_size = 128;
  uint64_t large_min = 4096;
  uint64_t large_max = 65536;
  uint64_t burst = 64;
  uint64_t larges = 64;
  uint64_t keep_every = 8;
  uint64_t retain = 50000;
  add_common(flags, c, kUseIterations | kUseSizes);
  flags.add_u64("large-min", &large_min, "smallest large block", 1, 1ULL << 32);
  flags.add_u64("large-max", &large_max, "largest large block", 1, 1ULL << 32);
  flags.add_u64("burst", &burst, "small blocks between two large ones", 1, 1ULL << 20);
  flags.add_u64("larges", &larges, "large blocks per phase", 1, 1ULL << 20);
  flags.add_u64("keep-every", &keep_every, "one small block in this many stays alive", 1,
                1ULL << 20);
  flags.add_u64("retain", &retain, "most small blocks a thread keeps alive", 1, 1ULL << 26);
  flags.set_quick([&] { c.iterations = 20; });
  flags.parse(argc, argv);
  finish_common(flags, c, kUseIterations | kUseSizes);
  if (large_min > large_max) flags.usage_error("--large-min is above --large-max");

  std::atomic<uint64_t> live_now{0}, live_peak{0}, total{0};
  auto note_live = [&](int64_t delta) {
    uint64_t now = live_now.fetch_add(static_cast<uint64_t>(delta), std::memory_order_relaxed) +
                   static_cast<uint64_t>(delta);
    uint64_t peak = live_peak.load(std::memory_order_relaxed);
    while (now > peak && !live_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
  };
  double elapsed = run_threads(c.threads, [&](uint64_t t) {
    Rng rng(c.seed, t);
    std::vector<Block> kept; // a ring: the oldest kept block is replaced first
    kept.reserve(retain);
    size_t oldest = 0;
    std::vector<Block> phase;
    phase.reserve(larges * (burst + 1));
    uint64_t seq = 0, count = 0;
    for (uint64_t it = 0; it < c.iterations; ++it) {
      int64_t bytes = 0;
      for (uint64_t l = 0; l < larges; ++l) {
        for (uint64_t s = 0; s < burst; ++s) {
          Block b{nullptr, rng.uniform(c.min_size, c.max_size), make_tag(t, seq++)};
          b.p = checked_malloc("fragment", b.size);
          pattern_fill(b.p, b.size, b.tag);
          bytes += static_cast<int64_t>(b.size);
          if (rng.uniform(1, keep_every) == 1) {
            if (kept.size() < retain) {
              kept.push_back(b);
            } else {
              bytes -= static_cast<int64_t>(kept[oldest].size);
              release(kept[oldest]);
              kept[oldest] = b;
              oldest = (oldest + 1) % retain;
            }
          } else {
            phase.push_back(b);
          }
        }
        Block b{nullptr, rng.uniform(large_min, large_max), make_tag(t, seq++)};
        b.p = checked_malloc("fragment", b.size);
        pattern_fill(b.p, b.size, b.tag);
        bytes += static_cast<int64_t>(b.size);
        phase.push_back(b);
        count += burst + 1;
      }
      note_live(bytes);
      int64_t freed = 0;
      for (Block& b : phase) {
        freed += static_cast<int64_t>(b.size);
        release(b);
      }
      phase.clear();
      note_live(-freed);
    }
    for (Block& b : kept)
      release(b);
    total.fetch_add(count, std::memory_order_relaxed);
  });

  Result r;
  r.elapsed_s = elapsed;
  r.ops = total.load();
  char extra[96];
  std::snprintf(extra, sizeof extra, "\"live_peak_bytes\":%" PRIu64, live_peak.load());
  r.extra_json = extra;
  print_result(flags, c, r);
  return 0;
}
