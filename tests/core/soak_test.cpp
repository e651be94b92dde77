// Soak: threads of a ring hand blocks of mixed sizes to the next one (producer/consumer) and
// now and then free a quarter of theirs at once, under constant live memory for a minute
// (HL_TEST_SOAK_SECONDS; shorter under the sanitizers). Carved superblock space and resident memory
// stop growing after a warm-up, and every remote free reaches its superblock by the end. Run with
// purge.background on and off (this executable's environment): the passes of either mode must not
// make heaps carve while they hold the pool.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "hoardlab/hoardlab.h"
#include "mem/internal.h"
#include "pal/pal.h"
#include "test_util.h"

namespace {

namespace mem = hoardlab::mem;
using hoardlab::test::Rng;
using Clock = std::chrono::steady_clock;

constexpr int kThreads = 4;
constexpr std::size_t kSlots = 4096;   // live blocks per thread, replaced one at a time
constexpr std::size_t kMailbox = 1024; // blocks in flight from one thread to the next, at most,
constexpr std::size_t kMailboxBytes = 256 * 1024; // and bytes
constexpr std::size_t kMaxBlock = 8192; // mixed small sizes, all below the large threshold

double soak_seconds() {
  const char* s = std::getenv("HL_TEST_SOAK_SECONDS");
  double v = s != nullptr ? std::atof(s) : 0.0;
  return v > 0.0 ? v : 60.0;
}

// Mostly small blocks, some of a few KiB (the mix of the blowup and stress tests, without the
// large objects, whose pages are not carved from the arenas).
std::uint32_t pick_size(Rng& r) {
  const std::uint64_t k = r.below(100);
  if (k < 60) return static_cast<std::uint32_t>(16 + r.below(241));
  if (k < 90) return static_cast<std::uint32_t>(257 + r.below(1792));
  return static_cast<std::uint32_t>(2049 + r.below(kMaxBlock - 2048));
}

// Each block carries its size and a stamp in its first words, and the stamp again in its last word
// when that does not overlap them; both are checked at its free.
struct Stamp {
  std::uint64_t size;
  std::uint64_t tag;
};
bool has_tail(std::uint64_t size) {
  return size >= sizeof(Stamp) + sizeof(std::uint64_t);
}
void stamp(void* p, std::uint32_t size, std::uint64_t tag) {
  const Stamp s{size, tag};
  std::memcpy(p, &s, sizeof(s));
  if (has_tail(size)) std::memcpy(static_cast<char*>(p) + size - sizeof(tag), &tag, sizeof(tag));
}
bool stamp_intact(const void* p) {
  Stamp s{};
  std::memcpy(&s, p, sizeof(s));
  if (s.size < sizeof(Stamp) || s.size > kMaxBlock) return false;
  if (!has_tail(s.size)) return true;
  std::uint64_t tail = 0;
  std::memcpy(&tail, static_cast<const char*>(p) + s.size - sizeof(tail), sizeof(tail));
  return tail == s.tag;
}

// Single producer, single consumer; a full mailbox makes the producer free the block itself. It
// holds at most kMailboxBytes: the only part of the live memory that varies.
class Mailbox {
public:
  bool put(void* p, std::uint32_t size) {
    const std::uint64_t t = tail_.load();
    if (t - head_.load() == kMailbox || bytes_.load() + size > kMailboxBytes) return false;
    slots_[t % kMailbox] = {p, size};
    bytes_.fetch_add(size);
    tail_.store(t + 1);
    return true;
  }
  template <typename F>
  void take_all(F f) {
    std::uint64_t h = head_.load();
    const std::uint64_t t = tail_.load();
    for (; h != t; ++h) {
      const Letter l = slots_[h % kMailbox];
      f(l.p);
      bytes_.fetch_sub(l.size);
    }
    head_.store(h);
  }

private:
  struct Letter {
    void* p;
    std::uint32_t size;
  };
  std::atomic<std::uint64_t> head_{0};
  std::atomic<std::uint64_t> tail_{0};
  std::atomic<std::uint64_t> bytes_{0};
  Letter slots_[kMailbox] = {};
};

// Bytes carved from fresh space so far on every node (Arena::carved_bytes only grows).
std::uint64_t carved_bytes() {
  std::uint64_t bytes = 0;
  for (unsigned node = 0; node < mem::g.nodes; ++node)
    bytes += mem::g.arenas[node].carved_bytes.load_relaxed();
  return bytes;
}

unsigned heaps_holding_superblocks() {
  hl_stats s{};
  hl_stats_get(&s);
  unsigned n = 0;
  for (std::uint32_t i = 0; i < s.heaps; ++i) {
    hl_heap_stats hs{};
    if (hl_stats_heap(i, &hs) == 0 && hs.superblocks != 0) ++n;
  }
  return n;
}

// The size classes pick_size reaches.
std::size_t classes_in_use() {
  std::set<std::size_t> cls;
  for (std::size_t n = 16; n <= kMaxBlock; ++n)
    cls.insert(mem::g.classes.class_of(n));
  return cls.size();
}

struct Worker {
  Mailbox* in;
  Mailbox* out;
  std::atomic<bool>* stop;
  std::atomic<long>* errors;
  long ops = 0;
  long sent = 0;

