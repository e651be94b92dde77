#include "../misuse.h"
/* A 1-byte overflow from a live block into its free neighbour, then allocations of its class. */
int main(void) {
  char *lo, *hi;
  if (!adjacent_pair(16, &lo, &hi)) return 0;
  free(hi);
  memset(lo + malloc_usable_size(lo), 0x41, 1);
  allocate_watching(16, 64, NULL);
  return 0;
}
