// strategy-study: the same seeded traces replayed against each classic strategy of
// lib/strategies, printing for each trace a table of throughput and fragmentation.
//
// Per strategy and trace: a timed replay (best of --reps; each over a fresh allocator on the same
// pre-touched region, so page faults are not counted) and one untimed replay that measures:
//   ext@peak   external fragmentation 1 - largest/total free, below the high-water mark, at the
//              op where the trace's live bytes peak;
//   ext mean   the same, averaged over 256 points of the trace (where anything is live);
//   waste      internal waste (granted - requested) at the peak, as a share of the live bytes;
//   util       peak live requested bytes / high-water mark (Johnstone & Wilson's measure #4 is
//              1/util - 1);
//   refused    allocations the strategy could not serve (the region is the same for all).
// glibc malloc replays each trace too, for its throughput only. --trace-file PATH replays a
// trace recorded from a real program by trace_recorder.c instead of the synthetic traces.
//
// simple-segregated and slab-classes are SegregatedStorage without and with page reuse.
// Strategies that cannot serve a trace by design are left out of its table: the slab serves
// only the fixed-size trace, and the bump arena (which frees nothing one by one; it is reset
// whenever the live count reaches zero) only the ramps.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "bench/common/bench_common.h"
#include "bench/strategies/traces.h"
#include "strategies/buddy.h"
#include "strategies/bump.h"
#include "strategies/fit_list.h"
#include "strategies/segregated_fit.h"
#include "strategies/segregated_storage.h"
#include "strategies/slab.h"

namespace hs = hoardlab::strategies;
using namespace hoardlab::bench::strategies;