  void run(int id) {
    Rng r(0x50a4000u + static_cast<std::uint64_t>(id));
    // Each slot keeps its size for the whole run: the live bytes in the slots never change.
    std::vector<std::uint32_t> sizes(kSlots);
    std::vector<void*> slots(kSlots);
    auto fresh = [&](std::size_t i) {
      const std::uint32_t n = sizes[i];
      void* p = r.below(16) == 0 ? hl_calloc(1, n) : hl_malloc(n);
      if (p == nullptr) {
        errors->fetch_add(1);
        return;
      }
      stamp(p, n, r.next());
      slots[i] = p;
    };
    auto release = [&](void* p) {
      if (!stamp_intact(p)) errors->fetch_add(1);
      hl_free(p);
    };
    // A live block leaves its slot: handed to the next thread (a remote free there) half the time
    // when its mailbox has room, else freed here.
    auto retire = [&](std::size_t i) {
      if (r.below(2) == 0 && out->put(slots[i], sizes[i]))
        ++sent;
      else
        release(slots[i]);
      slots[i] = nullptr;
    };
    for (std::size_t i = 0; i < kSlots; ++i) {
      sizes[i] = pick_size(r);
      fresh(i);
    }
    std::size_t burst = 0;
    while (!stop->load(std::memory_order_relaxed)) {
      in->take_all(release); // the previous thread's blocks: remote frees
      // Now and then a quarter of the slots at once, as a phase of a program ends: superblocks
      // empty, go to the pool and come back, while passes go over the pool.
      if (r.below(64) == 0) {
        for (std::size_t n = 0; n < kSlots / 4; ++n, burst = (burst + 1) % kSlots) {
          if (slots[burst] != nullptr) retire(burst);
        }
        for (std::size_t i = 0; i < kSlots; ++i)
          if (slots[i] == nullptr) fresh(i);
      }
      for (int step = 0; step < 64; ++step) {
        const std::size_t i = r.below(kSlots);
        if (slots[i] == nullptr) continue;
        retire(i);
        fresh(i);
        ++ops;
      }
    }
    for (void* p : slots)
      if (p != nullptr) release(p);
  }
};

struct Sample {
  double t;
  std::uint64_t carved;
  std::size_t rss;
};

TEST(Soak, CarvedAndResidentMemoryStopGrowingUnderConstantLiveMemory) {
  ASSERT_TRUE(mem::ensure_init());
  const double seconds = soak_seconds();
  // The heaps' steady state comes after a number of operations, not of seconds: a sanitized build
  // runs several times fewer in the same time, so its warm-up is a third of the run, not a fifth.
  // (asan-ubsan, 15 s: 41.7M operations; one run carved 26.4 MiB by 3 s, then 28.1 MiB at 4.5 s
  // and 30.3 MiB at 9 s, 3.9 MiB past the warm-up against a slack of 3.8, and nothing after.)
#ifdef HOARDLAB_TEST_UNDER_SANITIZER
  const double warmup = seconds / 3;
#else
  const double warmup = seconds / 5;
#endif
  const std::uint64_t S = mem::g.sb_size;

  std::atomic<bool> stop{false};
  std::atomic<long> errors{0};
  std::vector<Mailbox> boxes(kThreads);
  std::vector<Worker> workers(kThreads);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    workers[t] = Worker{&boxes[t], &boxes[(t + 1) % kThreads], &stop, &errors};
    ts.emplace_back([&workers, t] { workers[t].run(t); });
  }

