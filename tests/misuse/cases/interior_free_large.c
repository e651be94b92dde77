#include "../misuse.h"
int main(void) {
  char* p = malloc(1 << 20);
  free(p + 4096);
  allocate_watching(1 << 20, 4, NULL);
  return 0;
}
