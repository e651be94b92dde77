#include "../misuse.h"
/* Freed once by another thread (a remote free, which that thread's exit sends on), then again by
 * the thread that allocated it. */
static void* free_it(void* p) {
  free(p);
  return NULL;
}
int main(void) {
  void* p = malloc(64);
  on_thread(free_it, p);
  free(p);
  allocate_watching(64, 64, NULL);
  return 0;
}
