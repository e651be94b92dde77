// many-threads: a process with thousands of live threads (a server's thread-per-connection pool,
// a runtime with a large worker pool), each allocating a working set and freeing it, all alive
// until the end. What it measures is what the allocator keeps per thread: the blocks a thread
// frees sit in its cache until it runs again, so peak RSS is the threads' working sets reused
// through the allocator plus every thread's cache.
//
// --live threads start at once; at most --threads of them work at a time (the others wait for a
// turn, as a pool on a machine with --threads CPUs), each running --iterations rounds of
// --objects mallocs of log-uniform sizes between --min-size and --max-size, checked and freed.
// A thread that has had its turn stays alive, idle, until every thread has had its turn. ops =
// the mallocs; adds live_threads and thread_peak_bytes (the largest working set of one thread:
// at most --threads of them are live at once, so the live data never exceeds --threads times
// it; the sum of the threads' peaks, which other workloads report, would count every turn).
#include <algorithm>
#include <barrier>
#include <cstdlib>
#include <semaphore>
#include <string>
#include <vector>

#include "bench/common/bench_common.h"

using namespace hoardlab::bench;

namespace {

constexpr const char* kName = "many-threads";

} // namespace

int main(int argc, char** argv) {
  Flags flags(kName, "Thousands of live threads, each allocating and freeing a working set, "
                     "taking turns, all alive to the end.");
  Common c;
  c.threads = 64;
  c.iterations = 8;
  c.min_size = 16;
  c.max_size = 1024;
  uint64_t live = 2000;
  uint64_t objects = 1024;
  add_common(flags, c, kUseIterations | kUseSizes);
  flags.add_u64("live", &live, "threads alive at once (each takes a turn of work)", 1, 65536);
  flags.add_u64("objects", &objects, "mallocs per round per thread, then freed", 1, 1ULL << 24);
  flags.set_quick([&] {
    live = 64;
    c.iterations = 2;
    objects = 128;
  });
  flags.parse(argc, argv);
  finish_common(flags, c, kUseIterations | kUseSizes);

  std::counting_semaphore<> turns(static_cast<std::ptrdiff_t>(c.threads));
  std::barrier all_done(static_cast<std::ptrdiff_t>(live));
  std::vector<uint64_t> thread_peak(live, 0);
  // run_threads takes at most --threads workers: here each of the --live threads is one.
  double elapsed = run_threads(live, [&](uint64_t t) {
    turns.acquire();
    Rng rng(c.seed, t);
    std::vector<Block> blocks(objects);
    LiveBytes bytes;
    for (uint64_t it = 0; it < c.iterations; ++it) {
      for (uint64_t i = 0; i < objects; ++i) {
        Block& b = blocks[i];
        b = Block{nullptr, rng.log_uniform(c.min_size, c.max_size), make_tag(t, it * objects + i)};
        b.p = checked_malloc(kName, b.size);
        pattern_fill(b.p, b.size, b.tag);
        bytes.add(b.size);
      }
      for (const Block& b : blocks) {
        pattern_verify(kName, b.p, b.size, b.tag);
        std::free(b.p);
        bytes.sub(b.size);
      }
      clobber_memory();
    }
    thread_peak[t] = bytes.peak;
    turns.release();
    all_done.arrive_and_wait();
  });
  Result r;
  r.elapsed_s = elapsed;
  r.ops = live * c.iterations * objects;
  uint64_t largest = 0;
  for (uint64_t p : thread_peak)
    largest = std::max(largest, p);
  r.extra_json = "\"live_threads\":" + std::to_string(live) +
                 ",\"thread_peak_bytes\":" + std::to_string(largest);
  print_result(flags, c, r);
  return 0;
}
