// fork while other threads allocate: the prepare handler takes every heap and the pools, the
// child resets them and keeps allocating (DESIGN, "Fork").
#include <gtest/gtest.h>

#include <atomic>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "hoardlab/hoardlab.h"
#include "test_util.h"

namespace {

TEST(Fork, ChildAllocatesAndFreesWhileParentThreadsWereBusy) {
  hl_free(hl_malloc(1)); // the allocator (and its atfork handlers) is set up
  std::atomic<bool> stop{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; ++t)
    ts.emplace_back([&, t] {
      hoardlab::test::Rng r(static_cast<std::uint64_t>(t));
      std::vector<void*> ps;
      while (!stop.load()) {
        ps.push_back(hl_malloc(1 + r.below(3000)));
        if (ps.size() > 500) {
          for (void* p : ps)
            hl_free(p);
          ps.clear();
        }
      }
      for (void* p : ps)
        hl_free(p);
    });
  for (int round = 0; round < 5; ++round) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      std::vector<void*> ps;
      for (int i = 0; i < 20000; ++i) {
        void* p = hl_malloc(static_cast<std::size_t>(16 + i % 2000));
        if (p == nullptr) _exit(2);
        hoardlab::test::fill_pattern(p, 16, 1);
        ps.push_back(p);
      }
      for (void* p : ps) {
        if (!hoardlab::test::check_pattern(p, 16, 1)) _exit(3);
        hl_free(p);
      }
      void* big = hl_malloc(1 << 20);
      hl_free(big);
      _exit(hl_check_invariants() == 0 ? 0 : 4);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "round " << round;
  }
  stop.store(true);
  for (auto& t : ts)
    t.join();
  EXPECT_EQ(hl_check_invariants(), 0);
}

} // namespace
