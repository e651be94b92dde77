// Reading options never allocates: this binary interposes the malloc family with counters (over
// glibc's own allocator) and loads options from a file and an environment full of errors.
#include <gtest/gtest.h>

#include "config/loader.h"
#include "config/options.h"
#include "hoardlab/hoardlab.h"

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
}

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_calls{0};
void count() {
  if (g_counting.load()) g_calls.fetch_add(1);
}
} // namespace

extern "C" {
void* malloc(size_t n) {
  count();
  return __libc_malloc(n);
}
void* calloc(size_t c, size_t n) {
  count();
  return __libc_calloc(c, n);
}
void* realloc(void* p, size_t n) {
  count();
  return __libc_realloc(p, n);
}
void* aligned_alloc(size_t a, size_t n) {
  count();
  return __libc_memalign(a, n);
}
int posix_memalign(void** out, size_t a, size_t n) {
  count();
  *out = __libc_memalign(a, n);
  return *out != nullptr ? 0 : 12;
}
void free(void* p) {
  count();
  __libc_free(p);
}
}

namespace hoardlab::config {
namespace {

TEST(NoAllocation, TheCounterSeesAllocations) {
  g_calls = 0;
  g_counting = true;
  void* volatile p = std::malloc(32);
  std::free(p);
  g_counting = false;
  EXPECT_EQ(g_calls.load(), 2);
}

TEST(NoAllocation, LoadingAFileAndTheEnvironmentWithErrorsAllocatesNothing) {
  const std::string path = ::testing::TempDir() + "no_alloc.toml";
  std::ifstream in(std::string(HOARDLAB_SOURCE_DIR) +
                   "/experiments/configs/allocator/default.toml");
  std::ofstream out(path);
  out << in.rdbuf() << "[heap]\nsuperblok = 1\n[cache]\nbytes = \"1KB\"\n[bogus]\n";
  out.close();
  const std::string config = "HOARDLAB_CONFIG=" + path;
  const char* env[] = {config.c_str(),
                       "HOARDLAB_HEAP_EMPTINESS_F=1/8",
                       "HOARDLAB_HEAP_SUPERBLOK_SIZE=1",
                       "HOARDLAB_LARGE_THRESHOLD=2MiB",
                       "HOARDLAB_NUMA_POLICY=far",
                       nullptr};
  static Options options;
  static Provenance provenance[kOptionCount];
  g_calls = 0;
  g_counting = true;
  load_and_report(env, options, provenance);
  g_counting = false;
  EXPECT_EQ(g_calls.load(), 0);
  EXPECT_EQ(options.heap_emptiness_f, 0.125); // it did read them
}

TEST(NoAllocation, ProcessLoadAllocatesNothing) {
  setenv("HOARDLAB_HEAP_EMPTINESS_K", "9", 1);
  setenv("HOARDLAB_CACHE_BYTE", "9", 1);
  g_calls = 0;
  g_counting = true;
  load();
  g_counting = false;
  EXPECT_EQ(g_calls.load(), 0);
  EXPECT_EQ(options().heap_emptiness_k, 9);
}

// hl_option_set and hl_option_get run in programs whose malloc may be hoardlab, and may race its
// init: neither allocates, refusals and their messages included.
TEST(NoAllocation, SettingAndGettingOptionsAllocatesNothing) {
  char text[64];
  load(); // init-only options are refused from here on
  g_calls = 0;
  g_counting = true;
  const int set = hl_option_set("heap.emptiness_k", "5");
  const int bad = hl_option_set("heap.emptiness_k", "-1");
  const int unknown = hl_option_set("heap.emptines_k", "5");
  const int init_only = hl_option_set("heap.superblock_size", "128KiB"); // after load: refused
  const int got = hl_option_get("heap.emptiness_k", text, sizeof(text));
  g_counting = false;
  EXPECT_EQ(g_calls.load(), 0);
  EXPECT_EQ(set, 0);
  EXPECT_EQ(bad, -2);
  EXPECT_EQ(unknown, -1);
  EXPECT_EQ(init_only, -3);
  EXPECT_EQ(got, 0);
  EXPECT_STREQ(text, "5");
}

} // namespace
} // namespace hoardlab::config
