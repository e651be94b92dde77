#include "../misuse.h"
/* A 1-byte overflow from a live block into its free neighbour, then allocations of its class.
 * The byte is flipped, not set: a set byte equal to what the (random) encoded link held there
 * already would change nothing, one run in 256. */
int main(void) {
  char *lo, *hi;
  if (!adjacent_pair(16, &lo, &hi)) return 0;
  free(hi);
  char* over = lo + malloc_usable_size(lo);
  *over = (char)(*over ^ 0x41);
  allocate_watching(16, 64, NULL);
  return 0;
}
