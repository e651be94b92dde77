#include "../misuse.h"
/* Freed by another thread, which sends it to its owner heap at once (run with
 * remote.policy=heap-queue, remote.batch=1, remote.keep=none: a one-block message), then freed
 * again by the allocating thread while that message is still in flight (nothing has entered the
 * owner heap since). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int stage;
static void* free_and_wait(void* p) {
  free(p);
  pthread_mutex_lock(&lock);
  stage = 1;
  pthread_cond_broadcast(&cond);
  while (stage != 2)
    pthread_cond_wait(&cond, &lock);
  pthread_mutex_unlock(&lock);
  return NULL;
}
int main(void) {
  void* p = malloc(64);
  pthread_t t;
  pthread_create(&t, NULL, free_and_wait, p);
  pthread_mutex_lock(&lock);
  while (stage != 1)
    pthread_cond_wait(&cond, &lock);
  pthread_mutex_unlock(&lock);
  free(p);
  allocate_watching(64, 64, NULL);
  pthread_mutex_lock(&lock);
  stage = 2;
  pthread_cond_broadcast(&cond);
  pthread_mutex_unlock(&lock);
  pthread_join(t, NULL);
  allocate_watching(64, 64, NULL);
  return 0;
}
