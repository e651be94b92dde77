#include "../misuse.h"
int main(void) {
  void* p = malloc(0);
  free(p);
  free(p);
  allocate_watching(1, 4, NULL);
  return 0;
}
