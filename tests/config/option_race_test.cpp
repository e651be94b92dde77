// hl_option_set racing the allocator's first allocation (config/options.cpp, "Protocol"):
// an init-only option is either applied whole before init or refused (-3), never lost or half
// applied; a run-time option set while init runs ends published with the last value set; a set
// before init is kept, and the environment still wins over it. Each case runs in a fresh process
// (the allocator starts once per process); the racing cases are meant for the tsan preset, where
// ThreadSanitizer checks the protocol itself, and run in every build.
#include <gtest/gtest.h>

#include "hoardlab/hoardlab.h"
#include "tests/config/child_case.h"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using hoardlab::config::testing::Environment;
using hoardlab::config::testing::first_refill_of_a_fresh_thread;
using hoardlab::config::testing::report;
using hoardlab::config::testing::run_case;

// The superblock size the allocator runs with, seen through a heap's holdings (a_i / count).
std::uint64_t superblock_size_in_use() {
  std::vector<void*> blocks;
  for (int i = 0; i < 64; ++i)
    blocks.push_back(hl_malloc(64));
  hl_stats s{};
  hl_stats_get(&s);
  std::uint64_t size = 0;
  for (std::uint32_t h = 0; h < s.heaps && size == 0; ++h) {
    hl_heap_stats hs{};
    if (hl_stats_heap(h, &hs) == 0 && hs.superblocks != 0) size = hs.bytes_held / hs.superblocks;
  }
  for (void* b : blocks)
    hl_free(b);
  return size;
}

bool is_large(std::size_t size) {
  hl_stats before{};
  hl_stats_get(&before);
  void* p = hl_malloc(size);
  hl_stats after{};
  hl_stats_get(&after);
  hl_free(p);
  return after.large_allocations > before.large_allocations;
}

// Spins for a seeded number of iterations, so that each round starts its threads in another
// interleaving.
void stagger(std::uint32_t iterations) {
  for (std::uint32_t i = 0; i < iterations; ++i)
    asm volatile("" ::: "memory"); // kept: the compiler may not drop the loop
}

// One round: the first allocation, two init-only sets, a run-time setter and a reader start
// together. Afterwards the allocator must run with exactly what was accepted.
bool race_once(std::uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<std::uint32_t> delay(0, 20000);
  const std::uint32_t delays[5] = {delay(random), delay(random), delay(random), delay(random),
                                   delay(random)};
  std::atomic<bool> go{false};
  std::atomic<int> superblock_result{1};
  std::atomic<int> threshold_result{1};
  std::atomic<bool> runtime_ok{true};
  std::atomic<bool> reads_ok{true};
  auto wait_for_go = [&go] {
    while (!go.load())
      std::this_thread::yield();
  };
  std::vector<std::thread> threads;
  threads.emplace_back([&] { // the first allocation: runs the allocator's init
    wait_for_go();
    stagger(delays[0]);
    hl_free(hl_malloc(64));
  });
  threads.emplace_back([&] {
    wait_for_go();
    stagger(delays[1]);
    superblock_result = hl_option_set("heap.superblock_size", "128KiB");
  });
  threads.emplace_back([&] {
    wait_for_go();
    stagger(delays[2]);
    threshold_result = hl_option_set("large.threshold", "8KiB");
  });
  threads.emplace_back([&] { // run-time options, before, during and after init; 7 is last
    wait_for_go();
    stagger(delays[3]);
    for (const char* batch : {"16", "3", "40", "7"}) {
      if (hl_option_set("cache.batch", batch) != 0) runtime_ok = false;
      if (hl_option_set("heap.emptiness_k", batch) != 0) runtime_ok = false;
    }
  });
  threads.emplace_back([&] { // a reader sees one of the values it may hold, never a mixture
    wait_for_go();
    stagger(delays[4]);
    for (int i = 0; i < 50; ++i) {
      char text[64];
      if (hl_option_get("heap.superblock_size", text, sizeof(text)) != 0 ||
          (std::strcmp(text, "64KiB") != 0 && std::strcmp(text, "128KiB") != 0))
        reads_ok = false;
    }
  });
  go = true;
  for (auto& t : threads)
    t.join();

  bool ok = report(runtime_ok.load(), "a run-time option was refused");
  ok = report(reads_ok.load(), "hl_option_get read a superblock size never set") && ok;
  const int sb = superblock_result.load();
  const int th = threshold_result.load();
  ok = report(sb == 0 || sb == -3, "heap.superblock_size: neither applied nor refused") && ok;
  ok = report(th == 0 || th == -3, "large.threshold: neither applied nor refused") && ok;
  const std::uint64_t size = superblock_size_in_use();
  if (size != (sb == 0 ? 128u : 64u) * 1024) {
    std::fprintf(stderr, "set returned %d, the allocator runs with S = %llu\n", sb,
                 static_cast<unsigned long long>(size));
    ok = false;
  }
  // Accepted: 8KiB + 1 is large. Refused: the threshold is the default, 16KiB.
  ok = report(is_large(8 * 1024 + 1) == (th == 0), "large.threshold half applied") && ok;
  ok = report(first_refill_of_a_fresh_thread() == 7, "cache.batch = 7 (the last set) not in use") &&
       ok;
  char text[64];
  ok = report(hl_option_get("cache.batch", text, sizeof(text)) == 0 && std::strcmp(text, "7") == 0,
              "cache.batch does not read 7") &&
       ok;
  return ok;
}

