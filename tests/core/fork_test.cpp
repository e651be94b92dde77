// fork while other threads allocate: the prepare handler takes every heap and the pools, the
// child resets them and keeps allocating (DESIGN, "Fork"); other fork handlers that allocate
// while it holds them; a fork while another thread runs the allocator's lazy init.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <pthread.h>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "config/options.h"
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

// ---- fork handlers registered before the allocator's init ----
// pthread_atfork runs prepare handlers in reverse order of registration and parent and child
// handlers in order. A handler the program registers before its first allocation (the init,
// which registers hoardlab's handlers) therefore runs its prepare after hoardlab's prepare has
// taken every heap, arena lock and large-object lock, and its parent or child handler before
// hoardlab's releases them. Each case runs in a fresh process (a threadsafe death test), where
// the allocator is not initialised yet; a hang ends by SIGALRM, which fails the expectation.

enum class Slot { kPrepare, kParent, kChild };

std::atomic<bool> g_handler_failed{false};

// A small block of a class not used before (a fresh superblock: the arena's carving lock), a
// medium one, and large ones (the large objects' cache and carving locks).
void allocate_in_handler() {
  for (std::size_t n :
       {std::size_t{100}, std::size_t{5000}, std::size_t{100000}, std::size_t{3} << 20}) {
    void* p = hl_malloc(n);
    if (p == nullptr) {
      g_handler_failed.store(true);
      continue;
    }
    std::memset(p, 0x5a, 64);
    hl_free(p);
  }
}

void alarm_in_child() {
  alarm(10); // a pending alarm is not inherited: the child gets its own time box
}

int exit_code_of(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return 90;
  if (WIFSIGNALED(status)) return 100 + WTERMSIG(status);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 91;
}

[[noreturn]] void fork_with_handler_registered_before_init(Slot slot, bool init_elsewhere) {
  alarm(10);
  pthread_atfork(nullptr, nullptr, alarm_in_child); // first of the child handlers
  pthread_atfork(slot == Slot::kPrepare ? allocate_in_handler : nullptr,
                 slot == Slot::kParent ? allocate_in_handler : nullptr,
                 slot == Slot::kChild ? allocate_in_handler : nullptr);
  if (init_elsewhere) // the forking thread then has no thread cache yet (the registry's lock)
    std::thread([] { hl_free(hl_malloc(10)); }).join();
  else
    hl_free(hl_malloc(10));
  const pid_t pid = fork();
  if (pid < 0) _exit(92);
  if (pid == 0) {
    void* p = hl_malloc(200000);
    hl_free(p);
    _exit(g_handler_failed.load() ? 3 : p == nullptr ? 4 : hl_check_invariants() != 0 ? 5 : 0);
  }
  const int child = exit_code_of(pid);
  if (child != 0) _exit(child);
  void* p = hl_malloc(200000);
  hl_free(p);
  _exit(g_handler_failed.load() ? 3 : p == nullptr ? 4 : hl_check_invariants() != 0 ? 5 : 0);
}

TEST(ForkHandlersRegisteredBeforeInit, APrepareHandlerAllocatesWhileHoardlabsPrepareHoldsAll) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(fork_with_handler_registered_before_init(Slot::kPrepare, false),
              testing::ExitedWithCode(0), "");
}

TEST(ForkHandlersRegisteredBeforeInit, AParentHandlerAllocatesBeforeHoardlabsParentReleases) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(fork_with_handler_registered_before_init(Slot::kParent, false),
              testing::ExitedWithCode(0), "");
}

TEST(ForkHandlersRegisteredBeforeInit, AChildHandlerAllocatesBeforeHoardlabsChildResets) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(fork_with_handler_registered_before_init(Slot::kChild, false),
              testing::ExitedWithCode(0), "");
}

TEST(ForkHandlersRegisteredBeforeInit, APrepareHandlerOnAThreadWithoutACacheMakesOne) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(fork_with_handler_registered_before_init(Slot::kPrepare, true),
              testing::ExitedWithCode(0), "");
}

// ---- fork while another thread runs the lazy init ----
// The initing thread is held inside the options' load deterministically: stderr is a pipe
// filled to the brim and the environment holds an unknown HOARDLAB_ variable, so the load's
// message blocks in write(2), with the options lock held, until this thread drains the pipe.
// (A FIFO as the config file did it before; config files are now opened without blocking.)
// The fork then happens before init has registered hoardlab's fork handlers, so nothing waits
// for it: the child has an init and a load under way and not the thread that ran them.
[[noreturn]] void fork_while_another_thread_inits() {
  alarm(20);
  const int saved_stderr = dup(2);
  int fds[2];
  if (saved_stderr < 0 || pipe(fds) != 0) _exit(92);
  if (fcntl(fds[1], F_SETFL, O_NONBLOCK) != 0) _exit(93);
  const char byte = '.';
  while (write(fds[1], &byte, 1) == 1) {
  }
  if (fcntl(fds[1], F_SETFL, 0) != 0 || dup2(fds[1], 2) < 0) _exit(94);
  setenv("HOARDLAB_NO_SUCH_OPTION", "1", 1);
  std::thread initer([] { hl_free(hl_malloc(10)); });
  // loaded() turns true when the load has begun, under the options lock it then holds.
  while (!hoardlab::config::loaded())
    usleep(1000);
  usleep(20000); // on into the blocked write (holding the lock either way)
  const pid_t pid = fork();
  if (pid < 0) _exit(95);
  if (pid == 0) {
    alarm(10);
    const int null = open("/dev/null", O_WRONLY);
    if (null < 0 || dup2(null, 2) < 0) _exit(2);
    unsetenv("HOARDLAB_NO_SUCH_OPTION");
    std::vector<void*> ps;
    for (std::size_t n : {std::size_t{10}, std::size_t{100}, std::size_t{100000}})
      ps.push_back(hl_malloc(n));
    for (void* p : ps)
      if (p == nullptr) _exit(3);
    for (void* p : ps)
      hl_free(p);
    _exit(hl_check_invariants() != 0 ? 4 : 0);
  }
  // Drain the pipe until the initer's message is through; then stderr is restored.
  std::thread drain([&] {
    char buf[4096];
    while (read(fds[0], buf, sizeof(buf)) > 0) {
    }
  });
  initer.join();
  dup2(saved_stderr, 2);
  close(fds[1]);
  drain.join();
  close(fds[0]);
  const int child = exit_code_of(pid);
  if (child != 0) _exit(child);
  void* p = hl_malloc(100);
  hl_free(p);
  _exit(p == nullptr ? 6 : hl_check_invariants() != 0 ? 7 : 0);
}

TEST(ForkDuringInit, TheChildRunsTheInitItselfWhenTheInitingThreadStayedInTheParent) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(fork_while_another_thread_inits(), testing::ExitedWithCode(0), "");
}

} // namespace
