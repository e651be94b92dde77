#include "pal/pal.h"

#include "pal/env.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace hoardlab::pal {

namespace {
// errno is the caller's: every PAL call that may touch it restores it.
class ErrnoKeeper {
public:
  ErrnoKeeper() noexcept : saved_(errno) {}
  ~ErrnoKeeper() { errno = saved_; }

private:
  int saved_;
};

constinit pthread_key_t g_key = 0;
constinit bool g_key_ready = false;

// Of a mapping m of `padded` bytes (at least bytes + align - kPageSize), keeps `bytes` from its
// first multiple of align and gives back the unaligned head and the tail.
void* keep_aligned(void* m, std::size_t padded, std::size_t bytes, std::size_t align) noexcept {
  const std::uintptr_t start = reinterpret_cast<std::uintptr_t>(m);
  const std::uintptr_t aligned = (start + align - 1) & ~(align - 1);
  if (aligned != start) ::munmap(m, aligned - start);
  const std::uintptr_t end = start + padded;
  if (end != aligned + bytes)
    ::munmap(reinterpret_cast<void*>(aligned + bytes), end - (aligned + bytes));
  return reinterpret_cast<void*>(aligned);
}
} // namespace

void* reserve_at(void* at, std::size_t bytes) noexcept {
  ErrnoKeeper keep;
  void* p = ::mmap(at, bytes, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  if (p != at) { // a kernel before 4.17 took the flag for a hint
    ::munmap(p, bytes);
    return nullptr;
  }
  return p;
}

void* reserve_aligned(std::size_t bytes, std::size_t align, void* hint) noexcept {
  ErrnoKeeper keep;
  const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
  void* p = ::mmap(hint, bytes, PROT_NONE, flags, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  if ((reinterpret_cast<std::uintptr_t>(p) & (align - 1)) == 0) return p;
  ::munmap(p, bytes);
  // The kernel fills the address space top-down, so the aligned place just below is usually
  // free: trying it first needs no more address space than `bytes` (RLIMIT_AS may leave no more).
  void* below = reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(p) & ~(align - 1));
  if (below != nullptr && reserve_at(below, bytes) != nullptr) return below;
  // Over-reserve by the alignment less a page and give back the unaligned head and the tail.
  const std::size_t padded = bytes + align - kPageSize;
  p = ::mmap(hint, padded, PROT_NONE, flags, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  return keep_aligned(p, padded, bytes, align);
}

bool commit(void* p, std::size_t bytes) noexcept {
  ErrnoKeeper keep;
  return ::mprotect(p, bytes, PROT_READ | PROT_WRITE) == 0;
}

bool make_readable(void* p, std::size_t bytes) noexcept {
  ErrnoKeeper keep;
  return ::mprotect(p, bytes, PROT_READ) == 0;
}

bool make_guard(void* p, std::size_t bytes) noexcept {
  ErrnoKeeper keep;
  return ::mprotect(p, bytes, PROT_NONE) == 0;
}

std::size_t max_map_count() noexcept {
  char text[32];
  const ReadResult r = read_file("/proc/sys/vm/max_map_count", text, sizeof(text) - 1);
  std::size_t count = 0;
  if (r.error == 0 && !r.not_regular)
    for (std::size_t i = 0; i < r.bytes && text[i] >= '0' && text[i] <= '9'; ++i)
      count = count * 10 + static_cast<std::size_t>(text[i] - '0');
  return count != 0 ? count : 65530;
}

void* map(std::size_t bytes) noexcept {
  ErrnoKeeper keep;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void* map_huge(std::size_t bytes) noexcept {
  ErrnoKeeper keep;
  // Over-mapped by the alignment less a page (keep_aligned).
  const std::size_t padded = bytes + kHugePageSize - kPageSize;
  if (padded < bytes) return nullptr;
  void* m = ::mmap(nullptr, padded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  void* aligned = keep_aligned(m, padded, bytes, kHugePageSize);
  // Advice only: a kernel without THP refuses it and the pages stay small.
  (void)::madvise(aligned, bytes, MADV_HUGEPAGE);
  return aligned;
}

void advise_huge(void* p, std::size_t bytes) noexcept {
  ErrnoKeeper keep;
  std::uintptr_t first = 0, last = 0;
  huge_part(p, bytes, &first, &last);
  if (first < last) (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
}

bool advise_no_huge(void* p, std::size_t bytes) noexcept {
  ErrnoKeeper keep;
  return ::madvise(p, bytes, MADV_NOHUGEPAGE) == 0;
}

bool huge_pages_always() noexcept {
  char text[96];
  const ReadResult r =
      read_file("/sys/kernel/mm/transparent_hugepage/enabled", text, sizeof(text) - 1);
  if (r.error != 0 || r.bytes < 8) return false;
  for (std::size_t i = 0; i + 8 <= r.bytes; ++i)
    if (std::memcmp(text + i, "[always]", 8) == 0) return true;
  return false;
}

void unmap(void* p, std::size_t bytes) noexcept {
  ErrnoKeeper keep;
  ::munmap(p, bytes);
}

bool purge(void* p, std::size_t bytes) noexcept {
  ErrnoKeeper keep;
  return ::madvise(p, bytes, MADV_DONTNEED) == 0;
}

// mremap under ThreadSanitizer. TSan intercepts mmap and munmap (a fresh mapping's shadow is
// reset, an unmapped range's history dropped) but not mremap (clang 14's runtime has no mremap
// interceptor): the pages a move vacates keep their accesses in TSan's shadow, and the pages it
// lands on keep whatever was recorded there before. When one thread's large object moves away
// and another thread's mremap then lands on the vacated pages (the kernel reuses the hole at
// once), the second thread's first writes are checked against the first thread's old accesses,
// with no happens-before between them, and TSan reports a race the kernel rules out: it unmaps
// the pages from the first object before it maps them for the second (both calls hold the
// process's mmap lock). core_stress.pure_hoard failed so: a header written after mremap, against
// another thread's memcpy into the run that had been there.
//  [RM1] Before the call, a release on each page of the old range, the page's address its
//        sync object: the caller owns the range, so its history covers every access to it.
//  [RM2] After the call, an acquire on each page of the new range, pairing with the [RM1] of
//        the move that last vacated that page. Only the pages' addresses link the two, so threads
//        whose remaps never touch common pages stay unordered, and a real race still shows.
// A page reused through munmap and mmap instead needs nothing: TSan resets it on both.
#if defined(__SANITIZE_THREAD__)
#define HOARDLAB_PAL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HOARDLAB_PAL_TSAN 1
#endif
#endif
#ifdef HOARDLAB_PAL_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

void* remap(void* p, std::size_t old_bytes, std::size_t new_bytes) noexcept {
  ErrnoKeeper keep;
#ifdef HOARDLAB_PAL_TSAN
  for (std::size_t at = 0; at < old_bytes; at += kPageSize)
    __tsan_release(static_cast<char*>(p) + at); // [RM1]
#endif
  void* q = ::mremap(p, old_bytes, new_bytes, MREMAP_MAYMOVE);
  if (q == MAP_FAILED) return nullptr;
#ifdef HOARDLAB_PAL_TSAN
  for (std::size_t at = 0; at < new_bytes; at += kPageSize)
    __tsan_acquire(static_cast<char*>(q) + at); // [RM2] pairs with [RM1]
#endif
  return q;
}

std::size_t resident_bytes() noexcept {
  ErrnoKeeper keep;
  int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[128];
  ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  // statm: size resident shared ...; skip the first field.
  const char* s = buf;
  while (*s != '\0' && *s != ' ')
    ++s;
  while (*s == ' ')
    ++s;
  std::size_t pages = 0;
  while (*s >= '0' && *s <= '9')
    pages = pages * 10 + static_cast<std::size_t>(*s++ - '0');
  return pages * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

unsigned current_cpu() noexcept {
  int c = ::sched_getcpu();
  return c < 0 ? 0u : static_cast<unsigned>(c);
}

unsigned cpu_count() noexcept {
  ErrnoKeeper keep;
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1u : static_cast<unsigned>(n);
}

void yield() noexcept {
  ::sched_yield();
}

std::size_t address_space_limit() noexcept {
  ErrnoKeeper keep;
  rlimit rl{};
  if (::getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
  return static_cast<std::size_t>(rl.rlim_cur);
}

std::size_t address_space_mapped() noexcept {
  char text[64];
  const ReadResult r = read_file("/proc/self/statm", text, sizeof(text) - 1);
  if (r.error != 0 || r.not_regular) return 0;
  std::size_t pages = 0;
  for (std::size_t i = 0; i < r.bytes && text[i] >= '0' && text[i] <= '9'; ++i)
    pages = pages * 10 + static_cast<std::size_t>(text[i] - '0');
  return pages * kPageSize;
}

std::uint64_t now_ms() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000u +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000000u;
}

std::uint64_t coarse_now_ms() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000u +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000000u;
}

std::uint64_t random_u64() noexcept {
  ErrnoKeeper keep;
  std::uint64_t v = 0;
  // GRND_NONBLOCK: early in boot the pool may not be initialised; a process must not hang in
  // malloc's init for it.
  if (::syscall(SYS_getrandom, &v, sizeof v, 0x0001 /* GRND_NONBLOCK */) == sizeof v) return v;
  // No getrandom (a seccomp filter, an old kernel): what varies between processes and runs, the
  // stack address (ASLR), the time and the process id, mixed (splitmix64's finaliser).
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  v = reinterpret_cast<std::uintptr_t>(&v) ^ (static_cast<std::uint64_t>(ts.tv_nsec) << 20) ^
      static_cast<std::uint64_t>(ts.tv_sec) ^ (static_cast<std::uint64_t>(::getpid()) << 40);
  v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ull;
  v = (v ^ (v >> 27)) * 0x94d049bb133111ebull;
  return v ^ (v >> 31);
}

void write_error(const char* text) noexcept {
  ErrnoKeeper keep;
  std::size_t n = 0;
  while (text[n] != '\0')
    ++n;
  while (n > 0) {
    ssize_t w = ::write(2, text, n);
    if (w <= 0) {
      if (w < 0 && errno == EINTR) continue;
      return;
    }
    text += w;
    n -= static_cast<std::size_t>(w);
  }
}

Message& Message::text(const char* s) noexcept {
  while (s != nullptr && *s != '\0' && len_ + 1 < sizeof(buf_) - 1)
    buf_[len_++] = *s++;
  return *this;
}

Message& Message::num(std::uint64_t v) noexcept {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0 && len_ + 1 < sizeof(buf_) - 1)
    buf_[len_++] = tmp[--n];
  return *this;
}

Message& Message::hex(std::uintptr_t v) noexcept {
  text("0x");
  char tmp[20];
  int n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v != 0);
  while (n > 0 && len_ + 1 < sizeof(buf_) - 1)
    buf_[len_++] = tmp[--n];
  return *this;
}

void Message::emit() noexcept {
  buf_[len_] = '\n';
  buf_[len_ + 1] = '\0';
  write_error(buf_);
  len_ = 0;
}

bool thread_exit_hook_init(void (*hook)(void*)) noexcept {
  ErrnoKeeper keep;
  if (g_key_ready) return true;
  if (::pthread_key_create(&g_key, hook) != 0) return false;
  g_key_ready = true;
  return true;
}

void set_thread_value(void* value) noexcept {
  ErrnoKeeper keep;
  if (g_key_ready) ::pthread_setspecific(g_key, value);
}

bool register_atfork(void (*prepare)(), void (*parent)(), void (*child)()) noexcept {
  ErrnoKeeper keep;
  return ::pthread_atfork(prepare, parent, child) == 0;
}

namespace {
struct ThreadStart {
  void (*fn)(void*);
  void* arg;
};
// Only one background thread is ever starting at a time (mem serialises the starts).
constinit ThreadStart g_thread_start{};

void* thread_trampoline(void* start) {
  auto* s = static_cast<ThreadStart*>(start);
  s->fn(s->arg);
  return nullptr;
}
} // namespace

bool start_thread(void (*fn)(void*), void* arg) noexcept {
  ErrnoKeeper keep;
  g_thread_start = {fn, arg};
  pthread_attr_t attr;
  if (::pthread_attr_init(&attr) != 0) return false;
  ::pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  // The new thread inherits the creator's mask: block everything around the creation.
  sigset_t all;
  sigset_t old;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t t;
  int rc = ::pthread_create(&t, &attr, thread_trampoline, &g_thread_start);
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::pthread_attr_destroy(&attr);
  return rc == 0;
}

void wait_while(const core::Atomic<std::uint32_t>& word, std::uint32_t expected,
                std::uint64_t timeout_ms) noexcept {
  ErrnoKeeper keep;
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout_ms / 1000);
  ts.tv_nsec = static_cast<long>((timeout_ms % 1000) * 1000000);
  // std::atomic<std::uint32_t> is a plain 32-bit word: the futex's own.
  ::syscall(SYS_futex, reinterpret_cast<const std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected,
            &ts, nullptr, 0);
}

void wake_all(core::Atomic<std::uint32_t>& word) noexcept {
  ErrnoKeeper keep;
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT32_MAX,
            nullptr, nullptr, 0);
}

} // namespace hoardlab::pal
