#include "../misuse.h"
/* The same write into a block freed into another thread's cache; that thread then allocates. */
static void** block;
static void* victim(void* unused) {
  (void)unused;
  block = malloc(32);
  free(block);
  go(1);
  wait_for(2);
  allocate_watching(32, 2, planted_target);
  allocate_watching(32, 64, planted_target);
  return NULL;
}
int main(void) {
  pthread_t t;
  pthread_create(&t, NULL, victim, NULL);
  wait_for(1);
  *block = planted_target;
  go(2);
  pthread_join(t, NULL);
  return 0;
}