namespace {

struct Row {
  std::string strategy;
  double mops = 0;
  std::size_t refused = 0;
  double ext_peak = 0;
  double ext_mean = 0;
  double waste = 0;
  double util = 0;
  std::size_t high_water = 0;
  std::size_t free_blocks_peak = 0;
};

// The region every strategy gets: page-aligned, touched once so replays do not pay page faults.
class Buffer {
public:
  explicit Buffer(std::size_t bytes)
      : bytes_(bytes), data_(static_cast<std::byte*>(std::aligned_alloc(4096, bytes))) {
    if (data_ == nullptr) {
      std::fprintf(stderr, "strategy-study: cannot allocate a %zu-byte region\n", bytes);
      std::exit(1);
    }
    std::memset(data_, 0, bytes_);
  }
  ~Buffer() { std::free(data_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  std::span<std::byte> span() { return {data_, bytes_}; }

private:
  std::size_t bytes_;
  std::byte* data_;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <class A>
void maybe_reset(A& a) {
  if constexpr (requires { a.reset(); }) a.reset();
}

template <class Make>
Row replay(const std::string& label, const Trace& t, Buffer& buf, Make make, unsigned reps) {
  Row row;
  row.strategy = label;
  std::vector<void*> slot(t.ids, nullptr);
  double best = std::numeric_limits<double>::infinity();
  for (unsigned r = 0; r < reps; ++r) {
    auto a = make(buf.span());
    std::size_t live = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (const Op& op : t.ops) {
      if (!op.is_free) {
        void* p = a.allocate(op.size, hs::kDefaultAlign);
        slot[op.id] = p;
        live += p != nullptr;
      } else if (void* p = slot[op.id]) {
        a.free(p);
        if (--live == 0) maybe_reset(a);
      }
    }
    best = std::min(best, seconds_since(t0));
  }
  row.mops = static_cast<double>(t.ops.size()) / best / 1e6;

  // The measuring replay: every status checked, metrics sampled.
  auto a = make(buf.span());
  hs::UsageTracker usage;
  std::vector<std::size_t> requested(t.ids, 0);
  std::size_t live = 0, samples = 0;
  double ext_sum = 0;
  std::size_t stride = std::max<std::size_t>(1, t.ops.size() / 256);
  for (std::size_t i = 0; i < t.ops.size(); ++i) {
    const Op& op = t.ops[i];
    if (!op.is_free) {
      void* p = a.allocate(op.size, hs::kDefaultAlign);
      slot[op.id] = p;
      if (p == nullptr) {
        ++row.refused;
      } else {
        std::size_t usable = a.usable_size(p);
        requested[op.id] = op.size;
        usage.on_allocate(op.size, usable != 0 ? usable : op.size);
        ++live;
      }
    } else if (void* p = slot[op.id]) {
      std::size_t usable = a.usable_size(p);
      if (hs::Status s = a.free(p); s != hs::Status::ok) {
        std::fprintf(stderr, "strategy-study: %s refused a free in %s: %s\n", label.c_str(),
                     t.name.c_str(), std::string(hs::describe(s)).c_str());
        std::exit(3);
      }
      usage.on_free(requested[op.id], usable != 0 ? usable : requested[op.id]);
      slot[op.id] = nullptr;
      if (--live == 0) maybe_reset(a);
    }
    if (i == t.peak_op) {
      hs::FreeBlockStats s = a.free_stats();
      row.ext_peak = hs::external_fragmentation(s);
      row.free_blocks_peak = s.free_blocks;
    }
    if (i % stride == 0 && live > 0) {
      ext_sum += hs::external_fragmentation(a.free_stats());
      ++samples;
    }
  }
  row.ext_mean = samples == 0 ? 0 : ext_sum / static_cast<double>(samples);
  std::size_t peak = usage.peak_live_requested();
  row.waste = peak == 0
                  ? 0
                  : static_cast<double>(usage.internal_waste_at_peak()) / static_cast<double>(peak);
  row.high_water = a.high_water();
  row.util = hs::utilisation_at_peak(peak, row.high_water);
  return row;
}

double malloc_mops(const Trace& t, unsigned reps) {
  std::vector<void*> slot(t.ids, nullptr);
  double best = std::numeric_limits<double>::infinity();
  for (unsigned r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (const Op& op : t.ops) {
      if (!op.is_free) {
        slot[op.id] = std::malloc(op.size);
      } else {
        std::free(slot[op.id]);
      }
    }
    best = std::min(best, seconds_since(t0));
  }
  return static_cast<double>(t.ops.size()) / best / 1e6;
}

void print_table(const Trace& t, const std::vector<Row>& rows, double malloc_rate, bool csv) {
  if (csv) {
    for (const Row& r : rows)
      std::printf("csv,%s,%s,%.3f,%zu,%.4f,%.4f,%.4f,%.4f,%zu,%zu\n", t.name.c_str(),
                  r.strategy.c_str(), r.mops, r.refused, r.ext_peak, r.ext_mean, r.waste, r.util,
                  r.high_water, r.free_blocks_peak);
    std::printf("csv,%s,glibc-malloc,%.3f,,,,,,,\n", t.name.c_str(), malloc_rate);
    return;
  }
  std::printf("\ntrace %s: %s\n", t.name.c_str(), t.description.c_str());
  std::printf("  %zu ops, peak %.2f MiB live in %zu blocks\n", t.ops.size(),
              static_cast<double>(t.peak_bytes) / 1048576.0, t.peak_blocks);
  std::printf("  %-17s %8s %8s %9s %9s %7s %6s %11s %11s\n", "strategy", "Mops/s", "refused",
              "ext@peak", "ext mean", "waste", "util", "high-water", "holes@peak");
  for (const Row& r : rows)
    std::printf("  %-17s %8.2f %8zu %9.3f %9.3f %6.1f%% %6.3f %7.2f MiB %11zu\n",
                r.strategy.c_str(), r.mops, r.refused, r.ext_peak, r.ext_mean, 100.0 * r.waste,
                r.util, static_cast<double>(r.high_water) / 1048576.0, r.free_blocks_peak);
  std::printf("  %-17s %8.2f   (throughput reference only)\n", "glibc malloc", malloc_rate);
}

} // namespace

int main(int argc, char** argv) {
  hoardlab::bench::Flags flags(
      "strategy-study",
      "Replays seeded traces against each classic strategy (lib/strategies) and prints "
      "throughput and fragmentation per trace. --trace-file PATH (repeatable) replays traces "
      "recorded by libstrategy-trace-recorder.so instead.");
  std::uint64_t ops = 400000;
  std::uint64_t live = 5000;
  std::uint64_t order = 26;
  std::uint64_t reps = 3;
  std::uint64_t seed = 1;
  std::uint64_t csv = 0;
  flags.add_u64("ops", &ops, "operations per trace (allocations and frees)", 1000, 1ULL << 30);
  flags.add_u64("live", &live, "live blocks the steady traces hover around", 1, 1ULL << 24);
  flags.add_u64("region-order", &order, "region of 2^N bytes per strategy (plus buddy's table)", 16,
                34);
  flags.add_u64("reps", &reps, "timed replays per cell; the fastest is kept", 1, 100);
  flags.add_u64("seed", &seed, "trace seed", 0, UINT64_MAX);
  flags.add_u64("csv", &csv, "1: print csv lines instead of tables", 0, 1);
  flags.set_quick([&] {
    ops = 20000;
    live = 500;
    order = 24;
    reps = 1;
  });
  // --trace-file PATH (repeatable) replays recorded traces instead of the synthetic ones; it
  // takes a path, which Flags does not parse, so it is taken out of argv first.
  std::vector<std::string> trace_files;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--trace-file") == 0) {
      if (i + 1 >= argc) flags.usage_error("--trace-file needs a path");
      trace_files.emplace_back(argv[++i]);
    } else {
      rest.push_back(argv[i]);
    }
  }
  flags.parse(static_cast<int>(rest.size()), rest.data());

