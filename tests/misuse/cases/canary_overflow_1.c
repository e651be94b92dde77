#include "../misuse.h"
/* hardened.canary: one byte written past a live block's usable size, then the block is freed. */
int main(void) {
  char* p = malloc(40);
  size_t usable = malloc_usable_size(p);
  memset(p, 0x5a, usable);
  p[usable] = 0x41;
  free(p);
  return 0;
}
