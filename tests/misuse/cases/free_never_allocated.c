#include "../misuse.h"
/* A block-sized step past the only block of its class: an address that no malloc returned. */
int main(void) {
  char* p = malloc(48);
  size_t step = malloc_usable_size(p);
  free(p + 40 * step);
  allocate_watching(48, 64, NULL);
  return 0;
}
