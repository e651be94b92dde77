#include "../misuse.h"
/* hardened.canary: 8 bytes written past an aligned block's usable size, then the block is freed. */
int main(void) {
  char* p = memalign(256, 100);
  size_t usable = malloc_usable_size(p);
  memset(p, 0x5a, usable + 8);
  free(p);
  return 0;
}
