#include "../misuse.h"
/* The same write into a block that another thread freed (a remote free back to its owner). */
static void* free_it(void* p) {
  free(p);
  return NULL;
}
int main(void) {
  void** p = malloc(32);
  on_thread(free_it, p);
  *p = planted_target;
  allocate_watching(32, 20000, planted_target);
  return 0;
}
