// micro-malloc: the micro-benchmarks over the plain malloc family, so that any allocator can be
// measured by preloading it. The malloc library in use is added to the benchmark context.
#include <cstdlib>

#include "bench/common/bench_common.h"
#include "micro_workloads.h"

namespace {
struct MallocApi {
  static void* malloc(size_t n) { return std::malloc(n); }
  static void free(void* p) { std::free(p); }
  static void* realloc(void* p, size_t n) { return std::realloc(p, n); }
  static void* calloc(size_t c, size_t n) { return std::calloc(c, n); }
  static int posix_memalign(void** out, size_t a, size_t n) { return ::posix_memalign(out, a, n); }
};
} // namespace

int main(int argc, char** argv) {
  benchmark::AddCustomContext("malloc_lib", hoardlab::bench::malloc_library());
  hoardlab::bench::micro::register_all<MallocApi>("malloc");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
