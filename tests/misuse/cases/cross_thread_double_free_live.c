#include "../misuse.h"
/* Freed by two other threads, the first still alive (the block waits in its remote buffer). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int stage;
static void* first(void* p) {
  free(p);
  pthread_mutex_lock(&lock);
  stage = 1;
  pthread_cond_broadcast(&cond);
  while (stage != 2)
    pthread_cond_wait(&cond, &lock);
  pthread_mutex_unlock(&lock);
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
  pthread_mutex_lock(&lock);
  while (stage != 1)
    pthread_cond_wait(&cond, &lock);
  pthread_mutex_unlock(&lock);
  on_thread(second, p);
  pthread_mutex_lock(&lock);
  stage = 2;
  pthread_cond_broadcast(&cond);
  pthread_mutex_unlock(&lock);
  pthread_join(t, NULL);
  allocate_watching(64, 64, NULL);
  return 0;
}
