#include "../misuse.h"
#include <errno.h>
#include <stdint.h>
/* Alignments that are not powers of two, tiny, or huge: EINVAL where POSIX says so, else a block
 * aligned to the next power of two (glibc 2.36's memalign). */
static void fail(const char* what) {
  printf("CONTRACT: %s\n", what);
  fflush(stdout);
  _exit(EXIT_CONTRACT);
}
int main(void) {
  void* p = NULL;
  if (posix_memalign(&p, 3, 8) != EINVAL) fail("posix_memalign(3) is not EINVAL");
  if (posix_memalign(&p, 24, 8) != EINVAL) fail("posix_memalign(24) is not EINVAL");
  if (posix_memalign(&p, 0, 8) != EINVAL) fail("posix_memalign(0) is not EINVAL");
  if (posix_memalign(&p, (size_t)1 << 20, 10) != 0 || ((uintptr_t)p & ((1u << 20) - 1)) != 0)
    fail("posix_memalign(1 MiB) is not aligned");
  free(p);
  p = memalign(48, 10);
  if (p == NULL || ((uintptr_t)p & 63) != 0) fail("memalign(48) is not 64-aligned");
  free(p);
  p = memalign(1, 10);
  if (p == NULL) fail("memalign(1) failed");
  free(p);
  errno = 0;
  p = memalign(SIZE_MAX / 2 + 2, 1);
  if (p != NULL) fail("memalign(SIZE_MAX / 2 + 2) returned a block");
  p = aligned_alloc(4096, 1);
  if (p == NULL || ((uintptr_t)p & 4095) != 0) fail("aligned_alloc(4096, 1) is not aligned");
  free(p);
  allocate_watching(64, 4, NULL);
  return 0;
}
