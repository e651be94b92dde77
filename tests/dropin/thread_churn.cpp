// Thousands of short-lived threads hand blocks to each other: each thread takes the blocks the
// previous ones left in a shared mailbox, checks and frees them (remote frees into heaps whose
// threads have exited), allocates its own and leaves them for the next ones. Exercises thread
// exit (cache flush through the pthread key, then frees after it), and heaps of dead threads.
// Usage: dropin_thread_churn [threads] [concurrent] [seed]. Prints a summary, exits 0 when all
// blocks were intact.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace {

struct Block {
  unsigned char* p;
  std::size_t n;
  unsigned char tag;
};

std::mutex g_mailbox_lock;
std::vector<Block>* g_mailbox = nullptr; // allocated through the malloc under test
std::atomic<long> g_failures{0};
std::atomic<long> g_handed{0};

void fill(Block& b) {
  for (std::size_t i = 0; i < b.n; ++i)
    b.p[i] = static_cast<unsigned char>(b.tag ^ i);
}
bool intact(const Block& b) {
  for (std::size_t i = 0; i < b.n; ++i)
    if (b.p[i] != static_cast<unsigned char>(b.tag ^ i)) return false;
  return true;
}

// A thread-local object with a destructor that frees: glibc runs it during thread exit, after
// or around the allocator's own key destructor, and the free must still work.
struct ExitFree {
  void* p = nullptr;
  ~ExitFree() { std::free(p); }
};
thread_local ExitFree t_exit_free;

void one_thread(unsigned seed) {
  std::mt19937 rng(seed);
  t_exit_free.p = std::malloc(64 + rng() % 512);
  std::vector<Block> taken;
  {
    std::lock_guard<std::mutex> lock(g_mailbox_lock);
    const std::size_t take = std::min<std::size_t>(g_mailbox->size(), 8);
    for (std::size_t i = 0; i < take; ++i) {
      taken.push_back(g_mailbox->back());
      g_mailbox->pop_back();
    }
  }
  for (const Block& b : taken) {
    if (!intact(b)) g_failures.fetch_add(1);
    std::free(b.p);
  }
  std::vector<Block> mine;
  for (int i = 0; i < 8; ++i) {
    const std::size_t sizes[] = {16, 48, 128, 512, 2048, 9000, 70000};
    Block b{nullptr, sizes[rng() % 7] + rng() % 8, static_cast<unsigned char>(rng())};
    b.p = static_cast<unsigned char*>(std::malloc(b.n));
    if (b.p == nullptr) {
      g_failures.fetch_add(1);
      continue;
    }
    fill(b);
    mine.push_back(b);
  }
  // Keep some for ourselves briefly (local frees), hand the rest on.
  for (int i = 0; i < 2 && !mine.empty(); ++i) {
    if (!intact(mine.back())) g_failures.fetch_add(1);
    std::free(mine.back().p);
    mine.pop_back();
  }
  std::lock_guard<std::mutex> lock(g_mailbox_lock);
  for (const Block& b : mine)
    g_mailbox->push_back(b);
  g_handed.fetch_add(static_cast<long>(mine.size()));
}

} // namespace

int main(int argc, char** argv) {
  const int total = argc > 1 ? std::atoi(argv[1]) : 4000;
  const int concurrent = argc > 2 ? std::atoi(argv[2]) : 8;
  const unsigned seed = argc > 3 ? static_cast<unsigned>(std::atoi(argv[3])) : 7;
  g_mailbox = new std::vector<Block>();
  int started = 0;
  while (started < total) {
    std::vector<std::thread> wave;
    for (int i = 0; i < concurrent && started < total; ++i, ++started)
      wave.emplace_back(one_thread, seed + static_cast<unsigned>(started));
    for (auto& t : wave)
      t.join();
  }
  for (const Block& b : *g_mailbox) {
    if (!intact(b)) g_failures.fetch_add(1);
    std::free(b.p);
  }
  delete g_mailbox;
  std::printf("threads=%d handed=%ld failures=%ld\n", started, g_handed.load(), g_failures.load());
  return g_failures.load() == 0 ? 0 : 1;
}
