// Multi-thread stress over hl_*: every block is patterned and checked before it is freed, by
// its own thread or by another one (cross-thread frees), with realloc, calloc and aligned
// allocation mixed in. Time-boxed and seeded.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "hoardlab/hoardlab.h"
#include "test_util.h"

namespace {

using hoardlab::test::check_pattern;
using hoardlab::test::Deadline;
using hoardlab::test::fill_pattern;
using hoardlab::test::Rng;

struct Block {
  void* p;
  std::size_t n;
  std::uint8_t tag;
};

// Blocks handed between threads; freed by whichever thread takes them.
class Exchange {
public:
  void put(const Block& b) {
    std::lock_guard<std::mutex> g(m_);
    q_.push_back(b);
  }
  bool take(Block* b) {
    std::lock_guard<std::mutex> g(m_);
    if (q_.empty()) return false;
    *b = q_.back();
    q_.pop_back();
    return true;
  }
  std::vector<Block> drain() {
    std::lock_guard<std::mutex> g(m_);
    return std::move(q_);
  }

private:
  std::mutex m_;
  std::vector<Block> q_;
};

std::size_t pick_size(Rng& r) {
  std::uint64_t k = r.below(100);
  if (k < 60) return 1 + r.below(128);
  if (k < 90) return 129 + r.below(4000);
  if (k < 99) return 4096 + r.below(28000);
  return 33000 + r.below(300000); // large objects
}

void worker(int id, double seconds, Exchange& ex, std::atomic<long>& errors,
            std::atomic<long>& ops) {
  Rng r(0x5eed0000u + static_cast<std::uint64_t>(id));
  std::vector<Block> mine;
  Deadline d(seconds);
  long n = 0;
  auto bad = [&](const char*) { errors.fetch_add(1); };
  while (!d.passed() || n < 2000) {
    ++n;
    std::uint64_t op = r.below(100);
    if (op < 35 || mine.empty()) {
      std::size_t size = pick_size(r);
      void* p = nullptr;
      std::uint64_t kind = r.below(10);
      if (kind == 0) {
        p = hl_calloc(1, size);
        if (p == nullptr)
          bad("calloc");
        else
          for (std::size_t i = 0; i < size; ++i)
            if (static_cast<unsigned char*>(p)[i] != 0) {
              bad("calloc not zero");
              break;
            }
      } else if (kind == 1) {
        std::size_t a = std::size_t{16} << r.below(9);
        if (hl_posix_memalign(&p, a, size) != 0 || reinterpret_cast<std::uintptr_t>(p) % a != 0)
          bad("memalign");
      } else {
        p = hl_malloc(size);
      }
      if (p == nullptr) {
        bad("null");
        continue;
      }
      auto tag = static_cast<std::uint8_t>(r.next());
      fill_pattern(p, size, tag);
      mine.push_back({p, size, tag});
    } else if (op < 45) {
      std::size_t i = r.below(mine.size());
      Block& b = mine[i];
      if (!check_pattern(b.p, b.n, b.tag)) bad("pattern before realloc");
      std::size_t size = pick_size(r);
      void* q = hl_realloc(b.p, size);
      if (q == nullptr) {
        bad("realloc");
        continue;
      }
      std::size_t keep = size < b.n ? size : b.n;
      if (!check_pattern(q, keep, b.tag)) bad("pattern after realloc");
      fill_pattern(q, size, b.tag);
      b.p = q;
      b.n = size;
    } else if (op < 65) {
      std::size_t i = r.below(mine.size());
      ex.put(mine[i]); // another thread frees it
      mine[i] = mine.back();
      mine.pop_back();
    } else if (op < 80) {
      Block b{};
      if (ex.take(&b)) {
        if (!check_pattern(b.p, b.n, b.tag)) bad("pattern of a handed-over block");
        hl_free(b.p);
      }
    } else {
      std::size_t i = r.below(mine.size());
      if (!check_pattern(mine[i].p, mine[i].n, mine[i].tag)) bad("pattern before free");
      if (r.below(2) == 0)
        hl_free_sized(mine[i].p, mine[i].n);
      else
        hl_free(mine[i].p);
      mine[i] = mine.back();
      mine.pop_back();
    }
    if (mine.size() > 2000) {
      for (auto& b : mine) {
        if (!check_pattern(b.p, b.n, b.tag)) bad("pattern at trim");
        hl_free(b.p);
      }
      mine.clear();
    }
  }
  for (auto& b : mine) {
    if (!check_pattern(b.p, b.n, b.tag)) bad("pattern at end");
    hl_free(b.p);
  }
  ops.fetch_add(n);
}

TEST(Stress, PatternedBlocksSurviveCrossThreadFreesReallocAndAlignedAllocation) {
  constexpr int kThreads = 6; // more threads than PUs on small machines: 2 x PUs heaps
  std::atomic<long> errors{0};
  std::atomic<long> ops{0};
  Exchange ex;
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i)
    ts.emplace_back(worker, i, 4.0, std::ref(ex), std::ref(errors), std::ref(ops));
  for (auto& t : ts)
    t.join();
  for (const Block& b : ex.drain()) {
    EXPECT_TRUE(check_pattern(b.p, b.n, b.tag));
    hl_free(b.p);
  }
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(ops.load(), kThreads * 2000L - 1);
  EXPECT_EQ(hl_check_invariants(), 0);
  hl_collect();
  hl_stats s{};
  hl_stats_get(&s);
  EXPECT_EQ(s.frees, s.allocations) << "every block allocated was freed";
  EXPECT_EQ(hl_check_invariants(), 0);
}

TEST(Stress, ThreadsThatExitReturnTheirCachesAndHeapsAreReused) {
  for (int round = 0; round < 20; ++round) {
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; ++i)
      ts.emplace_back([i, round] {
        std::vector<void*> ps;
        for (int k = 0; k < 2000; ++k)
          ps.push_back(hl_malloc(static_cast<std::size_t>(16 + (k + i + round) % 300)));
        for (void* p : ps)
          hl_free(p);
      });
    for (auto& t : ts)
      t.join();
  }
  hl_collect();
  hl_stats s{};
  hl_stats_get(&s);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(hl_check_invariants(), 0);
}

} // namespace
