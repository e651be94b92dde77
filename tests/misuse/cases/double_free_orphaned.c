#include "../misuse.h"
/* Blocks of a thread that has exited (their superblocks may have gone to a pool), freed by
 * another thread, one of them twice. */
#define N 4000
static void* blocks[N];
static void* allocate_all(void* unused) {
  (void)unused;
  for (int i = 0; i < N; ++i)
    blocks[i] = malloc(256);
  return NULL;
}
int main(void) {
  on_thread(allocate_all, NULL);
  for (int i = 0; i < N; ++i)
    free(blocks[i]);
  free(blocks[N / 2]);
  allocate_watching(256, 64, NULL);
  return 0;
}
