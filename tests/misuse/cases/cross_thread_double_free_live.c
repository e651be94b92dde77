#include "../misuse.h"
/* Freed by two other threads, the first still alive (the block waits in its remote buffer). */
static void* first(void* p) {
  free(p);
  go(1);
  wait_for(2);
  return NULL;
}
static void* second(void* p) {
  free(p);
  return NULL;
}
int main(void) {
  void* p = malloc(64);
  pthread_t t;
  pthread_create(&t, NULL, first, p);
  wait_for(1);
  on_thread(second, p);
  go(2);
  pthread_join(t, NULL);
  allocate_watching(64, 64, NULL);
  return 0;
}
