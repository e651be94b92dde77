#include "../misuse.h"
/* hardened.canary: an overflow past a calloc'd block grown by realloc, then realloc again. */
int main(void) {
  char* p = calloc(3, 10);
  p = realloc(p, 70);
  size_t usable = malloc_usable_size(p);
  memset(p, 0x5a, usable + 2);
  misuse_sink = realloc(p, 500);
  return 0;
}
