#include "../misuse.h"
int main(void) {
  void* p = malloc(32);
  free(p);
  free(p);
  allocate_watching(32, 4, NULL);
  return 0;
}
