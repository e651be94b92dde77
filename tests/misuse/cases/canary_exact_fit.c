#include "../misuse.h"
/* hardened.canary: blocks of every small size from malloc, calloc, memalign and realloc, each
 * filled to exactly its usable size and freed: no canary report, and every usable size covers
 * the request. */
int main(void) {
  for (size_t n = 1; n <= 4096; n += (n < 512 ? 1 : 37)) {
    char* b[4];
    b[0] = malloc(n);
    b[1] = calloc(1, n);
    b[2] = memalign(64, n);
    b[3] = realloc(malloc(n / 2 + 1), n);
    for (int i = 0; i < 4; ++i) {
      size_t usable = malloc_usable_size(b[i]);
      if (b[i] == NULL || usable < n) {
        printf("CONTRACT: block %d of %zu bytes has usable size %zu\n", i, n, usable);
        return EXIT_CONTRACT;
      }
      memset(b[i], 0x5a, usable);
    }
    for (int i = 0; i < 4; ++i)
      free(b[i]);
  }
  return 0;
}
