// Fork while four threads allocate. The process registers its own atfork handlers that
// malloc (prepare runs them before the allocator's own prepare in the reverse order of
// registration, so whether they run inside or outside the allocator's fork window, they must
// not deadlock). Each child allocates, checks its blocks, and exits; the parent checks every
// child's status and its own blocks' patterns.
// Usage: dropin_fork_stress [seconds] [seed]. Prints "forks=N children_ok=N" and exits 0.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <pthread.h>
#include <random>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

std::atomic<bool> g_stop{false};
std::atomic<long> g_failures{0};
void* g_prepare_block = nullptr;

void prepare_handler() {
  // Other libraries' prepare handlers malloc; this one stands in for them.
  g_prepare_block = std::malloc(100);
  if (g_prepare_block != nullptr) std::memset(g_prepare_block, 0x5a, 100);
}
void parent_handler() {
  std::free(g_prepare_block);
  g_prepare_block = nullptr;
}
void child_handler() {
  void* p = std::malloc(300);
  if (p == nullptr) g_failures.fetch_add(1);
  std::free(p);
  std::free(g_prepare_block);
  g_prepare_block = nullptr;
}

bool check_pattern(const unsigned char* p, std::size_t n, unsigned char tag) {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] != static_cast<unsigned char>(tag + i)) return false;
  return true;
}
void fill_pattern(unsigned char* p, std::size_t n, unsigned char tag) {
  for (std::size_t i = 0; i < n; ++i)
    p[i] = static_cast<unsigned char>(tag + i);
}

struct Block {
  unsigned char* p = nullptr;
  std::size_t n = 0;
  unsigned char tag = 0;
};

void worker(unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<Block> live(512);
  while (!g_stop.load(std::memory_order_relaxed)) {
    Block& b = live[rng() % live.size()];
    if (b.p != nullptr) {
      if (!check_pattern(b.p, b.n, b.tag)) g_failures.fetch_add(1);
      std::free(b.p);
      b.p = nullptr;
    }
    const std::size_t sizes[] = {8, 24, 64, 200, 1000, 4000, 40000, 200000};
    b.n = sizes[rng() % 8] + rng() % 16;
    b.tag = static_cast<unsigned char>(rng());
    b.p = static_cast<unsigned char*>(std::malloc(b.n));
    if (b.p == nullptr) {
      g_failures.fetch_add(1);
      continue;
    }
    fill_pattern(b.p, b.n, b.tag);
  }
  for (Block& b : live) {
    if (b.p != nullptr && !check_pattern(b.p, b.n, b.tag)) g_failures.fetch_add(1);
    std::free(b.p);
  }
}

// In the child only async-signal-safe calls are promised by POSIX, but a drop-in malloc must
// work there too (programs do call malloc between fork and exec): allocate, check, exit.
int child_body(unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<Block> blocks(64);
  for (Block& b : blocks) {
    b.n = 16 + rng() % 5000;
    b.tag = static_cast<unsigned char>(rng());
    b.p = static_cast<unsigned char*>(std::malloc(b.n));
    if (b.p == nullptr) return 3;
    fill_pattern(b.p, b.n, b.tag);
  }
  // A thread in the child: the allocator must work after its locks were reset.
  int thread_result = 0;
  std::thread t([&] {
    void* q = std::malloc(777);
    thread_result = q == nullptr ? 4 : 0;
    std::free(q);
  });
  t.join();
  for (Block& b : blocks) {
    if (!check_pattern(b.p, b.n, b.tag)) return 5;
    std::free(b.p);
  }
  return thread_result;
}

} // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  const unsigned seed = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : 42;
  pthread_atfork(prepare_handler, parent_handler, child_handler);

  std::vector<std::thread> threads;
  for (unsigned i = 0; i < 4; ++i)
    threads.emplace_back(worker, seed + i);

  long forks = 0, children_ok = 0;
  std::thread forker([&] {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      const pid_t pid = fork();
      if (pid < 0) {
        g_failures.fetch_add(1);
        break;
      }
      if (pid == 0) _exit(child_body(seed * 7919u + static_cast<unsigned>(forks)));
      ++forks;
      int status = 0;
      // A child that hangs on a lock inherited from a thread that no longer exists is the
      // failure this test looks for: give it 10 s, then kill it and count it.
      bool reaped = false;
      for (int i = 0; i < 1000 && !reaped; ++i) {
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
          reaped = true;
        else
          usleep(10000);
      }
      if (!reaped) {
        std::fprintf(stderr, "child %d hung after fork\n", static_cast<int>(pid));
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
      }
      if (reaped && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        ++children_ok;
      else if (reaped)
        std::fprintf(stderr, "child failed: status %d\n", status);
    }
  });
  forker.join();
  g_stop.store(true);
  for (auto& t : threads)
    t.join();
  std::printf("forks=%ld children_ok=%ld failures=%ld\n", forks, children_ok, g_failures.load());
  return (forks > 0 && children_ok == forks && g_failures.load() == 0) ? 0 : 1;
}
