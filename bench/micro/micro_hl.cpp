// micro-hl: the micro-benchmarks over libhoardlab's hl_* API (never replaces malloc), so the
// allocator can be measured beside whatever malloc the process uses.
#include <hoardlab/hoardlab.h>

#include "micro_workloads.h"

namespace {
struct HlApi {
  static void* malloc(size_t n) { return hl_malloc(n); }
  static void free(void* p) { hl_free(p); }
  static void* realloc(void* p, size_t n) { return hl_realloc(p, n); }
  static void* calloc(size_t c, size_t n) { return hl_calloc(c, n); }
  static int posix_memalign(void** out, size_t a, size_t n) { return hl_posix_memalign(out, a, n); }
};
} // namespace

int main(int argc, char** argv) {
  hoardlab::bench::micro::register_all<HlApi>("hl");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
