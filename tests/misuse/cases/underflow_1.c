#include "../misuse.h"
/* A 1-byte underflow from a live block into its free neighbour below, then allocations. */
int main(void) {
  char *lo, *hi;
  if (!adjacent_pair(16, &lo, &hi)) return 0;
  free(lo);
  memset(hi - 1, 0x41, 1);
  allocate_watching(16, 64, NULL);
  return 0;
}
