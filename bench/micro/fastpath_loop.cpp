// fastpath-loop: the loop that fastpath.sh runs under callgrind to count the instructions of a
// malloc+free pair. usage: fastpath-loop MODE SIZE N, MODE one of
//   pair           N times: p = malloc(SIZE); free(p)
//   batch64        N times: 64 mallocs of SIZE, then their 64 frees
//   pair-empty     the pair loop with malloc and free replaced by compiler barriers
//   batch64-empty  the batch loop likewise
// The script runs each mode at N and 2N and takes the difference (start-up, the first slow-path
// refills and exit cancel out), then subtracts the empty loop's difference, leaving the
// allocator's own instructions per pair.
// A fourth argument `marks` raises SIGUSR1 just before the loop and just after it, for a tracer
// that counts only between them (bench/tools/stepcount.cpp --marks); untraced, the first mark
// would end the process, so it is only for that.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bench/common/bench_common.h"

using hoardlab::bench::do_not_optimize;

namespace {
char dummy[64];

// noinline keeps each loop's code identical between N and 2N runs and separate from main.
[[gnu::noinline]] void run_pair(size_t n, long iterations, bool empty) {
  for (long i = 0; i < iterations; ++i) {
    void* p = empty ? static_cast<void*>(dummy) : std::malloc(n);
    do_not_optimize(p);
    if (!empty) std::free(p);
  }
}

[[gnu::noinline]] void run_batch64(size_t n, long iterations, bool empty) {
  void* blocks[64];
  for (long i = 0; i < iterations; ++i) {
    for (void*& p : blocks) {
      p = empty ? static_cast<void*>(dummy) : std::malloc(n);
      do_not_optimize(p);
    }
    for (int k = 63; k >= 0; --k) {
      if (empty)
        do_not_optimize(blocks[k]);
      else
        std::free(blocks[k]);
    }
  }
}
} // namespace

int main(int argc, char** argv) {
  const bool marks = argc == 5 && std::strcmp(argv[4], "marks") == 0;
  if (argc != 4 && !marks) {
    std::fprintf(stderr,
                 "usage: fastpath-loop pair|batch64|pair-empty|batch64-empty SIZE N [marks]\n");
    return 2;
  }
  const char* mode = argv[1];
  char* end = nullptr;
  unsigned long long size = std::strtoull(argv[2], &end, 10);
  if (*end != '\0' || size == 0) {
    std::fprintf(stderr, "fastpath-loop: SIZE '%s' is not a positive integer\n", argv[2]);
    return 2;
  }
  long n = std::strtol(argv[3], &end, 10);
  if (*end != '\0' || n <= 0) {
    std::fprintf(stderr, "fastpath-loop: N '%s' is not a positive integer\n", argv[3]);
    return 2;
  }
  void (*loop)(size_t, long, bool) = nullptr;
  bool empty = false;
  if (std::strcmp(mode, "pair") == 0) {
    loop = run_pair;
  } else if (std::strcmp(mode, "pair-empty") == 0) {
    loop = run_pair;
    empty = true;
  } else if (std::strcmp(mode, "batch64") == 0) {
    loop = run_batch64;
  } else if (std::strcmp(mode, "batch64-empty") == 0) {
    loop = run_batch64;
    empty = true;
  } else {
    std::fprintf(stderr, "fastpath-loop: unknown mode '%s'\n", mode);
    return 2;
  }
  if (marks) std::raise(SIGUSR1);
  loop(size, n, empty);
  if (marks) std::raise(SIGUSR1);
  return 0;
}
