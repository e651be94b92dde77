// Multi-thread stress over hl_*: every block is patterned and checked before it is freed, by
// its own thread or by another one (cross-thread frees), with realloc, calloc and aligned
// allocation mixed in. Time-boxed and seeded.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
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

// Large objects grown by realloc move (mremap) and free their old range, which another thread
// may map again at once: the move must never unmark that thread's new object, or its free is
// ignored (a leak) and its realloc refused as foreign.
TEST(Stress, LargeObjectsStayOwnedWhileOtherThreadsMoveTheirsByRealloc) {
  constexpr int kThreads = 4;
  std::atomic<long> lost{0};
  std::atomic<long> failed{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([t, &lost, &failed] {
      Rng r(0x1a46e000u + static_cast<std::uint64_t>(t));
      Deadline d(1.5);
      std::vector<Block> mine;
      for (long n = 0; !d.passed() || n < 3000; ++n) {
        std::uint64_t op = r.below(3);
        if (op == 0 || mine.empty()) {
          std::size_t size = 33000 + r.below(100000);
          void* p = hl_malloc(size);
          if (p == nullptr) {
            failed.fetch_add(1);
            continue;
          }
          mine.push_back({p, size, static_cast<std::uint8_t>(r.next())});
        } else if (op == 1) {
          Block& b = mine[r.below(mine.size())];
          std::size_t size = b.n + 4096 + r.below(64 * 1024); // grows: mremap, often moving
          void* q = hl_realloc(b.p, size);
          if (q == nullptr) {
            failed.fetch_add(1);
            continue;
          }
          b.p = q;
          b.n = size;
        } else {
          std::size_t i = r.below(mine.size());
          hl_free(mine[i].p);
          mine[i] = mine.back();
          mine.pop_back();
        }
        for (const Block& b : mine)
          if (hl_owns(b.p) == 0) lost.fetch_add(1);
        if (mine.size() > 16) {
          for (const Block& b : mine)
            hl_free(b.p);
          mine.clear();
        }
      }
      for (const Block& b : mine)
        hl_free(b.p);
    });
  for (auto& th : ts)
    th.join();
  EXPECT_EQ(lost.load(), 0) << "a live large object was taken for a foreign pointer";
  EXPECT_EQ(failed.load(), 0) << "malloc or realloc of a large object failed";
}

// Large objects reallocated up and down (grown in place into cached pages, into a cached run by a
// copy, or moved by mremap; shrunk, their tails cached or unmapped) by some threads while others
// allocate and free large objects: no two live objects may ever share a page. Every 8-byte word
// of an object holds its owner's stamp for that word, checked before and after each operation
// on the object and over all of a thread's objects between operations, so an overlap (a run
// handed out from the cache while in use, a joined run covering a live one, mremap moving onto
// cached pages) shows as a foreign word without a race detector. Under TSan the moves also check
// that a page vacated by one thread's mremap and reused by another's is not reported as a race
// (pal.cpp, [RM1] and [RM2]).
struct Stamped {
  std::uint64_t* p;
  std::size_t words;
  std::uint64_t tag;
};
std::uint64_t stamp_of(std::uint64_t tag, std::size_t i) {
  return tag ^ (i * 0x9e3779b97f4a7c15ull);
}
void stamp(const Stamped& o, std::size_t from) {
  for (std::size_t i = from; i < o.words; ++i)
    o.p[i] = stamp_of(o.tag, i);
}
bool stamped(const Stamped& o, std::size_t words) {
  for (std::size_t i = 0; i < words; ++i)
    if (o.p[i] != stamp_of(o.tag, i)) return false;
  return true;
}

TEST(Stress, LargeObjectsReallocatedUpAndDownNeverShareAPageWithAnotherLiveObject) {
  constexpr int kMovers = 3;   // realloc their objects up and down
  constexpr int kChurners = 2; // malloc and free theirs
  constexpr std::size_t kMaxObjects = 6;
  constexpr std::size_t kMinWords = (20u << 10) / 8;  // above the large threshold
  constexpr std::size_t kMaxWords = (768u << 10) / 8; // objects up to 768 KiB
  // The cache's bound flips between 1 MiB and its default while the threads run: with room,
  // growths take cached pages (in place or by a copy); without, they move by mremap and
  // freed runs and shrunk tails are unmapped, so every path of the large layer is taken.
  char bound[32] = {};
  ASSERT_EQ(hl_option_get("large.cache_bytes", bound, sizeof(bound)), 0);
  std::atomic<long> overlaps{0};
  std::atomic<long> lost{0};
  std::atomic<long> failed{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kMovers + kChurners; ++t)
    ts.emplace_back([t, &overlaps, &lost, &failed] {
      const bool mover = t < kMovers;
      Rng r(0x0e7a9000u + static_cast<std::uint64_t>(t));
      Deadline d(1.0);
      std::vector<Stamped> mine;
      auto words = [&r] { return kMinWords + r.below(kMaxWords - kMinWords); };
      for (long n = 0; !d.passed() || n < 150; ++n) {
        if (t == kMovers && n % 64 == 0)
          (void)hl_option_set("large.cache_bytes", n % 128 == 0 ? "1MiB" : "32MiB");
        if (mine.size() < kMaxObjects && (mine.empty() || r.below(4) == 0)) {
          Stamped o{nullptr, words(), r.next() | 1};
          o.p = static_cast<std::uint64_t*>(hl_malloc(o.words * 8));
          if (o.p == nullptr) {
            failed.fetch_add(1);
            continue;
          }
          stamp(o, 0);
          mine.push_back(o);
        } else if (mover) {
          Stamped& o = mine[r.below(mine.size())];
          if (!stamped(o, o.words)) overlaps.fetch_add(1);
          std::size_t to = words();
          auto* q = static_cast<std::uint64_t*>(hl_realloc(o.p, to * 8));
          if (q == nullptr) {
            failed.fetch_add(1);
            continue;
          }
          std::size_t kept = to < o.words ? to : o.words;
          o.p = q;
          o.words = to;
          if (!stamped(o, kept)) overlaps.fetch_add(1);
          stamp(o, kept);
        } else {
          std::size_t i = r.below(mine.size());
          if (!stamped(mine[i], mine[i].words)) overlaps.fetch_add(1);
          hl_free(mine[i].p);
          mine[i] = mine.back();
          mine.pop_back();
        }
        for (const Stamped& o : mine) {
          if (hl_owns(o.p) == 0) lost.fetch_add(1);
          // Between the full checks, the first word of each page and the object's last word:
          // cheap, and a whole page handed to another object shows there too.
          for (std::size_t i = 0; i < o.words; i += 512)
            if (o.p[i] != stamp_of(o.tag, i)) overlaps.fetch_add(1);
          if (o.p[o.words - 1] != stamp_of(o.tag, o.words - 1)) overlaps.fetch_add(1);
        }
      }
      for (const Stamped& o : mine) {
        if (!stamped(o, o.words)) overlaps.fetch_add(1);
        hl_free(o.p);
      }
    });
  for (auto& th : ts)
    th.join();
  ASSERT_EQ(hl_option_set("large.cache_bytes", bound), 0);
  EXPECT_EQ(overlaps.load(), 0) << "a live large object's words were written by another owner";
  EXPECT_EQ(lost.load(), 0) << "a live large object was taken for a foreign pointer";
  EXPECT_EQ(failed.load(), 0) << "malloc or realloc of a large object failed";
}

// hl_option_set changes run-time options while other threads allocate and free: the allocator
// reads them race-free (under TSan a plain store/load pair would be reported and fail the run).
TEST(Stress, OptionsChangedWhileThreadsAllocateAreReadWithoutADataRace) {
  // The allocator starts (and reads its options) first: setting options concurrently with the
  // very first malloc is the options table's loading question, not this test's.
  hl_free(hl_malloc(1));
  std::atomic<bool> stop{false};
  std::atomic<long> errors{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; ++t)
    ts.emplace_back([t, &stop, &errors] {
      Rng r(0x0b7e0000u + static_cast<std::uint64_t>(t));
      std::vector<void*> ps;
      while (!stop.load()) {
        for (int i = 0; i < 500; ++i) {
          void* p = hl_malloc(1 + r.below(4000));
          if (p == nullptr) errors.fetch_add(1);
          ps.push_back(p);
        }
        for (void* p : ps)
          hl_free(p);
        ps.clear();
      }
    });
  const char* f_values[] = {"1/2", "1/8", "0.25"};
  const char* batch_values[] = {"4", "64", "32"};
  const char* k_values[] = {"0", "8", "4"};
  const char* policies[] = {"heap-queue", "owner-lock", "superblock-list"};
  Deadline d(1.0);
  for (int i = 0; !d.passed() || i < 30; ++i) {
    EXPECT_EQ(hl_option_set("heap.emptiness_f", f_values[i % 3]), 0);
    EXPECT_EQ(hl_option_set("heap.emptiness_k", k_values[i % 3]), 0);
    EXPECT_EQ(hl_option_set("cache.batch", batch_values[i % 3]), 0);
    EXPECT_EQ(hl_option_set("heap.drain_threshold", batch_values[i % 3]), 0);
    EXPECT_EQ(hl_option_set("purge.retain_superblocks", k_values[i % 3]), 0);
    EXPECT_EQ(hl_option_set("remote.policy", policies[i % 3]), 0);
    EXPECT_EQ(hl_option_set("remote.batch", batch_values[i % 3]), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop.store(true);
  for (auto& th : ts)
    th.join();
  EXPECT_EQ(hl_option_set("heap.emptiness_f", "1/4"), 0);
  EXPECT_EQ(hl_option_set("heap.emptiness_k", "4"), 0);
  EXPECT_EQ(hl_option_set("cache.batch", "32"), 0);
  EXPECT_EQ(hl_option_set("heap.drain_threshold", "256"), 0);
  EXPECT_EQ(hl_option_set("purge.retain_superblocks", "16"), 0);
  EXPECT_EQ(hl_option_set("remote.policy", "superblock-list"), 0);
  EXPECT_EQ(hl_option_set("remote.batch", "64"), 0);
  char buf[32];
  ASSERT_EQ(hl_option_get("cache.batch", buf, sizeof(buf)), 0);
  EXPECT_STREQ(buf, "32");
  EXPECT_EQ(errors.load(), 0);
  hl_collect();
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
