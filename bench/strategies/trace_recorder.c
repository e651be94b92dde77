/* Records a program's calls to the malloc family into a binary trace that strategy-study
 * replays (--trace-file): preload it and name the output,
 *
 *   LD_PRELOAD=libstrategy-trace-recorder.so STRATEGY_TRACE=/tmp/prog python3 ...
 *
 * writes /tmp/prog.<pid> for each process (an exec'd child writes its own). Johnstone and Wilson
 * ("The Memory Fragmentation Problem: Solved?", ISMM 1998) base their conclusions on traces of
 * real programs rather than on random ones; this is how the study gets such traces.
 *
 * Format: the 8 bytes "HLTRACE1", then 16-byte records {uint64 ptr; uint64 size << 1 | is_free}
 * in the order the calls returned (serialised by a mutex across threads). realloc is recorded
 * as a free of the old block and an allocation of the new one; calloc as an allocation of the
 * product; the aligned forms as allocations (their alignment is not kept). Calls made before
 * this library's constructor ran are not recorded; the loader skips frees it never saw
 * allocated.
 *
 * The recording path never allocates: the buffer is static, the file is written with write(2),
 * and the real allocator is reached through glibc's __libc_* entry points, not dlsym (which can
 * itself call calloc). A forked child stops recording (its buffer copy would duplicate the
 * parent's records); an exec'd program starts its own file. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void* __libc_malloc(size_t size);
extern void __libc_free(void* p);
extern void* __libc_calloc(size_t n, size_t size);
extern void* __libc_realloc(void* p, size_t size);
extern void* __libc_memalign(size_t align, size_t size);

struct record {
  uint64_t ptr;
  uint64_t size_op;
};

enum { kBufferRecords = 1 << 16 };
static struct record buffer[kBufferRecords];
static size_t buffered;
static int fd = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void flush_locked(void) {
  const char* at = (const char*)buffer;
  size_t left = buffered * sizeof(struct record);
  while (left > 0 && fd >= 0) {
    ssize_t n = write(fd, at, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    at += n;
    left -= (size_t)n;
  }
  buffered = 0;
}

static void record(const void* p, size_t size, int is_free) {
  if (fd < 0 || p == NULL) return;
  int saved = errno; /* free must preserve errno, and so must the recording */
  pthread_mutex_lock(&lock);
  if (fd >= 0) {
    buffer[buffered].ptr = (uint64_t)(uintptr_t)p;
    buffer[buffered].size_op = ((uint64_t)size << 1) | (uint64_t)(is_free != 0);
    if (++buffered == kBufferRecords) flush_locked();
  }
  pthread_mutex_unlock(&lock);
  errno = saved;
}

static void stop_in_child(void) {
  /* The child's copy of the buffer holds the parent's records: drop it, record nothing. */
  buffered = 0;
  fd = -1;
  pthread_mutex_init(&lock, NULL);
}

/* Decimal digits of v into out (no snprintf: it may allocate); returns the length. */
static size_t format_decimal(char* out, unsigned long v) {
  char digits[24];
  size_t n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (size_t i = 0; i < n; ++i)
    out[i] = digits[n - 1 - i];
  return n;
}

__attribute__((constructor)) static void start_recording(void) {
  const char* base = getenv("STRATEGY_TRACE");
  if (base == NULL || base[0] == '\0') return;
  char path[4096];
  size_t len = strlen(base);
  if (len + 32 > sizeof path) return;
  memcpy(path, base, len);
  path[len++] = '.';
  len += format_decimal(path + len, (unsigned long)getpid());
  path[len] = '\0';
  int f = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (f < 0) return;
  if (write(f, "HLTRACE1", 8) != 8) {
    close(f);
    return;
  }
  pthread_atfork(NULL, NULL, stop_in_child);
  fd = f;
}

__attribute__((destructor)) static void stop_recording(void) {
  pthread_mutex_lock(&lock);
  flush_locked();
  if (fd >= 0) close(fd);
  fd = -1;
  pthread_mutex_unlock(&lock);
}

void* malloc(size_t size) {
  void* p = __libc_malloc(size);
  record(p, size, 0);
  return p;
}

void free(void* p) {
  record(p, 0, 1);
  __libc_free(p);
}

void* calloc(size_t n, size_t size) {
  void* p = __libc_calloc(n, size);
  record(p, n * size, 0); /* the product did not overflow, or p is NULL */
  return p;
}

void* realloc(void* old, size_t size) {
  void* p = __libc_realloc(old, size);
  if (p != NULL || size == 0) record(old, 0, 1);
  record(p, size, 0);
  return p;
}

void* memalign(size_t align, size_t size) {
  void* p = __libc_memalign(align, size);
  record(p, size, 0);
  return p;
}

void* aligned_alloc(size_t align, size_t size) {
  return memalign(align, size);
}

int posix_memalign(void** out, size_t align, size_t size) {
  if (align < sizeof(void*) || (align & (align - 1)) != 0) return EINVAL;
  void* p = __libc_memalign(align, size);
  if (p == NULL) return ENOMEM;
  record(p, size, 0);
  *out = p;
  return 0;
}
