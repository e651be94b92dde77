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
// The initing thread is held inside init deterministically: HOARDLAB_CONFIG names a FIFO, whose
// open and read block until this thread writes to it. The fork then happens before init has
// registered hoardlab's fork handlers, so nothing waits for it: the child has an init under way
// and not the thread that ran it.
[[noreturn]] void fork_while_another_thread_inits() {
  alarm(20);
  char dir[] = "/tmp/hoardlab-fork-init-XXXXXX";
  if (mkdtemp(dir) == nullptr) _exit(92);
  const std::string fifo = std::string(dir) + "/config.toml";
  const std::string empty = std::string(dir) + "/empty.toml";
  if (mkfifo(fifo.c_str(), 0600) != 0) _exit(93);
  const int e = open(empty.c_str(), O_WRONLY | O_CREAT, 0600);
  if (e < 0) _exit(94);
  close(e);
  setenv("HOARDLAB_CONFIG", fifo.c_str(), 1);
  std::thread initer([] { hl_free(hl_malloc(10)); });
  // A non-blocking open for writing succeeds once a reader has the FIFO open: the initer is
  // inside init, reading the options file.
  int w = -1;
  while ((w = open(fifo.c_str(), O_WRONLY | O_NONBLOCK)) < 0)
    usleep(1000);
  const pid_t pid = fork();
  if (pid < 0) _exit(95);
  if (pid == 0) {
    alarm(10);
    setenv("HOARDLAB_CONFIG", empty.c_str(), 1); // no writer here for the FIFO
    std::vector<void*> ps;
    for (std::size_t n : {std::size_t{10}, std::size_t{100}, std::size_t{100000}})
      ps.push_back(hl_malloc(n));
    for (void* p : ps)
      if (p == nullptr) _exit(3);
    for (void* p : ps)
      hl_free(p);
    _exit(hl_check_invariants() != 0 ? 4 : 0);
  }
  const char text[] = "# nothing set\n";
  if (write(w, text, sizeof(text) - 1) < 0) _exit(96);
  close(w);
  initer.join();
  const int child = exit_code_of(pid);
  unlink(fifo.c_str());
  unlink(empty.c_str());
  rmdir(dir);
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
