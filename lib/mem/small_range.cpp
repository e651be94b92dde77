// The small-object address space, reserved in steps (small_range.h).
#include "mem/small_range.h"

#include "core/bits.h"
#include "mem/internal.h"
#include "mem/yielding_guard.h"
#include "pal/pal.h"

namespace hoardlab::mem {

namespace {

// Where the primary is asked for on a 64-bit address space: 32 TiB, far below the region the
// kernel fills top-down (libraries, thread stacks, large objects) and above the program and its
// brk heap, so the primary can grow in place for as long as the process lives. The kernel
// ignores the hint when the place is taken (sanitizer shadows) or beyond the address space
// (39-bit arm64): the primary then sits where the kernel puts it, and steps that cannot grow it
// in place open extra ranges. Under ThreadSanitizer 32 TiB is its shadow, and the primary would
// land among the top-down mappings, in small extra ranges that miss the fast paths: its
// application memory starts low (up to 512 GiB on x86-64), so the primary is asked for at
// 256 GiB there, and the tests run the one-range paths that a plain build runs.
void* primary_hint() noexcept {
  if constexpr (sizeof(void*) < 8) return nullptr;
#if defined(__SANITIZE_THREAD__)
  return reinterpret_cast<void*>(std::uintptr_t{1} << 38);
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
  return reinterpret_cast<void*>(std::uintptr_t{1} << 38);
#endif
#endif
  return reinterpret_cast<void*>(std::uintptr_t{1} << 45);
}

// The range that grows (R3): the last extra one, else the primary (nullptr base when empty).
std::uintptr_t tail_end() noexcept {
  const std::uint32_t n = g.ranges.count.load_relaxed(); // under the lock: count is ours
  if (n != 0) {
    const SmallRanges::Range& r = g.ranges.extra[n - 1];
    return r.base.load_relaxed() + r.size.load_relaxed();
  }
  const std::uintptr_t base = g.small_base.load_relaxed();
  return base == 0 ? 0 : base + g.small_size.load_relaxed();
}

void grow_tail(std::size_t bytes) noexcept {
  const std::uint32_t n = g.ranges.count.load_relaxed();
  core::Atomic<std::uintptr_t>& size = n != 0 ? g.ranges.extra[n - 1].size : g.small_size;
  size.store_relaxed(size.load_relaxed() + bytes); // reserved only: readable grows on commit
}

} // namespace

std::size_t reserve_primary(std::size_t per_node, unsigned nodes) noexcept {
  YieldingGuard guard(g.ranges.lock);
  for (std::size_t per = per_node; per >= g.sb_size; per = core::round_down(per / 2, g.sb_size)) {
    void* p = pal::reserve_aligned(per * nodes, g.sb_size, primary_hint());
    if (p == nullptr) continue;
    g.small_base.store_relaxed(core::addr(p));
    g.small_size.store_relaxed(per * nodes); // readable stays 0 until the first commit
    g.ranges.reserved = per * nodes;
    return per;
  }
  return 0;
}

char* reserve_small(std::size_t want, std::size_t* got) noexcept {
  YieldingGuard guard(g.ranges.lock);
  for (std::size_t bytes = core::round_up(want, g.sb_size); bytes >= g.sb_size;
       bytes = core::round_down(bytes / 2, g.sb_size)) {
    // In place first: the range count, and so the slow membership test, stays as it is.
    if (const std::uintptr_t end = tail_end(); end != 0 && g.pool_slots.covers(end, bytes)) {
      if (void* p = pal::reserve_at(reinterpret_cast<void*>(end), bytes)) {
        grow_tail(bytes);
        g.ranges.reserved += bytes;
        *got = bytes;
        return static_cast<char*>(p);
      }
    }
    const std::uint32_t n = g.ranges.count.load_relaxed();
    if (n == SmallRanges::kMaxExtra) continue; // only growth in place is left
    // Near the tail, so that it stays inside the pools' window; a range the kernel puts
    // outside is given back, as if refused.
    void* p = pal::reserve_aligned(bytes, g.sb_size, reinterpret_cast<void*>(tail_end()));
    if (p == nullptr) continue;
    if (!g.pool_slots.covers(core::addr(p), bytes)) {
      pal::unmap(p, bytes);
      continue;
    }
    g.ranges.extra[n].base.store_relaxed(core::addr(p));
    g.ranges.extra[n].size.store_relaxed(bytes);
    g.ranges.count.store_release(n + 1); // [SR2]
    g.ranges.reserved += bytes;
    *got = bytes;
    return static_cast<char*>(p);
  }
  *got = 0;
  return nullptr;
}

bool extend_readable(char* from, char* to) noexcept {
  YieldingGuard guard(g.ranges.lock);
  const std::uintptr_t a = core::addr(from);
  std::uintptr_t base = g.small_base.load_relaxed();
  core::Atomic<std::uintptr_t>* readable = &g.small_readable;
  if (a - base >= g.small_size.load_relaxed()) {
    readable = nullptr;
    const std::uint32_t n = g.ranges.count.load_relaxed(); // under the lock: count is ours
    for (std::uint32_t i = 0; i < n && readable == nullptr; ++i) {
      SmallRanges::Range& r = g.ranges.extra[i];
      if (a - r.base.load_relaxed() < r.size.load_relaxed()) {
        base = r.base.load_relaxed();
        readable = &r.readable;
      }
    }
    if (readable == nullptr) return false; // not in any range: no arena carves there
  }
  const std::uintptr_t end = base + readable->load_relaxed();
  if (core::addr(to) <= end) return true;
  // Another node's part lies between (its arena committed less of it): readable, not committed.
  if (a > end && !pal::make_readable(reinterpret_cast<void*>(end), a - end)) return false;
  readable->store_relaxed(core::addr(to) - base); // [SR1]
  return true;
}

bool in_extra_ranges(const void* p) noexcept {
  const std::uint32_t n = g.ranges.count.load_acquire(); // [SR2]
  const std::uintptr_t a = core::addr(p);
  for (std::uint32_t i = 0; i < n; ++i) {
    const SmallRanges::Range& r = g.ranges.extra[i];
    if (a - r.base.load_relaxed() < r.readable.load_relaxed()) return true; // [SR1]
  }
  return false;
}

bool in_reserved_small_range(const void* p) noexcept {
  const std::uintptr_t a = core::addr(p);
  if (a - g.small_base.load_relaxed() < g.small_size.load_relaxed()) return true;
  const std::uint32_t n = g.ranges.count.load_acquire(); // [SR2]
  for (std::uint32_t i = 0; i < n; ++i) {
    const SmallRanges::Range& r = g.ranges.extra[i];
    if (a - r.base.load_relaxed() < r.size.load_relaxed()) return true;
  }
  return false;
}

} // namespace hoardlab::mem
