// Helpers shared by the core tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "numa/topology.h"

// HOARDLAB_TEST_UNDER_TSAN: defined when ThreadSanitizer instruments the test (its shadow memory
// stays resident, and it forbids threads in the child of a multi-threaded fork).
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HOARDLAB_TEST_UNDER_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define HOARDLAB_TEST_UNDER_TSAN 1
#endif

// HOARDLAB_TEST_UNDER_SANITIZER: ThreadSanitizer or AddressSanitizer instruments the test (their
// shadow memory stays resident, so resident-memory bounds do not apply).
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define HOARDLAB_TEST_UNDER_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define HOARDLAB_TEST_UNDER_SANITIZER 1
#endif

namespace hoardlab::test {

// A deterministic generator (splitmix64): every test is seeded.
class Rng {
public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) { return next() % n; }

private:
  std::uint64_t s_;
};

// Fills a block with a pattern derived from its address and a tag; check_pattern finds any
// byte another owner wrote.
inline void fill_pattern(void* p, std::size_t n, std::uint8_t tag) {
  auto* b = static_cast<std::uint8_t*>(p);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = static_cast<std::uint8_t>(tag + i * 31);
}
inline bool check_pattern(const void* p, std::size_t n, std::uint8_t tag) {
  auto* b = static_cast<const std::uint8_t*>(p);
  for (std::size_t i = 0; i < n; ++i)
    if (b[i] != static_cast<std::uint8_t>(tag + i * 31)) return false;
  return true;
}

// A deadline for time-boxed loops.
class Deadline {
public:
  explicit Deadline(double seconds)
      : end_(std::chrono::steady_clock::now() +
             std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                 std::chrono::duration<double>(seconds))) {}
  bool passed() const { return std::chrono::steady_clock::now() >= end_; }

private:
  std::chrono::steady_clock::time_point end_;
};

// Runs f on a thread counted as running on PU 0, so every call uses the same heap and node pool;
// the thread's exit flushes its cache back to the heap.
template <typename F>
void on_pu0(F f) {
  std::thread t([&f] {
    hoardlab::numa::force_cpu_for_this_thread(0);
    f();
  });
  t.join();
}

// The VmFlags line of the mapping that holds p (/proc/self/smaps), or "" when no mapping does.
inline std::string vm_flags_at(const void* p) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  std::FILE* f = std::fopen("/proc/self/smaps", "r");
  if (f == nullptr) return "";
  char line[512];
  bool inside = false;
  std::string flags;
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && std::strchr(line, ':') != nullptr &&
        std::strncmp(line, "VmFlags", 7) != 0) {
      inside = a >= lo && a < hi;
    } else if (inside && std::strncmp(line, "VmFlags:", 8) == 0) {
      flags = line + 8;
      break;
    }
  }
  std::fclose(f);
  return flags;
}

// Whether a VmFlags line holds `flag` ("hg": advised for huge pages, "nh": advised against).
inline bool has_vm_flag(const std::string& flags, const char* flag) {
  const std::size_t n = std::strlen(flag);
  for (std::size_t at = flags.find(flag); at != std::string::npos; at = flags.find(flag, at + 1))
    if ((at == 0 || flags[at - 1] == ' ') &&
        (at + n == flags.size() || flags[at + n] == ' ' || flags[at + n] == '\n'))
      return true;
  return false;
}

} // namespace hoardlab::test
