#include "../misuse.h"
int main(void) {
  void* p = malloc(1 << 20);
  free(p);
  misuse_sink = realloc(p, 2 << 20);
  allocate_watching(1 << 20, 4, NULL);
  return 0;
}