  // The carved figure is taken at the warm-up and again at three quarters of the run: on a loaded
  // machine the heaps can reach their steady state late. Quiet runs carved 29.2-30.1 MiB by the
  // warm-up at 12 s and ended at 31.1-31.4; under load, a release run carved 27.5 MiB by 12 s and
  // 31.4 MiB by 36 s, another (purge thread on, beside the fuzz target) 27.8 MiB until 36 s and
  // 31.4 MiB by 42 s, and nothing after in either. The same plateau, reached later, is not
  // growth; so the last quarter of the run is held to the slack, and the whole run after the
  // warm-up to twice it (a leak of more than about 0.14 MiB/s fails the one or the other).
  const double settled = std::max(warmup, seconds * 3 / 4);
  std::vector<Sample> samples;
  const auto t0 = Clock::now();
  std::uint64_t carved_warm = 0;
  std::uint64_t carved_settled = 0;
  unsigned heaps_warm = 0;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const double t = std::chrono::duration<double>(Clock::now() - t0).count();
    samples.push_back({t, carved_bytes(), hoardlab::pal::resident_bytes()});
    if (carved_warm == 0 && t >= warmup) {
      carved_warm = samples.back().carved;
      heaps_warm = heaps_holding_superblocks();
    }
    if (carved_settled == 0 && t >= settled) carved_settled = samples.back().carved;
    if (t >= seconds) break;
  }
  const unsigned heaps_end = heaps_holding_superblocks();
  stop.store(true);
  for (auto& t : ts)
    t.join();
  const std::uint64_t carved_end = carved_bytes();

  // Slack over the warm-up figure. Live memory is constant but for the mailboxes; carving happens
  // only when no pool holds a superblock and no pass holds any [PS1], so what is carved is what
  // the heaps held at some moment, Hoard's a_i <= max(u_i + (K + C_i)S, u_i/(1-f) + C_i*S) summed.
  // After the warm-up every heap in use has met the workload's classes; what can still rise is
  //   each heap's K empty superblocks (K*S per heap holding superblocks at the end),
  //   the C*S of heaps first used after the warm-up,
  //   each thread cache, whose blocks count as used (cache.bytes per thread),
  //   a superblock in flight each way between a thread's heap and a pool (2*S per thread),
  //   the mailboxes, full at worst (kMailboxBytes each), at (1-f) fill.
  const double f = mem::g.tune.emptiness_f.load_relaxed();
  const std::uint64_t k = mem::g.tune.emptiness_k.load_relaxed();
  const std::uint64_t cache = mem::g.tune.cache_bytes.load_relaxed();
  const std::uint64_t new_heaps = heaps_end > heaps_warm ? heaps_end - heaps_warm : 0;
  const std::uint64_t slack = heaps_end * k * S + new_heaps * classes_in_use() * S +
                              kThreads * (cache + 2 * S) +
                              static_cast<std::uint64_t>(kThreads * kMailboxBytes / (1.0 - f));

  std::size_t rss_warm = 0;
  std::size_t rss_after = 0;
  for (const Sample& s : samples) {
    std::size_t& peak = s.t < warmup ? rss_warm : rss_after;
    peak = std::max(peak, s.rss);
  }

  long ops = 0;
  long sent = 0;
  for (const Worker& w : workers) {
    ops += w.ops;
    sent += w.sent;
  }
  for (Mailbox& b : boxes)
    b.take_all([&](void* p) {
      if (!stamp_intact(p)) errors.fetch_add(1);
      hl_free(p);
    });
  hl_collect(); // this thread's cache and remote buffer; every heap drained, pools swept
  hl_stats st{};
  hl_stats_get(&st);

  const double mib = 1024.0 * 1024.0;
  std::printf("soak %.0f s, %d threads, %ld ops, %ld handed over: carved %.1f MiB at warm-up "
              "(%.0f s), %.1f MiB at %.0f s, %.1f MiB at end, slack %.1f MiB; RSS max %.1f MiB in "
              "warm-up, %.1f MiB after; heaps %u then %u; remote frees sent %llu drained %llu\n",
              seconds, kThreads, ops, sent, carved_warm / mib, warmup, carved_settled / mib,
              settled, carved_end / mib, slack / mib, rss_warm / mib, rss_after / mib, heaps_warm,
              heaps_end, static_cast<unsigned long long>(st.remote_frees_sent),
              static_cast<unsigned long long>(st.remote_frees_drained));
  std::printf("soak carved/RSS MiB by tenth of the run:");
  const std::size_t tenth = std::max<std::size_t>(samples.size() / 10, 1);
  for (std::size_t i = tenth - 1; i < samples.size(); i += tenth)
    std::printf(" %.1f/%.1f", samples[i].carved / mib, samples[i].rss / mib);
  std::printf("\n");

  EXPECT_EQ(errors.load(), 0) << "a stamp was overwritten, or an allocation failed";
  EXPECT_GT(sent, 0) << "no block went to another thread";
  EXPECT_LE(carved_end, carved_settled + slack)
      << "carved memory still grows in the last quarter of the run";
  EXPECT_LE(carved_end, carved_warm + 2 * slack) << "carved memory still grows after the warm-up";
#ifndef HOARDLAB_TEST_UNDER_SANITIZER // shadow memory grows with what is touched
  // Resident memory follows what is carved: after the warm-up it may rise by what was carved
  // since (at least the slack; the checks above bound it), and by the superblocks a pool held
  // purged at the warm-up peak and holds unpurged later; a pool purges only beyond
  // purge.retain_superblocks, so those are at most that many per node.
  const std::uint64_t retain = mem::g.tune.retain_superblocks.load_relaxed() * mem::g.nodes;
  const std::uint64_t carved_since = carved_end > carved_warm ? carved_end - carved_warm : 0;
  EXPECT_LE(rss_after, rss_warm + std::max(slack, carved_since) + retain * S)
      << "resident memory grows beyond what was carved";
#endif
  EXPECT_EQ(st.remote_frees_sent, st.remote_frees_drained) << "a remote free was never drained";
  EXPECT_EQ(st.bytes_in_use, 0u) << "blocks are still counted in use after every thread freed all";
  EXPECT_EQ(hl_check_invariants(), 0);
}

} // namespace
