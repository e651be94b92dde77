// The micro-benchmarks, written once over an allocator API so that `micro-malloc` (the plain
// malloc family, preloadable) and `micro-hl` (the hl_* API of libhoardlab) measure the same
// loops. Api provides static malloc, free, realloc, calloc and posix_memalign.
#pragma once

#include <benchmark/benchmark.h>
#include <boost/lockfree/spsc_queue.hpp>

#include <atomic>
#include <cstddef>
#include <cstring>
#include <thread>
#include <vector>

namespace hoardlab::bench::micro {

/// One malloc and one free of state.range(0) bytes per iteration: the thread-cache fast path.
/// The first byte is written so the block is really used.
template <class Api>
void pair_by_size(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    void* p = Api::malloc(n);
    benchmark::DoNotOptimize(p);
    *static_cast<char*>(p) = 1;
    Api::free(p);
  }
  state.SetItemsProcessed(state.iterations());
}

/// 64 mallocs, then the 64 frees (newest first): a cache that holds fewer than 64 blocks of a
/// class goes to its slow path here.
template <class Api>
void batch64(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  void* blocks[64];
  for (auto _ : state) {
    for (void*& p : blocks) {
      p = Api::malloc(n);
      benchmark::DoNotOptimize(p);
    }
    for (int i = 63; i >= 0; --i)
      Api::free(blocks[i]);
  }
  state.SetItemsProcessed(state.iterations() * 64);
}

/// This thread allocates; a second thread frees every block (remote frees). Blocks travel
/// through a Boost.Lockfree SPSC queue allocated before timing starts. Items are blocks.
template <class Api>
void free_in_another_thread(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  boost::lockfree::spsc_queue<void*, boost::lockfree::capacity<4096>> queue;
  std::atomic<bool> stop{false};
  std::thread consumer([&] {
    for (;;) {
      bool stopping = stop.load(std::memory_order_acquire);
      if (queue.consume_all([](void* p) { Api::free(p); }) == 0) {
        if (stopping) return;
        std::this_thread::yield();
      }
    }
  });
  for (auto _ : state) {
    void* p = Api::malloc(n);
    benchmark::DoNotOptimize(p);
    while (!queue.push(p))
      std::this_thread::yield();
  }
  stop.store(true, std::memory_order_release);
  consumer.join();
  state.SetItemsProcessed(state.iterations());
}

/// A block grown by doubling from 16 bytes to state.range(0), then freed. Items are reallocs.
template <class Api>
void realloc_doubling(benchmark::State& state) {
  const size_t max = static_cast<size_t>(state.range(0));
  int64_t steps = 0;
  for (auto _ : state) {
    void* p = Api::malloc(16);
    for (size_t n = 32; n <= max; n *= 2) {
      p = Api::realloc(p, n);
      benchmark::DoNotOptimize(p);
      static_cast<char*>(p)[n - 1] = 1;
      ++steps;
    }
    Api::free(p);
  }
  state.SetItemsProcessed(steps);
}

/// posix_memalign(alignment = range(0), size = range(1)) and free.
template <class Api>
void aligned_pair(benchmark::State& state) {
  const size_t align = static_cast<size_t>(state.range(0));
  const size_t n = static_cast<size_t>(state.range(1));
  for (auto _ : state) {
    void* p = nullptr;
    if (Api::posix_memalign(&p, align, n) != 0) {
      state.SkipWithError("posix_memalign failed");
      break;
    }
    benchmark::DoNotOptimize(p);
    Api::free(p);
  }
  state.SetItemsProcessed(state.iterations());
}

/// calloc(1, range(0)) and free: includes the zeroing, or its avoidance on fresh pages.
template <class Api>
void calloc_pair(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    void* p = Api::calloc(1, n);
    benchmark::DoNotOptimize(p);
    Api::free(p);
  }
  state.SetItemsProcessed(state.iterations());
}

/// Fresh memory: calloc(1, range(0)) held until the end, so every block is new to the process
/// (run each size in its own process: memory freed by one benchmark is reused by the next).
/// With `clear` false it is calloc; with true, malloc + memset, what calloc costs when it
/// cannot tell that the memory is already zero. The difference is the saving.
template <class Api, bool clear>
void fresh_zeroed(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<void*> held;
  held.reserve(static_cast<size_t>(state.max_iterations));
  for (auto _ : state) {
    void* p = nullptr;
    if constexpr (clear) {
      p = Api::malloc(n);
      if (p != nullptr) std::memset(p, 0, n);
    } else {
      p = Api::calloc(1, n);
    }
    if (p == nullptr) {
      state.SkipWithError("allocation failed");
      break;
    }
    benchmark::DoNotOptimize(p);
    held.push_back(p);
  }
  state.SetItemsProcessed(state.iterations());
  for (void* p : held)
    Api::free(p);
}

template <class Api>
void register_all(const char* prefix) {
  std::string pre = prefix;
  auto* pair = benchmark::RegisterBenchmark((pre + "/pair").c_str(), pair_by_size<Api>);
  for (int64_t n : {16, 64, 256, 1024, 4096, 32768, 262144})
    pair->Arg(n);
  benchmark::RegisterBenchmark((pre + "/pair_threads").c_str(), pair_by_size<Api>)
      ->Arg(64)
      ->ThreadRange(1, 4)
      ->UseRealTime();
  auto* batch = benchmark::RegisterBenchmark((pre + "/batch64").c_str(), batch64<Api>);
  for (int64_t n : {16, 64, 256, 4096})
    batch->Arg(n);
  benchmark::RegisterBenchmark((pre + "/free_in_another_thread").c_str(),
                               free_in_another_thread<Api>)
      ->Arg(64)
      ->Arg(1024)
      ->UseRealTime();
  benchmark::RegisterBenchmark((pre + "/realloc_doubling").c_str(), realloc_doubling<Api>)
      ->Arg(4096)
      ->Arg(1 << 20);
  benchmark::RegisterBenchmark((pre + "/aligned").c_str(), aligned_pair<Api>)
      ->Args({64, 64})
      ->Args({4096, 64})
      ->Args({4096, 8192});
  auto* cal = benchmark::RegisterBenchmark((pre + "/calloc").c_str(), calloc_pair<Api>);
  for (int64_t n : {64, 4096, 65536})
    cal->Arg(n);
  // 64 MiB of fresh blocks per run (a fixed count: the held memory must not depend on timing).
  for (int64_t n : {4096, 16384}) {
    benchmark::RegisterBenchmark((pre + "/calloc_fresh").c_str(), fresh_zeroed<Api, false>)
        ->Arg(n)
        ->Iterations((int64_t{64} << 20) / n);
    benchmark::RegisterBenchmark((pre + "/malloc_memset_fresh").c_str(), fresh_zeroed<Api, true>)
        ->Arg(n)
        ->Iterations((int64_t{64} << 20) / n);
  }
}

} // namespace hoardlab::bench::micro
