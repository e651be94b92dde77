#include "../misuse.h"
int main(void) {
  void* p = malloc(32);
  free(p);
  misuse_sink = realloc(p, 200);
  allocate_watching(32, 4, NULL);
  return 0;
}
