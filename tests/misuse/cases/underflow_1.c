#include "../misuse.h"
/* A 1-byte underflow from a live block into its free neighbour below, then allocations. The
 * byte is flipped, not set: a set byte equal to what the (random) check word held there already
 * would change nothing, one run in 256. */
int main(void) {
  char *lo, *hi;
  if (!adjacent_pair(16, &lo, &hi)) return 0;
  free(lo);
  hi[-1] = (char)(hi[-1] ^ 0x41);
  allocate_watching(16, 64, NULL);
  return 0;
}
