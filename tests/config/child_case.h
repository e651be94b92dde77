// Running an option case in a fresh process: the environment is set before the allocator's
// first call, so init-only options apply. Shared by the config tests that need a child.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
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

} // namespace hoardlab::config::testing

// Runs body in a child with env set; the test fails unless the child exits 0.
#define EXPECT_CASE(env, body)                                                                     \
  do {                                                                                             \
    GTEST_FLAG_SET(death_test_style, "threadsafe");                                                \
    EXPECT_EXIT(::hoardlab::config::testing::run_case(env, body), ::testing::ExitedWithCode(0),    \
                "");                                                                               \
  } while (0)
