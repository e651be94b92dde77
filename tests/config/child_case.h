// Running an option case in a fresh process: the environment is set before the allocator's
// first call, so init-only options apply; and the statistics such cases read. Shared by the
// config tests that need a child.
#pragma once

#include <gtest/gtest.h>

#include "hoardlab/hoardlab.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

namespace hoardlab::config::testing {

using Environment = std::vector<std::pair<const char*, const char*>>;

// In the child: set the environment, run the case, exit 0 when it held (else 1, with why).
[[noreturn]] inline void run_case(const Environment& env, const std::function<bool()>& body) {
  for (const auto& [name, value] : env)
    setenv(name, value, 1);
  std::exit(body() ? 0 : 1);
}

// Says why a case failed (on the child's stderr, which the death test shows) and passes `ok` on.
inline bool report(bool ok, const char* what) {
  if (!ok) std::fprintf(stderr, "failed: %s\n", what);
  return ok;
}

// Blocks the heaps have handed out (to thread caches or straight to callers), all heaps.
inline std::uint64_t blocks_handed_out_by_heaps() {
  hl_stats s{};
  hl_stats_get(&s);
  std::uint64_t n = 0;
  for (std::uint32_t h = 0; h < s.heaps; ++h) {
    hl_heap_stats hs{};
    if (hl_stats_heap(h, &hs) == 0) n += hs.allocations;
  }
  return n;
}

// cache.batch as the allocator uses it: the blocks a fresh thread's first refill takes.
inline std::uint64_t first_refill_of_a_fresh_thread() {
  const std::uint64_t before = blocks_handed_out_by_heaps();
  std::uint64_t after = 0;
  std::thread([&after] {
    void* p = hl_malloc(64);
    after = blocks_handed_out_by_heaps(); // before the thread's exit flushes its cache
    hl_free(p);
  }).join();
  return after - before;
}

} // namespace hoardlab::config::testing

// Runs body in a child with env set; the test fails unless the child exits 0.
#define EXPECT_CASE(env, body)                                                                     \
  do {                                                                                             \
    GTEST_FLAG_SET(death_test_style, "threadsafe");                                                \
    EXPECT_EXIT(::hoardlab::config::testing::run_case(env, body), ::testing::ExitedWithCode(0),    \
                "");                                                                               \
  } while (0)
