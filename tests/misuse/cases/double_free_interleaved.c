#include "../misuse.h"
/* p, q, p: passes a check that only compares with the last block freed. */
int main(void) {
  void* p = malloc(48);
  void* q = malloc(48);
  free(p);
  free(q);
  free(p);
  allocate_watching(48, 4, NULL);
  return 0;
}
