#include "../misuse.h"
/* One 8-byte write into a freed block (its first word, where free lists keep their link), then
 * two allocations of its class: the second must not be the planted address. */
int main(void) {
  void** p = malloc(32);
  free(p);
  *p = planted_target;
  allocate_watching(32, 2, planted_target);
  allocate_watching(32, 64, planted_target);
  return 0;
}