TEST(OptionRace, SetRacingTheFirstAllocationIsAppliedWholeOrRefused) {
  // Seeded rounds, each a fresh process; a few seconds in all, even under ThreadSanitizer.
  for (std::uint32_t seed = 1; seed <= 12; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const Environment env = {};
    EXPECT_CASE(env, [seed] { return race_once(seed); });
  }
}

TEST(OptionRace, AnInitOnlyOptionSetBeforeTheFirstAllocationIsKept) {
  const Environment env = {};
  EXPECT_CASE(env, [] {
    if (hl_option_set("heap.superblock_size", "256KiB") != 0) return report(false, "set");
    return report(superblock_size_in_use() == 256 * 1024, "256KiB set before init was lost");
  });
}

TEST(OptionRace, TheEnvironmentWinsOverAValueSetBeforeInit) {
  const Environment env = {{"HOARDLAB_HEAP_SUPERBLOCK_SIZE", "16KiB"}};
  EXPECT_CASE(env, [] {
    if (hl_option_set("heap.superblock_size", "256KiB") != 0) return report(false, "set");
    return report(superblock_size_in_use() == 16 * 1024, "the environment's 16KiB did not win");
  });
}

TEST(OptionRace, AnInitOnlyOptionSetAfterInitIsRefusedWithAMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const Environment env = {};
  EXPECT_EXIT(run_case(env,
                       [] {
                         hl_free(hl_malloc(16));
                         return report(hl_option_set("heap.superblock_size", "128KiB") == -3,
                                       "not refused") &&
                                report(superblock_size_in_use() == 64 * 1024, "S changed");
                       }),
              ::testing::ExitedWithCode(0),
              "hl_option_set: heap.superblock_size applies only at init, and the allocator has "
              "started; unchanged");
}

// fork while another thread sets options: the child never inherits the options lock held by a
// thread it does not have, so its own set, get and exit-time report run. A hung child is ended by
// its alarm and counted as a failure.
TEST(OptionRace, AChildForkedWhileOptionsAreSetCanStillSetThem) {
  const Environment env = {};
  EXPECT_CASE(env, [] {
    hl_free(hl_malloc(16)); // the allocator runs: its fork handlers are registered
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> sets{0};
    std::thread setter([&stop, &sets] {
      while (!stop.load())
        for (const char* k : {"1", "2", "3"})
          if (hl_option_set("heap.emptiness_k", k) == 0) sets.fetch_add(1);
    });
    int hung_or_failed = 0;
    for (int i = 0; i < 20; ++i) {
      // Fork only while the setter is busy setting (it takes the options lock for each set).
      for (const std::uint64_t seen = sets.load(); sets.load() < seen + 100;)
        std::this_thread::yield();
      const pid_t child = fork();
      if (child == 0) {
        alarm(5);
        char text[16];
        const bool ok = hl_option_set("cache.batch", "9") == 0 &&
                        hl_option_get("cache.batch", text, sizeof(text)) == 0 &&
                        std::strcmp(text, "9") == 0;
        _exit(ok ? 0 : 1);
      }
      int status = 0;
      if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
          WEXITSTATUS(status) != 0)
        ++hung_or_failed;
    }
    stop = true;
    setter.join();
    return report(hung_or_failed == 0, "a forked child could not set or get an option");
  });
}

} // namespace
