// The platform layer: the only place that calls mmap, munmap, madvise, mremap, getcpu, reads
// `environ` (pal/env.h), and registers the atfork and thread-exit hooks. Layer: pal (uses core).
// Everything here is callable from inside malloc: no allocation, errno preserved where noted.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/atomic.h"

namespace hoardlab::pal {

inline constexpr std::size_t kPageSize = 4096;

// ---- memory ----
// Reservations: address space with no access and no commit charge.
// Reserves exactly [at, at+bytes), only if nothing is mapped there (MAP_FIXED_NOREPLACE; on a
// kernel that takes the flag for a hint, a reservation elsewhere is undone); nullptr otherwise.
void* reserve_at(void* at, std::size_t bytes) noexcept;
// Reserves bytes aligned to align (a power of two, a multiple of the page size), at `hint` when
// it is free, else wherever the kernel puts it; nullptr on failure. Needs bytes + align of
// address space for a moment when the first try is not aligned.
void* reserve_aligned(std::size_t bytes, std::size_t align, void* hint) noexcept;
// Makes [p, p+bytes) of a reservation readable and writable (zero-filled on first touch).
bool commit(void* p, std::size_t bytes) noexcept;
// Makes [p, p+bytes) of a reservation readable only: it reads as zero, and a read-only private
// mapping is neither resident nor charged as commit.
bool make_readable(void* p, std::size_t bytes) noexcept;
// Makes [p, p+bytes) inaccessible again (a guard: any access faults). False when refused (the
// kernel's mapping count, vm.max_map_count, is reached when the guard splits a mapping).
bool make_guard(void* p, std::size_t bytes) noexcept;
// vm.max_map_count: how many mappings the kernel lets the process have; 65,530 (the kernel's
// default) when unreadable.
std::size_t max_map_count() noexcept;
// A fresh read-write anonymous mapping; nullptr on failure.
void* map(std::size_t bytes) noexcept;
// The size of a transparent huge page on x86-64 (a PMD), and the alignment map_huge gives.
inline constexpr std::size_t kHugePageSize = std::size_t{2} << 20;
// A fresh read-write anonymous mapping aligned to kHugePageSize and advised for transparent huge
// pages (MADV_HUGEPAGE: the kernel faults its aligned 2 MiB parts in whole where it can, under
// THP's "madvise" mode as under "always"); nullptr when the padded mapping is refused.
void* map_huge(std::size_t bytes) noexcept;
// The kHugePageSize-aligned part of [p, p + bytes): [*lo, *hi), empty (lo >= hi) when the range
// holds no aligned 2 MiB.
inline void huge_part(const void* p, std::size_t bytes, std::uintptr_t* lo,
                      std::uintptr_t* hi) noexcept {
  const auto start = reinterpret_cast<std::uintptr_t>(p);
  *lo = (start + kHugePageSize - 1) & ~(kHugePageSize - 1);
  *hi = (start + bytes) & ~(kHugePageSize - 1);
}
// Advises huge_part of [p, p + bytes) for transparent huge pages (advice only: nothing when it is
// empty or the kernel refuses).
void advise_huge(void* p, std::size_t bytes) noexcept;
// Takes [p, p + bytes) off transparent huge pages for good (MADV_NOHUGEPAGE): neither a fault
// nor khugepaged makes a huge page there again. False when the kernel refused (no THP support,
// or splitting the mapping would pass vm.max_map_count).
bool advise_no_huge(void* p, std::size_t bytes) noexcept;
// Whether the kernel puts every anonymous mapping on transparent huge pages, advised or not
// (/sys/kernel/mm/transparent_hugepage/enabled reads "[always]"); false when unreadable.
bool huge_pages_always() noexcept;
void unmap(void* p, std::size_t bytes) noexcept;
// Gives the pages back to the OS; the range stays mapped and reads as zero afterwards. False
// when the OS refused (locked pages under mlock/mlockall, say): then the range keeps its
// contents, and nothing may assume it reads as zero.
[[nodiscard]] bool purge(void* p, std::size_t bytes) noexcept;
// Grows or shrinks a mapping, moving it when needed; nullptr on failure (the old one stays).
void* remap(void* p, std::size_t old_bytes, std::size_t new_bytes) noexcept;
// Resident bytes of the process (from /proc/self/statm); 0 when unreadable.
std::size_t resident_bytes() noexcept;

// ---- processors and threads ----
// The CPU the caller runs on (sched_getcpu through the vDSO); 0 when unknown.
unsigned current_cpu() noexcept;
// Processors the process may run on (online CPUs), at least 1.
unsigned cpu_count() noexcept;
void yield() noexcept;
// Monotonic milliseconds.
std::uint64_t now_ms() noexcept;
// Monotonic milliseconds at the kernel tick's resolution (a few ms), behind now_ms by at most a
// tick: a read of the vDSO's page, no time-stamp counter, for checks made at every call.
std::uint64_t coarse_now_ms() noexcept;
// 64 random bits from getrandom (never blocking); a mix of address, time and process id when the
// call is refused.
std::uint64_t random_u64() noexcept;

// ---- address-space limit ----
// RLIMIT_AS's soft limit in bytes; SIZE_MAX when there is none. Errno preserved.
std::size_t address_space_limit() noexcept;
// What is mapped now (the virtual size, /proc/self/statm's first field), 0 when unreadable.
std::size_t address_space_mapped() noexcept;

// ---- environment: see pal/env.h (environment(), secure_process()), the one reader ----

// ---- diagnostics (write(2) only; errno preserved) ----
void write_error(const char* text) noexcept;
// Appends decimal / text into a fixed buffer; the caller writes it with write_error.
class Message {
public:
  Message& text(const char* s) noexcept;
  Message& num(std::uint64_t v) noexcept;
  Message& hex(std::uintptr_t v) noexcept;
  void emit() noexcept; // writes the message and a newline to stderr
  const char* c_str() noexcept {
    buf_[len_] = '\0';
    return buf_;
  }

private:
  char buf_[512] = {};
  std::size_t len_ = 0;
};

// ---- process and thread life cycle ----
// Calls hook(value) when a thread that called set_thread_value exits (pthread key destructor).
bool thread_exit_hook_init(void (*hook)(void*)) noexcept;
void set_thread_value(void* value) noexcept;
// pthread_atfork; false on failure.
bool register_atfork(void (*prepare)(), void (*parent)(), void (*child)()) noexcept;

// ---- a background thread (mem's purge thread) ----
// Starts a detached thread running fn(arg), with every signal blocked in it (a process's signals
// are never delivered to it); false on failure. pthread_create allocates
// (thread stack bookkeeping, TLS): call it only where the allocator holds no lock.
bool start_thread(void (*fn)(void*), void* arg) noexcept;
// Sleeps while word == expected, at most timeout_ms (a futex wait); returns at once otherwise,
// and early on wake_all or a signal. Errno preserved.
void wait_while(const core::Atomic<std::uint32_t>& word, std::uint32_t expected,
                std::uint64_t timeout_ms) noexcept;
// Wakes every thread waiting on word (the caller changes word first). Errno preserved.
void wake_all(core::Atomic<std::uint32_t>& word) noexcept;

} // namespace hoardlab::pal
