// A stand-in benchmark for the harness's tests: it speaks the benchmarks' protocol (flags,
// one HLBENCH line, exit statuses) and can misbehave on request, so the tests do not depend
// on the real workloads' run times.
//   --mode ok|crash|hang|selfcheck|noline|badflag|complain   (default ok)
//   --check-flags: check the flags and exit, as bench/common's programs do
//   --touch-mib N: also writes one byte in each 4 KiB page of N MiB it maps (page faults)
#include <dlfcn.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

// Keeps the blocks alive so the compiler cannot delete the malloc/free pairs.
volatile std::size_t g_sink = 0;

void work(int iterations, std::size_t* ops) {
  std::vector<void*> blocks(64);
  for (int i = 0; i < iterations; ++i) {
    for (auto& b : blocks) {
      b = std::malloc(16 + (i % 8) * 16);
      static_cast<char*>(b)[0] = 1;
    }
    for (auto* b : blocks) {
      g_sink = g_sink + static_cast<char*>(b)[0];
      std::free(b);
    }
    *ops += 2 * blocks.size();
  }
}

} // namespace

int main(int argc, char** argv) {
  int threads = 1, iterations = 2000;
  long seed = 1;
  long touch_mib = 0;
  std::string mode = "ok";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "fake-bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--threads")
      threads = std::atoi(next());
    else if (a == "--iterations")
      iterations = std::atoi(next());
    else if (a == "--seed")
      seed = std::atol(next());
    else if (a == "--mode")
      mode = next();
    else if (a == "--touch-mib")
      touch_mib = std::atol(next());
    else if (a == "--check-flags")
      return 0; // the flags before it parsed; the harness puts it last
    else {
      std::fprintf(stderr, "fake-bench: unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  if (mode == "badflag") {
    std::fprintf(stderr, "fake-bench: unknown flag --bad\n");
    return 2;
  }
  if (mode == "complain") {
    std::fprintf(stderr, "\nfake-bench: out of widgets\nand a second line\n");
    return 4;
  }
  if (mode == "crash") raise(SIGSEGV);
  if (mode == "hang")
    for (;;)
      pause();
  if (touch_mib > 0) {
    const std::size_t bytes = static_cast<std::size_t>(touch_mib) << 20;
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 1;
    madvise(p, bytes, MADV_NOHUGEPAGE); // a fault per 4 KiB page, whatever the THP setting
    for (std::size_t off = 0; off < bytes; off += 4096)
      static_cast<volatile char*>(p)[off] = 1;
    munmap(p, bytes);
  }
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  std::vector<std::size_t> ops(threads, 0);
  for (int t = 0; t < threads; ++t)
    pool.emplace_back(work, iterations, &ops[t]);
  for (auto& t : pool)
    t.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::size_t total = 0;
  for (auto o : ops)
    total += o;
  Dl_info info{};
  void* m = reinterpret_cast<void*>(&malloc);
  const char* lib = dladdr(m, &info) && info.dli_fname ? info.dli_fname : "unknown";
  if (mode == "noline") return 0;
  std::printf("HLBENCH {\"workload\":\"fake\",\"threads\":%d,\"params\":{\"iterations\":%d},"
              "\"elapsed_s\":%.6f,\"ops\":%zu,\"ops_per_s\":%.1f,\"peak_rss_kib\":1024,"
              "\"malloc_lib\":\"%s\",\"seed\":%ld,\"check\":\"%s\",\"live_peak_bytes\":4096}\n",
              threads, iterations, elapsed, total, elapsed > 0 ? total / elapsed : 0.0, lib, seed,
              mode == "selfcheck" ? "pattern mismatch" : "ok");
  return mode == "selfcheck" ? 3 : 0;
}
