#include "../misuse.h"
/* The same write into a block freed into another thread's cache; that thread then allocates. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int stage;
static void** block;
static void wait_for(int s) {
  pthread_mutex_lock(&lock);
  while (stage != s)
    pthread_cond_wait(&cond, &lock);
  pthread_mutex_unlock(&lock);
}
static void go(int s) {
  pthread_mutex_lock(&lock);
  stage = s;
  pthread_cond_broadcast(&cond);
  pthread_mutex_unlock(&lock);
}
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
