#include "pal/pal.h"

#include <cerrno>
#include <csignal>
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
} // namespace

void* reserve(std::size_t bytes) noexcept {
  ErrnoKeeper keep;
  void* p = ::mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

bool commit(void* p, std::size_t bytes) noexcept {
  ErrnoKeeper keep;
  return ::mprotect(p, bytes, PROT_READ | PROT_WRITE) == 0;
}

void* map(std::size_t bytes) noexcept {
  ErrnoKeeper keep;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void unmap(void* p, std::size_t bytes) noexcept {
  ErrnoKeeper keep;
  ::munmap(p, bytes);
}

bool purge(void* p, std::size_t bytes) noexcept {
  ErrnoKeeper keep;
  return ::madvise(p, bytes, MADV_DONTNEED) == 0;
}

void* remap(void* p, std::size_t old_bytes, std::size_t new_bytes) noexcept {
  ErrnoKeeper keep;
  void* q = ::mremap(p, old_bytes, new_bytes, MREMAP_MAYMOVE);
  return q == MAP_FAILED ? nullptr : q;
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

std::size_t address_space_left() noexcept {
  ErrnoKeeper keep;
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
  std::size_t limit = static_cast<std::size_t>(rl.rlim_cur);
  std::size_t used = 0;
  int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char buf[128];
    ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
    ::close(fd);
    if (n > 0) {
      buf[n] = '\0';
      std::size_t pages = 0; // statm's first field: the virtual size in pages
      for (const char* c = buf; *c >= '0' && *c <= '9'; ++c)
        pages = pages * 10 + static_cast<std::size_t>(*c - '0');
      used = pages * kPageSize;
    }
  }
  return used < limit ? limit - used : 0;
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

std::uint64_t now_ms() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000u +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000000u;
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
