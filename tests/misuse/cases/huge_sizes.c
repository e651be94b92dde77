#include "../misuse.h"
#include <errno.h>
#include <stdint.h>
/* Sizes no allocator can serve: NULL and ENOMEM, never a small block. */
static void expect_null(void* p, const char* what) {
  if (p != NULL || errno != ENOMEM) {
    printf("CONTRACT: %s returned %p (errno %d)\n", what, p, errno);
    fflush(stdout);
    _exit(EXIT_CONTRACT);
  }
}
int main(void) {
  errno = 0;
  expect_null(malloc(SIZE_MAX), "malloc(SIZE_MAX)");
  errno = 0;
  expect_null(malloc((size_t)PTRDIFF_MAX + 1), "malloc(PTRDIFF_MAX + 1)");
  errno = 0;
  expect_null(calloc((size_t)1 << 33, (size_t)1 << 33), "calloc(2^33, 2^33)");
  void* p = malloc(64);
  errno = 0;
  expect_null(realloc(p, SIZE_MAX - 8), "realloc(p, SIZE_MAX - 8)");
  free(p);
  errno = 0;
  expect_null(malloc(SIZE_MAX - 4095), "malloc(SIZE_MAX - 4095)");
  allocate_watching(64, 4, NULL);
  return 0;
}
