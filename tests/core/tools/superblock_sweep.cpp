// A threadtest-like loop over hl_* (Hoard §5: each thread allocates and frees batches of small
// objects) to choose the superblock size S: run it under HOARDLAB_HEAP_SUPERBLOCK_SIZE=16KiB,
// 64KiB, 256KiB and compare time and peak memory.
//   superblock_sweep THREADS ROUNDS BATCH SIZE
// Prints: threads, seconds, peak bytes held, bytes held at the end.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "hoardlab/hoardlab.h"

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  int rounds = argc > 2 ? std::atoi(argv[2]) : 200;
  int batch = argc > 3 ? std::atoi(argv[3]) : 10000;
  std::size_t size = argc > 4 ? std::strtoul(argv[4], nullptr, 10) : 64;
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([=] {
      std::vector<void*> ps(static_cast<std::size_t>(batch));
      for (int r = 0; r < rounds; ++r) {
        for (auto& p : ps) {
          p = hl_malloc(size);
          *static_cast<volatile char*>(p) = 1;
        }
        for (auto* p : ps)
          hl_free(p);
      }
    });
  for (auto& t : ts)
    t.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  hl_stats s{};
  hl_stats_get(&s);
  std::printf("threads=%d seconds=%.3f peak_in_use=%llu held=%llu mapped=%llu\n", threads, secs,
              static_cast<unsigned long long>(s.peak_bytes_in_use),
              static_cast<unsigned long long>(s.bytes_held),
              static_cast<unsigned long long>(s.os_bytes_mapped));
  return 0;
}