  auto unsigned_order = static_cast<unsigned>(order);
  Buffer buf(hs::BuddyAllocator::region_bytes_for(unsigned_order));
  auto r = static_cast<unsigned>(reps);
  std::vector<Trace> traces;
  for (const std::string& path : trace_files) {
    Trace t;
    std::string error;
    if (!load_recorded(path, &t, &error)) flags.usage_error(error);
    traces.push_back(std::move(t));
  }
  if (trace_files.empty()) {
    traces.push_back(uniform_small(seed, ops, live));
    traces.push_back(exponential(seed, ops, live));
    traces.push_back(phase_change(seed, ops));
    traces.push_back(fixed_size(seed, ops, live));
    traces.push_back(ramps(seed, ops));
  }

  if (csv == 0) {
    std::printf("strategy-study: seed %" PRIu64 ", region 2^%u bytes, best of %u timed "
                "replays\n",
                seed, unsigned_order, r);
  } else {
    std::printf("csv,trace,strategy,mops,refused,ext_peak,ext_mean,waste,util,high_water,"
                "holes_at_peak\n");
  }
  // The fit allocators and segregated fit get the same 2^order bytes; buddy gets its table on
  // top, so all of them can use a 2^order heap.
  std::size_t heap_bytes = std::size_t{1} << unsigned_order;
  auto heap = [&](std::span<std::byte> s) { return s.first(heap_bytes); };
  for (const Trace& t : traces) {
    std::vector<Row> rows;
    bool fixed = t.name == "fixed-64";
    rows.push_back(replay(
        "first-fit", t, buf, [&](auto s) { return hs::FitAllocator(heap(s), hs::Fit::first); }, r));
    rows.push_back(replay(
        "next-fit", t, buf, [&](auto s) { return hs::FitAllocator(heap(s), hs::Fit::next); }, r));
    rows.push_back(replay(
        "best-fit", t, buf, [&](auto s) { return hs::FitAllocator(heap(s), hs::Fit::best); }, r));
    rows.push_back(replay(
        "worst-fit", t, buf, [&](auto s) { return hs::FitAllocator(heap(s), hs::Fit::worst); }, r));
    rows.push_back(replay(
        "segregated-fit", t, buf, [&](auto s) { return hs::SegregatedFit(heap(s)); }, r));
    rows.push_back(replay(
        "buddy", t, buf, [](auto s) { return hs::BuddyAllocator(s); }, r));
    rows.push_back(replay(
        "simple-segregated", t, buf, [&](auto s) { return hs::SegregatedStorage(heap(s), false); },
        r));
    rows.push_back(replay(
        "slab-classes", t, buf, [&](auto s) { return hs::SegregatedStorage(heap(s), true); }, r));
    if (fixed)
      rows.push_back(replay(
          "slab-64", t, buf, [&](auto s) { return hs::Slab(heap(s), 64); }, r));
    if (t.returns_to_empty)
      rows.push_back(replay(
          "bump", t, buf, [&](auto s) { return hs::BumpArena(heap(s)); }, r));
    print_table(t, rows, malloc_mops(t, r), csv != 0);
  }
  return 0;
}
