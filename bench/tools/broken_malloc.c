/* A deliberately broken malloc for the suite's own test. Preloaded, it hands a block of 40 bytes
 * out a second time (every 1000th request of exactly that size) while the first owner still
 * holds it: the classic symptom of a corrupted free list. A workload that checks its blocks must
 * then exit 3 instead of printing a result. Everything else goes to glibc. */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

extern void* __libc_malloc(size_t size);

static _Atomic unsigned long matching;
static void* _Atomic last;

void* malloc(size_t size) {
  if (size == 40) {
    unsigned long n = atomic_fetch_add_explicit(&matching, 1, memory_order_relaxed) + 1;
    void* prev = atomic_load_explicit(&last, memory_order_relaxed);
    if (n > 1000 && n % 1000 == 0 && prev != NULL) return prev;
    void* p = __libc_malloc(size);
    atomic_store_explicit(&last, p, memory_order_relaxed);
    return p;
  }
  return __libc_malloc(size);
}
