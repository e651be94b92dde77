// Bad configuration met at the allocator's start, against the real library: each case runs in a
// fresh process (a death test re-executes this program) whose environment is set before the
// first allocation. A case that would hang is ended by an alarm, so a hang fails the test
// (killed by SIGALRM) instead of holding up the run.
#include <gtest/gtest.h>

#include "hoardlab/hoardlab.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr unsigned kHangSeconds = 10;

// Allocates once with the alarm set (init reads the options), then exits 0.
[[noreturn]] void start_allocator() {
  alarm(kHangSeconds);
  void* p = hl_malloc(100);
  hl_free(p);
  alarm(0);
  std::exit(p != nullptr ? 0 : 1);
}

void expect_starts(void (*body)(), const char* stderr_pattern) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(body(), ::testing::ExitedWithCode(0), stderr_pattern);
}

std::string fifo_path() {
  return ::testing::TempDir() + "hoardlab_config_fifo_" + std::to_string(getpid());
}

} // namespace

// open() of a FIFO without a writer waited forever, inside malloc's init.
TEST(Startup, AConfigFileThatIsAFifoIsRefusedWithoutBlocking) {
  expect_starts(
      [] {
        const std::string path = fifo_path();
        unlink(path.c_str());
        if (mkfifo(path.c_str(), 0600) != 0) std::exit(3);
        setenv("HOARDLAB_CONFIG", path.c_str(), 1);
        alarm(kHangSeconds);
        void* p = hl_malloc(100);
        hl_free(p);
        unlink(path.c_str());
        std::exit(p != nullptr ? 0 : 1);
      },
      "hoardlab_config_fifo_[0-9]+: not a regular file");
}

// /dev/stdin on a pipe whose writer stays open: read() waited for data that never came.
TEST(Startup, AConfigFileOnAnOpenPipeIsRefusedWithoutBlocking) {
  expect_starts(
      [] {
        int fds[2];
        if (pipe(fds) != 0 || dup2(fds[0], 0) < 0) std::exit(3);
        setenv("HOARDLAB_CONFIG", "/dev/stdin", 1); // fds[1], the writer, stays open
        start_allocator();
      },
      "/dev/stdin: not a regular file");
}

// A bad topology was reported by numa/boot alone, and strict mode exited 0.
TEST(Startup, ABadTopologyEndsTheProcessUnderStrictConfig) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("HOARDLAB_STRICT_CONFIG", "1", 1);
        setenv("HOARDLAB_TOPOLOGY", "pack:2 bogus:3", 1);
        start_allocator();
      },
      ::testing::ExitedWithCode(2),
      "environment HOARDLAB_TOPOLOGY: numa.topology = \"pack:2 bogus:3\": unknown level type");
}

TEST(Startup, ABadTopologyIsOneConfigMessageAndTheRealTopologyIsUsed) {
  expect_starts(
      [] {
        setenv("HOARDLAB_TOPOLOGY", "pack:2 bogus:3", 1);
        alarm(kHangSeconds);
        void* p = hl_malloc(100);
        hl_free(p);
        std::exit(std::strcmp(hl_topology_source(), "synthetic") != 0 ? 0 : 1);
      },
      "hoardlab: config: environment HOARDLAB_TOPOLOGY: numa.topology = \"pack:2 bogus:3\"");
}

// A valid description padded past the 255 bytes an option holds: the loader refused it, and
// numa/boot then read it from the raw environment and built its two nodes anyway.
TEST(Startup, ATopologyTheLoaderRefusesIsNeverApplied) {
  expect_starts(
      [] {
        const std::string padded = "pack:1 numa:2 core:1 pu:1" + std::string(300, ' ');
        setenv("HOARDLAB_TOPOLOGY", padded.c_str(), 1);
        alarm(kHangSeconds);
        void* p = hl_malloc(100);
        hl_free(p);
        std::exit(std::strcmp(hl_topology_source(), "synthetic") != 0 ? 0 : 1);
      },
      "HOARDLAB_TOPOLOGY: numa.topology = .*too long");
}

// ...and under strict config it ends the process like any other bad option.
TEST(Startup, ATopologyTheLoaderRefusesEndsTheProcessUnderStrictConfig) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        const std::string padded = "pack:1 numa:2 core:1 pu:1" + std::string(300, ' ');
        setenv("HOARDLAB_STRICT_CONFIG", "1", 1);
        setenv("HOARDLAB_TOPOLOGY", padded.c_str(), 1);
        start_allocator();
      },
      ::testing::ExitedWithCode(2), "too long");
}

// The same description through HOARDLAB_OPTIONS takes the same path.
TEST(Startup, ATopologyFromTheOptionsVariableIsAppliedAndNamedAsItsSource) {
  expect_starts(
      [] {
        setenv("HOARDLAB_OPTIONS", "numa.topology=pack:1 numa:2 core:1 pu:1,heap.count=3", 1);
        alarm(kHangSeconds);
        void* p = hl_malloc(100);
        hl_free(p);
        hl_stats s{};
        hl_stats_get(&s);
        const bool ok =
            std::strcmp(hl_topology_source(), "synthetic") == 0 && s.nodes == 2 && s.heaps == 3;
        std::exit(ok ? 0 : 1);
      },
      "");
}
