// A tiny loop for counting instructions per hl_malloc + hl_free pair under callgrind:
//   hl_pair_loop SIZE N [empty]
// Run it with N and 2N (and the same with `empty`, which replaces the calls by a compiler
// barrier); (I(2N) - I(N) - (E(2N) - E(N))) / N is the allocator's cost per pair, with start-up
// and the first refills cancelled out.
#include <cstdio>
#include <cstdlib>

#include "hoardlab/hoardlab.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: hl_pair_loop SIZE N [empty]\n");
    return 2;
  }
  std::size_t size = std::strtoul(argv[1], nullptr, 10);
  long n = std::strtol(argv[2], nullptr, 10);
  bool empty = argc > 3;
  void* volatile sink = nullptr;
  hl_free(hl_malloc(size)); // warm: the thread's cache exists before counting starts
  for (long i = 0; i < n; ++i) {
    if (empty) {
      sink = argv;
      asm volatile("" ::: "memory");
      continue;
    }
    void* p = hl_malloc(size);
    sink = p;
    hl_free(p);
  }
  return sink == nullptr;
}
