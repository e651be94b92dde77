#include "../misuse.h"
/* Freed by another thread, which sends it to its owner heap at once (run with
 * remote.policy=heap-queue, remote.batch=1, remote.keep=none: a one-block message), then freed
 * again by the allocating thread while that message is still in flight (nothing has entered the
 * owner heap since). */
static void* free_and_wait(void* p) {
  free(p);
  go(1);
  wait_for(2);
  return NULL;
}
int main(void) {
  void* p = malloc(64);
  pthread_t t;
  pthread_create(&t, NULL, free_and_wait, p);
  wait_for(1);
  free(p);
  allocate_watching(64, 64, NULL);
  go(2);
  pthread_join(t, NULL);
  allocate_watching(64, 64, NULL);
  return 0;
}
